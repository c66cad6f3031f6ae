#!/usr/bin/env node
import { createRequire } from 'node:module';
import { StartupError, startService } from './app.js';
import { ConfigError, helpText, parseConfig } from './config.js';
import { createLogger } from './log.js';
import { isClusterWorker, reportStarted, runPrimary } from './workers.js';

async function main(): Promise<void> {
  if (process.argv.slice(2).includes('--version')) {
    // package.json sits one level above both src/ and dist/.
    const manifest = createRequire(import.meta.url)('../package.json') as { version: string };
    process.stdout.write(`im-service ${manifest.version}\n`);
    return;
  }
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`im-service: ${error.message}\n`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }

  const logger = createLogger(parsed.config.logLevel);
  if (parsed.config.workers > 1 && !isClusterWorker()) {
    process.exit(await runPrimary(parsed.config, logger));
  }

  let service;
  try {
    service = await startService(parsed.config, logger);
  } catch (error) {
    if (error instanceof StartupError) {
      logger.fatal({ reason: error.message }, 'im-service failed to start');
      process.stderr.write(`im-service: ${error.message}\n`);
    } else {
      logger.fatal({ err: error }, 'im-service failed to start');
    }
    process.exit(1);
  }
  reportStarted(service);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A worker gets SIGINT from the terminal and again from its primary: stop once.
      if (isClusterWorker()) return;
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'im-service stopping');
    service.stop().then(
      () => {
        logger.info('im-service stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'im-service failed to stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

void main();
