import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ImError, toImError } from '../core/errors.js';
import type { MessageBackend, PullPage, StoredMessage } from '../core/message-store.js';
import { parsePullFields, parseSendFields, type RawFields } from '../core/validation.js';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { announcesBody, mergeFields, parseBodyFields, queryFields, readBodylessMethodBody } from './request-fields.js';
import { PingJson, PullJson, SentJson, errorResponses } from './schemas.js';

export interface HttpServerOptions {
  readonly backend: MessageBackend;
  readonly maxTextBytes: number;
  readonly logger: Logger;
}

function toMessageJson(message: StoredMessage) {
  return { chat: message.chat, text: message.text, sender: message.sender, send_time: message.sendTimeMicros };
}

/** Builds the send reply, which echoes the caller's client message id when there was one. */
function toSentJson(message: StoredMessage) {
  const json = toMessageJson(message);
  return message.clientMsgId === undefined ? json : { ...json, client_msg_id: message.clientMsgId };
}

function toPullJson(page: PullPage) {
  return { messages: page.messages.map(toMessageJson), has_more: page.hasMore, next_cursor: page.nextCursorMicros };
}

/** Maps fastify's own errors (body parsing, limits) into the error register. */
function fromFastifyError(error: unknown, bodyLimit: number): ImError {
  if (error instanceof ImError) return error;
  const fastifyError = error as { code?: string; statusCode?: number; message?: string };
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ImError(
      'INVALID_ARGUMENT',
      'request has an invalid Content-Type header; send application/json, application/x-www-form-urlencoded or no body',
    );
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ImError(
      'REQUEST_TOO_LARGE',
      `request body exceeds ${bodyLimit} bytes; send a smaller body (the text limit is --max-text-bytes)`,
    );
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ImError('INVALID_ARGUMENT', `invalid request: ${fastifyError.message ?? 'unknown error'}`);
  }
  return toImError(error);
}

/**
 * Replies to a request that Node's HTTP parser rejected before fastify saw it (a
 * URL and headers over maxHeaderSize, malformed HTTP) with a register error,
 * then closes the connection.
 */
function replyToClientError(
  error: Error & { code?: string },
  socket: Duplex,
  maxHeaderSize: number,
  log: Logger,
): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const imError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new ImError(
          'REQUEST_TOO_LARGE',
          `request URL and headers exceed ${maxHeaderSize} bytes; send long text in a JSON or form body`,
        )
      : new ImError('INVALID_ARGUMENT', `malformed HTTP request (${error.code ?? error.message}); send valid HTTP/1.1`);
  log[imError.logLevel]({ code: imError.code, parserError: error.code }, 'request rejected by the HTTP parser');
  const body = JSON.stringify({ code: imError.code, message: imError.message });
  socket.end(
    `HTTP/1.1 ${imError.httpStatus} ${imError.httpStatus === 413 ? 'Content Too Large' : 'Bad Request'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

// The chat each request names, kept for the error log line (an id, never message text).
const chatOfRequest = new WeakMap<FastifyRequest, string>();

/**
 * Builds the HTTP API: GET /ping, GET /ready, POST /api/send and GET /api/pull
 * (POST is accepted too). Fields come from the query string, a JSON or form
 * body, or both (the body wins). Errors follow the error register.
 */
export function buildHttpServer(options: HttpServerOptions) {
  const { backend, maxTextBytes, logger } = options;
  const limits = { maxTextBytes };
  // Room for the text escaped as JSON (up to 6 bytes per byte of UTF-8) or
  // percent-encoded in a URL (3 bytes per byte), plus the other fields. The URL
  // gets three times that, so that a text a few times over the limit still
  // reaches validation and is rejected as TEXT_TOO_LARGE with its size.
  const bodyLimit = Math.max(1024 * 1024, maxTextBytes * 6 + 64 * 1024);
  const maxHeaderSize = Math.max(16 * 1024, maxTextBytes * 9 + 16 * 1024);
  const httpLog = logger.child({ component: 'http' });

  const app = Fastify({
    loggerInstance: httpLog,
    // Request lines would log URLs, whose query strings may carry message text.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // HTTP/1.1 clients send Host, but the service has one virtual host and does not need it.
    http: { maxHeaderSize, requireHostHeader: false },
    // The routes parse the query string themselves, strictly (see request-fields.ts).
    routerOptions: { ignoreTrailingSlash: true, querystringParser: () => ({}) },
    // Errors fastify raises before routing, such as a path that is not valid percent-encoding.
    frameworkErrors: (error, _request, reply) => {
      const imError =
        error.code === 'FST_ERR_BAD_URL'
          ? new ImError('INVALID_ARGUMENT', 'request path is not valid percent-encoded UTF-8; encode the path')
          : fromFastifyError(error, bodyLimit);
      void (reply as FastifyReply).status(imError.httpStatus).send({ code: imError.code, message: imError.message });
    },
    return503OnClosing: true,
    clientErrorHandler: (error, socket) => replyToClientError(error, socket, maxHeaderSize, httpLog),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error, request, reply) => {
    const imError = fromFastifyError(error, bodyLimit);
    const logFields = {
      code: imError.code,
      status: imError.httpStatus,
      route: request.routeOptions.url,
      chat: chatOfRequest.get(request),
    };
    if (imError.code === 'INTERNAL') request.log.error({ ...logFields, err: error }, 'request failed');
    else request.log[imError.logLevel]({ ...logFields, reason: imError.message }, 'request rejected');
    return reply.status(imError.httpStatus).send({ code: imError.code, message: imError.message });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    return reply.status(404).send({
      code: 'NOT_FOUND',
      message: `no route for ${request.method} ${path}; the routes are GET /ping, GET /ready, POST /api/send and GET or POST /api/pull`,
    });
  });

  const fieldsFrom = (request: FastifyRequest, body: unknown): RawFields => {
    const query = queryFields(request.url);
    const bodyFields = Buffer.isBuffer(body) ? parseBodyFields(request.headers['content-type'], body) : {};
    const fields = mergeFields(query, bodyFields);
    const chat = fields['chat'];
    if (typeof chat === 'string' && chat.length <= 129) chatOfRequest.set(request, chat);
    return fields;
  };

  /**
   * Returns the request's fields, and a promise only when a GET carries a body
   * that is still to be read. Awaiting on every request cost about a tenth of
   * the CPU time of a pull in the benchmark.
   */
  const fieldsOf = (request: FastifyRequest): RawFields | Promise<RawFields> => {
    const bodyless = request.body === undefined && (request.method === 'GET' || request.method === 'HEAD');
    if (bodyless && announcesBody(request.raw)) {
      return readBodylessMethodBody(request.raw, bodyLimit).then((body) => fieldsFrom(request, body));
    }
    return fieldsFrom(request, request.body);
  };

  app.get('/ping', { schema: { response: { 200: PingJson } } }, async () => ({
    message: 'pong',
  }));

  app.get('/ready', { schema: { response: { 200: PingJson, ...errorResponses } } }, async () => {
    await backend.checkReady();
    return { message: 'ready' };
  });

  const send = async (request: FastifyRequest, reply: FastifyReply) => {
    const fields = fieldsOf(request);
    const message = parseSendFields(fields instanceof Promise ? await fields : fields, limits);
    const stored = await backend.send(message);
    return reply.send(toSentJson(stored));
  };
  const sendSchema = { schema: { response: { 200: SentJson, ...errorResponses } } };
  app.post('/api/send', sendSchema, send);

  const pull = async (request: FastifyRequest, reply: FastifyReply) => {
    const fields = fieldsOf(request);
    const query = parsePullFields(fields instanceof Promise ? await fields : fields);
    const page = await backend.pull(query);
    return reply.send(toPullJson(page));
  };
  const pullSchema = { schema: { response: { 200: PullJson, ...errorResponses } } };
  app.get('/api/pull', pullSchema, pull);
  app.post('/api/pull', pullSchema, pull);

  return app;
}
