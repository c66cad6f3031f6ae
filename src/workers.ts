import cluster, { type Worker } from 'node:cluster';
import type { RunningService } from './app.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';

/** IPC message a worker sends to the primary once its servers listen. */
interface StartedMessage {
  readonly type: 'im-service:started';
  readonly httpAddress?: string;
  readonly rpcAddress?: string;
}

function isStartedMessage(message: unknown): message is StartedMessage {
  return (
    typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'im-service:started'
  );
}

/** True in a process that a `--workers N` primary forked. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** Sends the primary, when there is one, a message that this worker's servers listen. */
export function reportStarted(service: RunningService): void {
  if (!cluster.isWorker || process.send === undefined) return;
  const message: StartedMessage = {
    type: 'im-service:started',
    httpAddress: service.httpAddress,
    rpcAddress: service.rpcAddress,
  };
  process.send(message);
}

/**
 * Runs the primary of `--workers N`: forks N copies of this CLI, which share
 * the HTTP and RPC ports through node:cluster (the primary accepts the
 * connections and hands them to the workers in turn). The primary serves no
 * requests and opens no store.
 *
 * SIGINT and SIGTERM are forwarded to every worker, which finishes its
 * requests in flight and closes its store. A worker that receives the same
 * signal twice (from the terminal and from the primary) stops only once.
 * A second signal to the primary kills the workers with SIGKILL.
 *
 * A worker that exits while the service is not stopping is not restarted:
 * the primary stops the other workers and exits, so that the supervisor of
 * the service notices the failure instead of a half-sized service or a crash loop.
 *
 * Resolves to the exit status of the primary: 0 when every worker exited
 * with status 0, otherwise 1.
 */
export function runPrimary(config: Config, logger: Logger): Promise<number> {
  const log = logger.child({ component: 'workers' });
  const workers = new Set<Worker>();
  let stopping = false;
  let failed = false;
  const startedPids: number[] = [];

  return new Promise<number>((resolve) => {
    const signalWorkers = (signal: NodeJS.Signals): void => {
      for (const worker of workers) worker.process.kill(signal);
    };

    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal, workers: workers.size }, 'second signal: killing the workers without waiting');
        failed = true;
        signalWorkers('SIGKILL');
        return;
      }
      stopping = true;
      log.info({ signal, workers: workers.size }, 'im-service stopping; forwarding the signal to every worker');
      signalWorkers(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    cluster.on('message', (worker, message: unknown) => {
      if (!isStartedMessage(message)) return;
      if (worker.process.pid !== undefined) startedPids.push(worker.process.pid);
      if (startedPids.length === config.workers) {
        log.info(
          { workers: config.workers, workerPids: startedPids, http: message.httpAddress, rpc: message.rpcAddress },
          'im-service started all workers',
        );
      }
    });

    cluster.on('exit', (worker, code, signal) => {
      workers.delete(worker);
      const fields = { workerPid: worker.process.pid, code, signal };
      if (code !== 0) failed = true;
      if (!stopping) {
        stopping = true;
        log.error(
          { ...fields, remaining: workers.size },
          'worker exited unexpectedly; stopping the other workers (workers are not restarted)',
        );
        signalWorkers('SIGTERM');
      } else if (code !== 0) {
        log.error(fields, 'worker did not stop cleanly');
      } else {
        log.info(fields, 'worker stopped');
      }

      if (workers.size === 0) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        log.info({ failed }, 'im-service stopped all workers');
        resolve(failed ? 1 : 0);
      }
    });

    log.info({ workers: config.workers }, 'im-service starting workers');
    for (let i = 0; i < config.workers; i++) workers.add(cluster.fork());
  });
}
