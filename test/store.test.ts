import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PullPage } from '../src/core/message-store.js';
import { NewestPageCache } from '../src/store/newest-page-cache.js';
import { MemoryMessageStore } from '../src/store/store-memory.js';
import { SqliteMessageStore } from '../src/store/store-sqlite.js';
import { runStoreContract } from './store-contract.js';

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
