import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { nowMicros } from '../core/clock.js';
import { ImError } from '../core/errors.js';
import type { MessageStore, NewMessage, PullPage, PullQuery, StoredMessage } from '../core/message-store.js';
import { NewestPageCache, TAIL_SIZE } from './newest-page-cache.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/** Most sends stored in one transaction; more wait for the next one. */
const MAX_GROUP_COMMIT = 256;

/**
 * WAL size, in pages, at which a COMMIT on the main thread runs a checkpoint
 * itself. It is ten times SQLite's default of 1,000 and only a safety net for
 * a checkpoint worker that falls behind. The default comes back if the worker fails.
 */
const MAIN_THREAD_CHECKPOINT_PAGES = 10_000;
const SQLITE_DEFAULT_CHECKPOINT_PAGES = 1_000;

interface PendingSend {
  readonly message: NewMessage;
  readonly resolve: (stored: StoredMessage) => void;
  readonly reject: (error: ImError) => void;
}

interface MessageRow {
  sender: string;
  text: string;
  send_time: number;
  client_msg_id: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  chat          TEXT    NOT NULL,
  send_time     INTEGER NOT NULL, -- microseconds since the Unix epoch
  sender        TEXT    NOT NULL,
  text          TEXT    NOT NULL,
  client_msg_id TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_chat_time ON messages (chat, send_time);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_msg_id
  ON messages (chat, sender, client_msg_id) WHERE client_msg_id IS NOT NULL;
`;

// SQLite result codes that mean the database cannot be used right now, as
// opposed to a bug in a query.
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PROTOCOL)/;

export interface SqliteStoreOptions {
  /** How long a write waits for another process's write lock, in milliseconds (default 5000). */
  readonly busyTimeoutMs?: number;
  /**
   * Committed messages between two WAL checkpoints on the worker thread
   * (default 250). In a loop of sends over 10,000 chats, 250 messages grew
   * the WAL by 900 to 2,000 pages, near SQLite's own interval of 1,000.
   */
  readonly messagesPerCheckpoint?: number;
  /** Receives the failure of the checkpoint worker. */
  readonly logger?: Logger;
}

/**
 * Message store in one SQLite file (better-sqlite3, WAL journal,
 * synchronous=NORMAL). Several processes may open the same file: a send runs
 * in a BEGIN IMMEDIATE transaction, which holds SQLite's single write lock
 * while it reads the chat's last send time and appends, so processes never
 * assign the same send time.
 *
 * Durability: a resolved send has been committed to the WAL. It survives a
 * crash of the process; with synchronous=NORMAL, a power loss or OS crash can
 * lose the last transactions before a checkpoint.
 *
 * Checkpoints run on a worker thread (WalCheckpointer) every few hundred
 * committed messages, so that their file syncs do not stall the event loop.
 *
 * The newest page of recently read chats is kept in memory (NewestPageCache)
 * and serves a newest-first pull from the newest message without a query. It
 * stays exact because this store adds what it stores, and it is cleared when
 * PRAGMA data_version shows a commit by another connection.
 *
 * Calls are synchronous inside (better-sqlite3 has no async API), so a send
 * that waits for another process's lock blocks this process's event loop for
 * up to busyTimeoutMs.
 */
export class SqliteMessageStore implements MessageStore {
  readonly description: string;
  readonly #db: Database.Database;
  readonly #insert: Database.Statement<[string, number, string, string, string | null]>;
  readonly #lastSendTime: Database.Statement<[string], { last: number | null }>;
  readonly #byClientMsgId: Database.Statement<[string, string, string], MessageRow>;
  readonly #pageAscending: Database.Statement<[string, number, number], MessageRow>;
  readonly #pageDescending: Database.Statement<[string, number, number], MessageRow>;
  readonly #sendTransaction: (messages: readonly NewMessage[]) => { stored: StoredMessage; inserted: boolean }[];
  /** Sends waiting for the next group commit. */
  #pendingSends: PendingSend[] = [];
  readonly #dataVersion: Database.Statement<[], number>;
  readonly #newestPages = new NewestPageCache();
  #lastDataVersion = -1;
  /** Undefined for an in-memory database, which has no WAL. */
  readonly #checkpointer: WalCheckpointer | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.description = `sqlite:${path}`;
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const inMemory = path === ':memory:' || path === '';
    try {
      if (!inMemory) createParentDirectories(path);
      this.#db = new Database(path, { timeout: busyTimeoutMs });
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      if (!inMemory) this.#db.pragma(`wal_autocheckpoint = ${MAIN_THREAD_CHECKPOINT_PAGES}`);
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw translateSqliteError(error, `cannot open SQLite database ${path}`);
    }
    this.#checkpointer = inMemory
      ? undefined
      : new WalCheckpointer({
          path,
          busyTimeoutMs,
          messagesPerCheckpoint: options.messagesPerCheckpoint ?? 250,
          logger: options.logger,
          onFailure: () => {
            if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_CHECKPOINT_PAGES}`);
          },
        });

    const columns = 'sender, text, send_time, client_msg_id';
    this.#insert = this.#db.prepare(
      'INSERT INTO messages (chat, send_time, sender, text, client_msg_id) VALUES (?, ?, ?, ?, ?)',
    );
    this.#lastSendTime = this.#db.prepare('SELECT max(send_time) AS last FROM messages WHERE chat = ?');
    this.#byClientMsgId = this.#db.prepare(
      `SELECT ${columns} FROM messages WHERE chat = ? AND sender = ? AND client_msg_id = ?`,
    );
    this.#pageAscending = this.#db.prepare(
      `SELECT ${columns} FROM messages WHERE chat = ? AND send_time >= ? ORDER BY send_time ASC LIMIT ?`,
    );
    this.#pageDescending = this.#db.prepare(
      `SELECT ${columns} FROM messages WHERE chat = ? AND send_time <= ? ORDER BY send_time DESC LIMIT ?`,
    );

    // PRAGMA data_version changes when another connection (another process)
    // commits, which is when the newest-page cache may be stale.
    this.#dataVersion = this.#db.prepare<[], number>('PRAGMA data_version').pluck();

    const sendOnce = (message: NewMessage) => {
      if (message.clientMsgId !== undefined) {
        const existing = this.#byClientMsgId.get(message.chat, message.sender, message.clientMsgId);
        if (existing !== undefined) return { stored: toStoredMessage(message.chat, existing), inserted: false };
      }
      const last = this.#lastSendTime.get(message.chat)?.last ?? null;
      const sendTimeMicros = Math.max(nowMicros(), last === null ? 0 : last + 1);
      this.#insert.run(message.chat, sendTimeMicros, message.sender, message.text, message.clientMsgId ?? null);
      return { stored: { ...message, sendTimeMicros }, inserted: true };
    };
    const transaction = this.#db.transaction((messages: readonly NewMessage[]) => messages.map(sendOnce));
    this.#sendTransaction = (messages) => transaction.immediate(messages);
  }

  /**
   * Queues the send for a group commit: every send queued during one turn of
   * the event loop (up to MAX_GROUP_COMMIT) is stored in one transaction,
   * which saves a BEGIN and COMMIT per message. Each message still gets its own
   * send time, and the promise resolves only after the commit. A failed commit
   * rejects every send of the group, and none of them was stored.
   */
  send(message: NewMessage): Promise<StoredMessage> {
    return new Promise<StoredMessage>((resolve, reject) => {
      this.#pendingSends.push({ message, resolve, reject });
      if (this.#pendingSends.length === 1) setImmediate(() => this.#commitPendingSends());
    });
  }

  #commitPendingSends(): void {
    while (this.#pendingSends.length > 0) {
      const group = this.#pendingSends.splice(0, MAX_GROUP_COMMIT);
      let results: { stored: StoredMessage; inserted: boolean }[];
      try {
        results = this.#sendTransaction(group.map((pending) => pending.message));
      } catch (error) {
        for (const pending of group) {
          pending.reject(translateSqliteError(error, `cannot store a message in chat ${pending.message.chat}`));
        }
        continue;
      }
      for (const [index, pending] of group.entries()) {
        const { stored, inserted } = results[index]!;
        if (inserted) this.#newestPages.append(stored);
        pending.resolve(stored);
      }
      this.#checkpointer?.noteCommitted(group.length);
    }
  }

  async pull(query: PullQuery): Promise<PullPage> {
    if (query.reverse && query.cursorMicros === 0 && query.limit < TAIL_SIZE) {
      try {
        return this.#newestPage(query.chat, query.limit);
      } catch (error) {
        throw translateSqliteError(error, `cannot read chat ${query.chat}`);
      }
    }
    let rows: MessageRow[];
    try {
      // One row beyond the page shows whether there is a next page and where it starts.
      rows = query.reverse
        ? this.#pageDescending.all(
            query.chat,
            query.cursorMicros === 0 ? Number.MAX_SAFE_INTEGER : query.cursorMicros,
            query.limit + 1,
          )
        : this.#pageAscending.all(query.chat, query.cursorMicros, query.limit + 1);
    } catch (error) {
      throw translateSqliteError(error, `cannot read chat ${query.chat}`);
    }
    const next = rows.length > query.limit ? rows.pop() : undefined;
    return {
      messages: rows.map((row) => toStoredMessage(query.chat, row)),
      hasMore: next !== undefined,
      nextCursorMicros: next?.send_time ?? 0,
    };
  }

  /** Serves a newest-first page from the newest message out of the cache, filling it on a miss. */
  #newestPage(chat: string, limit: number): PullPage {
    this.#dropCacheIfChanged();
    const cached = this.#newestPages.newestPage(chat, limit);
    if (cached !== undefined) return cached;
    const rows = this.#pageDescending.all(chat, Number.MAX_SAFE_INTEGER, TAIL_SIZE);
    this.#newestPages.fill(
      chat,
      rows.map((row) => toStoredMessage(chat, row)),
    );
    return this.#newestPages.newestPage(chat, limit)!;
  }

  /** Clears the cache when another connection committed since the last check. */
  #dropCacheIfChanged(): void {
    const version = this.#dataVersion.get()!;
    if (version !== this.#lastDataVersion) {
      this.#newestPages.clear();
      this.#lastDataVersion = version;
    }
  }

  async checkReady(): Promise<void> {
    try {
      this.#db.prepare('SELECT 1').get();
    } catch (error) {
      throw translateSqliteError(error, 'SQLite database is not readable');
    }
  }

  /** Resolves when no WAL checkpoint is running or requested on the worker thread. */
  async checkpointsIdle(): Promise<void> {
    await this.#checkpointer?.idle();
  }

  /** Commits the queued sends, stops the checkpoint worker, then closes the database. */
  async close(): Promise<void> {
    this.#commitPendingSends();
    await this.#checkpointer?.close();
    if (this.#db.open) this.#db.close();
  }
}

/**
 * Creates the missing directories above `path`, one level at a time.
 * mkdirSync with `recursive: true` loops forever below /proc on Node.js 20
 * (mkdir returns ENOENT for the child and EEXIST for the parent), so the
 * levels are walked here and any failure is thrown.
 */
function createParentDirectories(path: string): void {
  const missing: string[] = [];
  for (let directory = dirname(path); !existsSync(directory); directory = dirname(directory)) {
    missing.unshift(directory);
    if (dirname(directory) === directory) break;
  }
  for (const directory of missing) mkdirSync(directory);
}

function toStoredMessage(chat: string, row: MessageRow): StoredMessage {
  const message = { chat, sender: row.sender, text: row.text, sendTimeMicros: row.send_time };
  return row.client_msg_id === null ? message : { ...message, clientMsgId: row.client_msg_id };
}

function translateSqliteError(error: unknown, context: string): ImError {
  const code = (error as { code?: unknown }).code;
  const detail = error instanceof Error ? error.message : String(error);
  const closed = error instanceof TypeError && /not open/.test(detail);
  const fileSystem = typeof code === 'string' && /^E[A-Z]+$/.test(code);
  if (closed || fileSystem || (typeof code === 'string' && UNAVAILABLE_CODES.test(code))) {
    return new ImError('STORE_UNAVAILABLE', `${context}: ${detail}`, { cause: error });
  }
  return new ImError('INTERNAL', `${context}: ${detail}`, { cause: error });
}
