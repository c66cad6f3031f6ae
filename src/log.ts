import { pino, type Logger } from 'pino';

/**
 * Creates the process logger: JSON lines on stdout. Callers log objects first
 * (`log.info({ chat, sendTime }, 'message stored')`) and never pass message
 * text, tokens or passwords.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger };
