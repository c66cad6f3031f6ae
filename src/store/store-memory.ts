import { nowMicros } from '../core/clock.js';
import { ImError } from '../core/errors.js';
import type { MessageStore, NewMessage, PullPage, PullQuery, StoredMessage } from '../core/message-store.js';

interface ChatLog {
  /** Sorted by sendTimeMicros, ascending. */
  readonly messages: StoredMessage[];
  /** `${sender}\n${clientMsgId}` → stored message; '\n' cannot occur in a member id. */
  readonly byClientMsgId: Map<string, StoredMessage>;
}

/** Index of the first message with sendTimeMicros >= micros (messages.length if none). */
function lowerBound(messages: readonly StoredMessage[], micros: number): number {
  let low = 0;
  let high = messages.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (messages[middle]!.sendTimeMicros < micros) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Process-local store for tests and trials: nothing survives a restart and
 * several processes do not share it. Sends are atomic because they run to
 * completion on the single JavaScript thread.
 */
export class MemoryMessageStore implements MessageStore {
  readonly description = 'memory:';
  readonly #chats = new Map<string, ChatLog>();
  #closed = false;

  async send(message: NewMessage): Promise<StoredMessage> {
    this.#assertOpen();
    let log = this.#chats.get(message.chat);
    if (log === undefined) {
      log = { messages: [], byClientMsgId: new Map() };
      this.#chats.set(message.chat, log);
    }

    const idempotencyKey = message.clientMsgId === undefined ? undefined : `${message.sender}\n${message.clientMsgId}`;
    if (idempotencyKey !== undefined) {
      const existing = log.byClientMsgId.get(idempotencyKey);
      if (existing !== undefined) return existing;
    }

    const last = log.messages.at(-1);
    const sendTimeMicros = Math.max(nowMicros(), last === undefined ? 0 : last.sendTimeMicros + 1);
    const stored: StoredMessage = { ...message, sendTimeMicros };
    log.messages.push(stored);
    if (idempotencyKey !== undefined) log.byClientMsgId.set(idempotencyKey, stored);
    return stored;
  }

  async pull(query: PullQuery): Promise<PullPage> {
    this.#assertOpen();
    const messages = this.#chats.get(query.chat)?.messages ?? [];
    if (!query.reverse) {
      const start = lowerBound(messages, query.cursorMicros);
      const page = messages.slice(start, start + query.limit);
      const next = messages[start + query.limit];
      return { messages: page, hasMore: next !== undefined, nextCursorMicros: next?.sendTimeMicros ?? 0 };
    }

    // Reverse: the page ends at the last message with sendTime <= cursor.
    const end = query.cursorMicros === 0 ? messages.length : lowerBound(messages, query.cursorMicros + 1);
    const start = Math.max(0, end - query.limit);
    const page = messages.slice(start, end).reverse();
    const next = start > 0 ? messages[start - 1] : undefined;
    return { messages: page, hasMore: next !== undefined, nextCursorMicros: next?.sendTimeMicros ?? 0 };
  }

  async checkReady(): Promise<void> {
    this.#assertOpen();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ImError('STORE_UNAVAILABLE', 'the memory store is closed');
  }
}
