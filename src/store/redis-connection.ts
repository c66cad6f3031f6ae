import { ErrorReply } from 'redis';
import type { Logger } from 'pino';
import { ImError } from '../core/errors.js';

/** Options of the standalone and the cluster Redis stores. */
export interface RedisStoreOptions {
  /** Prefix of every key (default `im:`); it must not contain `{` or `}`. */
  readonly keyPrefix?: string;
  /**
   * Maximum wait for one command, in milliseconds, counted from the call and
   * including the wait for the reply (default 500). A send that times out
   * after it reached Redis may still have been stored.
   */
  readonly commandTimeoutMs?: number;
  /** Maximum wait for a TCP connection to open, in milliseconds (default 1000). */
  readonly connectTimeoutMs?: number;
  /** Maximum pause between two reconnect attempts, in milliseconds (default 2000). */
  readonly maxReconnectDelayMs?: number;
  /** Receives connection loss and recovery events; nothing is logged without it. */
  readonly logger?: Logger;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 500;
const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
const DEFAULT_MAX_RECONNECT_DELAY_MS = 2000;

/**
 * Builds node-redis options that keep every call bounded while Redis is down.
 * A command rejects at once when the connection is not ready, because there
 * is no offline queue. A command that was sent rejects after the command
 * timeout. The client reconnects by itself, with exponential backoff capped
 * at maxReconnectDelayMs.
 */
export function boundedClientOptions(options: RedisStoreOptions) {
  const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
  return {
    disableOfflineQueue: true,
    commandOptions: { timeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, rejectInFlight: true },
    socket: {
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number): number => Math.min(50 * 2 ** Math.min(retries, 16), maxDelay),
    },
  };
}

/**
 * Time allowed for the first connection when a store opens. A store whose
 * Redis cannot be reached at start fails to open, like a SQLite file that
 * cannot be opened, instead of serving only errors.
 */
export function openTimeoutMs(options: RedisStoreOptions): number {
  return 2 * (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) + 1000;
}

// Error replies that mean the server cannot serve right now: it is loading
// its data, the cluster has no quorum, a script is busy, memory is full or
// persisting failed. Any other error reply is a bug in a command or the script.
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|OOM|MISCONF|NOREPLICAS|MOVED|ASK)\b/;

/**
 * Translates a node-redis failure into an ImError: STORE_UNAVAILABLE for a
 * connection that is closed, down or timed out and for the error replies
 * above, INTERNAL for any other error reply.
 */
export function toStoreError(error: unknown, context: string): ImError {
  if (error instanceof ImError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof ErrorReply && !UNAVAILABLE_REPLY.test(detail)) {
    return new ImError('INTERNAL', `${context}: Redis replied ${detail}`, { cause: error });
  }
  return new ImError('STORE_UNAVAILABLE', `${context}: ${detail}`, { cause: error });
}

/**
 * Rejects with STORE_UNAVAILABLE when `opening` has not settled after
 * `timeoutMs`, and calls `abandon` so the client stops reconnecting.
 * `lastError` returns the latest connection error, which the message quotes.
 */
export async function connectWithin(
  opening: Promise<unknown>,
  timeoutMs: number,
  description: string,
  abandon: () => void,
  lastError: () => unknown,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const last = lastError();
      const cause = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      reject(
        new Error(
          `no connection after ${timeoutMs} ms${cause}; check the address, the credentials and that Redis runs`,
        ),
      );
    }, timeoutMs);
  });
  try {
    await Promise.race([opening, timeout]);
  } catch (error) {
    abandon();
    opening.catch(() => undefined);
    throw toStoreError(error, `cannot connect to ${description}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Logs the first error of an outage as a warning and its end as info with
 * the number of errors in between, so a long outage writes two lines and
 * not one per reconnect attempt.
 */
export class OutageLog {
  readonly #logger: Logger | undefined;
  readonly #fields: Record<string, string>;
  #errorsSinceReady = 0;
  #lastError: unknown;

  constructor(logger: Logger | undefined, fields: Record<string, string>) {
    this.#logger = logger;
    this.#fields = fields;
  }

  /** The latest error seen, also after the connection recovered. */
  get lastError(): unknown {
    return this.#lastError;
  }

  error(error: unknown, node?: string): void {
    this.#lastError = error;
    this.#errorsSinceReady++;
    if (this.#errorsSinceReady > 1) return;
    const err = error instanceof Error ? error.message : String(error);
    this.#logger?.warn({ ...this.#fields, node, err }, 'Redis connection failed; reconnecting');
  }

  ready(node?: string): void {
    if (this.#errorsSinceReady === 0) return;
    this.#logger?.info({ ...this.#fields, node, errors: this.#errorsSinceReady }, 'Redis connection restored');
    this.#errorsSinceReady = 0;
  }
}
