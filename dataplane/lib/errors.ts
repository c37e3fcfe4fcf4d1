/** Errors of the dataplane. Every error carries the context needed to act on it without
 * reading code: the interface, namespace, queue, mode, the failing step and errno. */

export interface ErrorContext {
  readonly ifname?: string;
  readonly netns?: string;
  readonly queue?: number;
  readonly mode?: string;
  readonly step?: string;
  readonly errno?: number;
  readonly code?: string;
}

export class BananaError extends Error {
  readonly context: ErrorContext;
  constructor(message: string, context: ErrorContext = {}) {
    super(message);
    this.name = new.target.name;
    this.context = context;
  }
  get code(): string | undefined {
    return this.context.code;
  }
}

/** Invalid settings, rejected before anything is created. */
export class SettingsError extends BananaError {}

/** The engine (or one of its ports) was used after close(). */
export class ClosedError extends BananaError {}

/** The kernel or driver refused a port operation. */
export class PortError extends BananaError {}

/** Missing capabilities or limits; the message says what to grant. */
export class PrivilegeError extends PortError {}

/** Something the engine waited for did not happen in time (e.g. no wire echo came back). */
export class WireTimeoutError extends BananaError {}

/** The wire is doing something that excludes the request (e.g. a round-trip run is going on). */
export class WireBusyError extends BananaError {}

interface NativeErrorShape {
  message: string;
  code?: string;
  errno?: number;
  step?: string;
}

function isNativeError(e: unknown): e is NativeErrorShape {
  return e instanceof Error && typeof (e as { step?: unknown }).step === 'string';
}

/** Turns an error thrown by the addon into a typed error with the port's context. */
export function portErrorFrom(e: unknown, ctx: ErrorContext): Error {
  if (!isNativeError(e)) return e instanceof Error ? e : new Error(String(e));
  const context: ErrorContext = { ...ctx, step: e.step, errno: e.errno, code: e.code };
  const where = [
    ctx.ifname !== undefined ? `ifname=${ctx.ifname}` : undefined,
    ctx.netns ? `netns=${ctx.netns}` : undefined,
    ctx.queue !== undefined ? `queue=${ctx.queue}` : undefined,
    ctx.mode !== undefined ? `mode=${ctx.mode}` : undefined,
    `step=${e.step}`,
    e.code,
  ]
    .filter((s) => s !== undefined)
    .join(' ');
  const message = `${e.message} [${where}]`;
  const privilege = e.code === 'EPERM' || e.code === 'EACCES' || (e.step === 'umem_register' && e.code === 'ENOBUFS');
  return privilege ? new PrivilegeError(message, context) : new PortError(message, context);
}
