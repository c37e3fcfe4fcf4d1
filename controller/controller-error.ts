/** A controller operation that cannot be done, with the HTTP status the API answers with and
 * the context that names what was wrong. */
export type ControllerErrorCode =
  | 'bad-request'
  | 'not-found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'no-wire-fits'
  | 'peer-failed'
  | 'dataplane-failed';

const STATUS: Record<ControllerErrorCode, number> = {
  'bad-request': 400,
  'not-found': 404,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  'no-wire-fits': 409,
  'peer-failed': 502,
  'dataplane-failed': 500,
};

export class ControllerError extends Error {
  readonly status: number;

  constructor(
    readonly code: ControllerErrorCode,
    message: string,
    readonly context: Readonly<Record<string, string | number>> = {},
    /** Structured detail for the API body (e.g. a placement explanation). */
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'ControllerError';
    this.status = STATUS[code];
  }
}
