/**
 * The error register: every failure that im-service reports to a client is an
 * ImError with one of these codes. The code is stable (clients may switch on
 * it); the message is for people and names the field, the bad value and the
 * accepted form. The HTTP API sends `{ code, message }` with the status below,
 * and the Thrift API sends the same status as `Code` and the message as `Msg`.
 *
 * `retryable` is true when repeating the same request can succeed.
 * `logLevel` is the pino level of the server's log line for the error, chosen
 * by who must act: info for client mistakes, warn for a degraded dependency
 * that recovers by itself, error for a bug.
 */
export const errorRegister = {
  INVALID_ARGUMENT: { httpStatus: 400, retryable: false, logLevel: 'info', summary: 'a field is missing or invalid' },
  TEXT_TOO_LARGE: { httpStatus: 413, retryable: false, logLevel: 'info', summary: 'the text exceeds the size limit' },
  REQUEST_TOO_LARGE: {
    httpStatus: 413,
    retryable: false,
    logLevel: 'info',
    summary: 'the request body, or its URL and headers, exceed their size limit',
  },
  NOT_FOUND: { httpStatus: 404, retryable: false, logLevel: 'info', summary: 'no such route' },
  STORE_UNAVAILABLE: {
    httpStatus: 503,
    retryable: true,
    logLevel: 'warn',
    summary: 'the message store cannot be reached',
  },
  RPC_UNAVAILABLE: { httpStatus: 503, retryable: true, logLevel: 'warn', summary: 'no RPC server can be reached' },
  RPC_TIMEOUT: { httpStatus: 504, retryable: true, logLevel: 'warn', summary: 'the RPC server did not reply in time' },
  INTERNAL: { httpStatus: 500, retryable: false, logLevel: 'error', summary: 'a bug in im-service' },
} as const;

export type ErrorCode = keyof typeof errorRegister;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorRegister, value);
}

export class ImError extends Error {
  override readonly name = 'ImError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get httpStatus(): number {
    return errorRegister[this.code].httpStatus;
  }

  get logLevel(): 'info' | 'warn' | 'error' {
    return errorRegister[this.code].logLevel;
  }

  /** Thrift `Code`: the HTTP-like status of the failure (never 0). */
  get thriftCode(): number {
    return this.httpStatus;
  }
}

export function invalidArgument(message: string): ImError {
  return new ImError('INVALID_ARGUMENT', message);
}

/** Wraps anything thrown into an ImError; an unknown error becomes INTERNAL (a bug). */
export function toImError(error: unknown): ImError {
  if (error instanceof ImError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ImError('INTERNAL', `internal error: ${message}`, { cause: error });
}

/**
 * Maps a failure status received over Thrift back to an ImError. `errorCode` is
 * the optional ErrorCode field; servers that only send the status (such as the
 * template's) get the closest code for that status.
 */
export function imErrorFromStatus(status: number, message: string, errorCode?: string | null): ImError {
  if (isErrorCode(errorCode)) return new ImError(errorCode, message);
  const byStatus: Record<number, ErrorCode> = {
    400: 'INVALID_ARGUMENT',
    404: 'NOT_FOUND',
    413: 'TEXT_TOO_LARGE',
    503: 'STORE_UNAVAILABLE',
    504: 'RPC_TIMEOUT',
  };
  return new ImError(byStatus[status] ?? 'INTERNAL', message);
}
