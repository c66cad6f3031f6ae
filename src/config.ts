import { parseArgs } from 'node:util';
import { DEFAULT_MAX_TEXT_BYTES } from './core/validation.js';
import {
  parseRedisClusterUrl,
  parseRedisUrl,
  REDIS_CLUSTER_URL_FORM,
  REDIS_URL_FORM,
  RedisUrlError,
} from './store/redis-url.js';

export type Command = 'start' | 'rpc' | 'http';
export const COMMANDS: readonly Command[] = ['start', 'rpc', 'http'];

export interface RpcAddress {
  readonly host: string;
  readonly port: number;
}

/** Validated settings of one im-service process. */
export interface Config {
  readonly command: Command;
  readonly host: string;
  readonly httpPort: number;
  readonly rpcPort: number;
  /** `sqlite:PATH`, `memory:`, `redis://...` or `redis-cluster://...`; may contain a password, so never log it. */
  readonly store: string;
  /** RPC servers that `http` mode calls; empty in the other modes. */
  readonly rpcAddresses: readonly RpcAddress[];
  readonly rpcTimeoutMs: number;
  /** Thrift connections the gateway keeps open to each RPC server. */
  readonly rpcPoolSize: number;
  /** Largest Thrift request (frame or unframed message) the RPC server reads, in bytes. */
  readonly rpcMaxMessageBytes: number;
  readonly maxTextBytes: number;
  readonly logLevel: string;
  /** Processes that serve the same ports through node:cluster; 1 runs no cluster primary. */
  readonly workers: number;
}

/** Raised for a bad flag or environment value; the CLI prints it and exits with status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly defaultValue: string;
  readonly help: string;
}

const OPTIONS = {
  host: {
    flag: 'host',
    env: 'HOST',
    defaultValue: '127.0.0.1',
    help: 'address both servers listen on (0.0.0.0 in containers)',
  },
  httpPort: {
    flag: 'http-port',
    env: 'HTTP_PORT',
    defaultValue: '8080',
    help: 'HTTP port, 0-65535 (0 picks a free port)',
  },
  rpcPort: {
    flag: 'rpc-port',
    env: 'RPC_PORT',
    defaultValue: '8888',
    help: 'Thrift RPC port, 0-65535 (0 picks a free port)',
  },
  store: {
    flag: 'store',
    env: 'IM_STORE',
    defaultValue: 'sqlite:./data/im.sqlite',
    help: `message store: sqlite:PATH, memory:, ${REDIS_URL_FORM} or ${REDIS_CLUSTER_URL_FORM}`,
  },
  rpcAddr: {
    flag: 'rpc-addr',
    env: 'RPC_ADDR',
    defaultValue: '',
    help: 'RPC servers the http gateway calls, host:port[,host:port...]',
  },
  rpcTimeoutMs: {
    flag: 'rpc-timeout-ms',
    env: 'RPC_TIMEOUT_MS',
    defaultValue: '1000',
    help: 'per-call timeout of the gateway, in milliseconds',
  },
  rpcPoolSize: {
    flag: 'rpc-pool-size',
    env: 'RPC_POOL_SIZE',
    defaultValue: '4',
    help: 'Thrift connections per RPC server in the gateway',
  },
  rpcMaxMessageBytes: {
    flag: 'rpc-max-message-bytes',
    env: 'RPC_MAX_MESSAGE_BYTES',
    defaultValue: String(1024 * 1024),
    help: 'largest Thrift request the RPC server accepts, in bytes',
  },
  maxTextBytes: {
    flag: 'max-text-bytes',
    env: 'MAX_TEXT_BYTES',
    defaultValue: String(DEFAULT_MAX_TEXT_BYTES),
    help: 'largest message text, in bytes of UTF-8',
  },
  workers: {
    flag: 'workers',
    env: 'WORKERS',
    defaultValue: '1',
    help: 'processes sharing the HTTP and RPC ports, 1-64 (more than 1 needs a shared store: sqlite: or redis)',
  },
  logLevel: {
    flag: 'log-level',
    env: 'LOG_LEVEL',
    defaultValue: 'info',
    help: 'fatal, error, warn, info, debug, trace or silent',
  },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function helpText(): string {
  const lines = [
    'Usage: im-service <command> [options]',
    '',
    'Commands:',
    '  start   HTTP API and Thrift RPC server in one process (the default of npm start)',
    '  rpc     Thrift RPC server only',
    '  http    HTTP gateway that calls remote RPC servers (needs --rpc-addr)',
    '',
    'Options (a flag overrides its environment variable):',
  ];
  for (const spec of Object.values(OPTIONS)) {
    const flag = `--${spec.flag} <value>`.padEnd(32);
    const fallback = spec.defaultValue === '' ? 'no default' : `default ${spec.defaultValue}`;
    lines.push(`  ${flag}${spec.env}: ${spec.help} (${fallback})`);
  }
  lines.push(`  ${'-h, --help'.padEnd(32)}show this help`);
  lines.push(`  ${'--version'.padEnd(32)}print the version`);
  return lines.join('\n');
}

function integerOption(name: OptionName, raw: string, min: number, max: number, form: string): number {
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const spec = OPTIONS[name];
    throw new ConfigError(`invalid --${spec.flag} (${spec.env}) ${JSON.stringify(raw)}: expected ${form}`);
  }
  return value;
}

function parsePort(name: OptionName, raw: string): number {
  return integerOption(name, raw, 0, 65535, 'a port number from 0 to 65535');
}

/** Parses `host:port[,host:port...]`; IPv6 hosts go in brackets (`[::1]:8888`). */
export function parseRpcAddresses(raw: string): RpcAddress[] {
  const addresses: RpcAddress[] = [];
  for (const item of raw.split(',').map((part) => part.trim())) {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(item);
    const port = match ? Number(match[3]) : Number.NaN;
    if (match === null || port < 1 || port > 65535) {
      throw new ConfigError(
        `invalid --rpc-addr (RPC_ADDR) entry ${JSON.stringify(item)}: expected host:port[,host:port...] with ports 1-65535, such as 127.0.0.1:8888`,
      );
    }
    addresses.push({ host: match[1] ?? match[2]!, port });
  }
  return addresses;
}

/** Describes an IM_STORE value for an error message: a Redis URL loses its credentials. */
function describeStoreValue(raw: string): string {
  return JSON.stringify(raw.replace(/^(redis(?:-cluster)?:\/\/).*@/, '$1***@'));
}

function parseStore(raw: string): string {
  if (raw === 'memory:' || (raw.startsWith('sqlite:') && raw.length > 'sqlite:'.length)) return raw;

  const redisForm = raw.startsWith('redis-cluster:')
    ? REDIS_CLUSTER_URL_FORM
    : raw.startsWith('redis')
      ? REDIS_URL_FORM
      : '';
  if (redisForm !== '') {
    try {
      if (redisForm === REDIS_URL_FORM) parseRedisUrl(raw);
      else parseRedisClusterUrl(raw);
      return raw;
    } catch (error) {
      if (!(error instanceof RedisUrlError)) throw error;
      throw new ConfigError(
        `invalid --store (IM_STORE) ${describeStoreValue(raw)}: ${error.message}; expected ${redisForm}, such as ${
          redisForm === REDIS_URL_FORM ? 'redis://127.0.0.1:6379/0' : 'redis-cluster://127.0.0.1:7000,127.0.0.1:7001'
        }`,
      );
    }
  }
  throw new ConfigError(
    `invalid --store (IM_STORE) ${describeStoreValue(raw)}: expected sqlite:PATH (such as sqlite:./data/im.sqlite), memory:, ${REDIS_URL_FORM} or ${REDIS_CLUSTER_URL_FORM}`,
  );
}

export type ParsedArgs = { help: true } | { help: false; config: Config };

/** Rewords node:util parseArgs errors, which advise `--` and positional arguments instead of naming the option's fix. */
function describeArgumentError(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (option === undefined) return message;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return `option ${option} is missing its value; write ${option} VALUE, or ${option}=VALUE for a value that starts with '-'`;
  }
  return message;
}

/**
 * Reads the command line (without node and the script) and the environment.
 * Throws ConfigError naming the option and the accepted form for any bad value.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const flagOptions = Object.fromEntries(
    Object.values(OPTIONS).map((spec) => [spec.flag, { type: 'string' as const }]),
  );
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...flagOptions, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
  } catch (error) {
    throw new ConfigError(`${describeArgumentError(error)}; run im-service --help for the options`);
  }
  if (parsed.values.help === true) return { help: true };

  const [command, ...extra] = parsed.positionals;
  if (command === undefined || !COMMANDS.includes(command as Command)) {
    throw new ConfigError(
      `${command === undefined ? 'missing command' : `unknown command ${JSON.stringify(command)}`}: expected one of ${COMMANDS.join(', ')}`,
    );
  }
  if (extra.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(extra[0])}`);

  const value = (name: OptionName): string => {
    const spec = OPTIONS[name];
    const fromFlag = (parsed.values as Record<string, string | boolean | undefined>)[spec.flag];
    if (typeof fromFlag === 'string') return fromFlag;
    return env[spec.env] ?? spec.defaultValue;
  };

  const logLevel = value('logLevel');
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      `invalid --log-level (LOG_LEVEL) ${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  const host = value('host');
  if (host.trim() === '')
    throw new ConfigError('invalid --host (HOST) "": expected an address such as 127.0.0.1 or 0.0.0.0');

  const rpcAddr = value('rpcAddr');
  if (command === 'http' && rpcAddr === '') {
    throw new ConfigError(
      'missing --rpc-addr (RPC_ADDR): the http gateway needs host:port[,host:port...] of its RPC servers',
    );
  }

  const config: Config = {
    command: command as Command,
    host,
    httpPort: parsePort('httpPort', value('httpPort')),
    rpcPort: parsePort('rpcPort', value('rpcPort')),
    store: parseStore(value('store')),
    // Checked in every mode, so a typo shows up before the value is needed.
    rpcAddresses: rpcAddr === '' ? [] : parseRpcAddresses(rpcAddr).filter(() => command === 'http'),
    rpcTimeoutMs: integerOption('rpcTimeoutMs', value('rpcTimeoutMs'), 1, 600_000, 'milliseconds from 1 to 600000'),
    rpcPoolSize: integerOption('rpcPoolSize', value('rpcPoolSize'), 1, 64, 'an integer from 1 to 64'),
    rpcMaxMessageBytes: integerOption(
      'rpcMaxMessageBytes',
      value('rpcMaxMessageBytes'),
      1024,
      256 * 1024 * 1024,
      'bytes from 1024 to 268435456',
    ),
    maxTextBytes: integerOption('maxTextBytes', value('maxTextBytes'), 1, 16 * 1024 * 1024, 'bytes from 1 to 16777216'),
    logLevel,
    workers: integerOption('workers', value('workers'), 1, 64, 'an integer from 1 to 64'),
  };
  if (config.workers > 1 && config.command !== 'http' && config.store === 'memory:') {
    throw new ConfigError(
      `--workers ${config.workers} (WORKERS) cannot be used with --store memory: (IM_STORE), because each worker process would keep its own messages; use --store sqlite:PATH, a redis:// or redis-cluster:// store, or --workers 1`,
    );
  }
  // The RPC server must read a Send carrying the largest text; the gateway reads no requests.
  if (command !== 'http' && config.maxTextBytes + 1024 > config.rpcMaxMessageBytes) {
    throw new ConfigError(
      `--max-text-bytes (${config.maxTextBytes}) does not fit in --rpc-max-message-bytes (${config.rpcMaxMessageBytes}); raise --rpc-max-message-bytes to at least ${config.maxTextBytes + 1024}`,
    );
  }
  return { help: false, config };
}
