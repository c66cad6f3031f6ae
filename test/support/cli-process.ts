import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LogLine } from './logger.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_ARGS = ['--import', 'tsx', 'src/cli.ts'];

/** Environment of a CLI child: this process's, without the service's own variables. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['HOST', 'HTTP_PORT', 'RPC_PORT', 'IM_STORE', 'RPC_ADDR', 'LOG_LEVEL', 'MAX_TEXT_BYTES']) {
    delete env[name];
  }
  return { ...env, ...extra };
}

/** Runs the CLI to completion (for --help and bad options). */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...CLI_ARGS, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A running `im-service` child process and its JSON log lines. */
export class CliProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  readonly #child: ChildProcess;
  #waiters: (() => void)[] = [];

  constructor(args: readonly string[], env: Record<string, string> = {}) {
    this.#child = spawn(process.execPath, [...CLI_ARGS, ...args], {
      cwd: REPO_ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.#child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) {
        if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.#child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.#child.on('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves with the first log line whose message is `msg`; rejects on exit or after timeoutMs. */
  async waitForLog(msg: string, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.find((l) => l.msg === msg);
      if (line !== undefined) return line;
      if (!this.running) throw new Error(`process ${this.pid} exited before logging "${msg}": ${this.stderr}`);
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`process ${this.pid} did not log "${msg}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remainingMs, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a signal to this child, by its process id. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, signal);
  }

  /** Stops the child with SIGKILL if it still runs, for `after` hooks. */
  async kill(): Promise<void> {
    if (this.running) {
      process.kill(this.pid, 'SIGKILL');
      await this.exited;
    }
  }
}

/** Starts the CLI and waits for its "im-service started" log line. */
export async function startCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliProcess> {
  const child = new CliProcess(args, env);
  try {
    await child.waitForLog('im-service started');
  } catch (error) {
    await child.kill();
    throw error;
  }
  return child;
}
