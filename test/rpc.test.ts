import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ThriftPullResponse, ThriftSendResponse } from '../src/rpc/generated.js';
import { uniqueChat } from './support/api-bodies.js';
import { startRpcServer } from './support/service.js';
import { openThriftClient } from './support/thrift-client.js';
import {
  encodeCall,
  pullRequest,
  RawThriftConnection,
  sendRequest,
  type Reply,
  type TransportKind,
} from './support/thrift-wire.js';

const MAX_MESSAGE_BYTES = 64 * 1024;
const PROTOCOL_ERROR_LOG = 'rpc connection closed after a protocol error';
const UNKNOWN_METHOD = 1;

function sendResponse(reply: Reply | undefined): ThriftSendResponse {
  assert.equal(reply?.kind, 'reply', `expected a reply, got ${JSON.stringify(reply)}`);
  return (reply as Extract<Reply, { kind: 'reply' }>).response as ThriftSendResponse;
}

function pullResponse(reply: Reply | undefined): ThriftPullResponse {
  assert.equal(reply?.kind, 'reply', `expected a reply, got ${JSON.stringify(reply)}`);
  return (reply as Extract<Reply, { kind: 'reply' }>).response as ThriftPullResponse;
}

/** Resolves true when the peer closes the socket within timeoutMs. */
function closesWithin(socket: net.Socket, timeoutMs = 5000): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('Thrift RPC server', () => {
  let server: Awaited<ReturnType<typeof startRpcServer>>;
  let host: string;
  let port: number;

  before(async () => {
    server = await startRpcServer({ rpcMaxMessageBytes: MAX_MESSAGE_BYTES, maxTextBytes: 16 * 1024 });
    ({ host, port } = server.rpc);
  });
  after(async () => {
    await server.stop();
  });

  /** Asserts that the server still serves a call on a new connection. */
  async function assertServing(kind: TransportKind = 'framed'): Promise<void> {
    const { client, close } = await openThriftClient(host, port, kind);
    try {
      const response = await client.Pull(pullRequest('alive:check'));
      assert.equal(response.Code, 0, 'a new connection is served');
    } finally {
      close();
    }
  }

  it('framed and buffered share a port', async () => {
    const { chat, a, b } = uniqueChat('rpc');
    const framed = await openThriftClient(host, port, 'framed');
    const buffered = await openThriftClient(host, port, 'buffered');
    try {
      const sent = await framed.client.Send(sendRequest(`${b}:${a}`, a, 'über 😀'));
      assert.equal(sent.Code, 0);
      assert.equal(sent.Msg, 'success');
      assert.equal(sent.Stored?.Chat, chat);
      assert.equal(sent.Stored?.Text, 'über 😀');
      const reply = await buffered.client.Send(sendRequest(chat, b, 'second'));
      assert.equal(reply.Code, 0);
      const page = await buffered.client.Pull(pullRequest(chat));
      assert.equal(page.Code, 0);
      assert.deepEqual(
        page.Messages?.map((m) => m.Text),
        ['über 😀', 'second'],
      );
      assert.equal(page.HasMore, false);
      const framedPage = await framed.client.Pull(pullRequest(chat, 0, 1, true));
      assert.deepEqual(
        framedPage.Messages?.map((m) => m.Text),
        ['second'],
      );
      assert.equal(framedPage.HasMore, true);
    } finally {
      framed.close();
      buffered.close();
    }
  });

  for (const kind of ['framed', 'buffered'] as const) {
    it(`pipelined ${kind} calls keep seqids`, async () => {
      const { chat, a } = uniqueChat('pipe');
      const connection = await RawThriftConnection.open(host, port, kind);
      try {
        const calls = [
          encodeCall(kind, 'Send', 11, sendRequest(chat, a, 'one')),
          encodeCall(kind, 'Send', 12, sendRequest(chat, a, 'two')),
          encodeCall(kind, 'Pull', 13, pullRequest('x:y:z')),
          encodeCall(kind, 'Send', 14, sendRequest(chat, a, 'three')),
          encodeCall(kind, 'Pull', 15, pullRequest(chat, 0, 100)),
        ];
        // One write, so every call reaches the server before it replies to any.
        connection.write(Buffer.concat(calls));
        const replies = await connection.waitForReplies(calls.length);
        const bySeqid = new Map(replies.map((reply) => [reply.seqid, reply]));
        assert.deepEqual([...bySeqid.keys()].sort(), [11, 12, 13, 14, 15]);
        assert.equal(sendResponse(bySeqid.get(11)).Stored?.Text, 'one');
        assert.equal(sendResponse(bySeqid.get(12)).Stored?.Text, 'two');
        assert.equal(pullResponse(bySeqid.get(13)).Code, 400);
        assert.equal(sendResponse(bySeqid.get(14)).Stored?.Text, 'three');
        assert.equal(bySeqid.get(15)?.method, 'Pull');
        const texts = pullResponse(bySeqid.get(15)).Messages?.map((m) => m.Text);
        assert.ok(
          texts?.every((text) => ['one', 'two', 'three'].includes(text ?? '')),
          'the pull saw only this chat',
        );
      } finally {
        connection.destroy();
      }
    });
  }

  it('buffered calls split across writes', async () => {
    const { chat, a } = uniqueChat('split');
    const connection = await RawThriftConnection.open(host, port, 'buffered');
    try {
      const bytes = Buffer.concat([
        encodeCall('buffered', 'Send', 1, sendRequest(chat, a, 'x'.repeat(5000))),
        encodeCall('buffered', 'Pull', 2, pullRequest(chat)),
      ]);
      for (let offset = 0; offset < bytes.length; offset += 777) {
        connection.write(bytes.subarray(offset, offset + 777));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const [sent, pulled] = await connection.waitForReplies(2);
      assert.equal(sendResponse(sent).Code, 0);
      assert.equal(pullResponse(pulled).Messages?.length, 1);
    } finally {
      connection.destroy();
    }
  });

  it('error replies carry Code and Msg', async () => {
    const { chat, a } = uniqueChat('codes');
    const { client, close } = await openThriftClient(host, port, 'framed');
    try {
      const notMember = await client.Send(sendRequest(chat, 'mallory', 'hi'));
      assert.equal(notMember.Code, 400);
      assert.equal(notMember.ErrorCode, 'INVALID_ARGUMENT');
      assert.match(notMember.Msg, /mallory/);
      const tooLarge = await client.Send(sendRequest(chat, a, 'x'.repeat(16 * 1024 + 1)));
      assert.equal(tooLarge.Code, 413);
      assert.equal(tooLarge.ErrorCode, 'TEXT_TOO_LARGE');
      const badLimit = await client.Pull(pullRequest(chat, 0, 1001));
      assert.equal(badLimit.Code, 400);
      assert.match(badLimit.Msg, /limit/);
      const badCursor = await client.Pull(pullRequest(chat, -1));
      assert.equal(badCursor.Code, 400);
      assert.match(badCursor.Msg, /cursor/);
    } finally {
      close();
    }
  });

  it('idempotent send over Thrift', async () => {
    const { chat, a } = uniqueChat('idem');
    const { client, close } = await openThriftClient(host, port, 'buffered');
    try {
      const first = await client.Send(sendRequest(chat, a, 'once', 'k-1'));
      const again = await client.Send(sendRequest(chat, a, 'once', 'k-1'));
      assert.equal(first.Code, 0);
      assert.equal(again.Stored?.ClientMsgId, 'k-1');
      assert.equal(String(again.Stored?.SendTime), String(first.Stored?.SendTime));
      const page = await client.Pull(pullRequest(chat));
      assert.equal(page.Messages?.length, 1);
    } finally {
      close();
    }
  });

  it('invalid UTF-8 string is Code 400', async () => {
    const { chat, a } = uniqueChat('utf8');
    const connection = await RawThriftConnection.open(host, port, 'framed');
    try {
      const invalidText = Buffer.from([0x68, 0xff, 0xfe, 0x69]) as unknown as string;
      connection.write(encodeCall('framed', 'Send', 7, sendRequest(chat, a, invalidText)));
      const invalidChat = Buffer.from([0xc3, 0x28, 0x3a, 0x62]) as unknown as string;
      connection.write(encodeCall('framed', 'Pull', 8, pullRequest(invalidChat)));
      const [sent, pulled] = await connection.waitForReplies(2);
      const sendReply = sendResponse(sent);
      assert.equal(sendReply.Code, 400);
      assert.equal(sendReply.ErrorCode, 'INVALID_ARGUMENT');
      assert.match(sendReply.Msg, /text/);
      assert.match(sendReply.Msg, /UTF-8/);
      const pullReply = pullResponse(pulled);
      assert.equal(pullReply.Code, 400);
      assert.match(pullReply.Msg, /chat/);
    } finally {
      connection.destroy();
    }
    const { client, close } = await openThriftClient(host, port, 'framed');
    try {
      const page = await client.Pull(pullRequest(chat));
      assert.equal(page.Messages?.length, 0, 'nothing was stored');
    } finally {
      close();
    }
  });

  for (const kind of ['framed', 'buffered'] as const) {
    it(`unknown method closes ${kind}`, async () => {
      const connection = await RawThriftConnection.open(host, port, kind);
      try {
        connection.write(encodeCall(kind, 'Delete', 21, pullRequest('a:b')));
        const [reply] = await connection.waitForReplies(1);
        assert.equal(reply?.kind, 'exception');
        assert.equal(reply?.seqid, 21);
        assert.equal(reply?.method, 'Delete');
        assert.equal((reply as Extract<Reply, { kind: 'exception' }>).type, UNKNOWN_METHOD);
        assert.match((reply as Extract<Reply, { kind: 'exception' }>).message, /Delete/);
        assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
      } finally {
        connection.destroy();
      }
      await assertServing(kind);
    });
  }

  it('oversized frame closes connection', async () => {
    const logged = server.logs.lines.length;
    const connection = await RawThriftConnection.open(host, port, 'framed');
    try {
      const call = encodeCall('framed', 'Send', 1, sendRequest('a:b', 'a', 'x'.repeat(MAX_MESSAGE_BYTES)));
      connection.write(call);
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
      assert.equal(connection.replies.length, 0);
    } finally {
      connection.destroy();
    }
    const line = server.logs.lines.slice(logged).find((l) => l.msg === PROTOCOL_ERROR_LOG);
    assert.match(String(line?.['reason']), /Frame size/);
    await assertServing();
  });

  it('oversized frame header alone', async () => {
    const connection = await RawThriftConnection.open(host, port, 'framed');
    try {
      const header = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01]);
      connection.write(header);
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
    } finally {
      connection.destroy();
    }
    await assertServing();
  });

  it('oversized unframed message closes', async () => {
    const connection = await RawThriftConnection.open(host, port, 'buffered');
    try {
      connection.write(encodeCall('buffered', 'Send', 1, sendRequest('a:b', 'a', 'x'.repeat(MAX_MESSAGE_BYTES))));
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
    } finally {
      connection.destroy();
    }
    await assertServing('buffered');
  });

  for (const kind of ['framed', 'buffered'] as const) {
    it(`truncated ${kind} input is dropped`, async () => {
      const logged = server.logs.lines.length;
      const connection = await RawThriftConnection.open(host, port, kind);
      const call = encodeCall(kind, 'Send', 1, sendRequest('trunc-a:trunc-b', 'trunc-a', 'cut short'));
      connection.socket.end(call.subarray(0, call.length - 5));
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
      assert.equal(connection.replies.length, 0);
      const line = server.logs.lines.slice(logged).find((l) => /truncated/.test(String(l.msg)));
      assert.ok(line !== undefined, 'a log line reports the truncated request');
      await assertServing(kind);
    });
  }

  it('frame ending inside message closes', async () => {
    const connection = await RawThriftConnection.open(host, port, 'framed');
    try {
      const call = encodeCall('framed', 'Send', 1, sendRequest('a:b', 'a', 'cut inside the frame'));
      const message = call.subarray(4, call.length - 6);
      const header = Buffer.alloc(4);
      header.writeInt32BE(message.length);
      connection.write(Buffer.concat([header, message]));
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
      assert.equal(connection.replies.length, 0);
    } finally {
      connection.destroy();
    }
    await assertServing();
  });

  it('HTTP request is closed', async () => {
    const logged = server.logs.lines.length;
    const socket = net.connect(port, host);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    try {
      socket.write(`GET /ping HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.ok(await closesWithin(socket), 'the server closes the connection');
      assert.equal(Buffer.concat(received).length, 0, 'nothing is written back');
    } finally {
      socket.destroy();
    }
    const line = server.logs.lines.slice(logged).find((l) => l.msg === PROTOCOL_ERROR_LOG);
    assert.match(String(line?.['reason']), /not a Thrift/);
    await assertServing();
  });

  it('oneway call is rejected', async () => {
    const connection = await RawThriftConnection.open(host, port, 'framed');
    try {
      const call = encodeCall('framed', 'Pull', 4, pullRequest('a:b'));
      // Byte 7 is the message type (after the frame size and the version): 4 is ONEWAY.
      call[7] = 4;
      connection.write(call);
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
    } finally {
      connection.destroy();
    }
    await assertServing();
  });

  it('leading U+FEFF survives Thrift', async () => {
    const { chat, a } = uniqueChat('bom');
    const { client, close } = await openThriftClient(host, port, 'framed');
    try {
      const sent = await client.Send(sendRequest(chat, a, '\ufeffbom'));
      assert.equal(sent.Stored?.Text, '\ufeffbom');
      const bomSender = await client.Send(sendRequest(chat, `\ufeff${a}`, 'x'));
      assert.equal(bomSender.Code, 400);
    } finally {
      close();
    }
  });

  it('reply message type is rejected', async () => {
    const connection = await RawThriftConnection.open(host, port, 'framed');
    try {
      const call = encodeCall('framed', 'Pull', 3, pullRequest('a:b'));
      // Byte 7 is the message type (after the frame size and the version): 2 is REPLY.
      call[7] = 2;
      connection.write(call);
      assert.ok(await closesWithin(connection.socket), 'the server closes the connection');
    } finally {
      connection.destroy();
    }
    await assertServing();
  });
});
