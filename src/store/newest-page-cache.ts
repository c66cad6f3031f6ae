import type { PullPage, StoredMessage } from '../core/message-store.js';

/** The newest messages of one chat, oldest first. */
interface ChatTail {
  readonly messages: StoredMessage[];
  /** True when the chat has no message older than messages[0]. */
  complete: boolean;
  /** UTF-16 length of the texts, the unit of the cache's size budget. */
  textLength: number;
}

/** Messages kept per chat: a page of up to TAIL_SIZE - 1 plus the first message of the next page. */
export const TAIL_SIZE = 21;

/**
 * The newest messages of recently read chats, so that the most common pull
 * (newest first, from the newest message, a page of at most 20) needs no
 * query. Bounded by a number of chats and by the total text length; the least
 * recently used chats are evicted first. The owner keeps it exact: it adds
 * every message it stores and clears the cache when another connection may
 * have written.
 */
export class NewestPageCache {
  readonly #tails = new Map<string, ChatTail>();
  readonly #maxChats: number;
  readonly #maxTextLength: number;
  #textLength = 0;

  constructor(maxChats = 4096, maxTextLength = 8 * 1024 * 1024) {
    this.#maxChats = maxChats;
    this.#maxTextLength = maxTextLength;
  }

  /**
   * Returns the page of `limit` messages newest first, or undefined when the
   * chat is not cached. `limit` must be below TAIL_SIZE.
   */
  newestPage(chat: string, limit: number): PullPage | undefined {
    const tail = this.#tails.get(chat);
    if (tail === undefined) return undefined;
    // Re-inserting moves the chat to the most recently used end of the Map.
    this.#tails.delete(chat);
    this.#tails.set(chat, tail);
    return pageOf(tail, limit);
  }

  /** Caches the newest messages of a chat, read newest first with TAIL_SIZE as the limit. */
  fill(chat: string, newestFirst: readonly StoredMessage[]): void {
    this.#remove(chat);
    const messages = [...newestFirst].reverse();
    const tail = { messages, complete: messages.length < TAIL_SIZE, textLength: textLengthOf(messages) };
    this.#tails.set(chat, tail);
    this.#textLength += tail.textLength;
    this.#evict();
  }

  /** Adds a message just stored by the owner; it is newer than every cached message of its chat. */
  append(message: StoredMessage): void {
    const tail = this.#tails.get(message.chat);
    if (tail === undefined) return;
    tail.messages.push(message);
    tail.textLength += message.text.length;
    this.#textLength += message.text.length;
    if (tail.messages.length > TAIL_SIZE) {
      const dropped = tail.messages.shift()!;
      tail.textLength -= dropped.text.length;
      this.#textLength -= dropped.text.length;
      tail.complete = false;
    }
    this.#evict();
  }

  clear(): void {
    this.#tails.clear();
    this.#textLength = 0;
  }

  #remove(chat: string): void {
    const tail = this.#tails.get(chat);
    if (tail === undefined) return;
    this.#tails.delete(chat);
    this.#textLength -= tail.textLength;
  }

  #evict(): void {
    while (this.#tails.size > this.#maxChats || this.#textLength > this.#maxTextLength) {
      const oldest = this.#tails.keys().next();
      if (oldest.done === true) return;
      this.#remove(oldest.value);
    }
  }
}

function textLengthOf(messages: readonly StoredMessage[]): number {
  let length = 0;
  for (const message of messages) length += message.text.length;
  return length;
}

function pageOf(tail: ChatTail, limit: number): PullPage {
  const { messages } = tail;
  if (messages.length > limit) {
    const page = messages.slice(messages.length - limit).reverse();
    return { messages: page, hasMore: true, nextCursorMicros: messages[messages.length - limit - 1]!.sendTimeMicros };
  }
  // Fewer cached messages than the limit happens only for a complete chat: the page is the whole chat.
  return { messages: [...messages].reverse(), hasMore: false, nextCursorMicros: 0 };
}
