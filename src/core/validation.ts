import { assertMemberId, chatOf, codePointLength, parseChatId } from './chat-id.js';
import { ImError, invalidArgument } from './errors.js';
import { DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, type NewMessage, type PullQuery } from './message-store.js';

/** Default maximum text size in bytes of UTF-8 (16 KiB). */
export const DEFAULT_MAX_TEXT_BYTES = 16 * 1024;
/** Maximum length of a client message id, in Unicode code points. */
export const MAX_CLIENT_MSG_ID_LENGTH = 64;

/**
 * Request fields as they arrive from any API: strings from a query string or
 * form, strings, numbers and booleans from JSON, numbers from Thrift. A
 * missing field is undefined or null.
 */
export type RawFields = Readonly<Record<string, unknown>>;

export interface SendLimits {
  readonly maxTextBytes: number;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return 'a list (a JSON array, or a field given more than once)';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function optionalString(fields: RawFields, field: string): string | undefined {
  const value = fields[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw invalidArgument(`${field} is ${describe(value)}; expected a string`);
  }
  return value;
}

/** Returns a non-empty string field. `expected` names the accepted form for the error, such as `a member id ("alice")`. */
function requiredString(fields: RawFields, field: string, expected: string): string {
  const value = optionalString(fields, field);
  if (value === undefined || value === '') throw invalidArgument(`${field} is missing; give ${expected}`);
  return value;
}

/** Index of the first lone UTF-16 surrogate, or -1 when the string is valid Unicode. */
function loneSurrogateIndex(text: string): number {
  if (text.isWellFormed()) return -1;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return i;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return i;
  }
  return -1;
}

/**
 * Validates message text: non-empty, valid Unicode (a lone surrogate is
 * rejected, not replaced) and at most maxTextBytes bytes of UTF-8. Errors never
 * quote the text itself, which may be private.
 */
export function validateText(text: string, limits: SendLimits): void {
  const surrogate = loneSurrogateIndex(text);
  if (surrogate >= 0) {
    throw invalidArgument(
      `text has a lone UTF-16 surrogate at index ${surrogate}; text must be valid Unicode (send it as UTF-8)`,
    );
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxTextBytes) {
    throw new ImError(
      'TEXT_TOO_LARGE',
      `text is ${bytes} bytes of UTF-8; the limit is ${limits.maxTextBytes} bytes (server option --max-text-bytes)`,
    );
  }
}

/**
 * Builds a validated send from request fields: either `chat` and `sender`, or
 * `sender` and `receiver` (the chat is then their canonical chat), plus `text`
 * and an optional `client_msg_id`. When both `chat` and `receiver` are given
 * they must name the same chat.
 */
export function parseSendFields(fields: RawFields, limits: SendLimits): NewMessage {
  const sender = requiredString(fields, 'sender', 'the sending member\'s id ("alice")');
  assertMemberId('sender', sender);

  const chatField = optionalString(fields, 'chat');
  const receiver = optionalString(fields, 'receiver');
  let chat: string;
  if (chatField !== undefined && chatField !== '') {
    const parsed = parseChatId(chatField);
    if (!parsed.members.includes(sender)) {
      throw invalidArgument(
        `sender ${JSON.stringify(sender)} is not a member of chat ${JSON.stringify(parsed.id)}; the sender must be one of the two members (ids are case-sensitive)`,
      );
    }
    chat = parsed.id;
    if (receiver !== undefined && receiver !== '' && chatOf(sender, receiver).id !== chat) {
      throw invalidArgument(
        `receiver ${JSON.stringify(receiver)} does not match chat ${JSON.stringify(chat)}; give either chat or receiver, or make them agree`,
      );
    }
  } else if (receiver !== undefined && receiver !== '') {
    assertMemberId('receiver', receiver);
    chat = chatOf(sender, receiver).id;
  } else {
    throw invalidArgument('chat is missing; give chat ("alice:bob") or receiver together with sender');
  }

  const text = optionalString(fields, 'text');
  if (text === undefined || text.length === 0) {
    throw invalidArgument('text is missing or empty; a message needs at least one character');
  }
  validateText(text, limits);

  const clientMsgId = optionalString(fields, 'client_msg_id');
  if (clientMsgId !== undefined) validateClientMsgId(clientMsgId);

  return clientMsgId === undefined ? { chat, sender, text } : { chat, sender, text, clientMsgId };
}

export function validateClientMsgId(clientMsgId: string): void {
  if (!clientMsgId.isWellFormed()) {
    throw invalidArgument('client_msg_id has a lone UTF-16 surrogate; expected valid Unicode');
  }
  const length = codePointLength(clientMsgId);
  if (length === 0 || length > MAX_CLIENT_MSG_ID_LENGTH) {
    throw invalidArgument(
      `client_msg_id ${describe(clientMsgId)} is ${length} characters long; expected 1-${MAX_CLIENT_MSG_ID_LENGTH} characters`,
    );
  }
}

/**
 * Reads an integer field from 0 to max: a JSON or Thrift number, or a string
 * of decimal digits. A missing or empty field yields the fallback.
 */
function integerField(fields: RawFields, field: string, fallback: number, max: number, accepted: string): number {
  const value = fields[field];
  if (value === undefined || value === null || value === '') return fallback;
  let parsed = Number.NaN;
  if (typeof value === 'number') parsed = value;
  else if (typeof value === 'string' && /^\+?\d{1,20}$/.test(value.trim())) parsed = Number(value.trim());
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > max) {
    throw invalidArgument(`${field} is ${describe(value)}; expected ${accepted}`);
  }
  return parsed;
}

// The spellings Go's strconv.ParseBool accepts, which the template's Go clients may send.
const TRUE_SPELLINGS = new Set(['true', 'True', 'TRUE', 't', 'T', '1']);
const FALSE_SPELLINGS = new Set(['false', 'False', 'FALSE', 'f', 'F', '0']);

function booleanField(fields: RawFields, field: string): boolean {
  const value = fields[field];
  if (value === undefined || value === null || value === '') return false;
  if (typeof value === 'boolean') return value;
  if (value === 1 || (typeof value === 'string' && TRUE_SPELLINGS.has(value))) return true;
  if (value === 0 || (typeof value === 'string' && FALSE_SPELLINGS.has(value))) return false;
  throw invalidArgument(`${field} is ${describe(value)}; expected true or false (or 1 or 0)`);
}

/**
 * Builds a validated page request from `chat`, `cursor` (integer >= 0,
 * default 0), `limit` (0-1000, 0 or missing means 10) and `reverse`
 * (true/false/1/0, default false).
 */
export function parsePullFields(fields: RawFields): PullQuery {
  const chat = parseChatId(requiredString(fields, 'chat', 'a chat id of two member ids ("alice:bob")')).id;
  const cursorMicros = integerField(
    fields,
    'cursor',
    0,
    Number.MAX_SAFE_INTEGER,
    `an integer from 0 to ${Number.MAX_SAFE_INTEGER} (a send_time in microseconds since the Unix epoch, or 0)`,
  );
  const limitValue = integerField(
    fields,
    'limit',
    0,
    MAX_PULL_LIMIT,
    `an integer from 0 to ${MAX_PULL_LIMIT} (0 means ${DEFAULT_PULL_LIMIT})`,
  );
  const limit = limitValue === 0 ? DEFAULT_PULL_LIMIT : limitValue;
  const reverse = booleanField(fields, 'reverse');
  return { chat, cursorMicros, limit, reverse };
}
