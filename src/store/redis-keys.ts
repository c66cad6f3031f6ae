import { ImError } from '../core/errors.js';
import type { NewMessage, PullPage, PullQuery, StoredMessage } from '../core/message-store.js';

/**
 * Key layout and value encoding shared by the standalone and the cluster
 * Redis stores (docs/redis.md has the full layout and its memory cost).
 *
 * Every key of a chat contains the hash tag `{<base64url of the chat id>}`,
 * so a chat's keys hash to one cluster slot and the send script may touch
 * them together. Member ids may contain `{` and `}`, which would end or start
 * a hash tag early, but base64url uses only `A-Z a-z 0-9 - _`. Unlike a hash
 * of the chat id, base64url is injective, so two chats never share keys.
 */

/** Key prefix used when the store options give none. */
export const DEFAULT_KEY_PREFIX = 'im:';

/** The two keys of one chat. */
export interface ChatKeys {
  /** Sorted set: score = send time in microseconds, member = `<send time>\n<payload JSON>`. */
  readonly messages: string;
  /** Hash: field = `<sender>\n<client message id>`, value = send time of the stored message. */
  readonly clientMsgIds: string;
}

/**
 * Throws unless `prefix` can start every key. A brace in the prefix would
 * become the hash tag of every key and put all chats in one cluster slot.
 */
export function assertKeyPrefix(prefix: string): void {
  if (/[{}]/.test(prefix)) {
    throw new Error(`invalid Redis key prefix ${JSON.stringify(prefix)}: it must not contain '{' or '}'`);
  }
}

export function chatKeys(prefix: string, chat: string): ChatKeys {
  const tag = Buffer.from(chat, 'utf8').toString('base64url');
  return { messages: `${prefix}{${tag}}:messages`, clientMsgIds: `${prefix}{${tag}}:client-ids` };
}

/**
 * Arguments of the send script after its two keys: the payload, then the
 * client message id field when the message has one. '\n' cannot occur in a
 * member id, so it separates the sender from the client message id.
 */
export function sendScriptArguments(message: NewMessage): string[] {
  if (message.clientMsgId === undefined) return [JSON.stringify([message.sender, message.text])];
  return [
    JSON.stringify([message.sender, message.text, message.clientMsgId]),
    `${message.sender}\n${message.clientMsgId}`,
  ];
}

/** Decodes a sorted set member of `chat`; throws INTERNAL when the member is not one this module wrote. */
export function decodeMember(chat: string, member: string): StoredMessage {
  const newline = member.indexOf('\n');
  const sendTimeMicros = Number(member.slice(0, newline));
  let fields: unknown;
  try {
    fields = JSON.parse(member.slice(newline + 1));
  } catch {
    fields = undefined;
  }
  const valid =
    newline > 0 &&
    Number.isSafeInteger(sendTimeMicros) &&
    Array.isArray(fields) &&
    (fields.length === 2 || fields.length === 3) &&
    fields.every((field) => typeof field === 'string');
  if (!valid) {
    // The member may contain message text, so the error names only the chat.
    throw new ImError('INTERNAL', `a message stored in Redis for chat ${chat} has an unknown format`);
  }
  const [sender, text, clientMsgId] = fields as [string, string, string | undefined];
  const message = { chat, sender, text, sendTimeMicros };
  return clientMsgId === undefined ? message : { ...message, clientMsgId };
}

/** Score range of a ZRANGE BYSCORE that reads the page of `query`, in the order ZRANGE expects. */
export function pageScoreRange(query: PullQuery): { start: string; stop: string } {
  if (!query.reverse) return { start: String(query.cursorMicros), stop: '+inf' };
  // Reverse ZRANGE takes the higher bound first; cursor 0 means "from the newest".
  return { start: query.cursorMicros === 0 ? '+inf' : String(query.cursorMicros), stop: '-inf' };
}

/**
 * Builds the page from up to limit + 1 members read in page order: the extra
 * member shows whether more follow and where the next page starts.
 */
export function toPage(query: PullQuery, members: readonly string[]): PullPage {
  const messages = members.slice(0, query.limit).map((member) => decodeMember(query.chat, member));
  const next = members[query.limit];
  if (next === undefined) return { messages, hasMore: false, nextCursorMicros: 0 };
  return { messages, hasMore: true, nextCursorMicros: decodeMember(query.chat, next).sendTimeMicros };
}
