import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import type { MessageBackend, MessageStore } from './core/message-store.js';
import { buildHttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { RpcClientPool } from './rpc/client-pool.js';
import { createRpcHandler } from './rpc/handler.js';
import { RpcServer } from './rpc/server.js';
import { openStore } from './store/open-store.js';

/** A started im-service process: its listening addresses and how to stop it. */
export interface RunningService {
  /** `host:port` of the HTTP API, when this mode serves it. */
  readonly httpAddress?: string;
  /** `host:port` of the Thrift RPC server, when this mode serves it. */
  readonly rpcAddress?: string;
  /** Stops accepting, finishes requests in flight, then closes the store or the RPC clients. */
  stop(): Promise<void>;
}

function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/**
 * Starts the servers of `config.command`: `start` (HTTP calling the store in
 * process, plus the RPC server), `rpc` (RPC server only) or `http` (gateway
 * calling remote RPC servers).
 */
export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  let store: MessageStore | undefined;
  let pool: RpcClientPool | undefined;
  let rpcServer: RpcServer | undefined;
  let httpServer: ReturnType<typeof buildHttpServer> | undefined;
  let httpAddress: string | undefined;
  let rpcAddress: string | undefined;
  const limits = { maxTextBytes: config.maxTextBytes };

  const stop = async (): Promise<void> => {
    // HTTP first: its in-flight requests may still call the RPC servers or the store.
    await httpServer?.close();
    await rpcServer?.close();
    await pool?.close();
    await store?.close();
  };

  try {
    let backend: MessageBackend;
    if (config.command === 'http') {
      pool = new RpcClientPool({
        addresses: config.rpcAddresses,
        connectionsPerServer: config.rpcPoolSize,
        timeoutMs: config.rpcTimeoutMs,
        logger,
      });
      backend = pool;
    } else {
      store = await openStore(config.store, logger.child({ component: 'store' }));
      backend = store;
      rpcServer = new RpcServer({
        handler: createRpcHandler(store, limits, logger.child({ component: 'rpc' })),
        maxMessageBytes: config.rpcMaxMessageBytes,
        logger,
      });
      rpcAddress = formatAddress(await rpcServer.listen(config.rpcPort, config.host));
    }

    if (config.command !== 'rpc') {
      httpServer = buildHttpServer({ backend, maxTextBytes: config.maxTextBytes, logger });
      await httpServer.listen({ port: config.httpPort, host: config.host });
      httpAddress = formatAddress(httpServer.server.address() as AddressInfo);
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }

  logger.info(
    {
      mode: config.command,
      http: httpAddress,
      rpc: rpcAddress,
      store: store?.description,
      rpcServers: config.command === 'http' ? config.rpcAddresses.map((a) => `${a.host}:${a.port}`) : undefined,
    },
    'im-service started',
  );
  return { httpAddress, rpcAddress, stop };
}
