import Database from 'better-sqlite3';
import { nowMicros } from '../src/core/clock.js';
import { openStore } from '../src/store/open-store.js';
import { SqliteMessageStore } from '../src/store/store-sqlite.js';

/** One chat to pre-fill: `count` messages sent alternately by its two members. */
export interface ChatFill {
  readonly chat: string;
  readonly count: number;
}

function membersOf(chat: string): [string, string] {
  const [first, second] = chat.split(':');
  return [first!, second!];
}

function fillText(chat: string, index: number): string {
  return `pre-filled message ${index} of chat ${chat}`;
}

/**
 * Writes the rows straight into SQLite in transactions of up to 50,000 rows,
 * instead of one send transaction per message. The send
 * times follow the store's rule: unique and increasing within each chat, and
 * all of them in the past, so that later sends through the server get send
 * times after them. The store creates the schema first, so the rows have the
 * store's layout and indexes.
 */
async function fillSqlite(path: string, chats: readonly ChatFill[]): Promise<void> {
  await new SqliteMessageStore(path).close();
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    const insert = db.prepare<[string, number, string, string]>(
      'INSERT INTO messages (chat, send_time, sender, text, client_msg_id) VALUES (?, ?, ?, ?, NULL)',
    );
    const lastSendTime = db.prepare<[string], { last: number | null }>(
      'SELECT max(send_time) AS last FROM messages WHERE chat = ?',
    );
    const insertRange = db.transaction((chat: string, firstTime: number, from: number, to: number) => {
      const members = membersOf(chat);
      for (let i = from; i < to; i++) insert.run(chat, firstTime + i, members[i % 2]!, fillText(chat, i));
    });

    for (const { chat, count } of chats) {
      // One microsecond apart, ending about a second before now; after any existing message.
      const existing = lastSendTime.get(chat)?.last ?? 0;
      const firstTime = Math.max(existing + 1, nowMicros() - 1_000_000 - count);
      for (let from = 0; from < count; from += 50_000) {
        insertRange(chat, firstTime, from, Math.min(count, from + 50_000));
      }
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** Sends every message through the store's own send, with up to 256 sends in flight. */
async function fillThroughStore(spec: string, chats: readonly ChatFill[]): Promise<void> {
  const store = await openStore(spec);
  try {
    for (const { chat, count } of chats) {
      const members = membersOf(chat);
      let next = 0;
      const sender = async (): Promise<void> => {
        while (next < count) {
          const index = next++;
          await store.send({ chat, sender: members[index % 2]!, text: fillText(chat, index) });
        }
      };
      await Promise.all(Array.from({ length: Math.min(256, count) }, sender));
    }
  } finally {
    await store.close();
  }
}

/**
 * Pre-fills chats in the store that `spec` names (an IM_STORE value): SQLite
 * in bulk, any other store through its send.
 */
export async function fillChats(spec: string, chats: readonly ChatFill[]): Promise<void> {
  if (spec.startsWith('sqlite:')) await fillSqlite(spec.slice('sqlite:'.length), chats);
  else await fillThroughStore(spec, chats);
}
