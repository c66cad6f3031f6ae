import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

// The worker is plain CommonJS passed as a string, because a worker thread
// does not inherit the TypeScript loader that runs the tests (tsx on Node.js
// 20) and a .ts worker file would only load from dist/. It loads better-sqlite3 from the
// path that the main thread resolved.
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3Path);
const db = new Database(workerData.path, { fileMustExist: true, timeout: workerData.busyTimeoutMs });
parentPort.on('message', (request) => {
  if (request === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ kind: 'done', busy: result.busy, walFrames: result.log, checkpointedFrames: result.checkpointed });
  } catch (error) {
    parentPort.postMessage({ kind: 'failed', code: error.code, message: error.message });
  }
});
`;

type WorkerReply =
  | { kind: 'done'; busy: number; walFrames: number; checkpointedFrames: number }
  | { kind: 'failed'; code?: string; message: string };

export interface WalCheckpointerOptions {
  /** Path of the SQLite database file, which must exist. */
  readonly path: string;
  /** Busy timeout of the worker's connection, in milliseconds. */
  readonly busyTimeoutMs: number;
  /** Committed messages after which the next checkpoint is requested. */
  readonly messagesPerCheckpoint: number;
  readonly logger?: Logger;
  /** Called once if the worker fails, so that the owner can turn SQLite's own checkpoints back on. */
  readonly onFailure: () => void;
}

/**
 * Runs the WAL checkpoints of one SQLite database on a worker thread with its
 * own connection. A checkpoint copies WAL pages into the database file and,
 * with synchronous=NORMAL, syncs both files. SQLite's automatic checkpoint
 * does that inside the COMMIT that crosses wal_autocheckpoint pages, which
 * stalls the event loop of the committing process for milliseconds.
 *
 * Checkpoints are PASSIVE, which SQLite documents as not waiting for readers
 * or writers (sqlite3_wal_checkpoint_v2), so the main connection keeps
 * committing while one runs. One checkpoint runs at a time, and requests made
 * meanwhile run once after it. The worker starts with the first request, so a
 * store that stores few messages never starts it. If the worker fails, the
 * onFailure is called once and no more requests are sent.
 */
export class WalCheckpointer {
  readonly #options: WalCheckpointerOptions;
  #worker: Worker | undefined;
  #messagesSinceRequest = 0;
  #running = false;
  #requestedAgain = false;
  #failed = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: WalCheckpointerOptions) {
    this.#options = options;
  }

  /** Counts messages that were just committed, and requests a checkpoint every messagesPerCheckpoint. */
  noteCommitted(messages: number): void {
    this.#messagesSinceRequest += messages;
    if (this.#messagesSinceRequest < this.#options.messagesPerCheckpoint) return;
    this.#messagesSinceRequest = 0;
    this.request();
  }

  /** Requests a checkpoint; it runs now or after the one that is running. */
  request(): void {
    if (this.#failed || this.#closed) return;
    if (this.#running) {
      this.#requestedAgain = true;
      return;
    }
    this.#running = true;
    this.#startedWorker().postMessage('checkpoint');
  }

  /** Resolves when no checkpoint is running or requested. */
  async idle(): Promise<void> {
    if (!this.#running) return;
    // The worker is unreferenced, so it would not keep the process alive for this wait.
    this.#worker?.ref();
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (!this.#running) this.#worker?.unref();
  }

  /** Lets the running checkpoint finish, then closes the worker's connection and stops the worker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined || this.#failed) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  #startedWorker(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const { path, busyTimeoutMs } = this.#options;
    const betterSqlite3Path = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, busyTimeoutMs, betterSqlite3Path } });
    // The worker must not keep the process alive; close() stops it.
    worker.unref();
    worker.on('message', (reply: WorkerReply) => this.#onReply(reply));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new Error(`WAL checkpoint worker exited with code ${code}`));
    });
    this.#worker = worker;
    return worker;
  }

  #onReply(reply: WorkerReply): void {
    // SQLITE_BUSY means another connection, such as another process, is checkpointing.
    if (reply.kind === 'failed' && reply.code !== 'SQLITE_BUSY') {
      this.#fail(Object.assign(new Error(reply.message), { code: reply.code }));
      return;
    }
    if (reply.kind === 'done') {
      const { walFrames, checkpointedFrames, busy } = reply;
      this.#options.logger?.debug(
        { database: this.#options.path, walFrames, checkpointedFrames, busy },
        'WAL checkpoint done',
      );
    }
    this.#running = false;
    if (this.#requestedAgain) {
      this.#requestedAgain = false;
      this.request();
      return;
    }
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #fail(error: Error): void {
    if (this.#failed || this.#closed) return;
    this.#failed = true;
    this.#running = false;
    this.#options.logger?.error(
      { err: error, database: this.#options.path },
      'WAL checkpoint worker failed; SQLite checkpoints on the main thread from now on',
    );
    void this.#worker?.terminate();
    this.#options.onFailure();
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
