import { randomUUID } from 'node:crypto';
import thrift from 'thrift';
import type { RpcAddress } from '../config.js';
import { ImError, imErrorFromStatus } from '../core/errors.js';
import type { MessageBackend, NewMessage, PullPage, PullQuery, StoredMessage } from '../core/message-store.js';
import type { Logger } from '../log.js';
import { fromThriftMessage, i64ToNumber } from './convert.js';
import { IMService, type IMServiceClient, types } from './generated.js';
import { OutputBinaryProtocol, OutputTransport } from './output-protocol.js';

const { TBinaryProtocol, TFramedTransport } = thrift;

/** Time an endpoint is skipped after a failed connect; doubles per failure up to the maximum. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;

export interface RpcClientPoolOptions {
  readonly addresses: readonly RpcAddress[];
  /** Connections kept open per RPC server; calls share them (Thrift seqids). */
  readonly connectionsPerServer: number;
  /** Time budget of one API call, retries included, in milliseconds. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

type Callback = (error: unknown, result?: unknown) => void;
type FramedReceiver = (
  callback: (transport: thrift.TTransport) => void,
  seqid: number | undefined,
) => (chunk: Buffer) => void;

/** One Thrift connection; calls on it run concurrently, matched by seqid. */
class RpcConnection {
  readonly client: IMServiceClient;
  connected = false;
  closed = false;
  readonly #connection: thrift.Connection;
  #writesHeld = false;

  constructor(address: RpcAddress, connectTimeoutMs: number, onConnectFailure: (error: unknown) => void) {
    this.#connection = thrift.createConnection(address.host, address.port, {
      transport: TFramedTransport,
      protocol: TBinaryProtocol,
      connect_timeout: connectTimeoutMs,
    });
    // The client writes its calls with OutputBinaryProtocol; the library's createClient would use TFramedTransport.
    const output = new OutputTransport(true, (message) => this.#connection.write(message));
    this.client = new IMService.Client(output as unknown as thrift.TTransport, OutputBinaryProtocol as never);
    // The connection looks replies up on its client, as createClient would have set it.
    (this.#connection as unknown as { client: IMServiceClient }).client = this.client;
    this.#replaceReplyReader();
    let lastError: unknown;
    this.#connection.on('connect', () => (this.connected = true));
    this.#connection.on('error', (error: unknown) => (lastError = error));
    this.#connection.on('timeout', () => this.#connection.destroy());
    this.#connection.on('close', () => {
      this.closed = true;
      const reason = lastError instanceof Error ? lastError.message : 'connection closed';
      if (!this.connected) onConnectFailure(lastError);
      this.failPending(
        new ImError('RPC_UNAVAILABLE', `RPC server ${address.host}:${address.port} is unreachable: ${reason}`),
      );
    });
  }

  /**
   * Replaces the library's reply reader (thrift 0.24 connection.js). After
   * each reply it reads on until the frame ends, which throws and catches an
   * InputBufferUnderrunError, stack trace included, once per call. A framed
   * reply is exactly one message, so this reader reads one and stops.
   */
  #replaceReplyReader(): void {
    const socket = this.#connection.connection;
    socket.removeAllListeners('data');
    const client = this.client as unknown as Record<string, unknown>;
    const onFrame = (transport: thrift.TTransport): void => {
      try {
        const input = new TBinaryProtocol(transport);
        const header = input.readMessageBegin();
        const receive = client[`recv_${header.fname}`];
        if (typeof receive !== 'function') {
          throw new Error(`reply to unknown method ${JSON.stringify(header.fname.slice(0, 64))}`);
        }
        receive.call(client, input, header.mtype, header.rseqid);
      } catch (error) {
        // Reported on the connection as the library does; the unanswered call ends with RPC_TIMEOUT.
        this.#connection.emit('error', error);
      }
    };
    socket.on('data', (TFramedTransport.receiver as unknown as FramedReceiver)(onFrame, undefined));
  }

  /**
   * Holds this connection's writes until the check phase of the event loop
   * (setImmediate), so the calls that one batch of HTTP requests makes leave
   * in one writev. The HTTP requests that one poll phase reads come from
   * different sockets, so their handlers run in separate callbacks and a
   * process.nextTick would send each call alone.
   */
  holdWritesForThisTurn(): void {
    if (this.#writesHeld) return;
    this.#writesHeld = true;
    const socket = this.#connection.connection;
    socket.cork();
    setImmediate(() => {
      this.#writesHeld = false;
      socket.uncork();
    });
  }

  /** Rejects every call still waiting for a reply. */
  failPending(error: ImError): void {
    const pending = this.client._reqs as Record<string, Callback>;
    for (const seqid of Object.keys(pending)) {
      const callback = pending[seqid];
      delete pending[seqid];
      callback?.(error);
    }
  }

  /** Abandons the call with this seqid: a late reply is then ignored. */
  abandon(seqid: number, error: ImError): void {
    const pending = this.client._reqs as Record<string, Callback>;
    const callback = pending[seqid];
    delete pending[seqid];
    callback?.(error);
  }

  close(): void {
    this.closed = true;
    this.#connection.end();
  }
}

class RpcEndpoint {
  readonly name: string;
  readonly #connections: (RpcConnection | undefined)[];
  #next = 0;
  #downUntil = 0;
  #backoffMs = FIRST_BACKOFF_MS;

  constructor(
    readonly address: RpcAddress,
    size: number,
    private readonly connectTimeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.name = `${address.host}:${address.port}`;
    this.#connections = new Array<RpcConnection | undefined>(size).fill(undefined);
  }

  get available(): boolean {
    return Date.now() >= this.#downUntil;
  }

  /** Returns the next connection in round-robin order, opening it on first use or after it closed. */
  connection(): RpcConnection {
    const slot = this.#next;
    this.#next = (this.#next + 1) % this.#connections.length;
    let connection = this.#connections[slot];
    if (connection === undefined || connection.closed) {
      connection = new RpcConnection(this.address, this.connectTimeoutMs, (error) =>
        this.markDown('rpc server unreachable; skipping it', error),
      );
      this.#connections[slot] = connection;
    }
    return connection;
  }

  markUp(): void {
    if (this.#backoffMs !== FIRST_BACKOFF_MS) this.logger.info({ rpcServer: this.name }, 'rpc server reachable again');
    this.#downUntil = 0;
    this.#backoffMs = FIRST_BACKOFF_MS;
  }

  /**
   * Skips this server for the current backoff, which doubles for the next
   * failure. Failures while the server is already skipped (its other pooled
   * connections, calls already in flight) do not extend the backoff.
   */
  markDown(reason: string, error?: unknown): void {
    if (!this.available) return;
    this.#downUntil = Date.now() + this.#backoffMs;
    this.logger.warn({ rpcServer: this.name, retryInMs: this.#backoffMs, err: error }, reason);
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
  }

  close(): void {
    for (const connection of this.#connections) connection?.close();
  }
}

/**
 * MessageBackend that forwards to remote IMService servers over framed
 * binary Thrift. Calls go round-robin over the servers that are not backing
 * off after a failed connect. A call that fails because its server cannot be
 * reached is retried on another server, each server at most once. Retries are
 * safe because pulls only read and every send carries a client message id,
 * which the store deduplicates. Every call resolves or rejects within
 * timeoutMs (RPC_TIMEOUT, RPC_UNAVAILABLE).
 */
export class RpcClientPool implements MessageBackend {
  readonly #endpoints: RpcEndpoint[];
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  #next = 0;

  constructor(options: RpcClientPoolOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#logger = options.logger.child({ component: 'rpc-client' });
    this.#endpoints = options.addresses.map(
      (address) => new RpcEndpoint(address, options.connectionsPerServer, options.timeoutMs, this.#logger),
    );
  }

  /**
   * Sends through an RPC server. A send without a client message id gets a
   * generated one, so the store deduplicates a retry after a lost connection
   * instead of storing the message twice. The generated id is not returned.
   */
  async send(message: NewMessage): Promise<StoredMessage> {
    const request = new types.SendRequest({
      message: new types.Message({
        Chat: message.chat,
        Sender: message.sender,
        Text: message.text,
        SendTime: 0,
        ClientMsgId: message.clientMsgId ?? randomUUID(),
      }),
    });
    const response = await this.#call((client) => client.Send(request));
    if (response.Code !== 0) throw imErrorFromStatus(response.Code, response.Msg, response.ErrorCode);
    if (response.Stored == null) {
      throw new ImError('INTERNAL', 'RPC server accepted the message but did not return it; upgrade the RPC server');
    }
    const stored = fromThriftMessage(response.Stored);
    if (message.clientMsgId !== undefined) return stored;
    const { clientMsgId: _generated, ...withoutGeneratedId } = stored;
    return withoutGeneratedId;
  }

  async pull(query: PullQuery): Promise<PullPage> {
    const request = new types.PullRequest({
      Chat: query.chat,
      Cursor: query.cursorMicros,
      Limit: query.limit,
      Reverse: query.reverse,
    });
    const response = await this.#call((client) => client.Pull(request));
    if (response.Code !== 0) throw imErrorFromStatus(response.Code, response.Msg, response.ErrorCode);
    return {
      messages: (response.Messages ?? []).map(fromThriftMessage),
      hasMore: response.HasMore ?? false,
      nextCursorMicros: i64ToNumber(response.NextCursor, 'NextCursor') ?? 0,
    };
  }

  /** Resolves when at least one RPC server replies to a pull. */
  async checkReady(): Promise<void> {
    await this.pull({ chat: 'ready:check', cursorMicros: 0, limit: 1, reverse: true });
  }

  async close(): Promise<void> {
    for (const endpoint of this.#endpoints) endpoint.close();
  }

  #pickEndpoint(tried: Set<RpcEndpoint>): RpcEndpoint | undefined {
    const count = this.#endpoints.length;
    // First choice: an untried server that is not backing off; else any untried one.
    for (const wantAvailable of [true, false]) {
      for (let i = 0; i < count; i++) {
        const endpoint = this.#endpoints[(this.#next + i) % count]!;
        if (tried.has(endpoint) || (wantAvailable && !endpoint.available)) continue;
        this.#next = (this.#next + i + 1) % count;
        return endpoint;
      }
    }
    return undefined;
  }

  /**
   * Runs one call, trying each server at most once within the time budget.
   * While several untried servers are available, an attempt gets an equal
   * share of the remaining budget, so a server that accepts connections but
   * never replies costs half the budget (with two servers), not all of it.
   */
  async #call<T>(invoke: (client: IMServiceClient) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    const tried = new Set<RpcEndpoint>();
    let lastError: ImError | undefined;
    for (;;) {
      const endpoint = this.#pickEndpoint(tried);
      const remainingMs = deadline - Date.now();
      if (endpoint === undefined || remainingMs <= 0) {
        throw this.#exhausted(tried, lastError);
      }
      tried.add(endpoint);
      const untriedAvailable = this.#endpoints.filter((other) => !tried.has(other) && other.available).length;
      const attemptMs = Math.max(1, Math.floor(remainingMs / (1 + untriedAvailable)));
      try {
        const result = await this.#callWithTimeout(endpoint.connection(), endpoint, invoke, attemptMs);
        endpoint.markUp();
        return result;
      } catch (error) {
        if (!(error instanceof ImError)) throw error;
        if (error.code === 'RPC_TIMEOUT') endpoint.markDown('rpc server did not reply in time; skipping it');
        else if (error.code !== 'RPC_UNAVAILABLE') throw error;
        lastError = error;
      }
    }
  }

  /** Builds the error of a call that no server completed, naming every server tried. */
  #exhausted(tried: ReadonlySet<RpcEndpoint>, lastError: ImError | undefined): ImError {
    const names = [...tried].map((endpoint) => endpoint.name).join(', ');
    if (lastError === undefined)
      return new ImError('RPC_TIMEOUT', `no RPC server replied within ${this.#timeoutMs} ms`);
    if (tried.size <= 1) return lastError;
    return new ImError(
      lastError.code,
      `no RPC server completed the call (tried ${names}); last error: ${lastError.message}`,
    );
  }

  #callWithTimeout<T>(
    connection: RpcConnection,
    endpoint: RpcEndpoint,
    invoke: (client: IMServiceClient) => Promise<T>,
    timeoutMs: number,
  ): Promise<T> {
    connection.holdWritesForThisTurn();
    const pending = invoke(connection.client);
    const seqid = connection.client._seqid;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.abandon(
          seqid,
          new ImError('RPC_TIMEOUT', `RPC server ${endpoint.name} did not reply within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      pending.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(
            error instanceof ImError
              ? error
              : new ImError(
                  'INTERNAL',
                  `RPC call to ${endpoint.name} failed: ${String((error as Error)?.message ?? error)}`,
                  { cause: error },
                ),
          );
        },
      );
    });
  }
}
