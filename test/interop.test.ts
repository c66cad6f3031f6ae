import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { okBody, type PullBody } from './support/api-bodies.js';
import { HttpClient } from './support/http-client.js';
import { startInProcess, tempDirectory, type TestService } from './support/service.js';

// Talks to the RPC server with Debian's python3-thrift, a Thrift
// implementation independent of the Node.js runtime the server uses.

const run = promisify(execFile);

/** Debian's interpreter: the one on PATH may be another build without python3-thrift. */
const PYTHON = '/usr/bin/python3';
const THRIFT_COMPILER = '/usr/bin/thrift';
const CLIENT_SCRIPT = new URL('./interop/thrift_client.py', import.meta.url).pathname;
const GENERATOR = new URL('../scripts/gen-thrift.sh', import.meta.url).pathname;

/** Returns why the interop tests cannot run here, or undefined when they can. */
function missingTool(): string | undefined {
  if (!existsSync(THRIFT_COMPILER)) return `${THRIFT_COMPILER} is missing (apt-get install thrift-compiler)`;
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (apt-get install python3)`;
  const probe = spawnSync(PYTHON, ['-c', 'import thrift'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} cannot import thrift (apt-get install python3-thrift)`;
  return undefined;
}

interface PyMessage {
  chat: string;
  text: string;
  sender: string;
  send_time: number;
  client_msg_id: string | null;
}

interface PyReply {
  code: number;
  msg: string;
  error_code: string | null;
  stored?: PyMessage;
  messages?: PyMessage[];
  has_more?: boolean | null;
  next_cursor?: number | null;
}

type Command =
  | { method: 'Send'; chat: string; sender: string; text: string; client_msg_id?: string }
  | { method: 'Pull'; chat: string; cursor?: number; limit?: number; reverse?: boolean };

const missing = missingTool();
if (missing !== undefined && process.env['CI'] === undefined) {
  console.warn(`\n*** SKIPPING Thrift interop tests: ${missing} ***\n`);
}

describe('Python Thrift client interop', { skip: missing !== undefined && process.env['CI'] === undefined }, () => {
  let service: TestService;
  let generated: { path: string; remove: () => void };

  before(async () => {
    if (missing !== undefined) throw new Error(`interop tests cannot run under CI: ${missing}`);
    generated = tempDirectory('im-interop-');
    await run(GENERATOR, ['--py', generated.path]);
    service = await startInProcess();
  });
  after(async () => {
    await service?.stop();
    generated?.remove();
  });

  async function callPython(transport: 'framed' | 'buffered', commands: Command[]): Promise<PyReply[]> {
    const { stdout } = await run(PYTHON, [
      CLIENT_SCRIPT,
      generated.path,
      service.rpc.host,
      String(service.rpc.port),
      transport,
      JSON.stringify(commands),
    ]);
    return stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as PyReply);
  }

  for (const transport of ['framed', 'buffered'] as const) {
    it(`send and pull, ${transport}`, async () => {
      const chat = `py-${transport}-ann:py-${transport}-bob`;
      const text = `Grüße 😀 中文 ${transport}\n\ttab`;
      const replies = await callPython(transport, [
        { method: 'Send', chat: `py-${transport}-bob:py-${transport}-ann`, sender: `py-${transport}-bob`, text },
        { method: 'Pull', chat },
      ]);
      assert.equal(replies.length, 2);
      const [sent, pulled] = replies as [PyReply, PyReply];
      assert.equal(sent.code, 0);
      assert.equal(sent.msg, 'success');
      assert.equal(sent.stored?.chat, chat);
      assert.equal(sent.stored?.text, text);
      assert.ok((sent.stored?.send_time ?? 0) > 0, 'send_time is set');
      assert.equal(pulled.code, 0);
      assert.deepEqual(pulled.messages, [sent.stored]);
      assert.equal(pulled.has_more, false);
      assert.equal(pulled.next_cursor, 0);

      const viaHttp = okBody<PullBody>(await new HttpClient(service.baseUrl).get('/api/pull', { chat }));
      assert.equal(viaHttp.messages[0]?.text, text, 'HTTP reads the same text');
    });
  }

  it('errors carry Code and Msg', async () => {
    const replies = await callPython('framed', [
      { method: 'Send', chat: 'a:b:c', sender: 'a', text: 'x' },
      { method: 'Send', chat: 'py-err-a:py-err-b', sender: 'py-err-c', text: 'x' },
      { method: 'Send', chat: 'py-err-a:py-err-b', sender: 'py-err-a', text: 'x'.repeat(16 * 1024 + 1) },
      { method: 'Pull', chat: 'py-err-a:py-err-b', limit: 1001 },
      { method: 'Pull', chat: 'py-err-a:py-err-b', cursor: -5 },
    ]);
    assert.deepEqual(
      replies.map((reply) => reply.code),
      [400, 400, 413, 400, 400],
    );
    assert.deepEqual(
      replies.map((reply) => reply.error_code),
      ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'TEXT_TOO_LARGE', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'],
    );
    assert.match(replies[0]!.msg, /a:b:c/);
    assert.match(replies[1]!.msg, /py-err-c/);
    assert.match(replies[3]!.msg, /limit/);
    assert.match(replies[4]!.msg, /cursor/);
  });

  it('idempotent send keeps send_time', async () => {
    const send: Command = {
      method: 'Send',
      chat: 'py-id-a:py-id-b',
      sender: 'py-id-a',
      text: 'x',
      client_msg_id: 'c1',
    };
    const [first, second, page] = await callPython('buffered', [send, send, { method: 'Pull', chat: send.chat }]);
    assert.equal(first?.stored?.client_msg_id, 'c1');
    assert.deepEqual(second?.stored, first?.stored);
    assert.equal(page?.messages?.length, 1);
  });

  for (const reverse of [false, true]) {
    it(`pages ${reverse ? 'newest' : 'oldest'} first`, async () => {
      const chat = `py-page${reverse ? 'r' : 'a'}-a:py-page-b`;
      const sends: Command[] = Array.from({ length: 7 }, (_, i) => ({
        method: 'Send',
        chat,
        sender: 'py-page-b',
        text: `page ${i}`,
      }));
      const sent = (await callPython('framed', sends)).map((reply) => reply.stored!.send_time);
      const expected = reverse ? [...sent].reverse() : sent;

      const seen: number[] = [];
      let cursor = 0;
      for (let page = 0; page < 10; page++) {
        const [reply] = await callPython(page % 2 === 0 ? 'framed' : 'buffered', [
          { method: 'Pull', chat, cursor, limit: 3, reverse },
        ]);
        assert.equal(reply?.code, 0);
        seen.push(...(reply?.messages ?? []).map((m) => m.send_time));
        if (reply?.has_more !== true) {
          assert.equal(reply?.next_cursor, 0, 'next_cursor is 0 on the last page');
          break;
        }
        cursor = reply.next_cursor ?? 0;
      }
      assert.deepEqual(seen, expected);
    });
  }
});
