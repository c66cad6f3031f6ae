import type { MessageStore } from '../core/message-store.js';
import { MemoryMessageStore } from './store-memory.js';
import { SqliteMessageStore } from './store-sqlite.js';

/**
 * Opens the store that an IM_STORE value names: `sqlite:PATH` or `memory:`.
 * The value was validated by the config module.
 */
export async function openStore(spec: string): Promise<MessageStore> {
  if (spec === 'memory:') return new MemoryMessageStore();
  if (spec.startsWith('sqlite:')) return new SqliteMessageStore(spec.slice('sqlite:'.length));
  throw new Error(`unsupported store ${spec}`);
}
