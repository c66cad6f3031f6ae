import type { NewMessage, PullPage, PullQuery, StoredMessage } from '../core/message-store.js';
import { toStoreError } from './redis-connection.js';
import { chatKeys, decodeMember, pageScoreRange, sendScriptArguments, toPage } from './redis-keys.js';

/** The two commands that a send and a pull run; a node-redis client and a cluster both provide them. */
export interface MessageCommands {
  imSend(messagesKey: string, clientMsgIdsKey: string, scriptArguments: string[]): Promise<string>;
  zRange(
    key: string,
    start: string,
    stop: string,
    options: { BY: 'SCORE'; REV: boolean; LIMIT: { offset: number; count: number } },
  ): Promise<string[]>;
}

/** Connection, key prefix and name of one Redis store. `commands()` throws STORE_UNAVAILABLE once the store is closed. */
export interface MessageTarget {
  readonly commands: () => MessageCommands;
  readonly keyPrefix: string;
  /** The store's description, such as `redis://127.0.0.1:6379`, for error messages. */
  readonly description: string;
}

/** Stores a message with one run of the send script, which assigns its send time. */
export async function sendToRedis(target: MessageTarget, message: NewMessage): Promise<StoredMessage> {
  const keys = chatKeys(target.keyPrefix, message.chat);
  let member: string;
  try {
    member = await target.commands().imSend(keys.messages, keys.clientMsgIds, sendScriptArguments(message));
  } catch (error) {
    throw toStoreError(error, `cannot store a message in chat ${message.chat} on ${target.description}`);
  }
  return decodeMember(message.chat, member);
}

/** Reads one page with a single ZRANGE BYSCORE, one member beyond the page showing whether more follow. */
export async function pullFromRedis(target: MessageTarget, query: PullQuery): Promise<PullPage> {
  const { start, stop } = pageScoreRange(query);
  let members: string[];
  try {
    members = await target.commands().zRange(chatKeys(target.keyPrefix, query.chat).messages, start, stop, {
      BY: 'SCORE',
      REV: query.reverse,
      LIMIT: { offset: 0, count: query.limit + 1 },
    });
  } catch (error) {
    throw toStoreError(error, `cannot read chat ${query.chat} on ${target.description}`);
  }
  return toPage(query, members);
}
