import { TBinaryProtocol, type TTransport } from 'thrift';

const FRAME_HEADER_BYTES = 4;
const INITIAL_CAPACITY = 4096;
/** A buffer grown past this for one large message is dropped after it, so an idle connection keeps little. */
const RETAINED_CAPACITY = 64 * 1024;
const TWO_TO_THE_32 = 2 ** 32;

/**
 * Output transport of one Thrift connection, for the RPC server's replies and
 * the gateway's calls. It collects one message in a reused buffer and, on
 * flush, hands a copy to `send`, after a 4-byte length when the connection is
 * framed. The thrift 0.24 transports keep an array of small Buffers and copy
 * the message twice when they flush.
 */
export class OutputTransport {
  readonly #framed: boolean;
  readonly #send: (message: Buffer) => void;
  #buffer = Buffer.allocUnsafe(INITIAL_CAPACITY);
  #length: number;

  constructor(framed: boolean, send: (message: Buffer) => void) {
    this.#framed = framed;
    this.#send = send;
    this.#length = this.#headerBytes();
  }

  /** Makes room for `bytes` more bytes and returns the buffer and the offset to write them at. */
  reserve(bytes: number): { buffer: Buffer; offset: number } {
    const offset = this.#length;
    const needed = offset + bytes;
    if (needed > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.#buffer.length * 2));
      this.#buffer.copy(grown, 0, 0, offset);
      this.#buffer = grown;
    }
    this.#length = needed;
    return { buffer: this.#buffer, offset };
  }

  write(bytes: Buffer | string, encoding?: BufferEncoding): void {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, encoding ?? 'utf8') : bytes;
    const { buffer, offset } = this.reserve(data.length);
    data.copy(buffer, offset);
  }

  flush(): void {
    if (this.#framed) this.#buffer.writeInt32BE(this.#length - FRAME_HEADER_BYTES, 0);
    // A copy, because the socket may still hold the message when the next one is written.
    const message = Buffer.from(this.#buffer.subarray(0, this.#length));
    this.#length = this.#headerBytes();
    if (this.#buffer.length > RETAINED_CAPACITY) this.#buffer = Buffer.allocUnsafe(INITIAL_CAPACITY);
    this.#send(message);
  }

  /** Drops the bytes written since the last flush, such as a message whose encoding threw. */
  discard(): void {
    this.#length = this.#headerBytes();
  }

  /** Part of the transport interface. Stock transports pass the seqid to the flush callback, which no caller here needs. */
  setCurrSeqId(): void {}

  #headerBytes(): number {
    return this.#framed ? FRAME_HEADER_BYTES : 0;
  }
}

/**
 * TBinaryProtocol that encodes integers and strings straight into an
 * OutputTransport. The stock protocol allocates a Buffer for every byte, i16,
 * i32, i64 and string it writes, which was the largest cost of encoding a
 * Pull reply in the RPC server's CPU profile. The encodings are the stock
 * ones (big-endian, strings as a 4-byte length and the bytes), and the
 * message, struct, field and list layout stays the library's.
 */
export class OutputBinaryProtocol extends TBinaryProtocol {
  readonly #output: OutputTransport;

  constructor(output: OutputTransport) {
    // strictWrite: messages start with the version header, as the stock protocol writes them.
    super(output as unknown as TTransport, false, true);
    this.#output = output;
  }

  /** Starts a message on an empty buffer, so that a message whose encoding threw is not sent in front of it. */
  override writeMessageBegin(name: string, type: number, seqid: number): void {
    this.#output.discard();
    super.writeMessageBegin(name, type, seqid);
  }

  override writeByte(value: number): void {
    const { buffer, offset } = this.#output.reserve(1);
    buffer[offset] = value & 0xff;
  }

  override writeI16(value: number): void {
    const { buffer, offset } = this.#output.reserve(2);
    buffer[offset] = (value >> 8) & 0xff;
    buffer[offset + 1] = value & 0xff;
  }

  override writeI32(value: number): void {
    const { buffer, offset } = this.#output.reserve(4);
    // `| 0` wraps the value to 32 bits as the stock protocol's bit operations do.
    buffer.writeInt32BE(value | 0, offset);
  }

  override writeI64(value: number | { buffer: Buffer }): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      // Int64 objects and numbers beyond 2^53 take the stock path, which writes an 8-byte buffer.
      super.writeI64(value as never);
      return;
    }
    const high = Math.floor(value / TWO_TO_THE_32);
    const { buffer, offset } = this.#output.reserve(8);
    buffer.writeInt32BE(high, offset);
    buffer.writeUInt32BE(value - high * TWO_TO_THE_32, offset + 4);
  }

  override writeString(value: string | Buffer): void {
    this.#writeBytes('writeString', 'utf8', value);
  }

  override writeBinary(value: string | Buffer): void {
    this.#writeBytes('writeBinary', 'binary', value);
  }

  #writeBytes(method: string, encoding: BufferEncoding, value: string | Buffer | Uint8Array): void {
    if (typeof value === 'string') {
      const length = Buffer.byteLength(value, encoding);
      this.writeI32(length);
      const { buffer, offset } = this.#output.reserve(length);
      buffer.write(value, offset, length, encoding);
      return;
    }
    if (value instanceof Uint8Array) {
      this.writeI32(value.length);
      const { buffer, offset } = this.#output.reserve(value.length);
      buffer.set(value, offset);
      return;
    }
    throw new TypeError(`${method} called without a string or Buffer argument`);
  }
}
