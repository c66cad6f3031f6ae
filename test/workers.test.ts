import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';

const CLI = ['--import', 'tsx', 'src/cli.ts'];
const SEND_COUNT = 200;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface LogLine {
  readonly msg?: string;
  readonly workerPids?: number[];
}

/**
 * Resolves with the pids of the workers once the primary logs that all of
 * them started. A failure message ends with the last log lines.
 */
function waitForWorkers(child: ChildProcess, timeoutMs: number): Promise<number[]> {
  const lines: string[] = [];
  const withOutput = (message: string) => new Error(`${message}; last output:\n${lines.join('\n')}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(withOutput(`workers did not start within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => reject(withOutput(`im-service exited with status ${code} before starting`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 20) lines.shift();
      let entry: LogLine;
      try {
        entry = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      if (entry.msg === 'im-service started all workers') {
        clearTimeout(timer);
        resolve(entry.workerPids ?? []);
      }
    });
  });
}

function exitStatus(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`im-service did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

interface SentJson {
  readonly send_time: number;
}

interface PullJson {
  readonly messages: { readonly send_time: number; readonly text: string }[];
  readonly has_more: boolean;
}

describe('im-service start --workers 2', () => {
  let directory: string;
  let child: ChildProcess;
  let baseUrl: string;
  let workerPids: number[];

  /** Starts the primary on two ports that were free a moment ago. */
  async function startPrimary(): Promise<number[]> {
    const httpPort = await freePort();
    const rpcPort = await freePort();
    child = spawn(
      process.execPath,
      [
        ...CLI,
        'start',
        '--workers',
        '2',
        '--store',
        `sqlite:${join(directory, 'im.sqlite')}`,
        '--host',
        '127.0.0.1',
        '--http-port',
        String(httpPort),
        '--rpc-port',
        String(rpcPort),
        // The test waits for an info line, whatever LOG_LEVEL the environment sets.
        '--log-level',
        'info',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    baseUrl = `http://127.0.0.1:${httpPort}`;
    return waitForWorkers(child, 30_000);
  }

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'im-workers-'));
    // Another process may take a port between freePort() and the primary's
    // bind. The start then fails with "is already in use", so a second pair
    // of ports is tried once.
    try {
      workerPids = await startPrimary();
    } catch (error) {
      if (!/is already in use/.test((error as Error).message)) throw error;
      workerPids = await startPrimary();
    }
  });

  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  });

  test('starts two worker processes', () => {
    assert.equal(new Set(workerPids).size, 2);
    assert.ok(!workerPids.includes(child.pid!), 'the primary serves no requests');
  });

  test('concurrent sends get distinct increasing send times', async () => {
    const chat = 'alice:bob';
    const replies = await Promise.all(
      Array.from({ length: SEND_COUNT }, async (_, i) => {
        const response = await fetch(`${baseUrl}/api/send`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ chat, sender: i % 2 === 0 ? 'alice' : 'bob', text: `message ${i}` }),
          signal: AbortSignal.timeout(20_000),
        });
        assert.equal(response.status, 200, `send ${i} failed: ${await response.clone().text()}`);
        return (await response.json()) as SentJson;
      }),
    );

    const sendTimes = replies.map((reply) => reply.send_time);
    assert.equal(new Set(sendTimes).size, SEND_COUNT, 'every send time is distinct');

    const response = await fetch(`${baseUrl}/api/pull?chat=${chat}&limit=1000`, {
      signal: AbortSignal.timeout(20_000),
    });
    assert.equal(response.status, 200);
    const page = (await response.json()) as PullJson;
    assert.equal(page.messages.length, SEND_COUNT);
    assert.equal(page.has_more, false);
    const pulledTimes = page.messages.map((message) => message.send_time);
    for (let i = 1; i < pulledTimes.length; i++) {
      assert.ok(pulledTimes[i]! > pulledTimes[i - 1]!, `send_time ${i} increases`);
    }
    assert.deepEqual(
      pulledTimes,
      [...sendTimes].sort((a, b) => a - b),
      'the pulled send times are the ones the sends returned',
    );
  });

  test('SIGTERM stops every worker with status 0', async () => {
    child.kill('SIGTERM');
    assert.equal(await exitStatus(child, 30_000), 0);
    for (const pid of workerPids) {
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} has exited`);
    }
  });
});

describe('--workers validation', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

  test('rejects values outside 1 to 64', () => {
    for (const value of ['0', '65', '1.5', 'two']) {
      const result = run(['start', '--workers', value, '--store', 'memory:']);
      assert.equal(result.status, 2, `--workers ${value}`);
      assert.match(result.stderr, /invalid --workers \(WORKERS\).*expected an integer from 1 to 64/);
    }
  });

  test('rejects the memory store with two workers', () => {
    const result = run(['start', '--workers', '2', '--store', 'memory:']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--workers 2 \(WORKERS\) cannot be used with --store memory:/);
  });

  test('reads the WORKERS environment variable', () => {
    const result = spawnSync(process.execPath, [...CLI, 'start', '--store', 'memory:'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, WORKERS: '3' },
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--workers 3 \(WORKERS\)/);
  });
});
