import net, { type AddressInfo, type Socket } from 'node:net';
import thrift from 'thrift';
import type { Logger } from '../log.js';
import { IMService, type IMServiceHandler, type IMServiceProcessor } from './generated.js';
import { OutputBinaryProtocol, OutputTransport } from './output-protocol.js';
import { StrictUtf8BinaryProtocol } from './strict-protocol.js';

const { TBufferedTransport, TFramedTransport, Thrift } = thrift;
// The 0.24 receivers take a third argument, the largest message in bytes, which
// the type definitions (written for 0.10) lack.
type Receiver = (
  callback: (transport: thrift.TTransport) => void,
  seqid: number | undefined,
  maxLength: number,
) => (chunk: Buffer) => void;
const framedReceiver = TFramedTransport.receiver as unknown as Receiver;
const bufferedReceiver = TBufferedTransport.receiver as unknown as Receiver;
// Not in the type definitions; thrown by transports when a message is incomplete.
const InputBufferUnderrunError = (thrift as unknown as { InputBufferUnderrunError: new () => Error })
  .InputBufferUnderrunError;

const KNOWN_METHODS = new Set(['Send', 'Pull']);
// First two bytes of a strict binary-protocol message: version 1 (0x8001).
const VERSION_BYTE_0 = 0x80;
const VERSION_BYTE_1 = 0x01;

type TransportKind = 'buffered' | 'framed';

/** Thrown to close a connection after a protocol violation; the message gives the reason. */
class ConnectionError extends Error {}

/**
 * Recognises the transport from the first bytes of a connection: an unframed
 * (buffered) binary message starts with the version 0x8001, a framed one with
 * a 4-byte length and then the version. Returns undefined while more bytes are
 * needed, or 'unknown' for anything else (an HTTP request, say).
 */
export function detectTransport(head: Buffer): TransportKind | 'unknown' | undefined {
  if (head.length === 0) return undefined;
  if (head[0] === VERSION_BYTE_0) {
    if (head.length < 2) return undefined;
    return head[1] === VERSION_BYTE_1 ? 'buffered' : 'unknown';
  }
  if (head.length < 6) return undefined;
  return head[4] === VERSION_BYTE_0 && head[5] === VERSION_BYTE_1 ? 'framed' : 'unknown';
}

export interface RpcServerOptions {
  readonly handler: IMServiceHandler;
  /** Largest request (a frame, or an unframed message) read from a connection, in bytes. */
  readonly maxMessageBytes: number;
  readonly logger: Logger;
}

/**
 * Thrift server for IMService: binary protocol, framed and unframed transports
 * on one port (detected per connection). Calls on one connection may be in
 * flight together; each reply carries its request's seqid. A protocol
 * violation (oversized frame, unknown method, bytes that are not Thrift)
 * closes that connection only, with a log line.
 */
export class RpcServer {
  readonly #server: net.Server;
  readonly #processor: IMServiceProcessor;
  readonly #maxMessageBytes: number;
  readonly #logger: Logger;
  readonly #sockets = new Set<Socket>();
  #inFlight = 0;
  #drained: (() => void) | undefined;

  constructor(options: RpcServerOptions) {
    this.#logger = options.logger.child({ component: 'rpc' });
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#processor = new IMService.Processor(this.#countInFlight(options.handler));
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        this.#server.on('error', (error) => this.#logger.error({ err: error }, 'rpc server error'));
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  /**
   * Stops accepting connections, waits up to graceMs for calls in flight to
   * reply, then closes every connection.
   */
  async close(graceMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.#inFlight > 0) {
      const drained = new Promise<void>((resolve) => (this.#drained = resolve));
      const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([drained, timer]);
    }
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #countInFlight(handler: IMServiceHandler): IMServiceHandler {
    const track = async <T>(call: () => Promise<T>): Promise<T> => {
      this.#inFlight++;
      try {
        return await call();
      } finally {
        this.#inFlight--;
        if (this.#inFlight === 0) this.#drained?.();
      }
    };
    // One declared parameter each: the generated processor calls such handlers promise-style.
    return {
      Send: (request) => track(() => handler.Send(request)),
      Pull: (request) => track(() => handler.Pull(request)),
    };
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const log = this.#logger.child({ peer });
    socket.setNoDelay(true);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', (error) => log.info({ err: error }, 'rpc connection error'));

    let head: Buffer | undefined = Buffer.alloc(0);
    let receive: ((chunk: Buffer) => void) | undefined;
    let pendingBytes = () => 0;

    let dropped = false;
    const drop = (reason: string, error?: unknown): void => {
      dropped = true;
      log.warn({ reason, err: error }, 'rpc connection closed after a protocol error');
      // end() lets a last exception reply go out; destroy() follows if the peer lingers.
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    };

    socket.on('data', (chunk: Buffer) => {
      if (dropped) return;
      if (receive === undefined) {
        head = Buffer.concat([head!, chunk]);
        const kind = detectTransport(head);
        if (kind === undefined) return;
        if (kind === 'unknown') {
          drop('the first bytes are not a Thrift binary-protocol message, framed or unframed');
          return;
        }
        log.debug({ transport: kind }, 'rpc connection opened');
        ({ receive, pendingBytes } = this.#receiver(kind, socket));
        chunk = head;
        head = undefined;
      }
      try {
        receive(chunk);
      } catch (error) {
        drop(
          error instanceof Error ? error.message : String(error),
          error instanceof ConnectionError ? undefined : error,
        );
      }
    });

    socket.on('end', () => {
      const pending = receive === undefined ? (head?.length ?? 0) : pendingBytes();
      if (pending > 0 && !dropped)
        log.warn({ pendingBytes: pending }, 'rpc connection ended inside a request (truncated input)');
      socket.end();
    });
  }

  /** Builds the data handler of one connection for its transport. */
  #receiver(kind: TransportKind, socket: Socket): { receive: (chunk: Buffer) => void; pendingBytes: () => number } {
    // Replies finished in one run of the microtask queue, such as those of one
    // batch of Redis replies, leave in one writev instead of one write each.
    let corked = false;
    const uncork = (): void => {
      corked = false;
      socket.uncork();
    };
    const write = (buffer: Buffer | undefined): void => {
      if (buffer === undefined || socket.destroyed) return;
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      socket.write(buffer);
    };
    const output = new OutputBinaryProtocol(new OutputTransport(kind === 'framed', write));

    if (kind === 'framed') {
      let received = 0;
      let consumed = 0;
      const onFrame = framedReceiver(
        (transport: thrift.TTransport) => {
          consumed += (transport as unknown as { inBuf: Buffer }).inBuf.length + 4;
          try {
            this.#dispatch(new StrictUtf8BinaryProtocol(transport), output);
          } catch (error) {
            if (error instanceof InputBufferUnderrunError) {
              throw new ConnectionError('a frame ends inside its message (truncated message)');
            }
            throw error;
          }
        },
        undefined,
        this.#maxMessageBytes,
      );
      return {
        receive: (chunk) => {
          received += chunk.length;
          onFrame(chunk);
        },
        pendingBytes: () => received - consumed,
      };
    }

    let reader:
      { readCursor: number; writeCursor: number; commitPosition(): void; rollbackPosition(): void } | undefined;
    const onData = bufferedReceiver(
      (transport: thrift.TTransport) => {
        reader = transport as unknown as NonNullable<typeof reader>;
        const input = new StrictUtf8BinaryProtocol(transport);
        try {
          for (;;) {
            this.#dispatch(input, output);
            reader.commitPosition();
          }
        } catch (error) {
          // The rest of the buffer is an incomplete message: wait for more bytes.
          if (error instanceof InputBufferUnderrunError) reader.rollbackPosition();
          else throw error;
        }
      },
      undefined,
      this.#maxMessageBytes,
    );
    return {
      receive: onData,
      pendingBytes: () => (reader === undefined ? 0 : reader.writeCursor - reader.readCursor),
    };
  }

  /**
   * Reads one call and hands it to the generated processor's method. Unlike the
   * generated dispatcher, an unknown method or message type closes the
   * connection (after an UNKNOWN_METHOD exception reply), since the rest of the
   * stream cannot be trusted.
   */
  #dispatch(input: StrictUtf8BinaryProtocol, output: thrift.TProtocol): void {
    const begin = input.readMessageBegin();
    const name = String(begin.fname);
    // Send and Pull are not oneway: a oneway caller would not read the reply.
    if (begin.mtype !== Thrift.MessageType.CALL) {
      throw new ConnectionError(`message type ${begin.mtype} is not a call (1)`);
    }
    if (!KNOWN_METHODS.has(name)) {
      input.skip(Thrift.Type.STRUCT);
      input.readMessageEnd();
      const exception = new Thrift.TApplicationException(
        Thrift.TApplicationExceptionType.UNKNOWN_METHOD,
        `unknown method ${name}; IMService has Send and Pull`,
      );
      // The thrift 0.24 runtime's write() sends `code` as the type field but its
      // constructor only sets `type`, so without this the client reads UNKNOWN (0).
      exception.code = Thrift.TApplicationExceptionType.UNKNOWN_METHOD;
      output.writeMessageBegin(name, Thrift.MessageType.EXCEPTION, begin.rseqid);
      exception.write(output);
      output.writeMessageEnd();
      output.flush();
      throw new ConnectionError(`unknown method ${JSON.stringify(name.slice(0, 64))}`);
    }
    const processMethod = (this.#processor as unknown as Record<string, (...args: unknown[]) => void>)[
      `process_${name}`
    ]!;
    processMethod.call(this.#processor, begin.rseqid, input, output);
  }
}
