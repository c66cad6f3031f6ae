import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.js';
import { parseRedisClusterUrl, parseRedisUrl, RedisUrlError } from '../src/store/redis-url.js';

function storeOf(value: string): string {
  const parsed = parseConfig(['start'], { IM_STORE: value });
  assert.equal(parsed.help, false);
  return parsed.config.store;
}

function storeError(value: string): string {
  try {
    parseConfig(['start'], { IM_STORE: value });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `${String(error)} is not a ConfigError`);
    return error.message;
  }
  throw new Error(`IM_STORE ${value} was accepted`);
}

describe('redis store URL', () => {
  it('accepts the documented forms', () => {
    const accepted = [
      'redis://127.0.0.1:6379',
      'redis://localhost',
      'redis://redis.internal:6380/3',
      'redis://user:p%40ss@127.0.0.1:6379/0',
      'redis://:only-password@127.0.0.1:6379',
      'redis://[::1]:6379',
      'redis-cluster://127.0.0.1:7000',
      'redis-cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002',
      'redis-cluster://user:secret@127.0.0.1:7000,127.0.0.1:7001',
    ];
    for (const value of accepted) assert.equal(storeOf(value), value);
  });

  it('parses address, database and credentials', () => {
    const url = parseRedisUrl('redis://app:p%40ss%2Fword@127.0.0.1:6380/4');
    assert.deepEqual(url.address, { host: '127.0.0.1', port: 6380 });
    assert.equal(url.database, 4);
    assert.equal(url.username, 'app');
    assert.equal(url.password, 'p@ss/word');
    assert.equal(url.description, 'redis://127.0.0.1:6380/4');

    const defaults = parseRedisUrl('redis://cache');
    assert.deepEqual(defaults.address, { host: 'cache', port: 6379 });
    assert.equal(defaults.database, 0);
    assert.equal(defaults.username, undefined);
    assert.equal(defaults.password, undefined);

    assert.deepEqual(parseRedisUrl('redis://[::1]:7000').address, { host: '::1', port: 7000 });
  });

  it('parses cluster root nodes', () => {
    const url = parseRedisClusterUrl('redis-cluster://ops:pw@10.1.2.3:7000,[::1]:7001');
    assert.deepEqual(url.rootNodes, [
      { host: '10.1.2.3', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    assert.equal(url.username, 'ops');
    assert.equal(url.password, 'pw');
    assert.equal(url.description, 'redis-cluster://10.1.2.3:7000,[::1]:7001');
  });

  it('rejects bad values with the form', () => {
    const rejected: Array<[string, RegExp]> = [
      ['redis://', /host is missing|not a valid URL/],
      ['redis://127.0.0.1:0', /port "0" of the URL is not a number from 1 to 65535/],
      ['redis://127.0.0.1:65536', /port "65536"/],
      ['redis://127.0.0.1:abc', /the port of the URL is not a number/],
      ['redis://127.0.0.1:6379/x', /database "x"/],
      ['redis://127.0.0.1:6379/0?tls=1', /query strings/],
      ['rediss://127.0.0.1:6379', /does not start with redis:\/\//],
      ['redis-cluster://', /node "" is not host:port/],
      ['redis-cluster://127.0.0.1', /node "127.0.0.1" is not host:port/],
      ['redis-cluster://127.0.0.1:7000,,127.0.0.1:7001', /node "" is not host:port/],
      ['redis-cluster://127.0.0.1:99999', /port "99999"/],
    ];
    for (const [value, reason] of rejected) {
      const message = storeError(value);
      assert.match(message, /^invalid --store \(IM_STORE\)/, value);
      assert.match(message, reason, value);
      const form = value.startsWith('redis-cluster') ? /redis-cluster:\/\/\[user:password@\]host:port/ : /redis:\/\//;
      assert.match(message, form, value);
    }
  });

  it('errors never contain the password', () => {
    const values = [
      'redis://admin:hunter2-secret@127.0.0.1:6379/x',
      'redis://admin:hunter2-secret@127.0.0.1:0',
      'redis://admin:hunter2-secret%zz@127.0.0.1:6379',
      'redis://admin:hunter2/secret@127.0.0.1:6379',
      'redis-cluster://admin:hunter2-secret@127.0.0.1',
      'redis-cluster://admin:hunter2/secret@127.0.0.1:7000,bad',
    ];
    for (const value of values) {
      const message = storeError(value);
      assert.doesNotMatch(message, /hunter2/, message);
      assert.match(message, /\*\*\*@/, message);
    }
  });

  it('parser errors are RedisUrlError', () => {
    assert.throws(() => parseRedisUrl('http://127.0.0.1'), RedisUrlError);
    assert.throws(() => parseRedisClusterUrl('redis://127.0.0.1:7000'), RedisUrlError);
  });
});
