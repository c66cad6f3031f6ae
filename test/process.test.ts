import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertStrictlyIncreasing, okBody, type MessageBody, type PullBody } from './support/api-bodies.js';
import { CliProcess, runCli, startCli } from './support/cli-process.js';
import { HttpClient } from './support/http-client.js';
import { freePort } from './support/ports.js';
import { tempDirectory } from './support/service.js';

// Runs the real CLI as child processes. Each test picks free ports and passes
// them as flags, so the tests know the addresses without reading the logs.

const children: CliProcess[] = [];
const directories: { remove: () => void }[] = [];

after(async () => {
  for (const child of children) await child.kill();
  for (const directory of directories) directory.remove();
});

async function startTracked(args: string[]): Promise<{ child: CliProcess; client: HttpClient }> {
  const httpPort = await freePort();
  const rpcPort = await freePort();
  const child = await startCli([...args, '--http-port', String(httpPort), '--rpc-port', String(rpcPort)]);
  children.push(child);
  return { child, client: new HttpClient(`http://127.0.0.1:${httpPort}`) };
}

function sqliteFile(): string {
  const directory = tempDirectory('im-process-');
  directories.push(directory);
  return join(directory.path, 'im.sqlite');
}

/** Reads the whole chat by following next_cursor with a small page size. */
async function pageThrough(client: HttpClient, chat: string, reverse: boolean): Promise<MessageBody[]> {
  const seen: MessageBody[] = [];
  let cursor = 0;
  for (let page = 0; page < 1000; page++) {
    const body = okBody<PullBody>(await client.get('/api/pull', { chat, cursor, limit: 7, reverse }));
    seen.push(...body.messages);
    if (!body.has_more) return seen;
    cursor = body.next_cursor;
  }
  throw new Error('paging did not end after 1000 pages');
}

describe('CLI process', () => {
  it('help lists every option', () => {
    const { status, stdout } = runCli(['--help']);
    assert.equal(status, 0);
    const expected: [string, string][] = [
      ['--host', 'default 127.0.0.1'],
      ['--http-port', 'default 8080'],
      ['--rpc-port', 'default 8888'],
      ['--store', 'default sqlite:./data/im.sqlite'],
      ['--rpc-addr', 'no default'],
      ['--rpc-timeout-ms', 'default 1000'],
      ['--rpc-pool-size', 'default 4'],
      ['--rpc-max-message-bytes', 'default 1048576'],
      ['--max-text-bytes', 'default 16384'],
      ['--log-level', 'default info'],
    ];
    const lines = stdout.split('\n');
    for (const [flag, fallback] of expected) {
      const line = lines.find((l) => l.trimStart().startsWith(`${flag} `));
      assert.ok(line !== undefined, `help has a line for ${flag}`);
      assert.ok(line.includes(fallback), `help line of ${flag} says ${fallback}: ${line}`);
    }
  });

  const badOptions: { name: string; args: string[]; env?: Record<string, string>; mentions: string[] }[] = [
    {
      name: 'HTTP_PORT=abc',
      args: ['start'],
      env: { HTTP_PORT: 'abc' },
      mentions: ['--http-port', 'HTTP_PORT', 'abc'],
    },
    { name: 'rpc port too big', args: ['rpc', '--rpc-port', '70000'], mentions: ['--rpc-port', '70000'] },
    { name: 'IM_STORE=bogus', args: ['start'], env: { IM_STORE: 'bogus' }, mentions: ['--store', 'IM_STORE', 'bogus'] },
    { name: 'http without rpc-addr', args: ['http'], mentions: ['--rpc-addr'] },
    { name: 'bad rpc-addr entry', args: ['http', '--rpc-addr', '127.0.0.1'], mentions: ['--rpc-addr', '127.0.0.1'] },
    {
      name: 'zero rpc timeout',
      args: ['http', '--rpc-addr', '127.0.0.1:1', '--rpc-timeout-ms', '0'],
      mentions: ['--rpc-timeout-ms'],
    },
    { name: 'bad log level', args: ['start'], env: { LOG_LEVEL: 'loud' }, mentions: ['--log-level', 'loud'] },
    { name: 'unknown flag', args: ['start', '--bogus', '1'], mentions: ['--bogus'] },
    { name: 'unknown command', args: ['serve'], mentions: ['serve', 'start'] },
    { name: 'missing command', args: [], mentions: ['command'] },
  ];
  for (const testCase of badOptions) {
    it(`rejects ${testCase.name}`, () => {
      const { status, stderr } = runCli(testCase.args, testCase.env);
      assert.equal(status, 2, `exit status (stderr: ${stderr})`);
      for (const word of testCase.mentions) assert.ok(stderr.includes(word), `stderr names ${word}: ${stderr}`);
    });
  }

  it('unusable store path names --store', () => {
    const { status, stderr } = runCli([
      'start',
      '--store',
      'sqlite:/proc/im-missing/x.sqlite',
      '--log-level',
      'silent',
    ]);
    assert.equal(status, 1, `exit status (stderr: ${stderr})`);
    assert.match(stderr, /--store \(IM_STORE\) sqlite:\/proc\/im-missing\/x\.sqlite/);
  });

  it('port in use names the option', async () => {
    const httpPort = String(await freePort());
    const argsWithRpcPort = async () => [
      'start',
      '--store',
      'memory:',
      '--http-port',
      httpPort,
      '--rpc-port',
      String(await freePort()),
    ];
    children.push(await startCli(await argsWithRpcPort()));
    const { status, stderr } = runCli([...(await argsWithRpcPort()), '--log-level', 'silent']);
    assert.equal(status, 1, `exit status (stderr: ${stderr})`);
    assert.match(stderr, /already in use/);
    assert.match(stderr, /--http-port \(HTTP_PORT\)/);
  });

  it('version prints the package version', () => {
    const { status, stdout } = runCli(['--version']);
    assert.equal(status, 0);
    assert.match(stdout, /^im-service \d+\.\d+\.\d+/);
  });

  it('gateway skips a frozen RPC server', async () => {
    const file = sqliteFile();
    const rpcPorts = [await freePort(), await freePort()];
    const rpcServers: CliProcess[] = [];
    for (const port of rpcPorts) {
      const child = await startCli(['rpc', '--store', `sqlite:${file}`, '--rpc-port', String(port)]);
      children.push(child);
      rpcServers.push(child);
    }
    const rpcAddr = rpcPorts.map((port) => `127.0.0.1:${port}`).join(',');
    const { client } = await startTracked(['http', '--rpc-addr', rpcAddr]);
    const frozen = rpcServers[0]!;
    frozen.signal('SIGSTOP');
    try {
      const chat = 'frozen-a:frozen-b';
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const response = await client.postJson('/api/send', { chat, sender: 'frozen-a', text: `while frozen ${i}` });
        statuses.push(response.status);
      }
      // Each call may spend half its budget on the frozen server, then goes to the other one.
      assert.deepEqual(statuses, new Array<number>(10).fill(200));
      const page = okBody<PullBody>(await client.get('/api/pull', { chat, limit: 100 }));
      assert.equal(page.messages.length, 10);
    } finally {
      frozen.signal('SIGCONT');
    }
  });

  it('restart keeps SQLite messages', async () => {
    const store = `sqlite:${sqliteFile()}`;
    const first = await startTracked(['start', '--store', store]);
    const sent: MessageBody[] = [];
    for (const text of ['one', 'twó', '三']) {
      sent.push(
        okBody<MessageBody>(await first.client.postJson('/api/send', { chat: 'r-a:r-b', sender: 'r-a', text })),
      );
    }
    first.child.signal('SIGTERM');
    assert.equal(await first.child.exited, 0);

    const second = await startTracked(['start', '--store', store]);
    const page = okBody<PullBody>(await second.client.get('/api/pull', { chat: 'r-b:r-a' }));
    assert.deepEqual(page.messages, sent);
    const next = okBody<MessageBody>(
      await second.client.postJson('/api/send', { chat: 'r-a:r-b', sender: 'r-b', text: 'four' }),
    );
    assert.ok(next.send_time > sent[2]!.send_time, 'send_time keeps increasing after a restart');
    second.child.signal('SIGTERM');
    assert.equal(await second.child.exited, 0);
  });

  it('two processes share one SQLite file', async () => {
    const store = `sqlite:${sqliteFile()}`;
    const processes = [
      await startTracked(['start', '--store', store]),
      await startTracked(['start', '--store', store]),
    ];
    const chats = ['s-a:s-b', 's-c:s-d'];
    const sends = Array.from({ length: 240 }, (_, i) => {
      const chat = chats[i % 2]!;
      const sender = chat.split(':')[(i >> 1) % 2]!;
      const { client } = processes[(i >> 2) % 2]!;
      return client.postJson('/api/send', { chat, sender, text: `shared ${i}` });
    });
    const sent = (await Promise.all(sends)).map((response) => okBody<MessageBody>(response));

    for (const chat of chats) {
      const inChat = sent.filter((m) => m.chat === chat);
      assert.equal(inChat.length, 120);
      assert.equal(new Set(inChat.map((m) => m.send_time)).size, 120, `${chat}: no two sends share a send_time`);
      for (const { client } of processes) {
        const ascending = await pageThrough(client, chat, false);
        assert.equal(ascending.length, 120, `${chat}: ascending pages return every message`);
        assertStrictlyIncreasing(ascending.map((m) => m.send_time));
        assert.deepEqual(new Set(ascending.map((m) => m.text)), new Set(inChat.map((m) => m.text)));
        const reverse = await pageThrough(client, chat, true);
        assert.deepEqual(
          reverse.map((m) => m.send_time),
          ascending.map((m) => m.send_time).reverse(),
          `${chat}: reverse pages return the same messages newest first`,
        );
      }
    }
    for (const { child } of processes) child.signal('SIGTERM');
    for (const { child } of processes) assert.equal(await child.exited, 0);
  });

  it('SIGTERM finishes in-flight requests', async () => {
    const httpPort = await freePort();
    const rpcPort = await freePort();
    const child = await startCli([
      'start',
      '--store',
      'memory:',
      '--http-port',
      String(httpPort),
      '--rpc-port',
      String(rpcPort),
    ]);
    children.push(child);

    // Requests whose bodies are only half sent are in flight until the rest arrives.
    const bodies = [0, 1, 2].map((i) => JSON.stringify({ chat: 't-a:t-b', sender: 't-a', text: `in flight ${i}` }));
    const pending = bodies.map((body) => {
      const request = http.request({
        host: '127.0.0.1',
        port: httpPort,
        path: '/api/send',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
        request.on('error', reject);
        request.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
      });
      request.write(body.slice(0, 10));
      return { request, body, response };
    });
    // Give the server time to read the request heads before the signal.
    await new Promise((resolve) => setTimeout(resolve, 300));

    child.signal('SIGTERM');
    await child.waitForLog('im-service stopping');
    for (const { request, body } of pending) request.end(body.slice(10));

    for (const [i, { response }] of pending.entries()) {
      const { status, body } = await response;
      assert.equal(status, 200, `request ${i} finished: ${body}`);
      assert.equal((JSON.parse(body) as MessageBody).text, `in flight ${i}`);
    }
    assert.equal(await child.exited, 0);
  });
});
