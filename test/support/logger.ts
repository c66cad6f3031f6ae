import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** One parsed pino log line. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A logger whose JSON lines are kept in memory, so tests can assert on them. */
export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: LogLine[];
  /** Resolves with the first line, past or future, whose message is `msg`. */
  waitFor(msg: string, timeoutMs?: number): Promise<LogLine>;
}

export function captureLogger(level = 'info'): CapturedLogger {
  const lines: LogLine[] = [];
  const waiters: { msg: string; resolve: (line: LogLine) => void }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text === '') continue;
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const waiter of waiters.filter((w) => w.msg === line.msg)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
      done();
    },
  });
  const logger = pino({ level }, sink);

  const waitFor = (msg: string, timeoutMs = 5000): Promise<LogLine> => {
    const seen = lines.find((line) => line.msg === msg);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line "${msg}" within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({
        msg,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  };
  return { logger, lines, waitFor };
}
