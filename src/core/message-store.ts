/** A stored message as every API returns it. */
export interface StoredMessage {
  /** Canonical chat id (`a:b` with a <= b). */
  readonly chat: string;
  readonly sender: string;
  readonly text: string;
  /** Microseconds since the Unix epoch, unique and strictly increasing within the chat. */
  readonly sendTimeMicros: number;
  /** Idempotency key given by the client, if any. */
  readonly clientMsgId?: string;
}

/** A validated send: the chat is canonical and the sender is one of its members. */
export interface NewMessage {
  readonly chat: string;
  readonly sender: string;
  readonly text: string;
  readonly clientMsgId?: string;
}

/** A validated page request. */
export interface PullQuery {
  readonly chat: string;
  /**
   * Microseconds since the Unix epoch. Ascending pages start at the first
   * message with sendTime >= cursor; reverse pages start at the last message
   * with sendTime <= cursor, and cursor 0 means "from the newest".
   */
  readonly cursorMicros: number;
  /** Page size, 1-1000 (0 was already replaced by the default). */
  readonly limit: number;
  readonly reverse: boolean;
}

export interface PullPage {
  /** Oldest first when ascending, newest first when reversed. */
  readonly messages: StoredMessage[];
  /** True iff at least one more message lies beyond this page in its direction. */
  readonly hasMore: boolean;
  /**
   * The send time of the first message of the next page when hasMore is true,
   * otherwise 0. Passing it back as the cursor continues with no gap and no duplicate.
   */
  readonly nextCursorMicros: number;
}

/**
 * Storage of chat messages. Every backend passes the shared store contract
 * suite (test/store-contract.ts), which checks each rule below.
 *
 * Send time: the store assigns it when it stores the message, as
 * max(now in microseconds, previous send time in the chat + 1). Send times are
 * therefore unique and strictly increasing within a chat, also when several
 * sends to one chat run concurrently, in one process or in several processes
 * sharing the same store. Send times of different chats are unrelated.
 *
 * Atomicity and durability: `send` resolves only after the message is stored
 * (on SQLite, committed to the WAL; on Redis, executed by the server). A
 * message that `send` has resolved is visible to every later `pull`. A send
 * rejected with INVALID_ARGUMENT or INTERNAL stored nothing. A send rejected
 * with STORE_UNAVAILABLE may have been stored when the connection failed or
 * timed out after the store received it (Redis), so callers that retry pass a
 * client message id, which makes the retry return the stored message.
 *
 * Idempotency: a send whose (chat, sender, clientMsgId) matches a stored
 * message stores nothing and resolves to the stored message, unchanged (its
 * text may differ from the repeated request's).
 *
 * Errors: a store that cannot be reached rejects with an ImError of code
 * STORE_UNAVAILABLE; the store does not validate its input (callers pass
 * NewMessage and PullQuery values built by the validation module).
 */
export interface MessageStore {
  /** Short description for logs, without credentials (such as `sqlite:./data/im.sqlite`). */
  readonly description: string;
  send(message: NewMessage): Promise<StoredMessage>;
  pull(query: PullQuery): Promise<PullPage>;
  /** Resolves when the store can serve requests; rejects with STORE_UNAVAILABLE otherwise. */
  checkReady(): Promise<void>;
  /** Releases connections and files. Calls after close reject. */
  close(): Promise<void>;
}

/** Page size used when a request gives none or gives 0. */
export const DEFAULT_PULL_LIMIT = 10;
export const MAX_PULL_LIMIT = 1000;

/**
 * The backend the HTTP API calls: a store in the same process, or the Thrift client
 * of the gateway, which forwards to remote RPC servers with the same contract.
 */
export type MessageBackend = Pick<MessageStore, 'send' | 'pull' | 'checkReady'>;
