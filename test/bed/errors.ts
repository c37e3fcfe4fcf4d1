// The test bed's error types. Each carries the context needed to debug a
// failed run from the test report alone (which command, in which namespace,
// which interface), because the namespaces are gone by the time anyone looks.

export interface CommandErrorDetails {
  /** The command as the caller wrote it (without the nsenter prefix). */
  argv: readonly string[];
  /** Namespace name the command ran in, or undefined for the caller's namespace. */
  netns: string | undefined;
  /** Exit status, or null when the process was killed or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  cause?: Error;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly argv: readonly string[];
  readonly netns: string | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(d: CommandErrorDetails) {
    const where = d.netns === undefined ? '' : ` (netns ${d.netns})`;
    const how = d.timedOut
      ? 'timed out'
      : d.exitCode !== null
        ? `exited ${d.exitCode}`
        : d.signal !== null
          ? `killed by ${d.signal}`
          : `failed to start: ${d.cause?.message ?? 'unknown'}`;
    const detail = d.stderr.trim();
    super(`${d.argv.join(' ')}${where} ${how}${detail ? `: ${detail}` : ''}`, d.cause ? { cause: d.cause } : undefined);
    this.argv = d.argv;
    this.netns = d.netns;
    this.exitCode = d.exitCode;
    this.signal = d.signal;
    this.stdout = d.stdout;
    this.stderr = d.stderr;
    this.timedOut = d.timedOut;
  }

  /**
   * True when the failure only says the target no longer exists: the device or
   * the namespace is gone. Teardown treats that as success, so close() can run
   * twice or after the kernel already removed a veth with its peer.
   */
  get isGone(): boolean {
    return /Cannot find device|No such file or directory|does not exist|Invalid "netns" value/.test(this.stderr);
  }
}

/** A name the kernel would reject (too long, bad characters) or that breaks the run-prefix rule. */
export class InvalidNameError extends Error {
  override readonly name = 'InvalidNameError';
  constructor(
    readonly kind: 'interface' | 'netns' | 'prefix',
    readonly value: string,
    readonly reason: string,
  ) {
    super(`invalid ${kind} name "${value}": ${reason}`);
  }
}

/** Something the caller waited for did not happen in time (carrier, process exit). */
export class BedTimeoutError extends Error {
  override readonly name = 'BedTimeoutError';
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly context: Readonly<Record<string, string>> = {},
  ) {
    const ctx = Object.entries(context)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    super(`timed out after ${timeoutMs} ms waiting for ${what}${ctx ? ` (${ctx})` : ''}`);
  }
}

/** Using a TestBed (or a resource of one) after close(). */
export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  constructor(readonly what: string) {
    super(`${what} is closed`);
  }
}

/**
 * Teardown failures that were not "already gone". close() still tries every
 * resource before throwing this, so one failure never leaks the rest.
 */
export class CloseError extends AggregateError {
  override readonly name = 'CloseError';
  constructor(
    readonly prefix: string,
    errors: readonly { label: string; error: unknown }[],
  ) {
    super(
      errors.map((e) => e.error),
      `test bed ${prefix}: ${errors.length} teardown failure(s): ` +
        errors.map((e) => `${e.label}: ${e.error instanceof Error ? e.error.message : String(e.error)}`).join('; '),
    );
  }
}
