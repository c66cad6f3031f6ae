import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatOf, parseChatId } from '../src/core/chat-id.js';
import { parsePullFields, parseSendFields } from '../src/core/validation.js';

const limits = { maxTextBytes: 16 * 1024 };

describe('chat id', () => {
  it('sorts members into the canonical id', () => {
    assert.equal(parseChatId('b:a').id, 'a:b');
    assert.equal(parseChatId('a:b').id, 'a:b');
    assert.deepEqual(parseChatId('zed:Amy').members, ['Amy', 'zed']);
    assert.equal(chatOf('b', 'a').id, 'a:b');
  });

  it('allows a chat with oneself', () => {
    assert.equal(parseChatId('a:a').id, 'a:a');
  });

  it('keeps member case', () => {
    assert.equal(parseChatId('Bob:alice').id, 'Bob:alice');
    assert.equal(parseChatId('bob:alice').id, 'alice:bob');
  });

  it('accepts 64-character members', () => {
    const long = 'm'.repeat(64);
    assert.equal(parseChatId(`${long}:a`).id, `a:${long}`);
  });

  it('counts length in code points', () => {
    const emoji = '😀'.repeat(64);
    assert.equal(parseChatId(`${emoji}:a`).id, `a:${emoji}`);
    assert.throws(() => parseChatId(`${emoji}😀:a`), /65 characters/);
  });

  it('rejects malformed ids', () => {
    const bad = [
      '',
      'a',
      ':',
      'a:',
      ':b',
      'a:b:c',
      'a::b',
      `${'m'.repeat(65)}:a`,
      'a b:c',
      'a:b\n',
      'a\u0000:b',
      'a\t:b',
      'a:\u00a0',
    ];
    for (const value of bad) {
      assert.throws(() => parseChatId(value), { code: 'INVALID_ARGUMENT' }, JSON.stringify(value));
    }
  });

  it('error names the value and the form', () => {
    assert.throws(
      () => parseChatId('a:b:c'),
      (error: Error) => {
        assert.match(error.message, /"a:b:c"/);
        assert.match(error.message, /two member ids/);
        return true;
      },
    );
  });
});

describe('send fields', () => {
  it('builds the chat from sender and receiver', () => {
    assert.deepEqual(parseSendFields({ sender: 'b', receiver: 'a', text: 'hi' }, limits), {
      chat: 'a:b',
      sender: 'b',
      text: 'hi',
    });
  });

  it('keeps the client message id', () => {
    const message = parseSendFields({ chat: 'a:b', sender: 'a', text: 'hi', client_msg_id: 'k1' }, limits);
    assert.equal(message.clientMsgId, 'k1');
  });

  it('names the form of a missing field', () => {
    assert.throws(() => parseSendFields({ chat: 'a:b', text: 'hi' }, limits), /sender is missing; give .*"alice"/);
    assert.throws(() => parsePullFields({}), /chat is missing; give a chat id .*"alice:bob"/);
    assert.throws(() => parseSendFields({ sender: ['a', 'b'], text: 'hi' }, limits), /a list \(a JSON array/);
  });

  it('rejects a sender outside the chat', () => {
    assert.throws(() => parseSendFields({ chat: 'a:b', sender: 'A', text: 'hi' }, limits), /not a member/);
  });

  it('rejects a receiver that disagrees with chat', () => {
    assert.throws(() => parseSendFields({ chat: 'a:b', sender: 'a', receiver: 'c', text: 'hi' }, limits), /receiver/);
  });

  it('accepts text at the byte limit', () => {
    const text = 'é'.repeat(8 * 1024);
    assert.equal(parseSendFields({ chat: 'a:b', sender: 'a', text }, limits).text, text);
  });

  it('rejects text over the byte limit', () => {
    assert.throws(() => parseSendFields({ chat: 'a:b', sender: 'a', text: `${'é'.repeat(8 * 1024)}x` }, limits), {
      code: 'TEXT_TOO_LARGE',
    });
  });

  it('rejects a lone surrogate', () => {
    for (const text of ['\ud800', 'a\udc00b', 'x\ud83d']) {
      assert.throws(() => parseSendFields({ chat: 'a:b', sender: 'a', text }, limits), /lone UTF-16 surrogate/);
    }
  });

  it('accepts a surrogate pair', () => {
    assert.equal(parseSendFields({ chat: 'a:b', sender: 'a', text: '😀' }, limits).text, '😀');
  });

  it('rejects missing and mistyped fields', () => {
    const cases: Record<string, unknown>[] = [
      { chat: 'a:b', text: 'hi' },
      { chat: 'a:b', sender: 'a' },
      { chat: 'a:b', sender: 'a', text: '' },
      { sender: 'a', text: 'hi' },
      { chat: 'a:b', sender: 'a', text: 5 },
      { chat: ['a:b', 'a:c'], sender: 'a', text: 'hi' },
      { chat: 'a:b', sender: 'a', text: 'hi', client_msg_id: '' },
      { chat: 'a:b', sender: 'a', text: 'hi', client_msg_id: 'k'.repeat(65) },
    ];
    for (const fields of cases) {
      assert.throws(() => parseSendFields(fields, limits), { code: 'INVALID_ARGUMENT' }, JSON.stringify(fields));
    }
  });
});

describe('pull fields', () => {
  it('applies the defaults', () => {
    assert.deepEqual(parsePullFields({ chat: 'b:a' }), { chat: 'a:b', cursorMicros: 0, limit: 10, reverse: false });
  });

  it('treats limit 0 as the default', () => {
    assert.equal(parsePullFields({ chat: 'a:b', limit: 0 }).limit, 10);
    assert.equal(parsePullFields({ chat: 'a:b', limit: '0' }).limit, 10);
  });

  it('reads strings and numbers', () => {
    const query = parsePullFields({ chat: 'a:b', cursor: '1796414458370760', limit: '1000', reverse: 'true' });
    assert.deepEqual(query, { chat: 'a:b', cursorMicros: 1796414458370760, limit: 1000, reverse: true });
    assert.equal(parsePullFields({ chat: 'a:b', reverse: '0' }).reverse, false);
    assert.equal(parsePullFields({ chat: 'a:b', reverse: true }).reverse, true);
    assert.equal(parsePullFields({ chat: 'a:b', reverse: 'True' }).reverse, true);
    assert.equal(parsePullFields({ chat: 'a:b', reverse: 'F' }).reverse, false);
  });

  it('rejects out-of-range values', () => {
    const cases: Record<string, unknown>[] = [
      { chat: 'a:b', limit: 1001 },
      { chat: 'a:b', limit: -1 },
      { chat: 'a:b', limit: 1.5 },
      { chat: 'a:b', limit: 'ten' },
      { chat: 'a:b', cursor: -1 },
      { chat: 'a:b', cursor: '1e3' },
      { chat: 'a:b', cursor: 2 ** 60 },
      { chat: 'a:b', reverse: 'maybe' },
      { chat: 'a' },
      {},
    ];
    for (const fields of cases) {
      assert.throws(() => parsePullFields(fields), { code: 'INVALID_ARGUMENT' }, JSON.stringify(fields));
    }
  });
});
