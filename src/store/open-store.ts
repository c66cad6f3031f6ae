import type { Logger } from 'pino';
import type { MessageStore } from '../core/message-store.js';
import { RedisClusterMessageStore } from './store-redis-cluster.js';
import { RedisMessageStore } from './store-redis.js';
import { MemoryMessageStore } from './store-memory.js';
import { SqliteMessageStore } from './store-sqlite.js';

/**
 * Opens the store that an IM_STORE value names: `sqlite:PATH`, `memory:`,
 * `redis://...` or `redis-cluster://...`. The value was validated by the
 * config module. `logger` receives the Redis stores' connection loss and
 * recovery events and the failure of SQLite's checkpoint worker.
 */
export async function openStore(spec: string, logger?: Logger): Promise<MessageStore> {
  if (spec === 'memory:') return new MemoryMessageStore();
  if (spec.startsWith('sqlite:')) return new SqliteMessageStore(spec.slice('sqlite:'.length), { logger });
  if (spec.startsWith('redis://')) return RedisMessageStore.open(spec, { logger });
  if (spec.startsWith('redis-cluster://')) return RedisClusterMessageStore.open(spec, { logger });
  throw new Error(`unsupported store ${spec}`);
}
