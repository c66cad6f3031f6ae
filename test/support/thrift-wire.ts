import net from 'node:net';
import thrift from 'thrift';
import {
  types,
  type ThriftPullRequest,
  type ThriftPullResponse,
  type ThriftSendRequest,
  type ThriftSendResponse,
} from '../../src/rpc/generated.js';

// Encodes and decodes IMService messages byte by byte, so tests can pipeline
// calls, cut them short or send bytes that no well-behaved client would.

const { TBinaryProtocol, TBufferedTransport, TFramedTransport, Thrift } = thrift;

export type TransportKind = 'framed' | 'buffered';

/** The generated structs also have read and write, which src/rpc/generated.ts does not declare. */
interface ThriftStruct {
  read(input: thrift.TProtocol): void;
  write(output: thrift.TProtocol): void;
}

/** IDL field id of each method's only argument: `Send(1: SendRequest req)`, `Pull(2: PullRequest req)`. */
const ARGUMENT_FIELD_ID: Record<string, number> = { Send: 1, Pull: 2 };

/** Encodes one CALL message; any other method name gets argument field id 1. */
export function encodeCall(
  kind: TransportKind,
  method: string,
  seqid: number,
  request: ThriftSendRequest | ThriftPullRequest,
): Buffer {
  let encoded: Buffer | undefined;
  const Transport = kind === 'framed' ? TFramedTransport : TBufferedTransport;
  const protocol = new TBinaryProtocol(new Transport(undefined, (buffer) => (encoded = buffer)));
  protocol.writeMessageBegin(method, Thrift.MessageType.CALL, seqid);
  protocol.writeStructBegin(`IMService_${method}_args`);
  protocol.writeFieldBegin('req', Thrift.Type.STRUCT, ARGUMENT_FIELD_ID[method] ?? 1);
  (request as ThriftStruct).write(protocol);
  protocol.writeFieldEnd();
  protocol.writeFieldStop();
  protocol.writeStructEnd();
  protocol.writeMessageEnd();
  protocol.flush();
  if (encoded === undefined) throw new Error('the transport did not flush');
  return encoded;
}

export function sendRequest(chat: string, sender: string, text: string, clientMsgId?: string): ThriftSendRequest {
  return new types.SendRequest({
    message: new types.Message({ Chat: chat, Sender: sender, Text: text, SendTime: 0, ClientMsgId: clientMsgId }),
  });
}

export function pullRequest(chat: string, cursor = 0, limit = 0, reverse = false): ThriftPullRequest {
  return new types.PullRequest({ Chat: chat, Cursor: cursor, Limit: limit, Reverse: reverse });
}

/** One decoded server message: a reply with its response, or an exception. */
export type Reply =
  | { kind: 'reply'; method: string; seqid: number; response: ThriftSendResponse | ThriftPullResponse }
  | { kind: 'exception'; method: string; seqid: number; type: number; message: string };

/** Decodes one reply or exception; throws InputBufferUnderrunError when the input ends inside it. */
function decodeMessage(input: thrift.TProtocol): Reply {
  const begin = input.readMessageBegin();
  if (begin.mtype === Thrift.MessageType.EXCEPTION) {
    const exception = new Thrift.TApplicationException();
    exception.read(input);
    input.readMessageEnd();
    const type = (exception as unknown as { type: number }).type;
    return { kind: 'exception', method: begin.fname, seqid: begin.rseqid, type, message: exception.message };
  }
  const response = (
    begin.fname === 'Send'
      ? new types.SendResponse({ Code: -1, Msg: '' })
      : new types.PullResponse({ Code: -1, Msg: '' })
  ) as ThriftSendResponse & ThriftStruct;
  input.readStructBegin();
  for (;;) {
    const field = input.readFieldBegin();
    if (field.ftype === Thrift.Type.STOP) break;
    if (field.fid === 0) response.read(input);
    else input.skip(field.ftype);
    input.readFieldEnd();
  }
  input.readStructEnd();
  input.readMessageEnd();
  return { kind: 'reply', method: begin.fname, seqid: begin.rseqid, response };
}

/**
 * A raw TCP connection to the RPC server that collects replies as they
 * arrive, in either transport.
 */
export class RawThriftConnection {
  readonly replies: Reply[] = [];
  readonly closed: Promise<void>;
  #pending = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  private constructor(
    readonly socket: net.Socket,
    readonly kind: TransportKind,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      this.#decodeAvailable();
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    void this.closed.then(() => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async open(host: string, port: number, kind: TransportKind): Promise<RawThriftConnection> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawThriftConnection(socket, kind);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves once `count` replies have arrived; rejects if the connection closes first or after timeoutMs. */
  async waitForReplies(count: number, timeoutMs = 5000): Promise<Reply[]> {
    const deadline = Date.now() + timeoutMs;
    let isClosed = false;
    void this.closed.then(() => (isClosed = true));
    while (this.replies.length < count) {
      if (isClosed) throw new Error(`connection closed after ${this.replies.length} of ${count} replies`);
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`${this.replies.length} of ${count} replies within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remainingMs);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await Promise.resolve();
    }
    return this.replies.slice(0, count);
  }

  /** Bytes received that do not form a complete message. */
  get undecodedBytes(): number {
    return this.#pending.length;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #decodeAvailable(): void {
    for (;;) {
      let message: Buffer;
      if (this.kind === 'framed') {
        if (this.#pending.length < 4) return;
        const size = this.#pending.readInt32BE(0);
        if (this.#pending.length < 4 + size) return;
        message = this.#pending.subarray(4, 4 + size);
        this.#pending = this.#pending.subarray(4 + size);
        this.replies.push(decodeMessage(new TBinaryProtocol(new TFramedTransport(message))));
        continue;
      }
      const transport = new TFramedTransport(this.#pending);
      try {
        this.replies.push(decodeMessage(new TBinaryProtocol(transport)));
      } catch (error) {
        if ((error as Error).name === 'InputBufferUnderrunError') return;
        throw error;
      }
      const consumed = (transport as unknown as { readPos: number }).readPos;
      this.#pending = this.#pending.subarray(consumed);
    }
  }
}
