import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nowMicros } from '../src/core/clock.js';
import type { MessageStore, PullQuery, StoredMessage } from '../src/core/message-store.js';

/** Opens a fresh, empty store; `cleanup` closes it and removes what it created. */
export type StoreFactory = () => Promise<{ store: MessageStore; cleanup: () => Promise<void> }>;

let chatCounter = 0;
/** Returns a chat id that no other test uses, so tests may share a store. */
export function freshChat(prefix = 'u'): { chat: string; a: string; b: string } {
  chatCounter++;
  const a = `${prefix}${chatCounter}-alice`;
  const b = `${prefix}${chatCounter}-bob`;
  return { chat: `${a}:${b}`, a, b };
}

function query(chat: string, overrides: Partial<PullQuery> = {}): PullQuery {
  return { chat, cursorMicros: 0, limit: 10, reverse: false, ...overrides };
}

async function sendMany(store: MessageStore, chat: string, sender: string, count: number): Promise<StoredMessage[]> {
  const stored: StoredMessage[] = [];
  for (let i = 0; i < count; i++) stored.push(await store.send({ chat, sender, text: `message ${i}` }));
  return stored;
}

/** Follows next cursors from `first` and returns every message read, in page order. */
export async function pageThrough(store: Pick<MessageStore, 'pull'>, first: PullQuery): Promise<StoredMessage[]> {
  const seen: StoredMessage[] = [];
  let cursorMicros = first.cursorMicros;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.pull({ ...first, cursorMicros });
    seen.push(...page.messages);
    assert.ok(page.messages.length <= first.limit, 'a page never exceeds the limit');
    if (!page.hasMore) {
      assert.equal(page.nextCursorMicros, 0, 'next cursor is 0 on the last page');
      return seen;
    }
    assert.equal(page.messages.length, first.limit, 'a page with more after it is full');
    assert.notEqual(page.nextCursorMicros, 0, 'next cursor is set while has_more is true');
    cursorMicros = page.nextCursorMicros;
  }
  throw new Error('paging did not end after 10000 pages');
}

function sendTimes(messages: readonly StoredMessage[]): number[] {
  return messages.map((message) => message.sendTimeMicros);
}

function assertStrictlyIncreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i]! > values[i - 1]!, `send time at ${i} (${values[i]}) is not above ${values[i - 1]}`);
  }
}

/**
 * Registers the MessageStore contract tests for one backend. They cover the
 * rules stated on the MessageStore interface, and every backend runs them.
 */
export function runStoreContract(name: string, open: StoreFactory): void {
  describe(`${name} store contract`, () => {
    const withStore = (fn: (store: MessageStore) => Promise<void>) => async () => {
      const { store, cleanup } = await open();
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    };

    it(
      'send returns the stored message',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const before = nowMicros();
        const stored = await store.send({ chat, sender: a, text: 'hello' });
        const after = nowMicros();
        assert.equal(stored.chat, chat);
        assert.equal(stored.sender, a);
        assert.equal(stored.text, 'hello');
        assert.equal(stored.clientMsgId, undefined);
        assert.ok(Number.isSafeInteger(stored.sendTimeMicros));
        // The store's clock may be another process's (Redis TIME), so allow 5 s of skew.
        assert.ok(stored.sendTimeMicros >= before - 5_000_000, 'send time is not far before the call');
        assert.ok(stored.sendTimeMicros <= after + 5_000_000, 'send time is not far after the call');
      }),
    );

    it(
      'send times strictly increase',
      withStore(async (store) => {
        const { chat, a, b } = freshChat();
        const stored: StoredMessage[] = [];
        for (let i = 0; i < 50; i++) stored.push(await store.send({ chat, sender: i % 2 ? a : b, text: 'same text' }));
        assertStrictlyIncreasing(sendTimes(stored));
      }),
    );

    it(
      'concurrent sends get distinct increasing times',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const stored = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.send({ chat, sender: a, text: `concurrent ${i}` })),
        );
        assert.equal(new Set(sendTimes(stored)).size, 200, 'every send time is unique');
        const all = await pageThrough(store, query(chat, { limit: 1000 }));
        assert.equal(all.length, 200);
        assertStrictlyIncreasing(sendTimes(all));
        assert.deepEqual(new Set(all.map((m) => m.text)), new Set(stored.map((m) => m.text)));
      }),
    );

    it(
      'identical messages are all kept',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        await Promise.all([1, 2, 3].map(() => store.send({ chat, sender: a, text: 'same' })));
        const page = await store.pull(query(chat));
        assert.equal(page.messages.length, 3);
      }),
    );

    it(
      'empty chat returns an empty page',
      withStore(async (store) => {
        const { chat } = freshChat();
        for (const reverse of [false, true]) {
          const page = await store.pull(query(chat, { reverse }));
          assert.deepEqual(page, { messages: [], hasMore: false, nextCursorMicros: 0 });
        }
      }),
    );

    it(
      'ascending pages cover every message once',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const stored = await sendMany(store, chat, a, 25);
        for (const limit of [1, 3, 10, 24, 25, 26, 1000]) {
          const seen = await pageThrough(store, query(chat, { limit }));
          assert.deepEqual(sendTimes(seen), sendTimes(stored), `limit ${limit}`);
        }
      }),
    );

    it(
      'reverse pages cover every message once',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const stored = await sendMany(store, chat, a, 25);
        const newestFirst = sendTimes(stored).reverse();
        for (const limit of [1, 3, 10, 24, 25, 26, 1000]) {
          const seen = await pageThrough(store, query(chat, { limit, reverse: true }));
          assert.deepEqual(sendTimes(seen), newestFirst, `limit ${limit}`);
        }
      }),
    );

    it(
      'next cursor is the next page first time',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const stored = await sendMany(store, chat, a, 12);
        const ascending = await store.pull(query(chat, { limit: 5 }));
        assert.equal(ascending.hasMore, true);
        assert.equal(ascending.nextCursorMicros, stored[5]!.sendTimeMicros);
        const reverse = await store.pull(query(chat, { limit: 5, reverse: true }));
        assert.deepEqual(sendTimes(reverse.messages), sendTimes(stored.slice(7)).reverse());
        assert.equal(reverse.nextCursorMicros, stored[6]!.sendTimeMicros);
      }),
    );

    it(
      'newest page follows every send',
      withStore(async (store) => {
        const { chat, a, b } = freshChat();
        const sent: StoredMessage[] = [];
        for (let i = 0; i < 45; i++) {
          for (const limit of [1, 10, 20, 21]) {
            const page = await store.pull(query(chat, { reverse: true, limit }));
            const expected = sendTimes(sent).reverse().slice(0, limit);
            assert.deepEqual(sendTimes(page.messages), expected, `after ${i} sends, limit ${limit}`);
            assert.equal(page.hasMore, sent.length > limit, `has_more after ${i} sends, limit ${limit}`);
            const next = sent.length > limit ? sent[sent.length - limit - 1]!.sendTimeMicros : 0;
            assert.equal(page.nextCursorMicros, next, `next cursor after ${i} sends, limit ${limit}`);
          }
          const sender = i % 2 ? a : b;
          sent.push(await store.send({ chat, sender, text: `tail ${i}`, clientMsgId: `t${i}` }));
          // An idempotent repeat must not add the message to any page a second time.
          await store.send({ chat, sender, text: `tail ${i}`, clientMsgId: `t${i}` });
        }
      }),
    );

    it(
      'cursor bounds are inclusive',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const stored = await sendMany(store, chat, a, 6);
        const at = stored[3]!.sendTimeMicros;
        const ascending = await store.pull(query(chat, { cursorMicros: at, limit: 2 }));
        assert.deepEqual(sendTimes(ascending.messages), [at, stored[4]!.sendTimeMicros]);
        assert.equal(ascending.nextCursorMicros, stored[5]!.sendTimeMicros);
        const reverse = await store.pull(query(chat, { cursorMicros: at, limit: 2, reverse: true }));
        assert.deepEqual(sendTimes(reverse.messages), [at, stored[2]!.sendTimeMicros]);
        assert.equal(reverse.nextCursorMicros, stored[1]!.sendTimeMicros);
      }),
    );

    it(
      'cursor between messages',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        // A pause between sends leaves a gap of about 2,000 µs between their send
        // times, because the store's clock moves on; the cursor goes into that gap.
        const stored: StoredMessage[] = [];
        for (let i = 0; i < 3; i++) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, 2));
          stored.push(await store.send({ chat, sender: a, text: `spaced ${i}` }));
        }
        const gapIndex = stored.findIndex((m, i) => i > 0 && m.sendTimeMicros - stored[i - 1]!.sendTimeMicros > 1);
        assert.notEqual(gapIndex, -1, 'two send times are more than 1 µs apart');
        const between = stored[gapIndex]!.sendTimeMicros - 1;
        const ascending = await store.pull(query(chat, { cursorMicros: between }));
        assert.equal(ascending.messages[0]!.sendTimeMicros, stored[gapIndex]!.sendTimeMicros);
        const reverse = await store.pull(query(chat, { cursorMicros: between, reverse: true }));
        assert.equal(reverse.messages[0]!.sendTimeMicros, stored[gapIndex - 1]!.sendTimeMicros);
      }),
    );

    it(
      'cursor past either end',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const stored = await sendMany(store, chat, a, 3);
        const last = stored[2]!.sendTimeMicros;
        const afterEnd = await store.pull(query(chat, { cursorMicros: last + 1 }));
        assert.deepEqual(afterEnd, { messages: [], hasMore: false, nextCursorMicros: 0 });
        const beforeStart = await store.pull(query(chat, { cursorMicros: 1, reverse: true }));
        assert.deepEqual(beforeStart, { messages: [], hasMore: false, nextCursorMicros: 0 });
        const huge = await store.pull(query(chat, { cursorMicros: Number.MAX_SAFE_INTEGER, reverse: true }));
        assert.equal(huge.messages.length, 3);
      }),
    );

    it(
      'chats are isolated',
      withStore(async (store) => {
        const first = freshChat();
        const second = freshChat();
        await store.send({ chat: first.chat, sender: first.a, text: 'one' });
        await store.send({ chat: second.chat, sender: second.b, text: 'two' });
        const page = await store.pull(query(first.chat));
        assert.deepEqual(
          page.messages.map((m) => m.text),
          ['one'],
        );
      }),
    );

    it(
      'text comes back byte-identical',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const texts = [
          ' leading and trailing spaces ',
          'line\nbreaks\r\nand\ttabs',
          'NUL \u0000 inside',
          'emoji 😀👍🏽 and 中文 and עברית',
          'combining e\u0301 and zero width \u200b joiner',
          'x'.repeat(16 * 1024),
          '\'"\\`%_*?{}[]$ -- ; DROP TABLE messages',
        ];
        for (const text of texts) await store.send({ chat, sender: a, text });
        const page = await store.pull(query(chat, { limit: 100 }));
        assert.deepEqual(
          page.messages.map((m) => m.text),
          texts,
        );
        for (const [i, message] of page.messages.entries()) {
          assert.ok(Buffer.from(message.text, 'utf8').equals(Buffer.from(texts[i]!, 'utf8')));
        }
      }),
    );

    it(
      'member ids are case-sensitive',
      withStore(async (store) => {
        const upper = 'Bob-case:alice-case';
        const lower = 'alice-case:bob-case';
        await store.send({ chat: upper, sender: 'Bob-case', text: 'upper' });
        await store.send({ chat: lower, sender: 'bob-case', text: 'lower' });
        assert.deepEqual(
          (await store.pull(query(upper))).messages.map((m) => m.text),
          ['upper'],
        );
        assert.deepEqual(
          (await store.pull(query(lower))).messages.map((m) => m.text),
          ['lower'],
        );
      }),
    );

    it(
      'repeated client message id is idempotent',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const first = await store.send({ chat, sender: a, text: 'once', clientMsgId: 'm-1' });
        assert.equal(first.clientMsgId, 'm-1');
        await store.send({ chat, sender: a, text: 'between' });
        const again = await store.send({ chat, sender: a, text: 'once, retried', clientMsgId: 'm-1' });
        assert.deepEqual(again, first);
        const page = await store.pull(query(chat));
        assert.deepEqual(
          page.messages.map((m) => m.text),
          ['once', 'between'],
        );
        assert.equal(page.messages[0]!.clientMsgId, 'm-1');
      }),
    );

    it(
      'concurrent retries store one message',
      withStore(async (store) => {
        const { chat, a } = freshChat();
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.send({ chat, sender: a, text: 'retry', clientMsgId: 'same' })),
        );
        assert.equal(new Set(sendTimes(results)).size, 1);
        assert.equal((await store.pull(query(chat))).messages.length, 1);
      }),
    );

    it(
      'client message id is scoped to chat and sender',
      withStore(async (store) => {
        const { chat, a, b } = freshChat();
        const other = freshChat();
        const fromA = await store.send({ chat, sender: a, text: 'a', clientMsgId: 'k' });
        const fromB = await store.send({ chat, sender: b, text: 'b', clientMsgId: 'k' });
        const elsewhere = await store.send({ chat: other.chat, sender: other.a, text: 'c', clientMsgId: 'k' });
        assert.notEqual(fromA.sendTimeMicros, fromB.sendTimeMicros);
        assert.equal(elsewhere.chat, other.chat);
        assert.equal((await store.pull(query(chat))).messages.length, 2);
      }),
    );

    it('store is ready until closed', async () => {
      const { store, cleanup } = await open();
      await store.checkReady();
      await store.close();
      const { chat, a } = freshChat();
      await assert.rejects(store.send({ chat, sender: a, text: 'late' }), { code: 'STORE_UNAVAILABLE' });
      await assert.rejects(store.pull(query(chat)), { code: 'STORE_UNAVAILABLE' });
      await cleanup();
    });
  });
}
