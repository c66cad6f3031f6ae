import { createClient } from 'redis';
import { ImError } from '../core/errors.js';
import type { MessageStore, NewMessage, PullPage, PullQuery, StoredMessage } from '../core/message-store.js';
import {
  boundedClientOptions,
  connectWithin,
  openTimeoutMs,
  OutageLog,
  toStoreError,
  type RedisStoreOptions,
} from './redis-connection.js';
import { assertKeyPrefix, DEFAULT_KEY_PREFIX } from './redis-keys.js';
import { pullFromRedis, sendToRedis, type MessageTarget } from './redis-messages.js';
import { REDIS_SCRIPTS } from './redis-send-script.js';
import { parseRedisUrl, type RedisUrl } from './redis-url.js';

function createStoreClient(url: RedisUrl, options: RedisStoreOptions) {
  const bounded = boundedClientOptions(options);
  return createClient({
    ...bounded,
    socket: { ...bounded.socket, host: url.address.host, port: url.address.port },
    username: url.username,
    password: url.password,
    database: url.database,
    scripts: REDIS_SCRIPTS,
  });
}

type StoreClient = ReturnType<typeof createStoreClient>;

/**
 * Message store on one Redis server (IM_STORE=redis://...). Each chat is a
 * sorted set of its messages scored by send time, plus a hash of client
 * message ids (see redis-keys.ts and docs/redis.md). A send is one Lua script,
 * which Redis runs atomically, so processes sharing the server never assign
 * the same send time. The send time comes from the Redis server's clock
 * (TIME), not from this process's.
 *
 * Durability is the server's: a resolved send was executed by Redis and
 * survives a crash of Redis only when it runs with `appendonly yes` and
 * `appendfsync always`.
 *
 * While Redis is unreachable, calls reject with STORE_UNAVAILABLE within the
 * command timeout and the client reconnects in the background.
 */
export class RedisMessageStore implements MessageStore {
  readonly description: string;
  readonly #client: StoreClient;
  readonly #keyPrefix: string;
  readonly #target: MessageTarget;
  readonly #outages: OutageLog;
  #closed = false;

  private constructor(url: RedisUrl, options: RedisStoreOptions) {
    this.description = url.description;
    this.#keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    assertKeyPrefix(this.#keyPrefix);
    this.#target = { commands: () => this.#openClient(), keyPrefix: this.#keyPrefix, description: this.description };
    this.#client = createStoreClient(url, options);

    // Without an 'error' listener, a lost connection would crash the process.
    this.#outages = new OutageLog(options.logger, { store: this.description });
    const outages = this.#outages;
    this.#client.on('error', (error: unknown) => outages.error(error));
    this.#client.on('ready', () => outages.ready());
  }

  /**
   * Connects to `redis://[user:password@]host[:port][/db]` and resolves when
   * the connection is ready. Rejects with STORE_UNAVAILABLE when Redis cannot
   * be reached within a few seconds.
   */
  static async open(url: string, options: RedisStoreOptions = {}): Promise<RedisMessageStore> {
    const store = new RedisMessageStore(parseRedisUrl(url), options);
    const client = store.#client;
    await connectWithin(
      client.connect(),
      openTimeoutMs(options),
      store.description,
      () => client.destroy(),
      () => store.#outages.lastError,
    );
    return store;
  }

  send(message: NewMessage): Promise<StoredMessage> {
    return sendToRedis(this.#target, message);
  }

  pull(query: PullQuery): Promise<PullPage> {
    return pullFromRedis(this.#target, query);
  }

  async checkReady(): Promise<void> {
    try {
      await this.#openClient().ping();
    } catch (error) {
      throw toStoreError(error, `${this.description} does not reply to PING`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#client.isOpen) return;
    if (!this.#client.isReady) {
      this.#client.destroy();
      return;
    }
    try {
      await this.#client.close();
    } catch {
      this.#client.destroy();
    }
  }

  #openClient(): StoreClient {
    if (this.#closed) throw new ImError('STORE_UNAVAILABLE', `the store ${this.description} is closed`);
    return this.#client;
  }
}
