import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
