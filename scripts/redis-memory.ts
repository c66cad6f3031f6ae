/**
 * Measures the Redis memory that the Redis store uses per message.
 *
 * Usage: npx tsx scripts/redis-memory.ts redis://127.0.0.1:6379/15 [messages] [text bytes]
 *
 * Sends the messages to fresh chats under the key prefix `memory-probe:`,
 * prints MEMORY USAGE ... SAMPLES 0 (every element counted) of the chat keys
 * and the growth of used_memory, then deletes the keys it wrote. Use a
 * database that nothing else writes to while it runs.
 */
import { createClient } from 'redis';
import { chatKeys } from '../src/store/redis-keys.js';
import { RedisMessageStore } from '../src/store/store-redis.js';

const PREFIX = 'memory-probe:';

const [url, countArgument = '10000', textBytesArgument = '20'] = process.argv.slice(2);
if (url === undefined) {
  process.stderr.write('usage: npx tsx scripts/redis-memory.ts REDIS_URL [messages] [text bytes]\n');
  process.exit(2);
}
const count = Number(countArgument);
const textBytes = Number(textBytesArgument);

const store = await RedisMessageStore.open(url, { keyPrefix: PREFIX, commandTimeoutMs: 5000 });
const inspector = createClient({ url });
await inspector.connect();

async function usedMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await inspector.info('memory'))?.[1]);
}

async function keyBytes(key: string): Promise<number> {
  return (await inspector.memoryUsage(key, { SAMPLES: 0 })) ?? 0;
}

const text = 'x'.repeat(textBytes);
const lines = [`${count} messages of ${textBytes} bytes, store ${store.description}`];
for (const withClientMsgId of [false, true]) {
  const chat = withClientMsgId ? 'alice-0001:bob-0001-with-ids' : 'alice-0001:bob-0001';
  const keys = chatKeys(PREFIX, chat);
  await inspector.del([keys.messages, keys.clientMsgIds]);
  const before = await usedMemory();
  for (let i = 0; i < count; i++) {
    const clientMsgId = withClientMsgId ? `c-${i.toString().padStart(8, '0')}-0123456789abcdef` : undefined;
    await store.send({ chat, sender: i % 2 ? 'alice-0001' : 'bob-0001', text, clientMsgId });
  }
  const growth = (await usedMemory()) - before;
  const messagesBytes = await keyBytes(keys.messages);
  const idsBytes = await keyBytes(keys.clientMsgIds);
  lines.push(
    `client message ids: ${withClientMsgId ? 'yes (33 characters)' : 'no'}`,
    `  MEMORY USAGE ${keys.messages} SAMPLES 0 = ${messagesBytes} (${(messagesBytes / count).toFixed(1)} per message)`,
    `  MEMORY USAGE ${keys.clientMsgIds} SAMPLES 0 = ${idsBytes} (${(idsBytes / count).toFixed(1)} per message)`,
    `  used_memory growth = ${growth} (${(growth / count).toFixed(1)} per message)`,
  );
  await inspector.del([keys.messages, keys.clientMsgIds]);
}
process.stdout.write(`${lines.join('\n')}\n`);

await store.close();
await inspector.close();
