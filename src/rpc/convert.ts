import { invalidArgument } from '../core/errors.js';
import type { StoredMessage } from '../core/message-store.js';
import type { RawFields } from '../core/validation.js';
import { type I64, type ThriftMessage, types } from './generated.js';
import { InvalidUtf8String } from './strict-protocol.js';

/**
 * Converts a Thrift i64 to a number, or undefined when absent. Values beyond
 * ±2^53 are rejected, unless `allowImprecise` lets the caller's validation
 * reject them with its own message.
 */
export function i64ToNumber(value: I64 | null | undefined, field: string, allowImprecise = false): number | undefined {
  if (value === null || value === undefined) return undefined;
  const number = typeof value === 'number' ? value : value.toNumber(allowImprecise);
  if (allowImprecise) return number;
  if (!Number.isSafeInteger(number)) {
    throw invalidArgument(`${field} is outside ±2^53; expected a send_time in microseconds since the Unix epoch, or 0`);
  }
  return number;
}

/** Rejects string fields that arrived as invalid UTF-8 and passes the rest through. */
export function checkedFields(fields: Record<string, unknown>): RawFields {
  for (const [field, value] of Object.entries(fields)) {
    if (value instanceof InvalidUtf8String) {
      throw invalidArgument(
        `${field} is ${value.byteLength} bytes that are not valid UTF-8; Thrift strings must be UTF-8`,
      );
    }
  }
  return fields;
}

export function toThriftMessage(message: StoredMessage): ThriftMessage {
  return new types.Message({
    Chat: message.chat,
    Text: message.text,
    Sender: message.sender,
    SendTime: message.sendTimeMicros,
    ClientMsgId: message.clientMsgId ?? null,
  });
}

/** Reads a message that an RPC server returned; a missing field is a protocol error of that server. */
export function fromThriftMessage(message: ThriftMessage): StoredMessage {
  const sendTimeMicros = i64ToNumber(message.SendTime, 'SendTime') ?? 0;
  const stored = {
    chat: message.Chat ?? '',
    sender: message.Sender ?? '',
    text: message.Text ?? '',
    sendTimeMicros,
  };
  return message.ClientMsgId == null ? stored : { ...stored, clientMsgId: message.ClientMsgId };
}
