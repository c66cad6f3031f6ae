import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Real redis-server processes for the Redis store tests: standalone servers
 * and a three-master Redis Cluster, each on a free 127.0.0.1 port with its
 * own temporary directory. Tests stop them by PID in `after`.
 */

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const HOST = '127.0.0.1';

/**
 * Returns why the Redis tests cannot run here, or undefined when they can.
 * Throws when CI is set, because CI must run them.
 */
export function redisSkipReason(): string | undefined {
  const missing = [REDIS_SERVER, REDIS_CLI].filter((path) => !existsSync(path));
  if (missing.length === 0) return undefined;
  const reason = `${missing.join(' and ')} not found; install the Debian packages redis-server and redis-tools`;
  if (process.env.CI) throw new Error(`Redis store tests cannot run in CI: ${reason}`);
  process.stderr.write(`\n*** SKIPPING the Redis store tests: ${reason} ***\n\n`);
  return reason;
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address for a free port');
  return address.port;
}

/** Runs redis-cli against 127.0.0.1:port and returns its output; throws on a non-zero exit. */
export function redisCli(port: number, ...args: string[]): string {
  const result = spawnSync(REDIS_CLI, ['-h', HOST, '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) {
    throw new Error(`redis-cli ${args.join(' ')} on port ${port} failed: ${result.stderr || result.stdout}`);
  }
  return result.stdout.trim();
}

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, such as `['--appendonly', 'yes']`. */
  readonly args?: readonly string[];
  /** Port to listen on; a free one by default. */
  readonly port?: number;
  /** Data directory; a new temporary one by default, removed by `remove()`. */
  readonly directory?: string;
}

/** One redis-server process on 127.0.0.1. */
export class RedisServer {
  readonly port: number;
  readonly directory: string;
  readonly #args: readonly string[];
  #process: ChildProcess | undefined;

  private constructor(port: number, directory: string, args: readonly string[]) {
    this.port = port;
    this.directory = directory;
    this.#args = args;
  }

  /** Starts a server and resolves when it replies to PING (with PONG or NOAUTH). */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const directory = options.directory ?? mkdtempSync(join(tmpdir(), 'im-redis-'));
    const server = new RedisServer(port, directory, options.args ?? []);
    try {
      await server.restart();
    } catch (error) {
      if (options.directory === undefined) rmSync(directory, { recursive: true, force: true });
      throw error;
    }
    return server;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** Starts the process again on the same port and directory (after stop or kill). */
  async restart(): Promise<void> {
    if (this.#process !== undefined) throw new Error(`redis-server on port ${this.port} is still running`);
    const args = [
      '--bind',
      HOST,
      '--port',
      String(this.port),
      '--dir',
      this.directory,
      '--save',
      '',
      '--protected-mode',
      'yes',
      ...this.#args,
    ];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    try {
      await this.#waitForPing(child);
    } catch (error) {
      await this.stop('SIGKILL');
      throw error;
    }
  }

  /** Sends `signal` to the process by its PID and waits until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.#process = undefined;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.#process = undefined;
  }

  /** Stops the process and removes its directory. */
  async remove(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.directory, { recursive: true, force: true });
  }

  async #waitForPing(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited with ${child.exitCode}`);
      const ping = spawnSync(REDIS_CLI, ['-h', HOST, '-p', String(this.port), 'PING'], { encoding: 'utf8' });
      // A server with requirepass replies NOAUTH, which also shows that it is up.
      if (/^(PONG|NOAUTH)/.test(ping.stdout.trim())) return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${this.port} did not reply to PING within 10 s`);
  }
}

/** A Redis Cluster of redis-server processes, each a master with no replica. */
export class RedisCluster {
  readonly nodes: readonly RedisServer[];

  private constructor(nodes: readonly RedisServer[]) {
    this.nodes = nodes;
  }

  /** Starts `size` cluster-enabled servers, joins them and waits for cluster_state:ok on each. */
  static async start(size = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < size; i++) {
        nodes.push(
          await RedisServer.start({
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
          }),
        );
      }
      const addresses = nodes.map((node) => `${HOST}:${node.port}`);
      redisCli(nodes[0]!.port, '--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes');
      await waitForClusterOk(nodes);
    } catch (error) {
      await Promise.all(nodes.map((node) => node.remove()));
      throw error;
    }
    return new RedisCluster(nodes);
  }

  get url(): string {
    return `redis-cluster://${this.nodes.map((node) => `${HOST}:${node.port}`).join(',')}`;
  }

  /** Returns the node whose slots include `slot`. */
  nodeForSlot(slot: number): RedisServer {
    for (const node of this.nodes) {
      if (ownSlotRanges(node.port).some(([from, to]) => slot >= from && slot <= to)) return node;
    }
    throw new Error(`no node of the cluster serves slot ${slot}`);
  }

  async remove(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.remove()));
  }
}

/** Slot ranges that the node on `port` serves, read from CLUSTER NODES (the line flagged myself). */
function ownSlotRanges(port: number): Array<[number, number]> {
  const myself = redisCli(port, 'CLUSTER', 'NODES')
    .split('\n')
    .find((line) => line.split(' ')[2]?.includes('myself'));
  if (myself === undefined) throw new Error(`CLUSTER NODES on port ${port} has no line flagged myself`);
  return myself
    .split(' ')
    .slice(8)
    .filter((field) => /^\d+(-\d+)?$/.test(field))
    .map((field) => {
      const [from, to] = field.split('-').map(Number);
      return [from!, to ?? from!];
    });
}

async function waitForClusterOk(nodes: readonly RedisServer[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const states = nodes.map((node) => /cluster_state:(\w+)/.exec(redisCli(node.port, 'CLUSTER', 'INFO'))?.[1]);
    if (states.every((state) => state === 'ok')) return;
    await sleep(100);
  }
  throw new Error('the Redis Cluster did not reach cluster_state:ok within 30 s');
}
