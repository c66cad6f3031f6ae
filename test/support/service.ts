import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { captureLogger, type CapturedLogger } from './logger.js';
import { splitAddress, testConfig } from './config.js';

/** A service started in this process for a test. */
export interface TestService {
  /** `http://host:port` of the HTTP API (in-process and gateway modes). */
  readonly baseUrl: string;
  /** Address of the Thrift server that stores the messages. */
  readonly rpc: { host: string; port: number };
  /** Log lines of every process part (gateway and RPC server share one capture). */
  readonly logs: CapturedLogger;
  stop(): Promise<void>;
}

/** Starts the Thrift server alone (`rpc` mode). */
export async function startRpcServer(overrides: Partial<Config> = {}, logs = captureLogger()) {
  const running = await startService(testConfig({ ...overrides, command: 'rpc' }), logs.logger);
  return { rpc: splitAddress(running.rpcAddress!), logs, stop: running.stop };
}

/** Starts HTTP and RPC in one process (`start` mode): HTTP calls the store directly. */
export async function startInProcess(overrides: Partial<Config> = {}): Promise<TestService> {
  const logs = captureLogger();
  const running = await startService(testConfig({ ...overrides, command: 'start' }), logs.logger);
  return {
    baseUrl: `http://${running.httpAddress!}`,
    rpc: splitAddress(running.rpcAddress!),
    logs,
    stop: running.stop,
  };
}

/** Starts an `rpc` server and an `http` gateway that forwards to it over Thrift. */
export async function startGateway(overrides: Partial<Config> = {}): Promise<TestService> {
  const logs = captureLogger();
  const rpcServer = await startRpcServer(overrides, logs);
  try {
    const gateway = await startService(
      testConfig({ ...overrides, command: 'http', rpcAddresses: [rpcServer.rpc] }),
      logs.logger,
    );
    return {
      baseUrl: `http://${gateway.httpAddress!}`,
      rpc: rpcServer.rpc,
      logs,
      stop: async () => {
        await gateway.stop();
        await rpcServer.stop();
      },
    };
  } catch (error) {
    await rpcServer.stop();
    throw error;
  }
}

/** Creates a temporary directory that the returned `remove` deletes. */
export function tempDirectory(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
