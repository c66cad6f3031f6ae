import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  assertStrictlyIncreasing,
  errorBody,
  okBody,
  uniqueChat,
  type MessageBody,
  type PullBody,
} from './support/api-bodies.js';
import { HttpClient, type JsonResponse } from './support/http-client.js';
import { freePort } from './support/ports.js';
import { startGateway, startInProcess, startRpcServer, type TestService } from './support/service.js';
import { startService } from '../src/app.js';
import { testConfig } from './support/config.js';
import { captureLogger } from './support/logger.js';

const MAX_TEXT_BYTES = 16 * 1024;

/** Sends `count` messages one after another and returns them in send order. */
async function sendSeries(client: HttpClient, chat: string, sender: string, count: number): Promise<MessageBody[]> {
  const sent: MessageBody[] = [];
  for (let i = 0; i < count; i++) {
    sent.push(okBody<MessageBody>(await client.postJson('/api/send', { chat, sender, text: `message ${i}` })));
  }
  return sent;
}

/** Follows next_cursor from cursor 0 and returns the pages in order. */
async function pullAllPages(client: HttpClient, chat: string, limit: number, reverse: boolean): Promise<PullBody[]> {
  const pages: PullBody[] = [];
  let cursor = 0;
  for (let i = 0; i < 1000; i++) {
    const page = okBody<PullBody>(await client.get('/api/pull', { chat, cursor, limit, reverse }));
    pages.push(page);
    if (!page.has_more) return pages;
    cursor = page.next_cursor;
  }
  throw new Error('paging did not end after 1000 pages');
}

function runHttpContract(mode: string, start: () => Promise<TestService>): void {
  describe(`HTTP API, ${mode}`, () => {
    let service: TestService;
    let client: HttpClient;

    before(async () => {
      service = await start();
      client = new HttpClient(service.baseUrl);
    });
    after(async () => {
      await service.stop();
    });

    it('ping returns pong', async () => {
      const response = await client.get('/ping');
      assert.deepEqual(okBody(response), { message: 'pong' });
    });

    it('send reads JSON body', async () => {
      const { chat, a } = uniqueChat();
      const sent = okBody<MessageBody>(await client.postJson('/api/send', { chat, sender: a, text: 'json' }));
      assert.equal(sent.chat, chat);
      assert.equal(sent.sender, a);
      assert.equal(sent.text, 'json');
      assert.ok(Number.isSafeInteger(sent.send_time), 'send_time is an integer');
      assert.ok(sent.send_time > 0, 'send_time is positive');
      assert.deepEqual(Object.keys(sent).sort(), ['chat', 'send_time', 'sender', 'text']);
    });

    it('send reads form body', async () => {
      const { chat, b } = uniqueChat();
      const sent = okBody<MessageBody>(await client.postForm('/api/send', { chat, sender: b, text: 'form + text' }));
      assert.equal(sent.text, 'form + text');
      assert.equal(sent.sender, b);
    });

    it('send reads query string', async () => {
      const { chat, a } = uniqueChat();
      const sent = okBody<MessageBody>(await client.postQuery('/api/send', { chat, sender: a, text: 'a&b=c?' }));
      assert.equal(sent.text, 'a&b=c?');
      assert.equal(sent.chat, chat);
    });

    it('send with sender and receiver', async () => {
      const { chat, a, b } = uniqueChat();
      const sent = okBody<MessageBody>(await client.postJson('/api/send', { sender: b, receiver: a, text: 'hi' }));
      assert.equal(sent.chat, chat);
      const page = okBody<PullBody>(await client.get('/api/pull', { chat }));
      assert.deepEqual(
        page.messages.map((m) => m.text),
        ['hi'],
      );
    });

    it('reversed chat id is canonical', async () => {
      const { chat, a, b } = uniqueChat();
      const reversed = `${b}:${a}`;
      const sent = okBody<MessageBody>(await client.postJson('/api/send', { chat: reversed, sender: a, text: 'x' }));
      assert.equal(sent.chat, chat);
      const page = okBody<PullBody>(await client.get('/api/pull', { chat: reversed }));
      assert.equal(page.messages.length, 1);
      assert.equal(page.messages[0]!.chat, chat);
    });

    it('member ids are case-sensitive', async () => {
      const { a, b } = uniqueChat();
      const upper = `${a.toUpperCase()}:${b}`;
      const lower = `${a}:${b}`;
      okBody(await client.postJson('/api/send', { chat: upper, sender: a.toUpperCase(), text: 'upper' }));
      okBody(await client.postJson('/api/send', { chat: lower, sender: a, text: 'lower' }));
      const upperPage = okBody<PullBody>(await client.get('/api/pull', { chat: upper }));
      assert.deepEqual(
        upperPage.messages.map((m) => m.text),
        ['upper'],
      );
      const lowerPage = okBody<PullBody>(await client.get('/api/pull', { chat: lower }));
      assert.deepEqual(
        lowerPage.messages.map((m) => m.text),
        ['lower'],
      );
      const wrongCase = await client.postJson('/api/send', { chat: lower, sender: a.toUpperCase(), text: 'x' });
      errorBody(wrongCase, 400, 'INVALID_ARGUMENT');
    });

    it('chat with oneself is allowed', async () => {
      const { a } = uniqueChat();
      const chat = `${a}:${a}`;
      const sent = okBody<MessageBody>(await client.postJson('/api/send', { chat, sender: a, text: 'note' }));
      assert.equal(sent.chat, chat);
      const page = okBody<PullBody>(await client.get('/api/pull', { chat }));
      assert.equal(page.messages.length, 1);
    });

    it('text round trip is byte-identical', async () => {
      const { chat, a } = uniqueChat();
      const texts = [
        ' spaces around ',
        'line\nbreak\r\nand\ttab',
        'NUL \u0000 inside',
        'emoji 😀👍🏽, 中文, עברית',
        'e\u0301 and zero width \u200b',
        '%41 + & = ? # /',
      ];
      for (const [i, text] of texts.entries()) {
        const response =
          i % 2 === 0
            ? await client.postJson('/api/send', { chat, sender: a, text })
            : await client.postQuery('/api/send', { chat, sender: a, text });
        assert.equal(okBody<MessageBody>(response).text, text);
      }
      const page = okBody<PullBody>(await client.get('/api/pull', { chat, limit: 100 }));
      for (const [i, message] of page.messages.entries()) {
        assert.ok(Buffer.from(message.text).equals(Buffer.from(texts[i]!)), `text ${i} differs`);
      }
      assert.equal(page.messages.length, texts.length);
    });

    it('empty pull has every field', async () => {
      const { chat } = uniqueChat();
      for (const reverse of [false, true]) {
        const response = await client.get('/api/pull', { chat, reverse });
        assert.deepEqual(okBody(response), { messages: [], has_more: false, next_cursor: 0 });
      }
    });

    it('pull reads JSON body on GET', async () => {
      const { chat, a } = uniqueChat();
      const sent = await sendSeries(client, chat, a, 3);
      const body = JSON.stringify({ chat, cursor: 0, limit: 2, reverse: true });
      const page = okBody<PullBody>(await client.getWithBody('/api/pull', 'application/json', body));
      assert.deepEqual(
        page.messages.map((m) => m.send_time),
        [sent[2]!.send_time, sent[1]!.send_time],
      );
      assert.equal(page.has_more, true);
      assert.equal(page.next_cursor, sent[0]!.send_time);
    });

    it('pull limit defaults to 10', async () => {
      const { chat, a } = uniqueChat();
      const sent = await sendSeries(client, chat, a, 12);
      for (const query of [{ chat }, { chat, limit: 0 }] as Record<string, string | number>[]) {
        const page = okBody<PullBody>(await client.get('/api/pull', query));
        assert.equal(page.messages.length, 10);
        assert.equal(page.has_more, true);
        assert.equal(page.next_cursor, sent[10]!.send_time);
      }
    });

    it('ascending pages cover every message', async () => {
      const { chat, a } = uniqueChat();
      const sent = await sendSeries(client, chat, a, 23);
      const times = sent.map((m) => m.send_time);
      for (const limit of [1, 5, 10, 22, 23, 24, 1000]) {
        const pages = await pullAllPages(client, chat, limit, false);
        assert.deepEqual(
          pages.flatMap((p) => p.messages.map((m) => m.send_time)),
          times,
          `limit ${limit}`,
        );
        assert.equal(pages.length, Math.ceil(23 / limit), `page count for limit ${limit}`);
        for (const [i, page] of pages.slice(0, -1).entries()) {
          assert.equal(page.next_cursor, pages[i + 1]!.messages[0]!.send_time, `next_cursor of page ${i}`);
        }
        assert.equal(pages.at(-1)!.next_cursor, 0, `last next_cursor for limit ${limit}`);
      }
    });

    it('reverse pages cover every message', async () => {
      const { chat, a } = uniqueChat();
      const sent = await sendSeries(client, chat, a, 23);
      const newestFirst = sent.map((m) => m.send_time).reverse();
      for (const limit of [1, 5, 10, 22, 23, 24, 1000]) {
        const pages = await pullAllPages(client, chat, limit, true);
        assert.deepEqual(
          pages.flatMap((p) => p.messages.map((m) => m.send_time)),
          newestFirst,
          `limit ${limit}`,
        );
        assert.equal(pages.length, Math.ceil(23 / limit), `page count for limit ${limit}`);
        assert.equal(pages.at(-1)!.has_more, false, `last has_more for limit ${limit}`);
      }
    });

    it('cursor bounds are inclusive', async () => {
      const { chat, a } = uniqueChat();
      const sent = await sendSeries(client, chat, a, 5);
      const cursor = sent[2]!.send_time;
      const ascending = okBody<PullBody>(await client.get('/api/pull', { chat, cursor, limit: 2 }));
      assert.deepEqual(
        ascending.messages.map((m) => m.send_time),
        [sent[2]!.send_time, sent[3]!.send_time],
      );
      const reverse = okBody<PullBody>(await client.get('/api/pull', { chat, cursor, limit: 2, reverse: true }));
      assert.deepEqual(
        reverse.messages.map((m) => m.send_time),
        [sent[2]!.send_time, sent[1]!.send_time],
      );
      assert.equal(reverse.next_cursor, sent[0]!.send_time);
    });

    it('concurrent sends get distinct times', async () => {
      const { chat, a, b } = uniqueChat();
      const responses = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          client.postJson('/api/send', { chat, sender: i % 2 === 0 ? a : b, text: `parallel ${i}` }),
        ),
      );
      const sent = responses.map((response) => okBody<MessageBody>(response));
      assert.equal(new Set(sent.map((m) => m.send_time)).size, 200, 'every send_time is unique');
      const page = okBody<PullBody>(await client.get('/api/pull', { chat, limit: 1000 }));
      assert.equal(page.messages.length, 200);
      assertStrictlyIncreasing(page.messages.map((m) => m.send_time));
      assert.deepEqual(new Set(page.messages.map((m) => m.text)), new Set(sent.map((m) => m.text)));
    });

    it('retry with client_msg_id is idempotent', async () => {
      const { chat, a } = uniqueChat();
      const request = { chat, sender: a, text: 'once', client_msg_id: 'retry-1' };
      const first = okBody<MessageBody>(await client.postJson('/api/send', request));
      assert.equal(first.client_msg_id, 'retry-1');
      const again = okBody<MessageBody>(await client.postForm('/api/send', request));
      assert.deepEqual(again, first);
      const page = okBody<PullBody>(await client.get('/api/pull', { chat }));
      assert.equal(page.messages.length, 1);
      assert.equal(page.messages[0]!.send_time, first.send_time);
    });

    it('client_msg_id is scoped to sender', async () => {
      const { chat, a, b } = uniqueChat();
      const fromA = okBody<MessageBody>(
        await client.postJson('/api/send', { chat, sender: a, text: 'a', client_msg_id: 'k' }),
      );
      const fromB = okBody<MessageBody>(
        await client.postJson('/api/send', { chat, sender: b, text: 'b', client_msg_id: 'k' }),
      );
      assert.notEqual(fromA.send_time, fromB.send_time);
    });

    it('text of exactly 16 KiB is accepted', async () => {
      const { chat, a } = uniqueChat();
      const texts = ['x'.repeat(MAX_TEXT_BYTES), 'é'.repeat(MAX_TEXT_BYTES / 2), '😀'.repeat(MAX_TEXT_BYTES / 4)];
      for (const text of texts) {
        const sent = okBody<MessageBody>(await client.postJson('/api/send', { chat, sender: a, text }));
        assert.equal(sent.text, text);
      }
      const viaQuery = await client.postQuery('/api/send', { chat, sender: a, text: 'é'.repeat(MAX_TEXT_BYTES / 2) });
      assert.equal(okBody<MessageBody>(viaQuery).text.length, MAX_TEXT_BYTES / 2);
    });

    it('text over 16 KiB is 413', async () => {
      const { chat, a } = uniqueChat();
      const texts = ['x'.repeat(MAX_TEXT_BYTES + 1), `${'é'.repeat(MAX_TEXT_BYTES / 2)}x`, 'é'.repeat(MAX_TEXT_BYTES)];
      for (const text of texts) {
        const body = errorBody(await client.postJson('/api/send', { chat, sender: a, text }), 413, 'TEXT_TOO_LARGE');
        assert.match(body.message, /16384/);
      }
      const viaForm = await client.postForm('/api/send', { chat, sender: a, text: 'y'.repeat(MAX_TEXT_BYTES + 1) });
      errorBody(viaForm, 413, 'TEXT_TOO_LARGE');
      const page = okBody<PullBody>(await client.get('/api/pull', { chat }));
      assert.equal(page.messages.length, 0);
    });

    it('oversized query text is 413', async () => {
      const { chat, a } = uniqueChat();
      const response = await client.postQuery('/api/send', { chat, sender: a, text: 'é'.repeat(MAX_TEXT_BYTES) });
      errorBody(response, 413, 'TEXT_TOO_LARGE');
    });

    it('huge query string is 413 JSON', async () => {
      const { chat, a } = uniqueChat();
      const response = await client.postQuery('/api/send', { chat, sender: a, text: 'é'.repeat(20 * MAX_TEXT_BYTES) });
      const body = errorBody(response, 413, 'REQUEST_TOO_LARGE');
      assert.match(body.message, /JSON or form body/);
    });

    it('body over the limit is 413', async () => {
      const { chat, a } = uniqueChat();
      const padding = 'p'.repeat(2 * 1024 * 1024);
      const response = await client.postJson('/api/send', { chat, sender: a, text: 'hi', padding });
      errorBody(response, 413, 'REQUEST_TOO_LARGE');
    });

    it('bad path encoding is 400 JSON', async () => {
      const response = await client.get('/api/pull%ZZ', { chat: 'a:b' });
      errorBody(response, 400, 'INVALID_ARGUMENT');
    });

    it('leading U+FEFF is kept', async () => {
      const { chat, a } = uniqueChat();
      const sent = okBody<MessageBody>(await client.postJson('/api/send', { chat, sender: a, text: '\ufeffbom' }));
      assert.equal(sent.text, '\ufeffbom');
      const page = okBody<PullBody>(await client.get('/api/pull', { chat }));
      assert.equal(page.messages[0]?.text, '\ufeffbom');
    });

    it('unknown route is 404 JSON', async () => {
      const response = await client.get('/api/nothing', { chat: 'a:b' });
      const body = errorBody(response, 404, 'NOT_FOUND');
      assert.match(body.message, /\/api\/nothing/);
      assert.match(response.contentType ?? '', /application\/json/);
    });

    describe('send rejects bad input', () => {
      const { chat, a } = uniqueChat('bad');
      const long = 'm'.repeat(65);
      const cases: { name: string; send: () => Promise<JsonResponse>; mentions: string[] }[] = [
        {
          name: 'chat without separator',
          send: () => client.postJson('/api/send', { chat: 'annbob', sender: 'annbob', text: 't' }),
          mentions: ['chat', 'annbob'],
        },
        {
          name: 'chat with two separators',
          send: () => client.postJson('/api/send', { chat: 'a:b:c', sender: 'a', text: 't' }),
          mentions: ['chat', 'a:b:c'],
        },
        {
          name: 'chat with empty member',
          send: () => client.postJson('/api/send', { chat: ':b', sender: 'b', text: 't' }),
          mentions: ['chat'],
        },
        {
          name: 'member too long',
          send: () => client.postJson('/api/send', { chat: `${long}:b`, sender: 'b', text: 't' }),
          mentions: ['chat', '64'],
        },
        {
          name: 'member with space',
          send: () => client.postJson('/api/send', { chat: 'a b:c', sender: 'c', text: 't' }),
          mentions: ['chat', 'whitespace'],
        },
        {
          name: 'member with tab',
          send: () => client.postJson('/api/send', { chat: 'a\tb:c', sender: 'c', text: 't' }),
          mentions: ['chat'],
        },
        {
          name: 'member with control',
          send: () => client.postJson('/api/send', { chat: 'a\u0001:c', sender: 'c', text: 't' }),
          mentions: ['chat'],
        },
        {
          name: 'lone surrogate in chat',
          send: () =>
            client.postRaw('/api/send', 'application/json', '{"chat":"ann\\ud800:bob","sender":"bob","text":"t"}'),
          mentions: ['chat', 'surrogate'],
        },
        {
          name: 'lone surrogate in receiver',
          send: () =>
            client.postRaw('/api/send', 'application/json', `{"sender":"${a}","receiver":"x\\udc00","text":"t"}`),
          mentions: ['receiver', 'surrogate'],
        },
        {
          name: 'sender not member',
          send: () => client.postJson('/api/send', { chat, sender: 'mallory', text: 't' }),
          mentions: ['sender', 'mallory'],
        },
        { name: 'sender missing', send: () => client.postJson('/api/send', { chat, text: 't' }), mentions: ['sender'] },
        {
          name: 'chat and receiver missing',
          send: () => client.postJson('/api/send', { sender: a, text: 't' }),
          mentions: ['chat'],
        },
        {
          name: 'receiver too long',
          send: () => client.postJson('/api/send', { sender: a, receiver: long, text: 't' }),
          mentions: ['receiver'],
        },
        {
          name: 'text empty',
          send: () => client.postJson('/api/send', { chat, sender: a, text: '' }),
          mentions: ['text'],
        },
        { name: 'text missing', send: () => client.postJson('/api/send', { chat, sender: a }), mentions: ['text'] },
        {
          name: 'text is a number',
          send: () => client.postJson('/api/send', { chat, sender: a, text: 5 }),
          mentions: ['text'],
        },
        {
          name: 'lone surrogate in JSON',
          send: () =>
            client.postRaw('/api/send', 'application/json', `{"chat":"${chat}","sender":"${a}","text":"x\\ud800y"}`),
          mentions: ['text', 'surrogate'],
        },
        {
          name: 'lone surrogate percent-encoded',
          send: () => client.postQuery('/api/send', `chat=${chat}&sender=${a}&text=%ED%A0%80`),
          mentions: ['UTF-8'],
        },
        {
          name: 'invalid percent-encoding',
          send: () => client.postQuery('/api/send', `chat=${chat}&sender=${a}&text=%zz`),
          mentions: ['percent'],
        },
        {
          name: 'truncated UTF-8 in form',
          send: () =>
            client.postRaw('/api/send', 'application/x-www-form-urlencoded', `chat=${chat}&sender=${a}&text=%E2%82`),
          mentions: ['form body'],
        },
        {
          name: 'invalid UTF-8 body bytes',
          send: () => client.postRaw('/api/send', 'application/json', Buffer.from([0x7b, 0xff, 0x7d])),
          mentions: ['UTF-8'],
        },
        {
          name: 'duplicate query key',
          send: () => client.postQuery('/api/send', `chat=${chat}&sender=${a}&text=one&text=two`),
          mentions: ['text'],
        },
        {
          name: 'client_msg_id too long',
          send: () => client.postJson('/api/send', { chat, sender: a, text: 't', client_msg_id: 'k'.repeat(65) }),
          mentions: ['client_msg_id'],
        },
        {
          name: 'JSON array body',
          send: () => client.postRaw('/api/send', 'application/json', '[1,2]'),
          mentions: ['object'],
        },
        {
          name: 'JSON string body',
          send: () => client.postRaw('/api/send', 'application/json', '"text"'),
          mentions: ['object'],
        },
        {
          name: 'JSON null body',
          send: () => client.postRaw('/api/send', 'application/json', 'null'),
          mentions: ['object'],
        },
        {
          name: 'malformed JSON',
          send: () => client.postRaw('/api/send', 'application/json', `{"chat":"${chat}",`),
          mentions: ['JSON'],
        },
      ];
      for (const testCase of cases) {
        it(testCase.name, async () => {
          const body = errorBody(await testCase.send(), 400, 'INVALID_ARGUMENT');
          for (const word of testCase.mentions) {
            assert.ok(body.message.includes(word), `message ${JSON.stringify(body.message)} names ${word}`);
          }
        });
      }
      it('nothing was stored', async () => {
        const page = okBody<PullBody>(await client.get('/api/pull', { chat }));
        assert.equal(page.messages.length, 0);
      });
    });

    describe('pull rejects bad input', () => {
      const { chat } = uniqueChat('badpull');
      const cases: { name: string; query: Record<string, string> | string; mentions: string[] }[] = [
        { name: 'chat missing', query: {}, mentions: ['chat'] },
        { name: 'chat malformed', query: { chat: 'a:b:c' }, mentions: ['chat', 'a:b:c'] },
        { name: 'limit -1', query: { chat, limit: '-1' }, mentions: ['limit', '-1', '1000'] },
        { name: 'limit 1001', query: { chat, limit: '1001' }, mentions: ['limit', '1001', '1000'] },
        { name: 'limit abc', query: { chat, limit: 'abc' }, mentions: ['limit', 'abc'] },
        { name: 'limit 1.5', query: { chat, limit: '1.5' }, mentions: ['limit', '1.5'] },
        { name: 'cursor -1', query: { chat, cursor: '-1' }, mentions: ['cursor', '-1'] },
        { name: 'cursor abc', query: { chat, cursor: 'abc' }, mentions: ['cursor', 'abc'] },
        { name: 'reverse maybe', query: { chat, reverse: 'maybe' }, mentions: ['reverse', 'maybe'] },
        { name: 'duplicate limit key', query: `chat=${chat}&limit=1&limit=2`, mentions: ['limit'] },
        { name: 'invalid percent-encoding', query: `chat=${chat}%`, mentions: ['percent'] },
      ];
      for (const testCase of cases) {
        it(testCase.name, async () => {
          const body = errorBody(await client.get('/api/pull', testCase.query), 400, 'INVALID_ARGUMENT');
          for (const word of testCase.mentions) {
            assert.ok(body.message.includes(word), `message ${JSON.stringify(body.message)} names ${word}`);
          }
        });
      }
      it('JSON limit 1.5 on GET', async () => {
        const response = await client.getWithBody(
          '/api/pull',
          'application/json',
          JSON.stringify({ chat, limit: 1.5 }),
        );
        errorBody(response, 400, 'INVALID_ARGUMENT');
      });
      it('lone surrogate chat on GET', async () => {
        const response = await client.getWithBody('/api/pull', 'application/json', '{"chat":"ann\\ud800:bob"}');
        const body = errorBody(response, 400, 'INVALID_ARGUMENT');
        assert.match(body.message, /surrogate/);
      });
      it('malformed JSON on GET', async () => {
        const response = await client.getWithBody('/api/pull', 'application/json', '{"chat":');
        errorBody(response, 400, 'INVALID_ARGUMENT');
      });
    });
  });
}

runHttpContract('in-process', () => startInProcess());
runHttpContract('gateway over Thrift', () => startGateway());

describe('HTTP gateway failures', () => {
  it('RPC server down is 503', async () => {
    const closedPort = await freePort();
    const timeoutMs = 5000;
    const gateway = await startService(
      testConfig({ command: 'http', rpcAddresses: [{ host: '127.0.0.1', port: closedPort }], rpcTimeoutMs: timeoutMs }),
      captureLogger().logger,
    );
    try {
      const client = new HttpClient(`http://${gateway.httpAddress!}`);
      for (const call of [
        () => client.postJson('/api/send', { chat: 'a:b', sender: 'a', text: 't' }),
        () => client.get('/api/pull', { chat: 'a:b' }),
      ]) {
        const started = Date.now();
        const response = await call();
        const elapsedMs = Date.now() - started;
        errorBody(response, 503, 'RPC_UNAVAILABLE');
        assert.ok(elapsedMs < timeoutMs, `refused connection reported in ${elapsedMs} ms, before the timeout`);
      }
    } finally {
      await gateway.stop();
    }
  });

  it('gateway recovers after RPC restart', async () => {
    const logs = captureLogger();
    const first = await startRpcServer({}, logs);
    const gateway = await startService(
      testConfig({ command: 'http', rpcAddresses: [first.rpc], rpcTimeoutMs: 2000 }),
      logs.logger,
    );
    let second: Awaited<ReturnType<typeof startRpcServer>> | undefined;
    try {
      const client = new HttpClient(`http://${gateway.httpAddress!}`);
      okBody(await client.postJson('/api/send', { chat: 'g-a:g-b', sender: 'g-a', text: 'before' }));
      await first.stop();
      errorBody(await client.get('/api/pull', { chat: 'g-a:g-b' }), 503, 'RPC_UNAVAILABLE');
      second = await startRpcServer({ rpcPort: first.rpc.port }, logs);
      const page = okBody<PullBody>(await client.get('/api/pull', { chat: 'g-a:g-b' }));
      assert.deepEqual(page, { messages: [], has_more: false, next_cursor: 0 }, 'a new memory store is empty');
    } finally {
      await gateway.stop();
      await second?.stop();
    }
  });

  it('silent RPC server is 504', async () => {
    // Accepts connections and reads requests but never replies.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const timeoutMs = 300;
    const gateway = await startService(
      testConfig({ command: 'http', rpcAddresses: [{ host: '127.0.0.1', port }], rpcTimeoutMs: timeoutMs }),
      captureLogger().logger,
    );
    try {
      const client = new HttpClient(`http://${gateway.httpAddress!}`);
      const started = Date.now();
      const response = await client.get('/api/pull', { chat: 'a:b' });
      const elapsedMs = Date.now() - started;
      const body = errorBody(response, 504, 'RPC_TIMEOUT');
      assert.match(body.message, /300 ms/);
      assert.ok(elapsedMs >= timeoutMs - 20, `timed out after ${elapsedMs} ms, not before ${timeoutMs} ms`);
      assert.ok(elapsedMs < timeoutMs + 4000, `timed out after ${elapsedMs} ms, near ${timeoutMs} ms`);
    } finally {
      await gateway.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
