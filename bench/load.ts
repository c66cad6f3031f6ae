import { createHistogram } from 'node:perf_hooks';
import autocannon, { type RequestParams } from 'autocannon';
import thrift from 'thrift';
import { IMService, type IMServiceClient, types } from '../src/rpc/generated.js';

/** Result of one measured scenario. Latencies are in milliseconds. */
export interface Measurement {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  readonly completed: number;
  /**
   * CPU time (user and system) that the measured server processes spent per
   * completed request, in microseconds. Unlike req/s it barely changes when
   * other processes compete for the cores.
   */
  readonly cpuMicrosPerRequest?: number;
  /** The same CPU time split by server process name, such as `http`, `rpc` and `redis-server`. */
  readonly cpuMicrosPerRequestByProcess?: ReadonlyMap<string, number>;
  /** CPU time of the runner process per completed request, in microseconds: the load generator's cost. */
  readonly loadCpuMicrosPerRequest?: number;
}

/** Cumulative CPU time of each measured server process, by process name, in microseconds. */
export type CpuClock = () => ReadonlyMap<string, number>;

/** Runs the measured part of a scenario and adds the CPU time per request of the servers and of the load generator. */
async function withCpu(cpuClock: CpuClock | undefined, run: () => Promise<Measurement>): Promise<Measurement> {
  const before = cpuClock?.();
  const loadBefore = process.cpuUsage();
  const measurement = await run();
  const load = process.cpuUsage(loadBefore);
  if (measurement.completed === 0) return measurement;
  const perRequest = (micros: number) => micros / measurement.completed;
  const withLoad = { ...measurement, loadCpuMicrosPerRequest: perRequest(load.user + load.system) };
  if (cpuClock === undefined || before === undefined) return withLoad;

  const byProcess = new Map<string, number>();
  for (const [name, micros] of cpuClock()) byProcess.set(name, perRequest(micros - (before.get(name) ?? 0)));
  const total = [...byProcess.values()].reduce((sum, micros) => sum + micros, 0);
  return { ...withLoad, cpuMicrosPerRequest: total, cpuMicrosPerRequestByProcess: byProcess };
}

export interface LoadSettings {
  readonly connections: number;
  readonly durationSec: number;
  readonly warmupSec: number;
}

/** Builds the next request; called once per request, so every request may differ. */
export type RequestFactory = () => RequestParams;

/** Chat `u<i>:v<i>` of the pull scenarios; `u` sorts before `v`, so the id is canonical. */
export function pullChat(index: number): string {
  return `u${index}:v${index}`;
}

/** Number of chats that the send scenarios spread their messages over. */
export const SEND_CHAT_COUNT = 10_000;

/** Pull of the newest 10 messages of a random pre-filled chat. */
export function pullRequests(chatCount: number): RequestFactory {
  return () => ({
    method: 'GET',
    path: `/api/pull?chat=${pullChat(Math.floor(Math.random() * chatCount))}&limit=10&reverse=true`,
  });
}

let sendCounter = 0;

/** Send of a distinct text into one of SEND_CHAT_COUNT chats, in turn. */
export function sendRequests(): RequestFactory {
  return () => {
    const n = sendCounter++;
    const chat = n % SEND_CHAT_COUNT;
    const body = JSON.stringify({
      chat: `s${chat}:t${chat}`,
      sender: `s${chat}`,
      text: `benchmark message ${n} from the load generator`,
    });
    return { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json' }, body };
  };
}

/** Builds 80% pulls and 20% sends: every fifth request is a send. */
export function mixedRequests(chatCount: number): RequestFactory {
  const pull = pullRequests(chatCount);
  const send = sendRequests();
  let n = 0;
  return () => (n++ % 5 === 4 ? send() : pull());
}

/** Runs autocannon once against url; amount, when given, replaces the duration. */
async function runAutocannon(
  url: string,
  connections: number,
  durationSec: number,
  next: RequestFactory,
  amount?: number,
): Promise<Measurement> {
  const result = await autocannon({
    url,
    connections,
    duration: durationSec,
    ...(amount === undefined ? {} : { amount }),
    timeout: 10,
    requests: [{ setupRequest: (request) => ({ ...request, ...next() }) }],
  });
  return {
    requestsPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors,
    non2xx: result.non2xx,
    completed: result.requests.total,
  };
}

/** Warms up for settings.warmupSec, then measures for settings.durationSec. */
export async function measureHttp(
  url: string,
  settings: LoadSettings,
  next: RequestFactory,
  cpuClock?: CpuClock,
): Promise<Measurement> {
  if (settings.warmupSec > 0) await runAutocannon(url, settings.connections, settings.warmupSec, next);
  return withCpu(cpuClock, () => runAutocannon(url, settings.connections, settings.durationSec, next));
}

/**
 * Sends exactly `amount` requests (no warm-up), for the RSS measurement.
 * NOTE: autocannon stops only when all requests completed; a server that
 * stalls makes each request time out after 10 s instead.
 */
export function sendAmount(
  url: string,
  connections: number,
  amount: number,
  cpuClock?: CpuClock,
): Promise<Measurement> {
  return withCpu(cpuClock, () => runAutocannon(url, connections, 0, sendRequests(), amount));
}

/**
 * Pull calls straight to an RPC server over framed binary Thrift, with one
 * closed loop per connection: each loop sends its next call when the reply to
 * the previous one arrived. Stops after durationSec.
 */
async function runThriftPull(
  port: number,
  connections: number,
  durationSec: number,
  chatCount: number,
): Promise<Measurement> {
  const latencyNs = createHistogram();
  let errors = 0;
  let non2xx = 0;
  let completed = 0;
  const opened: thrift.Connection[] = [];
  const clients: IMServiceClient[] = [];
  for (let i = 0; i < connections; i++) {
    const connection = thrift.createConnection('127.0.0.1', port, {
      transport: thrift.TFramedTransport,
      protocol: thrift.TBinaryProtocol,
    });
    connection.on('error', () => errors++);
    opened.push(connection);
    clients.push(thrift.createClient(IMService as never, connection) as unknown as IMServiceClient);
  }

  const startedAt = performance.now();
  const endAt = startedAt + durationSec * 1000;
  const loop = async (client: IMServiceClient): Promise<void> => {
    while (performance.now() < endAt) {
      const request = new types.PullRequest({
        Chat: pullChat(Math.floor(Math.random() * chatCount)),
        Cursor: 0,
        Limit: 10,
        Reverse: true,
      });
      const callStart = process.hrtime.bigint();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Pull timed out after 10 s')), 10_000);
      });
      try {
        const response = await Promise.race([client.Pull(request), timedOut]);
        clearTimeout(timer);
        if (response.Code !== 0) non2xx++;
        completed++;
        latencyNs.record(Math.max(1, Number(process.hrtime.bigint() - callStart)));
      } catch {
        clearTimeout(timer);
        errors++;
        return;
      }
    }
  };
  await Promise.all(clients.map(loop));
  const elapsedSec = (performance.now() - startedAt) / 1000;
  for (const connection of opened) connection.end();

  return {
    requestsPerSec: completed / elapsedSec,
    p50Ms: latencyNs.percentile(50) / 1e6,
    p99Ms: latencyNs.percentile(99) / 1e6,
    maxMs: latencyNs.max / 1e6,
    errors,
    non2xx,
    completed,
  };
}

/** Warms up, then measures Thrift Pull calls per second against the RPC port. */
export async function measureThriftPull(
  port: number,
  settings: LoadSettings,
  chatCount: number,
  cpuClock?: CpuClock,
): Promise<Measurement> {
  if (settings.warmupSec > 0) await runThriftPull(port, settings.connections, settings.warmupSec, chatCount);
  return withCpu(cpuClock, () => runThriftPull(port, settings.connections, settings.durationSec, chatCount));
}
