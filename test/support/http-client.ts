import http from 'node:http';

/** A response with its body parsed as JSON (undefined when the body is empty). */
export interface JsonResponse {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: unknown;
}

export type Query = Record<string, string | number | boolean>;

function encodeQuery(query: Query | string | undefined): string {
  if (query === undefined) return '';
  if (typeof query === 'string') return query === '' ? '' : `?${query}`;
  const pairs = Object.entries(query).map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`;
}

async function toJsonResponse(response: Response): Promise<JsonResponse> {
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: text === '' ? undefined : (JSON.parse(text) as unknown),
  };
}

/**
 * A small client of the HTTP API on fetch. A query given as a string is sent
 * as written (for malformed percent-encoding and repeated keys).
 */
export class HttpClient {
  constructor(readonly baseUrl: string) {}

  async get(path: string, query?: Query | string): Promise<JsonResponse> {
    return toJsonResponse(await fetch(`${this.baseUrl}${path}${encodeQuery(query)}`));
  }

  async postQuery(path: string, query: Query | string): Promise<JsonResponse> {
    return toJsonResponse(await fetch(`${this.baseUrl}${path}${encodeQuery(query)}`, { method: 'POST' }));
  }

  async postJson(path: string, body: unknown): Promise<JsonResponse> {
    return this.postRaw(path, 'application/json', JSON.stringify(body));
  }

  async postForm(path: string, fields: Query): Promise<JsonResponse> {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(fields)) form.append(key, String(value));
    return this.postRaw(path, 'application/x-www-form-urlencoded', form.toString());
  }

  async postRaw(path: string, contentType: string, body: string | Buffer): Promise<JsonResponse> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
    return toJsonResponse(response);
  }

  /** GET with a body, which fetch does not allow, so this one uses node:http. */
  getWithBody(path: string, contentType: string, body: string): Promise<JsonResponse> {
    return new Promise((resolve, reject) => {
      const request = http.request(`${this.baseUrl}${path}`, {
        method: 'GET',
        headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      });
      request.on('error', reject);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            contentType: response.headers['content-type'] ?? null,
            body: text === '' ? undefined : (JSON.parse(text) as unknown),
          });
        });
      });
      request.end(body);
    });
  }
}
