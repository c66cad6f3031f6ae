/** Form of a standalone Redis IM_STORE value, for error and help messages. */
export const REDIS_URL_FORM = 'redis://[user:password@]host[:port][/db]';
/** Form of a Redis Cluster IM_STORE value, for error and help messages. */
export const REDIS_CLUSTER_URL_FORM = 'redis-cluster://[user:password@]host:port[,host:port...]';

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Credentials given in a store URL, percent-decoded. */
export interface RedisCredentials {
  readonly username?: string;
  readonly password?: string;
}

/** A parsed `redis://` store. */
export interface RedisUrl extends RedisCredentials {
  readonly address: RedisAddress;
  readonly database: number;
  /** The URL without credentials, for logs. */
  readonly description: string;
}

/** A parsed `redis-cluster://` store. */
export interface RedisClusterUrl extends RedisCredentials {
  /** Nodes the client asks for the cluster topology. */
  readonly rootNodes: readonly RedisAddress[];
  /** The URL without credentials, for logs. */
  readonly description: string;
}

/** Raised for a store URL that does not match its form; the message names the problem. */
export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

function formatAddress({ host, port }: RedisAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function parsePort(raw: string, item: string): number {
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (port >= 1 && port <= 65535) return port;
  // Quote digits only: a password with an unencoded '/' can end up where the port is read.
  const quotedPort = /^\d+$/.test(raw) ? ` ${JSON.stringify(raw)}` : '';
  throw new RedisUrlError(`the port${quotedPort} of ${item} is not a number from 1 to 65535`);
}

function splitCredentials(userInfo: string): RedisCredentials {
  if (userInfo === '') return {};
  const colon = userInfo.indexOf(':');
  const rawUser = colon === -1 ? userInfo : userInfo.slice(0, colon);
  const rawPassword = colon === -1 ? undefined : userInfo.slice(colon + 1);
  try {
    const username = rawUser === '' ? undefined : decodeURIComponent(rawUser);
    const password = rawPassword === undefined ? undefined : decodeURIComponent(rawPassword);
    return { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
  } catch {
    // The message does not quote the credentials.
    throw new RedisUrlError('the user or password has an invalid percent-encoding');
  }
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` (port 6379 and database
 * 0 by default; IPv6 hosts in brackets). Throws RedisUrlError, whose message
 * never contains the password.
 */
export function parseRedisUrl(raw: string): RedisUrl {
  if (!raw.startsWith('redis://')) throw new RedisUrlError('it does not start with redis://');

  // Read the port before URL parses the value, because URL rejects an
  // out-of-range port without saying which part is wrong.
  const authority = /^redis:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/]*)(?::([^/]*))?/.exec(raw);
  const rawPort = authority?.[2];
  const port = rawPort === undefined ? 6379 : parsePort(rawPort, 'the URL');

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RedisUrlError('it is not a valid URL');
  }
  if (url.hostname === '') throw new RedisUrlError('the host is missing');
  if (url.search !== '' || url.hash !== '') throw new RedisUrlError('query strings and fragments are not supported');

  const path = url.pathname === '/' ? '' : url.pathname.slice(1);
  const database = path === '' ? 0 : /^\d{1,5}$/.test(path) ? Number(path) : Number.NaN;
  if (Number.isNaN(database)) throw new RedisUrlError(`database ${JSON.stringify(path)} is not a number`);

  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const address = { host, port };
  const credentials = splitCredentials(url.password === '' ? url.username : `${url.username}:${url.password}`);
  return { ...credentials, address, database, description: `redis://${formatAddress(address)}/${database}` };
}

/**
 * Parses `redis-cluster://[user:password@]host:port[,host:port...]`; IPv6
 * hosts go in brackets. Throws RedisUrlError, whose message never contains
 * the password.
 */
export function parseRedisClusterUrl(raw: string): RedisClusterUrl {
  const scheme = 'redis-cluster://';
  if (!raw.startsWith(scheme)) throw new RedisUrlError(`it does not start with ${scheme}`);
  const rest = raw.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  const credentials = splitCredentials(at === -1 ? '' : rest.slice(0, at));
  const nodeList = at === -1 ? rest : rest.slice(at + 1);

  const rootNodes = nodeList.split(',').map((item) => {
    const match = /^(?:\[([^\]]+)\]|([^:[\]/@]+)):([^:]*)$/.exec(item);
    if (match === null) throw new RedisUrlError(`node ${JSON.stringify(item)} is not host:port`);
    return { host: match[1] ?? match[2]!, port: parsePort(match[3]!, `node ${JSON.stringify(item)}`) };
  });
  return { ...credentials, rootNodes, description: `${scheme}${rootNodes.map(formatAddress).join(',')}` };
}
