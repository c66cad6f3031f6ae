import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import thrift from 'thrift';
import { types } from '../src/rpc/generated.js';
import { OutputBinaryProtocol, OutputTransport } from '../src/rpc/output-protocol.js';

const { TBinaryProtocol, TBufferedTransport, TFramedTransport, Thrift } = thrift;
// The runtime exports node-int64's class, which its type definitions leave out.
const Int64 = (thrift as unknown as { Int64: new (hex: string) => object }).Int64;

/** Writes one reply message with the protocol and returns the bytes it sent. */
function encode(protocol: (send: (bytes: Buffer) => void) => thrift.TProtocol, body: unknown, seqid = 7): Buffer {
  const sent: Buffer[] = [];
  const output = protocol((bytes) => sent.push(bytes));
  output.writeMessageBegin('Pull', Thrift.MessageType.REPLY, seqid);
  (body as { write(output: thrift.TProtocol): void }).write(output);
  output.writeMessageEnd();
  output.flush();
  assert.equal(sent.length, 1, 'one buffer per flush');
  return sent[0]!;
}

const stock = (framed: boolean) => (send: (bytes: Buffer) => void) => {
  const Transport = framed ? TFramedTransport : TBufferedTransport;
  return new TBinaryProtocol(new Transport(undefined, send as thrift.TTransportCallback));
};
const reply = (framed: boolean) => (send: (bytes: Buffer) => void) =>
  new OutputBinaryProtocol(new OutputTransport(framed, send)) as unknown as thrift.TProtocol;

function pullResponse(texts: readonly string[], sendTimes: readonly unknown[]) {
  return new types.PullResponse({
    Code: -3,
    Msg: 'ok',
    Messages: texts.map(
      (text, index) =>
        new types.Message({
          Chat: 'a:b',
          Text: text,
          Sender: 'b',
          SendTime: sendTimes[index % sendTimes.length] as number,
          ClientMsgId: index % 2 === 0 ? `id-${index}` : undefined,
        }),
    ),
    HasMore: true,
    NextCursor: 1_700_000_000_000_001,
    ErrorCode: '',
  });
}

describe('reply protocol', () => {
  const sendTimes = [
    0,
    1,
    -1,
    2 ** 32,
    -(2 ** 32) - 5,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    1_733_000_000_123_456,
    new Int64('7fffffffffffffff'),
    2 ** 60,
  ];
  const texts = ['', 'hello', 'ünïcödé 😀', '\u0000 nul', 'x'.repeat(300)];

  for (const framed of [true, false]) {
    it(`matches the stock ${framed ? 'framed' : 'buffered'} bytes`, () => {
      const body = pullResponse(texts, sendTimes);
      assert.deepEqual(encode(reply(framed), body), encode(stock(framed), body));
    });
  }

  it('matches the stock bytes past the initial buffer', () => {
    // 200 messages of 1,000 bytes grow the buffer past 4 KiB and past the retained 64 KiB.
    const body = pullResponse(
      Array.from({ length: 200 }, (_, index) => `${index}`.padEnd(1000, '.')),
      [5],
    );
    const sent: Buffer[] = [];
    const output = reply(true)((bytes) => sent.push(bytes));
    for (const seqid of [1, 2]) {
      output.writeMessageBegin('Pull', Thrift.MessageType.REPLY, seqid);
      (body as unknown as { write(output: thrift.TProtocol): void }).write(output);
      output.writeMessageEnd();
      output.flush();
    }
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[0], encode(stock(true), body, 1));
    assert.deepEqual(sent[1], encode(stock(true), body, 2));
  });

  it('keeps sent messages intact', () => {
    const sent: Buffer[] = [];
    const output = reply(true)((bytes) => sent.push(bytes));
    for (const text of ['first', 'second']) {
      output.writeMessageBegin('Pull', Thrift.MessageType.REPLY, 1);
      (pullResponse([text], [1]) as unknown as { write(output: thrift.TProtocol): void }).write(output);
      output.writeMessageEnd();
      output.flush();
    }
    assert.ok(sent[0]!.includes('first'), 'the first message is not overwritten by the second');
    assert.ok(sent[1]!.includes('second'));
  });

  it('drops a message whose encoding threw', () => {
    const sent: Buffer[] = [];
    const output = reply(true)((bytes) => sent.push(bytes));
    output.writeMessageBegin('Pull', Thrift.MessageType.REPLY, 1);
    output.writeString('partial');
    assert.throws(() => output.writeString(42 as unknown as string));
    const body = pullResponse(['after'], [1]);
    output.writeMessageBegin('Pull', Thrift.MessageType.REPLY, 2);
    (body as unknown as { write(output: thrift.TProtocol): void }).write(output);
    output.writeMessageEnd();
    output.flush();
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0], encode(stock(true), body, 2));
  });

  it('rejects a non-string string field', () => {
    const output = reply(true)(() => {});
    assert.throws(() => output.writeString(42 as unknown as string), /writeString called without a string or Buffer/);
  });
});
