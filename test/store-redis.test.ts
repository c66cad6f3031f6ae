import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImError } from '../src/core/errors.js';
import type { MessageStore, StoredMessage } from '../src/core/message-store.js';
import { chatKeys } from '../src/store/redis-keys.js';
import { RedisClusterMessageStore } from '../src/store/store-redis-cluster.js';
import { RedisMessageStore } from '../src/store/store-redis.js';
import { freshChat, pageThrough, runStoreContract } from './store-contract.js';
import { freePort, RedisCluster, redisCli, RedisServer, redisSkipReason } from './support/redis-harness.js';

const skipReason = redisSkipReason();

let prefixCounter = 0;
/** Returns a key prefix that no other store of this run uses, so stores sharing a server never see each other's keys. */
function freshPrefix(): string {
  prefixCounter++;
  return `test${prefixCounter}:`;
}

/** Runs `call` and returns its rejection and how long it took to reject, in milliseconds. */
async function timedRejection(call: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = performance.now();
  try {
    await call();
  } catch (error) {
    return { error, elapsedMs: performance.now() - started };
  }
  throw new Error('the call resolved, expected a rejection');
}

async function assertUnavailableWithin(call: () => Promise<unknown>, limitMs: number, label: string): Promise<void> {
  const { error, elapsedMs } = await timedRejection(call);
  assert.ok(error instanceof ImError, `${label}: ${String(error)} is not an ImError`);
  assert.equal(error.code, 'STORE_UNAVAILABLE', `${label}: ${error.message}`);
  assert.ok(elapsedMs < limitMs, `${label} took ${Math.round(elapsedMs)} ms to reject, limit ${limitMs} ms`);
}

/** Retries `send` until it succeeds or `timeoutMs` passes; returns how long recovery took. */
async function waitForRecovery(store: MessageStore, chat: string, sender: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let lastError: unknown;
  while (performance.now() - started < timeoutMs) {
    try {
      await store.send({ chat, sender, text: 'after recovery' });
      return performance.now() - started;
    } catch (error) {
      lastError = error;
      await sleep(100);
    }
  }
  throw new Error(`the store did not recover within ${timeoutMs} ms: ${String(lastError)}`);
}

if (skipReason !== undefined) {
  it('Redis stores', { skip: skipReason }, () => undefined);
} else {
  let server: RedisServer;
  let cluster: RedisCluster;

  before(async () => {
    server = await RedisServer.start();
    cluster = await RedisCluster.start(3);
  });

  after(async () => {
    await server?.remove();
    await cluster?.remove();
  });

  runStoreContract('redis', async () => {
    const store = await RedisMessageStore.open(server.url, { keyPrefix: freshPrefix() });
    return { store, cleanup: () => store.close() };
  });

  runStoreContract('redis-cluster', async () => {
    const store = await RedisClusterMessageStore.open(cluster.url, { keyPrefix: freshPrefix() });
    return { store, cleanup: () => store.close() };
  });

  describe('redis store', () => {
    it('description hides the password', async () => {
      const secured = await RedisServer.start({ args: ['--requirepass', 's3cret-pass'] });
      try {
        const store = await RedisMessageStore.open(`redis://:s3cret-pass@127.0.0.1:${secured.port}/2`);
        try {
          assert.equal(store.description, `redis://127.0.0.1:${secured.port}/2`);
          const { chat, a } = freshChat('auth');
          await store.send({ chat, sender: a, text: 'authenticated' });
          assert.equal(redisCli(secured.port, '-a', 's3cret-pass', '--no-auth-warning', '-n', '2', 'DBSIZE'), '1');
        } finally {
          await store.close();
        }

        const wrong = await timedRejection(() =>
          RedisMessageStore.open(`redis://:wrong-pass@127.0.0.1:${secured.port}`),
        );
        assert.ok(wrong.error instanceof ImError);
        assert.equal(wrong.error.code, 'STORE_UNAVAILABLE');
        assert.doesNotMatch(wrong.error.message, /wrong-pass/);
      } finally {
        await secured.remove();
      }
    });

    it('open rejects when nothing listens', async () => {
      const port = await freePort();
      const { error, elapsedMs } = await timedRejection(() => RedisMessageStore.open(`redis://127.0.0.1:${port}`));
      assert.ok(error instanceof ImError);
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.ok(elapsedMs < 5000, `open took ${Math.round(elapsedMs)} ms to reject`);
    });

    it('key prefix with a brace is rejected', async () => {
      await assert.rejects(RedisMessageStore.open(server.url, { keyPrefix: 'im{x}:' }), /must not contain/);
    });

    it('send survives SCRIPT FLUSH', async () => {
      const store = await RedisMessageStore.open(server.url, { keyPrefix: freshPrefix() });
      try {
        const { chat, a } = freshChat('flush');
        await store.send({ chat, sender: a, text: 'before flush' });
        redisCli(server.port, 'SCRIPT', 'FLUSH');
        await store.send({ chat, sender: a, text: 'after flush' });
        const page = await store.pull({ chat, cursorMicros: 0, limit: 10, reverse: false });
        assert.deepEqual(
          page.messages.map((m) => m.text),
          ['before flush', 'after flush'],
        );
      } finally {
        await store.close();
      }
    });

    it('foreign member fails as INTERNAL', async () => {
      const prefix = freshPrefix();
      const store = await RedisMessageStore.open(server.url, { keyPrefix: prefix });
      try {
        const { chat } = freshChat('foreign');
        redisCli(server.port, 'ZADD', chatKeys(prefix, chat).messages, '5', 'not a message');
        await assert.rejects(store.pull({ chat, cursorMicros: 0, limit: 10, reverse: false }), { code: 'INTERNAL' });
      } finally {
        await store.close();
      }
    });

    it('unreachable Redis fails fast, then recovers', async () => {
      const own = await RedisServer.start();
      const store = await RedisMessageStore.open(own.url);
      try {
        const { chat, a } = freshChat('outage');
        await store.send({ chat, sender: a, text: 'before the outage' });

        await own.stop('SIGKILL');
        for (let round = 0; round < 3; round++) {
          await assertUnavailableWithin(() => store.send({ chat, sender: a, text: 'lost' }), 1000, 'send while down');
          await assertUnavailableWithin(
            () => store.pull({ chat, cursorMicros: 0, limit: 10, reverse: false }),
            1000,
            'pull while down',
          );
          await assertUnavailableWithin(() => store.checkReady(), 1000, 'checkReady while down');
          await sleep(300);
        }

        await own.restart();
        await waitForRecovery(store, chat, a, 10_000);
        await store.checkReady();
      } finally {
        await store.close();
        await own.remove();
      }
    });

    it('stalled Redis times out, then recovers', async () => {
      const own = await RedisServer.start();
      const store = await RedisMessageStore.open(own.url);
      try {
        const { chat, a } = freshChat('stall');
        await store.send({ chat, sender: a, text: 'before the stall' });

        // SIGSTOP keeps the connection open but Redis never replies.
        process.kill(own.pid!, 'SIGSTOP');
        try {
          await assertUnavailableWithin(
            () => store.send({ chat, sender: a, text: 'stalled' }),
            1000,
            'send while stalled',
          );
          await assertUnavailableWithin(
            () => store.pull({ chat, cursorMicros: 0, limit: 10, reverse: false }),
            1000,
            'pull while stalled',
          );
        } finally {
          process.kill(own.pid!, 'SIGCONT');
        }
        await waitForRecovery(store, chat, a, 10_000);
      } finally {
        await store.close();
        await own.remove();
      }
    });

    it('acknowledged sends survive SIGKILL with appendfsync always', async () => {
      const durable = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
      const store = await RedisMessageStore.open(durable.url);
      try {
        const { chat, a, b } = freshChat('aof');
        const acknowledged: StoredMessage[] = [];
        let attempted = 0;
        let killed = false;

        // Four writers send until Redis dies; the kill lands while sends are in flight.
        const writer = async (sender: string): Promise<void> => {
          for (;;) {
            attempted++;
            try {
              acknowledged.push(await store.send({ chat, sender, text: `durable ${attempted}` }));
            } catch {
              if (killed) return;
              throw new Error('a send failed before Redis was killed');
            }
            if (acknowledged.length >= 300 && !killed) {
              killed = true;
              await durable.stop('SIGKILL');
            }
          }
        };
        await Promise.all([writer(a), writer(b), writer(a), writer(b)]);
        assert.ok(acknowledged.length >= 300, `only ${acknowledged.length} sends were acknowledged`);

        await durable.restart();
        await waitForRecovery(store, chat, a, 10_000);
        const stored = await pageThrough(store, { chat, cursorMicros: 0, limit: 1000, reverse: false });
        const storedByTime = new Map(stored.map((message) => [message.sendTimeMicros, message]));
        for (const message of acknowledged) {
          assert.deepEqual(storedByTime.get(message.sendTimeMicros), message, `acknowledged ${message.text} is lost`);
        }
      } finally {
        await store.close();
        await durable.remove();
      }
    });
  });

  describe('redis-cluster store', () => {
    it('chats spread over the shards', async () => {
      const prefix = freshPrefix();
      const store = await RedisClusterMessageStore.open(cluster.url, { keyPrefix: prefix });
      try {
        const firstPort = cluster.nodes[0]!.port;
        const slotOf = (key: string): number => Number(redisCli(firstPort, 'CLUSTER', 'KEYSLOT', key));

        // Member ids with braces would break a hash tag taken from the chat id itself.
        const chatsByNode = new Map<number, string>();
        for (let i = 0; chatsByNode.size < 2 && i < 100; i++) {
          const chat = `{shard${i}:x}y${i}`;
          const keys = chatKeys(prefix, chat);
          const slot = slotOf(keys.messages);
          assert.equal(slotOf(keys.clientMsgIds), slot, `the keys of ${chat} hash to different slots`);
          const node = cluster.nodeForSlot(slot);
          if (!chatsByNode.has(node.port)) chatsByNode.set(node.port, chat);
        }
        assert.equal(chatsByNode.size, 2, 'no two chats of 100 hash to different masters');

        for (const [port, chat] of chatsByNode) {
          const sender = chat.split(':')[0]!;
          await store.send({ chat, sender, text: `on ${port}`, clientMsgId: 'c1' });
          const keys = chatKeys(prefix, chat);
          const slot = slotOf(keys.messages);
          for (const node of cluster.nodes) {
            // A node that does not serve the slot redirects, so the keys exist on the owner only.
            const expected = node.port === port ? '1' : `MOVED ${slot} 127.0.0.1:${port}`;
            assert.equal(redisCli(node.port, 'EXISTS', keys.messages), expected, `${chat} messages on ${node.port}`);
            assert.equal(redisCli(node.port, 'EXISTS', keys.clientMsgIds), expected, `${chat} ids on ${node.port}`);
          }
          const page = await store.pull({ chat, cursorMicros: 0, limit: 10, reverse: false });
          assert.deepEqual(
            page.messages.map((m) => m.text),
            [`on ${port}`],
          );
        }
      } finally {
        await store.close();
      }
    });

    it('shard outage affects only its chats', async () => {
      const own = await RedisCluster.start(3);
      const store = await RedisClusterMessageStore.open(own.url);
      try {
        const slotOf = (key: string): number => Number(redisCli(own.nodes[0]!.port, 'CLUSTER', 'KEYSLOT', key));
        const chatsByNode = new Map<RedisServer, string>();
        for (let i = 0; chatsByNode.size < 3 && i < 200; i++) {
          const chat = `outage${i}:z`;
          const node = own.nodeForSlot(slotOf(chatKeys('im:', chat).messages));
          if (!chatsByNode.has(node)) chatsByNode.set(node, chat);
        }
        assert.equal(chatsByNode.size, 3, 'no chat found for every master');
        const [downNode, downChat] = [...chatsByNode][0]!;
        const upChats = [...chatsByNode.values()].filter((chat) => chat !== downChat);
        await store.send({ chat: downChat, sender: 'z', text: 'before the outage' });

        await downNode.stop('SIGKILL');
        await assertUnavailableWithin(
          () => store.send({ chat: downChat, sender: 'z', text: 'lost' }),
          1000,
          'send to the stopped shard',
        );
        await assertUnavailableWithin(() => store.checkReady(), 1000, 'checkReady with a stopped shard');
        for (const chat of upChats) {
          const stored = await store.send({ chat, sender: 'z', text: 'other shard' });
          assert.equal(stored.text, 'other shard');
        }

        await downNode.restart();
        await waitForRecovery(store, downChat, 'z', 15_000);
        await store.checkReady();
      } finally {
        await store.close();
        await own.remove();
      }
    });

    it('open rejects when no root node replies', async () => {
      const ports = [await freePort(), await freePort()];
      const url = `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
      const { error, elapsedMs } = await timedRejection(() => RedisClusterMessageStore.open(url));
      assert.ok(error instanceof ImError);
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.ok(elapsedMs < 5000, `open took ${Math.round(elapsedMs)} ms to reject`);
    });
  });
}
