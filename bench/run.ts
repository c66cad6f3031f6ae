// Benchmark runner: starts what it measures on loopback ports, drives it with
// autocannon (HTTP) or a Thrift client, prints one table and writes it as
// markdown. Run `npm run bench -- --help` for the options.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { fillChats, type ChatFill } from './fill.js';
import {
  measureHttp,
  measureThriftPull,
  mixedRequests,
  pullChat,
  pullRequests,
  sendAmount,
  sendRequests,
  type LoadSettings,
  type Measurement,
  type RequestFactory,
} from './load.js';
import {
  buildCli,
  cpuMicros,
  freePort,
  ROOT,
  rssBytes,
  startCli,
  startProcess,
  stopAll,
  stopProcess,
  type CliOptions,
  type Started,
} from './processes.js';
import { formatMarkdown, formatTargets, formatText, type Row, type TargetCheck } from './report.js';

const HELP = `Usage: npm run bench -- [options]

  --duration <s>       measured seconds per scenario (default 10; 3 with --quick)
  --warmup <s>         unmeasured seconds before each scenario (default 3; 1 with --quick)
  --connections <n>    concurrent connections (default 50)
  --scenario <names>   comma-separated parts of scenario names to run, such as
                       pull,thrift (default: all but growth; "all" adds growth)
  --split-store <kind> store behind the split-mode RPC server: redis (default,
                       a redis-server the runner starts) or sqlite
  --quick              short run with less pre-filled data, to check the setup
  --profile <dir>      write a CPU profile (node --cpu-prof) of each server process to dir
  --memory-log <dir>   sample the RSS and V8 heap, in MiB, of each im-service process every
                       250 ms into dir/memory-NAME-PID.jsonl (bench/memory-sampler.cjs)
  --out <file>         markdown output (default bench/results/latest.md)
  -h, --help           show this help`;

interface Options {
  readonly settings: LoadSettings;
  readonly filters: readonly string[];
  readonly splitStore: 'redis' | 'sqlite';
  readonly quick: boolean;
  readonly profileDir: string | undefined;
  readonly memoryLogDir: string | undefined;
  readonly out: string;
}

function integerOption(name: string, raw: string | undefined, fallback: number, minimum = 1): number {
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < minimum || value > 100_000) {
    throw new Error(`invalid --${name} ${JSON.stringify(raw)}: expected an integer from ${minimum} to 100000`);
  }
  return value;
}

/** Names that --scenario parts are matched against; the growth pull rows add the chat size to the name. */
function scenarioNames(splitStore: string): string[] {
  return [
    'start/sqlite pull',
    'start/sqlite send',
    'start/sqlite mixed',
    'thrift/sqlite Pull',
    'start/sqlite --workers 2 pull',
    'start/sqlite --workers 2 send',
    `split/${splitStore} pull`,
    `split/${splitStore} send`,
    `split/${splitStore} mixed`,
    'growth pull',
    'growth send',
  ];
}

/** Throws when a --scenario part matches no scenario, which would otherwise run only the baselines. */
function checkScenarioFilters(filters: readonly string[], splitStore: string): void {
  const names = scenarioNames(splitStore);
  for (const filter of filters) {
    if (filter === 'all' || names.some((name) => name.includes(filter))) continue;
    throw new Error(
      `invalid --scenario part ${JSON.stringify(filter)}: it matches no scenario; use a part of one of these names, or all: ${names.join('; ')}` +
        (filter.startsWith('split/') ? ' (--split-store sets the store of split mode)' : ''),
    );
  }
}

/** Quotes an argument for a POSIX shell unless it is made of safe characters only. */
function shellQuote(argument: string): string {
  return /^[\w./:,=@+-]+$/.test(argument) ? argument : `'${argument.replaceAll("'", `'\\''`)}'`;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      scenario: { type: 'string' },
      'split-store': { type: 'string' },
      quick: { type: 'boolean' },
      profile: { type: 'string' },
      'memory-log': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(HELP);
    return undefined;
  }
  const quick = values.quick === true;
  const splitStore = values['split-store'] ?? 'redis';
  if (splitStore !== 'redis' && splitStore !== 'sqlite') {
    throw new Error(`invalid --split-store ${JSON.stringify(splitStore)}: expected redis or sqlite`);
  }
  const warmup = integerOption('warmup', values.warmup, quick ? 1 : 3, 0);
  const filters = (values.scenario ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  checkScenarioFilters(filters, splitStore);
  return {
    settings: {
      durationSec: integerOption('duration', values.duration, quick ? 3 : 10),
      warmupSec: warmup,
      connections: integerOption('connections', values.connections, 50),
    },
    filters,
    splitStore,
    quick,
    profileDir: values.profile,
    memoryLogDir: values['memory-log'] === undefined ? undefined : resolvePath(values['memory-log']),
    out: values.out ?? join(ROOT, 'bench/results/latest.md'),
  };
}

/** Sizes of the pre-filled data; --quick shrinks them so that a run takes about a minute. */
function sizes(quick: boolean) {
  return {
    pullChats: 1000,
    messagesPerPullChat: quick ? 100 : 1000,
    growthChats: quick ? [10, 10_000, 100_000] : [10, 10_000, 1_000_000],
    rssFirstSends: 10_000,
    rssTotalSends: quick ? 100_000 : 1_000_000,
  };
}

class Runner {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  readonly checks: TargetCheck[] = [];
  baseline: Measurement | undefined;
  /** Server processes whose CPU time the next measurements count. */
  measured: Started[] = [];

  constructor(readonly options: Options) {}

  /** True when the scenario was asked for: no filter runs every scenario except growth. The baseline always runs. */
  selected(name: string): boolean {
    const { filters } = this.options;
    if (name.startsWith('baseline')) return true;
    if (filters.length === 0) return !name.startsWith('growth');
    return filters.some((filter) => filter === 'all' || name.includes(filter));
  }

  async http(name: string, url: string, next: RequestFactory): Promise<Measurement | undefined> {
    if (!this.selected(name)) return undefined;
    process.stderr.write(`running ${name} ...\n`);
    const measurement = await measureHttp(url, this.options.settings, next, () => this.cpuMicros());
    this.rows.push({ scenario: name, measurement });
    const byProcess = measurement.cpuMicrosPerRequestByProcess;
    if (byProcess !== undefined && byProcess.size > 1) {
      const parts = [...byProcess].map(([process, micros]) => `${process} ${Math.round(micros)}`);
      this.notes.push(`${name}: server CPU µs per request by process: ${parts.join(', ')}`);
    }
    return measurement;
  }

  cpuMicros(): ReadonlyMap<string, number> {
    return new Map(this.measured.map((server) => [server.name, cpuMicros([server.child.pid!])]));
  }

  find(name: string): Measurement | undefined {
    return this.rows.find((row) => row.scenario === name)?.measurement;
  }

  checkRatio(target: string, name: string, minimum: number): void {
    const m = this.find(name);
    const ratio =
      m === undefined || this.baseline === undefined ? undefined : m.requestsPerSec / this.baseline.requestsPerSec;
    this.checks.push({
      target: `${target} >= ${minimum.toFixed(2)}x`,
      met: ratio === undefined ? undefined : ratio >= minimum,
      measured: ratio === undefined ? '' : `${ratio.toFixed(3)}x`,
    });
  }
}

function tempStore(directory: string, name: string): string {
  return `sqlite:${join(directory, name)}`;
}

/**
 * Measures the baseline server. The runner calls it first and last, and the
 * ratios divide by the faster of the two runs, so that a burst of other load
 * on the machine during one of them cannot inflate every ratio.
 */
async function runBaseline(runner: Runner, name: string): Promise<void> {
  const port = await freePort();
  const server = await startProcess(
    'baseline',
    process.execPath,
    ['--import', 'tsx', 'bench/baseline-server.ts', String(port)],
    /listening/,
  );
  runner.measured = [server];
  try {
    const measurement = await runner.http(name, `http://127.0.0.1:${port}`, () => ({ method: 'GET', path: '/ping' }));
    if (measurement !== undefined && measurement.requestsPerSec > (runner.baseline?.requestsPerSec ?? 0)) {
      runner.baseline = measurement;
    }
  } finally {
    await stopProcess(server);
  }
}

/** Starts the built CLI with the runner's --profile and --memory-log settings. */
function startServer(
  runner: Runner,
  name: string,
  options: Omit<CliOptions, 'profileDir' | 'memoryLogDir'>,
): Promise<Started> {
  const { profileDir, memoryLogDir } = runner.options;
  return startCli(name, { ...options, profileDir, memoryLogDir });
}

async function startInProcess(
  store: string,
  workers: number,
  runner: Runner,
): Promise<{ server: Started; url: string; rpcPort: number }> {
  const httpPort = await freePort();
  const rpcPort = await freePort();
  const server = await startServer(runner, `start --workers ${workers}`, {
    command: 'start',
    workers,
    args: ['--store', store, '--http-port', String(httpPort), '--rpc-port', String(rpcPort)],
  });
  runner.measured = [server];
  return { server, url: `http://127.0.0.1:${httpPort}`, rpcPort };
}

function pullFills(quick: boolean): ChatFill[] {
  const { pullChats, messagesPerPullChat } = sizes(quick);
  return Array.from({ length: pullChats }, (_, i) => ({ chat: pullChat(i), count: messagesPerPullChat }));
}

async function runInProcess(runner: Runner, directory: string): Promise<void> {
  const names = [
    'start/sqlite pull',
    'start/sqlite send',
    'start/sqlite mixed',
    'thrift/sqlite Pull',
    'start/sqlite --workers 2',
  ];
  if (!names.some((name) => runner.selected(name))) return;
  const { pullChats } = sizes(runner.options.quick);
  const store = tempStore(directory, 'in-process.sqlite');
  process.stderr.write('pre-filling the SQLite store ...\n');
  await fillChats(store, pullFills(runner.options.quick));

  const one = await startInProcess(store, 1, runner);
  try {
    await runner.http('start/sqlite pull', one.url, pullRequests(pullChats));
    await runner.http('start/sqlite send', one.url, sendRequests());
    await runner.http('start/sqlite mixed', one.url, mixedRequests(pullChats));
    if (runner.selected('thrift/sqlite Pull')) {
      process.stderr.write('running thrift/sqlite Pull ...\n');
      const measurement = await measureThriftPull(one.rpcPort, runner.options.settings, pullChats, () =>
        runner.cpuMicros(),
      );
      runner.rows.push({ scenario: 'thrift/sqlite Pull', measurement });
    }
  } finally {
    await stopProcess(one.server);
  }

  if (!runner.selected('start/sqlite --workers 2')) return;
  const two = await startInProcess(store, 2, runner);
  try {
    await runner.http('start/sqlite --workers 2 pull', two.url, pullRequests(pullChats));
    await runner.http('start/sqlite --workers 2 send', two.url, sendRequests());
  } finally {
    await stopProcess(two.server);
  }
}

async function startRedis(directory: string): Promise<{ server: Started; store: string }> {
  const port = await freePort();
  const server = await startProcess(
    'redis-server',
    '/usr/bin/redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      directory,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
    ],
    /Ready to accept connections/,
  );
  return { server, store: `redis://127.0.0.1:${port}` };
}

async function runSplit(runner: Runner, directory: string): Promise<void> {
  const prefix = `split/${runner.options.splitStore}`;
  if (![' pull', ' send', ' mixed'].some((kind) => runner.selected(`${prefix}${kind}`))) return;
  const { pullChats } = sizes(runner.options.quick);
  const started: Started[] = [];
  try {
    let store = tempStore(directory, 'split.sqlite');
    if (runner.options.splitStore === 'redis') {
      const redis = await startRedis(directory);
      started.push(redis.server);
      store = redis.store;
    }
    process.stderr.write(`pre-filling the ${runner.options.splitStore} store ...\n`);
    await fillChats(store, pullFills(runner.options.quick));

    const rpcPort = await freePort();
    started.push(
      await startServer(runner, 'rpc', {
        command: 'rpc',
        args: ['--store', store, '--rpc-port', String(rpcPort)],
      }),
    );
    const httpPort = await freePort();
    started.push(
      await startServer(runner, 'http', {
        command: 'http',
        args: ['--rpc-addr', `127.0.0.1:${rpcPort}`, '--http-port', String(httpPort)],
      }),
    );
    const url = `http://127.0.0.1:${httpPort}`;
    runner.measured = [...started];
    await runner.http(`${prefix} pull`, url, pullRequests(pullChats));
    await runner.http(`${prefix} send`, url, sendRequests());
    await runner.http(`${prefix} mixed`, url, mixedRequests(pullChats));
  } catch (error) {
    runner.notes.push(
      `split mode (${runner.options.splitStore}) failed and was skipped: ${(error as Error).message.split('\n')[0]}`,
    );
    process.stderr.write(`${(error as Error).message}\n`);
  } finally {
    for (const server of started.reverse()) await stopProcess(server);
  }
}

/** Pull pages at random cursors within a chat's history, so deep pages count as much as the newest. */
function growthPulls(chat: string, firstTime: number, count: number): RequestFactory {
  return () => ({
    method: 'GET',
    path: `/api/pull?chat=${chat}&limit=10&cursor=${firstTime + Math.floor(Math.random() * count)}`,
  });
}

async function runGrowth(runner: Runner, directory: string): Promise<void> {
  const { growthChats } = sizes(runner.options.quick);
  if (runner.selected('growth pull')) {
    const store = tempStore(directory, 'growth.sqlite');
    const fills = growthChats.map((count) => ({ chat: `g${count}:h${count}`, count }));
    process.stderr.write('pre-filling the growth chats ...\n');
    await fillChats(store, fills);
    const server = await startInProcess(store, 1, runner);
    try {
      for (const { chat, count } of fills) {
        const firstTime = (await (await fetch(`${server.url}/api/pull?chat=${chat}&limit=1`)).json()) as {
          messages: { send_time: number }[];
        };
        const first = firstTime.messages[0]!.send_time;
        await runner.http(`growth pull, chat of ${count} messages`, server.url, growthPulls(chat, first, count));
      }
    } finally {
      await stopProcess(server.server);
    }
    const small = runner.find(`growth pull, chat of ${growthChats[0]} messages`);
    const large = runner.find(`growth pull, chat of ${growthChats.at(-1)} messages`);
    if (small !== undefined && large !== undefined) {
      runner.checks.push({
        target: `pull p99 at ${growthChats.at(-1)} messages <= 1.5x p99 at ${growthChats[0]} messages`,
        met: large.p99Ms <= 1.5 * small.p99Ms,
        measured: `${large.p99Ms.toFixed(2)} ms vs ${small.p99Ms.toFixed(2)} ms`,
      });
    }
  }

  if (runner.selected('growth send')) await runRssGrowth(runner, directory);
}

/**
 * Samples the RSS of a start/sqlite server after the first sends and then
 * after every tenth of the total, so that a leak (steady growth) can be distinguished
 * from a heap that grows to its working size and stays there.
 */
async function runRssGrowth(runner: Runner, directory: string): Promise<void> {
  const { rssFirstSends, rssTotalSends } = sizes(runner.options.quick);
  const { connections } = runner.options.settings;
  const server = await startInProcess(tempStore(directory, 'rss.sqlite'), 1, runner);
  try {
    const pid = server.server.child.pid!;
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    const samples = [`idle ${mib(rssBytes(pid))}`];
    let sent = 0;
    let errors = 0;
    let non2xx = 0;
    let afterFirst = 0;
    let last: Measurement | undefined;
    const step = rssTotalSends / 10;
    for (const target of [rssFirstSends, ...Array.from({ length: 10 }, (_, i) => (i + 1) * step)]) {
      if (target <= sent) continue;
      process.stderr.write(`growth send: sends ${sent + 1}-${target} ...\n`);
      last = await sendAmount(server.url, connections, target - sent, () => runner.cpuMicros());
      errors += last.errors;
      non2xx += last.non2xx;
      const rss = rssBytes(pid);
      if (target === rssFirstSends) afterFirst = rss;
      samples.push(`${target} ${mib(rss)}`);
      sent = target;
    }
    const afterAll = rssBytes(pid);
    runner.rows.push({
      scenario: `growth send, sends ${rssTotalSends - step + 1}-${rssTotalSends}`,
      measurement: last!,
    });
    runner.notes.push(
      `RSS in MiB of the start/sqlite server by messages sent: ${samples.join(', ')} (errors ${errors}, non-2xx ${non2xx})`,
    );
    runner.checks.push({
      target: `RSS after ${rssTotalSends} sends <= 1.2x RSS after ${rssFirstSends}`,
      met: afterAll <= 1.2 * afterFirst,
      measured: `${(afterAll / afterFirst).toFixed(3)}x`,
    });
  } finally {
    await stopProcess(server.server);
  }
}

function addThroughputChecks(runner: Runner): void {
  runner.checkRatio('start/sqlite pull', 'start/sqlite pull', 0.5);
  runner.checkRatio('start/sqlite send', 'start/sqlite send', 0.35);
  for (const kind of ['pull', 'send', 'mixed']) {
    const m = runner.find(`start/sqlite ${kind}`);
    runner.checks.push({
      target: `start/sqlite ${kind} p99 <= 10 ms`,
      met: m === undefined ? undefined : m.p99Ms <= 10,
      measured: m === undefined ? '' : `${m.p99Ms.toFixed(2)} ms`,
    });
  }
  const split = `split/${runner.options.splitStore}`;
  runner.checkRatio(`${split} pull`, `${split} pull`, 0.25);
  runner.checkRatio(`${split} send`, `${split} send`, 0.2);
}

function versionOf(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'not installed';
  }
}

function machineDescription(): string {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
  const redis = /v=(\S+)/.exec(versionOf('/usr/bin/redis-server', ['--version']))?.[1] ?? 'not installed';
  return `CPU ${cpuModel}, ${cpus().length} cores, Node.js ${process.version}, Redis ${redis}`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === undefined) return;
  const argumentsGiven = process.argv.slice(2).map(shellQuote).join(' ');
  const command = `npm run bench${argumentsGiven === '' ? '' : ` -- ${argumentsGiven}`}`;
  const { settings } = options;
  const directory = mkdtempSync(join(tmpdir(), 'im-bench-'));
  if (options.profileDir !== undefined) mkdirSync(options.profileDir, { recursive: true });
  if (options.memoryLogDir !== undefined) mkdirSync(options.memoryLogDir, { recursive: true });
  const runner = new Runner(options);
  const startedAt = Date.now();
  // Other processes on the machine skew every figure; the 1-minute load average shows whether there were any.
  const loadAverage = loadavg()[0]!.toFixed(2);

  const interrupt = (): void => {
    process.stderr.write('interrupted: stopping the servers\n');
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  try {
    process.stderr.write('building dist/ ...\n');
    buildCli();
    await runBaseline(runner, 'baseline node:http (first)');
    await runInProcess(runner, directory);
    await runSplit(runner, directory);
    await runGrowth(runner, directory);
    await runBaseline(runner, 'baseline node:http (last)');
  } finally {
    await stopAll();
    rmSync(directory, { recursive: true, force: true });
  }
  addThroughputChecks(runner);

  const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);
  const setup = `${settings.connections} connections, ${settings.warmupSec} s warm-up, ${settings.durationSec} s measured per scenario; ratio is req/s over the faster baseline run; load average at the start ${loadAverage}`;
  const notes = runner.notes.map((note) => `- ${note}`).join('\n');
  console.log(`\n${command}\n${machineDescription()}\n${setup}\n`);
  console.log(formatText(runner.rows, runner.baseline));
  if (notes !== '') console.log(`\n${notes}`);
  console.log(`\nTargets:\n${formatTargets(runner.checks)}\n\nTook ${minutes} min.`);

  const markdown = [
    `# Benchmark results`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machineDescription()}. Date: ${new Date().toISOString()}. Run time: ${minutes} min.`,
    '',
    `Setup: ${setup}.`,
    '',
    formatMarkdown(runner.rows, runner.baseline),
    '',
    ...(notes === '' ? [] : [notes, '']),
    'Targets:',
    '',
    formatTargets(runner.checks),
    '',
  ].join('\n');
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, markdown);
  const relativeOut = relative(process.cwd(), options.out);
  // A path outside the working directory reads better absolute than as ../../...
  console.log(`Wrote ${relativeOut.startsWith('..') ? options.out : relativeOut}`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  await stopAll();
  process.exit(1);
});
