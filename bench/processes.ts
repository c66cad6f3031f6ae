import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Root of the repository (bench/..). */
export const ROOT = join(import.meta.dirname, '..');

/** A child process that the runner started and must stop by its pid. */
export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  /** Last lines of output, shown when the process fails. */
  readonly output: string[];
}

const started = new Set<Started>();

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Spawns a process, keeps its last 50 lines of output and resolves once a line
 * matches `readyLine`. Rejects when it exits first or after timeoutMs.
 */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  readyLine: RegExp,
  timeoutMs = 60_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Started> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle: Started = { name, child, output: [] };
  started.add(handle);

  return new Promise<Started>((resolve, reject) => {
    const fail = (reason: string): void => {
      clearTimeout(timer);
      reject(new Error(`${name} ${reason}; its last output:\n${handle.output.join('\n')}`));
    };
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code, signal) => fail(`exited with status ${code ?? signal} before it was ready`));

    const onLine = (line: string): void => {
      handle.output.push(line);
      if (handle.output.length > 50) handle.output.shift();
      if (readyLine.test(line)) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(handle);
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
  });
}

/** Sends SIGTERM to the process by its pid, then SIGKILL after timeoutMs; resolves with its exit status. */
export async function stopProcess(handle: Started, timeoutMs = 15_000): Promise<number | string | null> {
  const { child } = handle;
  started.delete(handle);
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const status = await exited;
  clearTimeout(timer);
  return status;
}

/** Stops every process that is still running, for the error path and Ctrl-C. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((handle) => stopProcess(handle)));
}

const CLOCK_TICKS_PER_SECOND = 100;

function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU time (user and system) of the processes and their children (cluster
 * workers), in microseconds, from /proc (Linux only). A process that has
 * exited counts 0. Resolution: one clock tick, 10 ms on Linux with USER_HZ 100.
 */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids.flatMap((parent) => [parent, ...childPids(parent)])) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name, which is in brackets and may contain spaces: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1_000_000;
}

/** Compiles src/ into dist/ with the project's build script. */
export function buildCli(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

/** Resident set size of one process, in bytes, from /proc (Linux only). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export interface CliOptions {
  readonly command: 'start' | 'rpc' | 'http';
  readonly args: readonly string[];
  readonly workers?: number;
  /** Directory for `node --cpu-prof` output, when profiling. */
  readonly profileDir?: string | undefined;
  /** Directory for the memory samples of bench/memory-sampler.cjs, when sampling. */
  readonly memoryLogDir?: string | undefined;
}

/**
 * Starts the built im-service CLI (dist/cli.js, as `npm start` runs it) and
 * waits until it logs that it started. Call buildCli first.
 */
export function startCli(name: string, options: CliOptions): Promise<Started> {
  const nodeFlags = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir];
  const env = { ...process.env };
  if (options.memoryLogDir !== undefined) {
    nodeFlags.push('--require', join(ROOT, 'bench/memory-sampler.cjs'));
    env['IM_BENCH_MEMORY_LOG'] = options.memoryLogDir;
    env['IM_BENCH_MEMORY_NAME'] = name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
  }
  const workers = options.workers ?? 1;
  const ready = workers > 1 ? /"msg":"im-service started all workers"/ : /"msg":"im-service started"/;
  return startProcess(
    name,
    process.execPath,
    [
      ...nodeFlags,
      'dist/cli.js',
      options.command,
      '--host',
      '127.0.0.1',
      // info logs only starts, stops and rejected requests, which a run should have none of.
      '--log-level',
      'info',
      '--workers',
      String(workers),
      ...options.args,
    ],
    ready,
    60_000,
    env,
  );
}
