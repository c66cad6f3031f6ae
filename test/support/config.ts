import type { Config } from '../../src/config.js';
import { DEFAULT_MAX_TEXT_BYTES } from '../../src/core/validation.js';

/** Builds a config for in-process services: loopback, ports picked by the OS, memory store. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    command: 'start',
    host: '127.0.0.1',
    httpPort: 0,
    rpcPort: 0,
    store: 'memory:',
    rpcAddresses: [],
    rpcTimeoutMs: 2000,
    rpcPoolSize: 2,
    rpcMaxMessageBytes: 1024 * 1024,
    maxTextBytes: DEFAULT_MAX_TEXT_BYTES,
    logLevel: 'info',
    workers: 1,
    ...overrides,
  };
}

/** Splits `host:port` (or `[v6]:port`) as startService formats addresses. */
export function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (match === null) throw new Error(`not a host:port address: ${address}`);
  return { host: match[1]!, port: Number(match[2]) };
}
