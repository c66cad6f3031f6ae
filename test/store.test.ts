import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PullPage } from '../src/core/message-store.js';
import { NewestPageCache } from '../src/store/newest-page-cache.js';
import { MemoryMessageStore } from '../src/store/store-memory.js';
import { SqliteMessageStore } from '../src/store/store-sqlite.js';
import { WalCheckpointer } from '../src/store/wal-checkpointer.js';
import { runStoreContract } from './store-contract.js';
import { captureLogger } from './support/logger.js';

runStoreContract('memory', async () => {
  const store = new MemoryMessageStore();
  return { store, cleanup: () => store.close() };
});

runStoreContract('sqlite', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'im-sqlite-'));
  const store = new SqliteMessageStore(join(directory, 'im.sqlite'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
});

describe('sqlite newest-page cache', () => {
  it('sees sends of another connection', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'im-sqlite-'));
    const file = join(directory, 'im.sqlite');
    const first = new SqliteMessageStore(file);
    const second = new SqliteMessageStore(file);
    try {
      const chat = 'cache-a:cache-b';
      const newest = { chat, cursorMicros: 0, limit: 10, reverse: true };
      await first.send({ chat, sender: 'cache-a', text: 'one' });
      assert.deepEqual(texts(await first.pull(newest)), ['one']);
      await second.send({ chat, sender: 'cache-b', text: 'two' });
      assert.deepEqual(texts(await first.pull(newest)), ['two', 'one']);
      // The first store sends on top of a write it has not read yet.
      await second.send({ chat, sender: 'cache-b', text: 'three' });
      await first.send({ chat, sender: 'cache-a', text: 'four' });
      assert.deepEqual(texts(await first.pull(newest)), ['four', 'three', 'two', 'one']);
      assert.deepEqual(texts(await second.pull(newest)), ['four', 'three', 'two', 'one']);
    } finally {
      await first.close();
      await second.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('evicts beyond its bounds', () => {
    const cache = new NewestPageCache(2, 100);
    const message = (chat: string, text: string) => ({ chat, sender: 'a', text, sendTimeMicros: 1 });
    cache.fill('a:a', [message('a:a', 'x')]);
    cache.fill('a:b', [message('a:b', 'y')]);
    cache.fill('a:c', [message('a:c', 'z')]);
    assert.equal(cache.newestPage('a:a', 10), undefined, 'least recently used chat is evicted');
    assert.equal(cache.newestPage('a:c', 10)?.messages.length, 1);
    cache.fill('a:d', [message('a:d', 'w'.repeat(101))]);
    assert.equal(cache.newestPage('a:d', 10), undefined, 'a tail over the text budget is not kept');
  });
});

function texts(page: PullPage): string[] {
  return page.messages.map((message) => message.text);
}

describe('sqlite WAL checkpoints', () => {
  /** Sends `count` messages over 100 chats, 50 at a time. */
  async function sendMany(store: SqliteMessageStore, count: number): Promise<void> {
    for (let sent = 0; sent < count; sent += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          store.send({ chat: `wal-a:wal-${(sent + index) % 100}`, sender: 'wal-a', text: `message ${sent + index}` }),
        ),
      );
    }
  }

  /**
   * Sends 1,000 messages to a new store and returns the size of its database
   * file, without the WAL, before and after. The file grows only when a
   * checkpoint copies pages into it.
   */
  async function databaseBytesAround(messagesPerCheckpoint: number): Promise<{ before: number; after: number }> {
    const directory = mkdtempSync(join(tmpdir(), 'im-sqlite-'));
    const file = join(directory, 'im.sqlite');
    const store = new SqliteMessageStore(file, { messagesPerCheckpoint });
    try {
      const before = statSync(file).size;
      await sendMany(store, 1000);
      await store.checkpointsIdle();
      return { before, after: statSync(file).size };
    } finally {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    }
  }

  it('run on the worker thread', async () => {
    const { before, after } = await databaseBytesAround(100);
    assert.ok(after > before + 32 * 1024, `database file grew from ${before} to ${after} bytes`);
  });

  it('wait for enough committed messages', async () => {
    // The main thread checkpoints only past 10,000 WAL pages, which 1,000 messages stay below.
    const { before, after } = await databaseBytesAround(1_000_000);
    assert.equal(after, before, 'no checkpoint copied pages into the database file');
  });

  it('leave no WAL file after close', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'im-sqlite-'));
    const file = join(directory, 'im.sqlite');
    const store = new SqliteMessageStore(file, { messagesPerCheckpoint: 10 });
    await sendMany(store, 200);
    await store.close();
    // SQLite deletes the WAL when the last connection closes, so the worker's connection closed first.
    assert.equal(existsSync(`${file}-wal`), false, 'WAL file removed');
    const reopened = new SqliteMessageStore(file);
    try {
      const page = await reopened.pull({ chat: 'wal-a:wal-7', cursorMicros: 0, limit: 10, reverse: false });
      assert.equal(page.messages[0]?.text, 'message 7');
    } finally {
      await reopened.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('report a failed worker once', async () => {
    const { logger, waitFor } = captureLogger();
    let failures = 0;
    const checkpointer = new WalCheckpointer({
      path: join(tmpdir(), 'im-missing-directory', 'im.sqlite'),
      busyTimeoutMs: 100,
      messagesPerCheckpoint: 1,
      logger,
      onFailure: () => failures++,
    });
    checkpointer.noteCommitted(1);
    const line = await waitFor('WAL checkpoint worker failed; SQLite checkpoints on the main thread from now on');
    await checkpointer.idle();
    checkpointer.noteCommitted(1);
    await checkpointer.close();
    assert.equal(failures, 1);
    assert.match(String((line['err'] as { message?: unknown }).message), /directory does not exist/);
  });
});
