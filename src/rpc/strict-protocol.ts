import { TBinaryProtocol, type TTransport } from 'thrift';

// ignoreBOM keeps a leading U+FEFF, which is part of the string, not a byte order mark.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A Thrift string whose bytes are not valid UTF-8. The stock protocol would
 * replace such bytes with U+FFFD; this value lets the handler reject the field
 * with an error instead.
 */
export class InvalidUtf8String {
  constructor(readonly byteLength: number) {}
}

/**
 * TBinaryProtocol that decodes strings strictly: a string field that is not
 * valid UTF-8 reads as an InvalidUtf8String.
 */
export class StrictUtf8BinaryProtocol extends TBinaryProtocol {
  constructor(transport: TTransport) {
    // strictRead: a message without the version header is rejected.
    super(transport, true, true);
  }

  override readString(): string {
    const bytes = this.readBinary();
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return new InvalidUtf8String(bytes.length) as unknown as string;
    }
  }
}
