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

/** A start-up failure whose message names the option to change; the CLI prints it without a stack. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

function describeStore(spec: string): string {
  // Redis URLs may carry a password: keep only the scheme and what follows the last '@'.
  return spec.replace(/^(redis(?:-cluster)?:\/\/)[^@/]*@/, '$1***@');
}

/** Explains why a listen failed, naming the option that sets the address. */
function listenError(server: 'HTTP' | 'RPC', port: number, host: string, error: unknown): StartupError {
  const code = (error as { code?: string }).code;
  const option = server === 'HTTP' ? '--http-port (HTTP_PORT)' : '--rpc-port (RPC_PORT)';
  if (code === 'EADDRINUSE') {
    return new StartupError(
      `${server} port ${port} on ${host} is already in use; stop the other process or choose another ${option}`,
    );
  }
  if (code === 'EACCES') {
    return new StartupError(
      `no permission to listen on ${server} port ${port}; choose a port above 1023 with ${option}`,
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new StartupError(
    `cannot listen for ${server} on ${host}:${port} (${reason}); set --host (HOST) to an address of this machine, such as 127.0.0.1 or 0.0.0.0`,
  );
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
      try {
        store = await openStore(config.store, logger.child({ component: 'store' }));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new StartupError(`cannot open --store (IM_STORE) ${describeStore(config.store)}: ${reason}`);
      }
      backend = store;
      rpcServer = new RpcServer({
        handler: createRpcHandler(store, limits, logger.child({ component: 'rpc' })),
        maxMessageBytes: config.rpcMaxMessageBytes,
        logger,
      });
      const address = await rpcServer.listen(config.rpcPort, config.host).catch((error: unknown) => {
        throw listenError('RPC', config.rpcPort, config.host, error);
      });
      rpcAddress = formatAddress(address);
    }

    if (config.command !== 'rpc') {
      httpServer = buildHttpServer({ backend, maxTextBytes: config.maxTextBytes, logger });
      await httpServer.listen({ port: config.httpPort, host: config.host }).catch((error: unknown) => {
        throw listenError('HTTP', config.httpPort, config.host, error);
      });
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
