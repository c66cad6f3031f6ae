import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertStrictlyIncreasing, type ErrorBody, type MessageBody, type PullBody } from './support/api-bodies.js';
import { startCli, type CliProcess } from './support/cli-process.js';
import { HttpClient, type JsonResponse } from './support/http-client.js';
import { freePort } from './support/ports.js';
import { RedisCluster, RedisServer, redisSkipReason } from './support/redis-harness.js';
import { types } from '../src/rpc/generated.js';
import { openThriftClient } from './support/thrift-client.js';

// Scale-out and outage tests on real processes: im-service CLI children
// (rpc servers, http gateways, start mode) over a real Redis Cluster or a
// real redis-server, all on 127.0.0.1. Every process is stopped by its PID.

const skipReason = redisSkipReason();

const SEND_COUNT = 1000;
const CHAT_COUNT = 5;
const IN_FLIGHT = 100;
/**
 * Maximum time for a 503 during a Redis outage. The store rejects at once, or after its 500 ms command
 * timeout, so 3 s leaves room for a slow machine and still catches a call that hangs.
 */
const OUTAGE_REPLY_LIMIT_MS = 3000;

const children: CliProcess[] = [];
const redisServers: RedisServer[] = [];
const clusters: RedisCluster[] = [];

after(async () => {
  for (const child of children) await child.kill();
  for (const server of redisServers) await server.remove();
  for (const cluster of clusters) await cluster.remove();
});

/** Starts `im-service rpc` on `port` (a free one by default) and returns the process and its port. */
async function startRpcProcess(store: string, port?: number): Promise<{ child: CliProcess; port: number }> {
  port ??= await freePort();
  const child = await startCli(['rpc', '--store', store, '--rpc-port', String(port)]);
  children.push(child);
  return { child, port };
}

/** Starts `im-service http` on a free port in front of the RPC servers on `rpcPorts`. */
async function startGatewayProcess(rpcPorts: readonly number[]): Promise<{ child: CliProcess; client: HttpClient }> {
  const port = await freePort();
  const rpcAddr = rpcPorts.map((rpcPort) => `127.0.0.1:${rpcPort}`).join(',');
  const child = await startCli(['http', '--rpc-addr', rpcAddr, '--http-port', String(port)]);
  children.push(child);
  return { child, client: new HttpClient(`http://127.0.0.1:${port}`) };
}

/** Starts `im-service start` (HTTP calling the store in process) on free ports. */
async function startInProcessService(store: string): Promise<{ child: CliProcess; client: HttpClient }> {
  const httpPort = await freePort();
  const rpcPort = await freePort();
  const child = await startCli([
    'start',
    '--store',
    store,
    '--http-port',
    String(httpPort),
    '--rpc-port',
    String(rpcPort),
  ]);
  children.push(child);
  return { child, client: new HttpClient(`http://127.0.0.1:${httpPort}`) };
}

async function startDurableRedis(): Promise<RedisServer> {
  const server = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  redisServers.push(server);
  return server;
}

/** Runs `task(0)` … `task(count - 1)` with at most `limit` of them in flight. */
async function runBounded<T>(count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, () => worker()));
  return results;
}

interface Chat {
  readonly id: string;
  readonly members: readonly [string, string];
}

function makeChats(label: string, count: number): Chat[] {
  return Array.from({ length: count }, (_, i) => {
    const members = [`${label}${i}-a`, `${label}${i}-b`] as const;
    return { id: `${members[0]}:${members[1]}`, members };
  });
}

/** Outcome of one HTTP send: the stored message on 200, otherwise the status and body. */
interface SendOutcome {
  readonly chat: string;
  readonly text: string;
  /** True when the send started after the test had killed an RPC server. */
  readonly startedAfterKill: boolean;
  readonly stored?: MessageBody;
  readonly failure?: string;
}

/** Sends one message and records the outcome. A failed fetch counts as a failed send. */
async function sendOne(
  client: HttpClient,
  chat: Chat,
  sender: string,
  text: string,
  startedAfterKill: boolean,
): Promise<SendOutcome> {
  const sent = { chat: chat.id, text, startedAfterKill };
  let response: JsonResponse;
  try {
    response = await client.postJson('/api/send', { chat: chat.id, sender, text });
  } catch (error) {
    return { ...sent, failure: `fetch failed: ${String(error)}` };
  }
  if (response.status === 200) return { ...sent, stored: response.body as MessageBody };
  return { ...sent, failure: `${response.status} ${JSON.stringify(response.body)}` };
}

/**
 * Fires `count` sends with unique texts, spread over `clients` and `chats`,
 * IN_FLIGHT at a time. `onAcknowledged` runs after each successful send with
 * the number acknowledged so far, and `killed` returns whether a kill has finished.
 */
async function sendMany(
  clients: readonly HttpClient[],
  chats: readonly Chat[],
  label: string,
  count: number,
  hooks: { onAcknowledged?: (acknowledged: number) => void; killed?: () => boolean } = {},
): Promise<SendOutcome[]> {
  let acknowledged = 0;
  return runBounded(count, IN_FLIGHT, async (i) => {
    const chat = chats[i % chats.length]!;
    const sender = chat.members[Math.floor(i / chats.length) % 2]!;
    const client = clients[i % clients.length]!;
    const outcome = await sendOne(client, chat, sender, `${label} ${i}`, hooks.killed?.() ?? false);
    if (outcome.stored !== undefined) hooks.onAcknowledged?.(++acknowledged);
    return outcome;
  });
}

/** Reads a whole chat page by page, following next_cursor. */
async function readChat(client: HttpClient, chat: string, limit: number, reverse: boolean): Promise<MessageBody[]> {
  const messages: MessageBody[] = [];
  let cursor = 0;
  for (let page = 0; page <= SEND_COUNT; page++) {
    const response = await client.get('/api/pull', { chat, cursor, limit, reverse });
    assert.equal(response.status, 200, `pull of ${chat}: ${JSON.stringify(response.body)}`);
    const body = response.body as PullBody;
    messages.push(...body.messages);
    if (!body.has_more) return messages;
    cursor = body.next_cursor;
  }
  throw new Error(`paging through ${chat} did not end after ${SEND_COUNT + 1} pages`);
}

/** Counts how often each text occurs. */
function countTexts(messages: readonly MessageBody[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) counts.set(message.text, (counts.get(message.text) ?? 0) + 1);
  return counts;
}

const READ_MODES = [
  { limit: 1000, reverse: false },
  { limit: 1000, reverse: true },
  { limit: 37, reverse: false },
  { limit: 37, reverse: true },
] as const;

/**
 * Pages every chat back in each read mode, alternating the gateways. Checks
 * that send times strictly increase and that each acknowledged send is stored
 * exactly once, with the send_time of its acknowledgement. A failed send may
 * be stored at most once.
 */
async function assertChatsMatchSends(clients: readonly HttpClient[], outcomes: readonly SendOutcome[]): Promise<void> {
  const chats = [...new Set(outcomes.map((outcome) => outcome.chat))];
  let reads = 0;
  for (const chat of chats) {
    const inChat = outcomes.filter((outcome) => outcome.chat === chat);
    const acknowledged = inChat.filter((outcome) => outcome.stored !== undefined);
    const failedTexts = new Set(inChat.filter((outcome) => outcome.stored === undefined).map((o) => o.text));

    for (const { limit, reverse } of READ_MODES) {
      const client = clients[reads++ % clients.length]!;
      const read = await readChat(client, chat, limit, reverse);
      const label = `${chat} (limit ${limit}, reverse ${reverse})`;
      const oldestFirst = reverse ? [...read].reverse() : read;
      assertStrictlyIncreasing(oldestFirst.map((message) => message.send_time));

      const counts = countTexts(read);
      const missing = acknowledged.filter((outcome) => counts.get(outcome.text) === undefined).map((o) => o.text);
      assert.deepEqual(missing, [], `${label}: acknowledged sends missing`);
      const repeated = [...counts].filter(([, count]) => count > 1).map(([text]) => text);
      assert.deepEqual(repeated, [], `${label}: texts stored more than once`);
      const unknown = [...counts.keys()].filter(
        (text) => !failedTexts.has(text) && !acknowledged.some((o) => o.text === text),
      );
      assert.deepEqual(unknown, [], `${label}: texts that no send of this chat had`);

      const storedFailed = read.filter((message) => failedTexts.has(message.text)).length;
      assert.equal(read.length, acknowledged.length + storedFailed, `${label}: message count`);

      const sendTimeByText = new Map(read.map((message) => [message.text, message.send_time]));
      const movedTimes = acknowledged.filter((o) => sendTimeByText.get(o.text) !== o.stored!.send_time);
      assert.deepEqual(
        movedTimes.map((o) => o.text),
        [],
        `${label}: stored send_time differs from the acknowledged one`,
      );
    }
  }
}

/** Sends and times one HTTP call. */
async function timed(call: () => Promise<JsonResponse>): Promise<{ response: JsonResponse; elapsedMs: number }> {
  const started = performance.now();
  const response = await call();
  return { response, elapsedMs: performance.now() - started };
}

/** Asserts a 503 STORE_UNAVAILABLE reply that came well before a hang would end. */
async function assertStoreUnavailable(call: () => Promise<JsonResponse>, label: string): Promise<void> {
  const { response, elapsedMs } = await timed(call);
  assert.equal(response.status, 503, `${label}: status (${JSON.stringify(response.body)})`);
  assert.equal((response.body as ErrorBody).code, 'STORE_UNAVAILABLE', `${label}: code`);
  assert.ok(elapsedMs < OUTAGE_REPLY_LIMIT_MS, `${label} took ${Math.round(elapsedMs)} ms`);
}

/** Retries a send until it returns 200, and throws when none did within timeoutMs. */
async function waitForSend(client: HttpClient, chat: Chat, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const response = await client.postJson('/api/send', { chat: chat.id, sender: chat.members[0], text: 'recovered' });
    if (response.status === 200) return;
    last = `${response.status} ${JSON.stringify(response.body)}`;
    await sleep(100);
  }
  throw new Error(`sends still failed after ${timeoutMs} ms, last reply: ${last}`);
}

/**
 * Sends 200 messages, SIGKILLs Redis, checks that the API returns 503 and
 * /ping still 200, restarts Redis on the same port and directory, and checks that
 * the same processes serve again with every acknowledged message kept.
 */
async function checkRedisOutage(
  client: HttpClient,
  redis: RedisServer,
  chat: Chat,
  checkDuringOutage: () => Promise<void> = async () => undefined,
): Promise<void> {
  const outcomes = await sendMany([client], [chat], `${chat.id} before`, 200);
  const failed = outcomes.filter((outcome) => outcome.stored === undefined);
  assert.deepEqual(failed, [], 'sends before the outage');

  await redis.stop('SIGKILL');
  const sendDuringOutage = () =>
    client.postJson('/api/send', { chat: chat.id, sender: chat.members[0], text: 'during the outage' });
  const pullDuringOutage = () => client.get('/api/pull', { chat: chat.id, limit: 10 });
  for (let round = 0; round < 2; round++) {
    await assertStoreUnavailable(sendDuringOutage, `send while Redis is down (round ${round})`);
    await assertStoreUnavailable(pullDuringOutage, `pull while Redis is down (round ${round})`);
  }
  const ready = await client.get('/ready');
  assert.equal(ready.status, 503, `/ready while Redis is down: ${JSON.stringify(ready.body)}`);
  const ping = await client.get('/ping');
  assert.equal(ping.status, 200, '/ping while Redis is down');
  await checkDuringOutage();

  await redis.restart();
  await waitForSend(client, chat, 10_000);
  const pull = await client.get('/api/pull', { chat: chat.id, limit: 10 });
  assert.equal(pull.status, 200, `pull after the restart: ${JSON.stringify(pull.body)}`);
  const readyAgain = await client.get('/ready');
  assert.equal(readyAgain.status, 200, `/ready after the restart: ${JSON.stringify(readyAgain.body)}`);

  const stored = await readChat(client, chat.id, 1000, false);
  const storedTimes = new Map(stored.map((message) => [message.text, message.send_time]));
  const lost = outcomes.filter((outcome) => storedTimes.get(outcome.text) !== outcome.stored!.send_time);
  assert.deepEqual(
    lost.map((outcome) => outcome.text),
    [],
    'acknowledged messages missing after the Redis restart',
  );
  const duringOutage = stored.filter((message) => message.text === 'during the outage');
  assert.deepEqual(duringOutage, [], 'a send rejected while Redis was down was stored');
}

if (skipReason !== undefined) {
  it('scale-out on Redis', { skip: skipReason }, () => undefined);
} else {
  describe('scale-out on Redis Cluster', () => {
    let cluster: RedisCluster | undefined;
    const startCluster = async (): Promise<RedisCluster> => {
      if (cluster === undefined) {
        cluster = await RedisCluster.start(3);
        clusters.push(cluster);
      }
      return cluster;
    };

    it('two gateways, two rpc servers', async () => {
      const { url } = await startCluster();
      const rpc = [await startRpcProcess(url), await startRpcProcess(url)];
      const ports = rpc.map((server) => server.port);
      const gateways = [(await startGatewayProcess(ports)).client, (await startGatewayProcess(ports)).client];
      const chats = makeChats('fan', CHAT_COUNT);

      const outcomes = await sendMany(gateways, chats, 'fan-out', SEND_COUNT);
      const failed = outcomes.filter((outcome) => outcome.stored === undefined);
      assert.deepEqual(
        failed.map((outcome) => `${outcome.text}: ${outcome.failure}`),
        [],
        'failed sends',
      );
      await assertChatsMatchSends(gateways, outcomes);
    });

    it('rpc server killed mid-load', async () => {
      const { url } = await startCluster();
      const rpc = [await startRpcProcess(url), await startRpcProcess(url)];
      const ports = rpc.map((server) => server.port);
      const gatewayProcesses = [await startGatewayProcess(ports), await startGatewayProcess(ports)];
      const gateways = gatewayProcesses.map((gateway) => gateway.client);
      const chats = makeChats('kill', CHAT_COUNT);

      let killStarted = false;
      let killFinished = false;
      let kill: Promise<void> | undefined;
      const outcomes = await sendMany(gateways, chats, 'kill-window', SEND_COUNT, {
        onAcknowledged: (acknowledged) => {
          if (acknowledged < SEND_COUNT / 5 || killStarted) return;
          killStarted = true;
          kill = rpc[0]!.child.kill().then(() => {
            killFinished = true;
          });
        },
        killed: () => killFinished,
      });
      await kill;

      assert.ok(killFinished, 'the first rpc server was killed');
      assert.equal(rpc[0]!.child.running, false, 'the first rpc server no longer runs');
      const afterKill = outcomes.filter((outcome) => outcome.startedAfterKill);
      assert.ok(afterKill.length >= SEND_COUNT / 4, `only ${afterKill.length} sends started after the kill`);

      // Each call in flight on the killed server is rejected when its
      // connection closes and is retried once on the other server with the
      // same client_msg_id, well within the 1 s call budget. So no send may
      // fail, also inside the kill window.
      const failed = outcomes.filter((outcome) => outcome.stored === undefined);
      assert.deepEqual(
        failed.map((outcome) => `${outcome.text}: ${outcome.failure}`),
        [],
        'failed sends',
      );
      const failedAfterKill = afterKill.filter((outcome) => outcome.stored === undefined);
      assert.equal(failedAfterKill.length, 0, 'failed sends that started after the kill');

      await assertChatsMatchSends(gateways, outcomes);

      for (const gateway of gatewayProcesses) {
        const noticed = gateway.child.lines.some((line) => line.msg === 'rpc server unreachable; skipping it');
        assert.ok(noticed, `gateway ${gateway.child.pid} logged the killed rpc server as unreachable`);
      }
    });

    it('gateway returns to restarted server', async () => {
      const { url } = await startCluster();
      const first = await startRpcProcess(url);
      const second = await startRpcProcess(url);
      const gateway = await startGatewayProcess([first.port, second.port]);
      const [chat] = makeChats('rejoin', 1);

      const before = await sendMany([gateway.client], [chat!], 'before the kill', 20);
      assert.equal(before.filter((outcome) => outcome.stored === undefined).length, 0, 'failed sends before the kill');
      await first.child.kill();
      const during = await sendMany([gateway.client], [chat!], 'while one is down', 20);
      assert.equal(during.filter((outcome) => outcome.stored === undefined).length, 0, 'failed sends while down');

      // The gateway logs this when a server it had skipped replies again. Its
      // backoff is at most 5 s, so sends for 10 s must reach the restarted server.
      await startRpcProcess(url, first.port);
      const deadline = Date.now() + 10_000;
      let sent = 0;
      const rejoined = () => gateway.child.lines.some((line) => line.msg === 'rpc server reachable again');
      while (!rejoined() && Date.now() < deadline) {
        const outcome = await sendOne(gateway.client, chat!, chat!.members[0], `after the restart ${sent++}`, true);
        assert.equal(outcome.failure, undefined, `send ${sent} after the restart`);
        await sleep(50);
      }
      assert.ok(rejoined(), `the gateway did not use the restarted rpc server after ${sent} sends`);
    });
  });

  describe('Redis outage through the API', () => {
    it('start mode recovers after restart', async () => {
      const redis = await startDurableRedis();
      const { child, client } = await startInProcessService(redis.url);
      const [chat] = makeChats('outage-start', 1);

      await checkRedisOutage(client, redis, chat!);
      assert.ok(child.running, 'im-service kept running through the outage');
    });

    it('gateway maps store outage', async () => {
      const redis = await startDurableRedis();
      const rpc = await startRpcProcess(redis.url);
      const { client: gateway } = await startGatewayProcess([rpc.port]);
      const [chat] = makeChats('outage-gateway', 1);

      const thrift = await openThriftClient('127.0.0.1', rpc.port, 'framed');
      try {
        await checkRedisOutage(gateway, redis, chat!, async () => {
          const response = await thrift.client.Send(
            new types.SendRequest({
              message: new types.Message({ Chat: chat!.id, Sender: chat!.members[0], Text: 'thrift', SendTime: 0 }),
            }),
          );
          assert.equal(response.Code, 503, `Thrift Send while Redis is down: ${response.Msg}`);
          assert.equal(response.ErrorCode, 'STORE_UNAVAILABLE', 'Thrift ErrorCode while Redis is down');
        });
      } finally {
        thrift.close();
      }
      assert.ok(rpc.child.running, 'the rpc server kept running through the outage');
    });
  });
}
