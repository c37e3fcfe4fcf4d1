/** The registry's one error type. `reason` says what went wrong as data, so callers branch on
 * it instead of parsing messages; key, field and the rest of the context say where. */

export type RegistryErrorReason =
  /** A record or argument failed validation; `field` names it. */
  | 'invalid'
  /** The lease does not exist any more (expired, revoked, or never granted). */
  | 'lease-not-found'
  /** The registry (or the watch) was used after close(). */
  | 'closed'
  /** Another writer held the store's lock for longer than the lock timeout. */
  | 'lock-timeout'
  /** A file in the store is not what the registry wrote (hand-edited or another version). */
  | 'corrupt'
  /** A watch asked for events that were already removed from the event log. */
  | 'compacted'
  /** The filesystem (or, for a remote backend, the network) refused an operation. */
  | 'io';

export interface RegistryErrorContext {
  readonly key?: string;
  readonly field?: string;
  readonly lease?: string;
  readonly path?: string;
  /** For lock timeouts: the process that held the lock. */
  readonly pid?: number;
  readonly revision?: number;
  /** errno code of an underlying system error, e.g. ENOSPC. */
  readonly code?: string;
}

export class RegistryError extends Error {
  readonly reason: RegistryErrorReason;
  readonly context: RegistryErrorContext;
  /** The message without the bracketed context, for wrapping errors to quote. */
  readonly detail: string;

  constructor(reason: RegistryErrorReason, detail: string, context: RegistryErrorContext = {}, options?: { cause?: unknown }) {
    const where = Object.entries(context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`);
    super(`${detail} [reason=${reason}${where.length > 0 ? ' ' + where.join(' ') : ''}]`, options);
    this.name = 'RegistryError';
    this.reason = reason;
    this.context = context;
    this.detail = detail;
  }

  get key(): string | undefined {
    return this.context.key;
  }

  get field(): string | undefined {
    return this.context.field;
  }
}

/** Wraps a system error from a filesystem call, keeping its errno code and the path. */
export function ioError(step: string, e: unknown, context: RegistryErrorContext = {}): RegistryError {
  if (e instanceof RegistryError) return e;
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  return new RegistryError('io', `${step}: ${message}`, { ...context, code: typeof code === 'string' ? code : undefined }, { cause: e });
}
