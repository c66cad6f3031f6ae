import { createCluster } from 'redis';
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
import { parseRedisClusterUrl, type RedisClusterUrl } from './redis-url.js';

function createStoreCluster(url: RedisClusterUrl, options: RedisStoreOptions) {
  const bounded = boundedClientOptions(options);
  return createCluster({
    rootNodes: url.rootNodes.map(({ host, port }) => ({ socket: { host, port } })),
    // The defaults apply to every node connection, also to nodes the client discovers.
    defaults: { ...bounded, username: url.username, password: url.password },
    // The cluster passes its own command options to the node clients.
    commandOptions: bounded.commandOptions,
    scripts: REDIS_SCRIPTS,
  });
}

type StoreCluster = ReturnType<typeof createStoreCluster>;

/**
 * Message store on a Redis Cluster (IM_STORE=redis-cluster://...). The keys
 * of one chat share a hash tag, so they live on one shard and the send script
 * can run there atomically. Different chats spread over the shards. Keys,
 * script, send time and durability are the same as in RedisMessageStore.
 *
 * When the shard of a chat is unreachable, calls for that chat reject with
 * STORE_UNAVAILABLE within the command timeout while chats on other shards
 * keep working. The node clients reconnect in the background.
 */
export class RedisClusterMessageStore implements MessageStore {
  readonly description: string;
  readonly #cluster: StoreCluster;
  readonly #keyPrefix: string;
  readonly #target: MessageTarget;
  readonly #outages: OutageLog;
  #closed = false;

  private constructor(url: RedisClusterUrl, options: RedisStoreOptions) {
    this.description = url.description;
    this.#keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    assertKeyPrefix(this.#keyPrefix);
    this.#target = { commands: () => this.#openCluster(), keyPrefix: this.#keyPrefix, description: this.description };
    this.#cluster = createStoreCluster(url, options);

    // Without an 'error' listener, a failed topology refresh would crash the process.
    this.#outages = new OutageLog(options.logger, { store: this.description });
    const outages = this.#outages;
    this.#cluster.on('error', (error: unknown) => outages.error(error));
    this.#cluster.on('node-error', (error: unknown, node: { host?: string; port?: number }) => {
      outages.error(error, `${node.host}:${node.port}`);
    });
    this.#cluster.on('node-ready', (node: { host?: string; port?: number }) =>
      outages.ready(`${node.host}:${node.port}`),
    );
  }

  /**
   * Connects to `redis-cluster://[user:password@]host:port[,host:port...]`,
   * reads the cluster topology from the first root node that replies, and
   * resolves when the connections to the masters are ready. Rejects with
   * STORE_UNAVAILABLE when no root node replies within a few seconds.
   */
  static async open(url: string, options: RedisStoreOptions = {}): Promise<RedisClusterMessageStore> {
    const store = new RedisClusterMessageStore(parseRedisClusterUrl(url), options);
    const cluster = store.#cluster;
    await connectWithin(
      cluster.connect(),
      openTimeoutMs(options),
      store.description,
      () => cluster.destroy(),
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

  /** Pings every master, so a store with any shard down is not ready. */
  async checkReady(): Promise<void> {
    const cluster = this.#openCluster();
    try {
      await Promise.all(
        cluster.masters.map(async (master) => {
          const client = await cluster.nodeClient(master);
          await client.ping();
          // A restarted master replies to PING before the cluster serves its slots again.
          const info = await client.clusterInfo();
          if (!/^cluster_state:ok\b/m.test(String(info))) {
            throw new Error(`master ${master.host}:${master.port} reports cluster_state other than ok`);
          }
        }),
      );
    } catch (error) {
      throw toStoreError(error, `a master of ${this.description} is not ready`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#cluster.isOpen) return;
    try {
      await this.#cluster.close();
    } catch {
      this.#cluster.destroy();
    }
  }

  #openCluster(): StoreCluster {
    if (this.#closed) throw new ImError('STORE_UNAVAILABLE', `the store ${this.description} is closed`);
    return this.#cluster;
  }
}
