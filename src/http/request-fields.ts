import type { IncomingMessage } from 'node:http';
import { ImError, invalidArgument } from '../core/errors.js';
import type { RawFields } from '../core/validation.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeComponent(component: string, where: string): string {
  // Most keys and values (chat ids, numbers) need no decoding.
  if (!component.includes('%') && !component.includes('+')) return component;
  try {
    return decodeURIComponent(component.replaceAll('+', ' '));
  } catch {
    throw invalidArgument(
      `${where} is not valid percent-encoded UTF-8; encode fields as UTF-8 (a lone surrogate cannot be encoded)`,
    );
  }
}

/**
 * Parses `a=1&b=2` (a query string or a form body). A key given twice yields
 * an array, which validation then rejects. Malformed percent-encoding and
 * invalid UTF-8 are rejected rather than replaced with U+FFFD.
 */
export function parseUrlEncoded(encoded: string, where: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const pair of encoded.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const key = decodeComponent(separator === -1 ? pair : pair.slice(0, separator), where);
    const value = separator === -1 ? '' : decodeComponent(pair.slice(separator + 1), where);
    const previous = fields[key];
    if (!Object.hasOwn(fields, key)) fields[key] = value;
    else fields[key] = Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return fields;
}

/** Fields of the query string of a request URL (`/path?x=1`). */
export function queryFields(url: string): Record<string, unknown> {
  const start = url.indexOf('?');
  return start === -1 ? {} : parseUrlEncoded(url.slice(start + 1), 'query string');
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8's message may quote the body, which may hold message text: keep only the position.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    const where = position === undefined ? '' : ` (syntax error at position ${position})`;
    throw invalidArgument(`request body is not valid JSON${where}; send a JSON object`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgument('request body is valid JSON but not an object; send an object such as {"chat":"a:b"}');
  }
  return value as Record<string, unknown>;
}

/**
 * Parses a request body into fields: JSON (application/json or any +json type)
 * or a form (application/x-www-form-urlencoded). A body without a recognised
 * Content-Type is read as JSON when it starts with '{'. An empty body has no fields.
 */
export function parseBodyFields(contentType: string | undefined, body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw invalidArgument('request body is not valid UTF-8; encode the body as UTF-8');
  }

  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) return parseJsonObject(text);
  if (mediaType === 'application/x-www-form-urlencoded') return parseUrlEncoded(text, 'form body');
  if (text.trimStart().startsWith('{')) return parseJsonObject(text);
  if (text.trim() === '') return {};
  throw invalidArgument(
    `request body has unsupported Content-Type ${JSON.stringify(contentType ?? '')}; send application/json, application/x-www-form-urlencoded or query parameters`,
  );
}

/**
 * Merges query and body fields; a field in the body wins over the same field
 * in the query string.
 */
export function mergeFields(query: Record<string, unknown>, body: Record<string, unknown>): RawFields {
  return { ...query, ...body };
}

/** True when the request's headers announce a body (a non-zero Content-Length or a Transfer-Encoding). */
export function announcesBody(raw: IncomingMessage): boolean {
  const length = raw.headers['content-length'];
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Reads the body of a request whose method the router treats as bodyless
 * (GET): template clients send the pull parameters as JSON on a GET.
 */
export async function readBodylessMethodBody(raw: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (!announcesBody(raw)) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of raw as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new ImError('REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes; send a smaller body`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
