import { toImError, type ImError } from '../core/errors.js';
import type { MessageBackend } from '../core/message-store.js';
import { parsePullFields, parseSendFields, type SendLimits } from '../core/validation.js';
import type { Logger } from '../log.js';
import { checkedFields, i64ToNumber, toThriftMessage } from './convert.js';
import {
  type IMServiceHandler,
  type ThriftPullRequest,
  type ThriftPullResponse,
  type ThriftSendRequest,
  type ThriftSendResponse,
  types,
} from './generated.js';

/**
 * Implements IMService on a backend. Every failure becomes a response with a
 * non-zero Code (the HTTP-like status), Msg and ErrorCode, never a Thrift
 * exception, so template clients that only read Code and Msg see the reason.
 */
export function createRpcHandler(backend: MessageBackend, limits: SendLimits, logger: Logger): IMServiceHandler {
  const logFailure = (method: string, chat: unknown, error: ImError, cause: unknown): void => {
    const fields = {
      method,
      code: error.code,
      chat: typeof chat === 'string' && chat.length <= 129 ? chat : undefined,
    };
    if (error.code === 'INTERNAL') logger.error({ ...fields, err: cause }, 'rpc call failed');
    else logger[error.logLevel]({ ...fields, reason: error.message }, 'rpc call rejected');
  };

  return {
    async Send(request: ThriftSendRequest | null | undefined): Promise<ThriftSendResponse> {
      const message = request?.message;
      try {
        const fields = checkedFields({
          chat: message?.Chat,
          sender: message?.Sender,
          text: message?.Text,
          client_msg_id: message?.ClientMsgId,
        });
        const stored = await backend.send(parseSendFields(fields, limits));
        return new types.SendResponse({ Code: 0, Msg: 'success', Stored: toThriftMessage(stored) });
      } catch (cause) {
        const error = toImError(cause);
        logFailure('Send', message?.Chat, error, cause);
        return new types.SendResponse({ Code: error.thriftCode, Msg: error.message, ErrorCode: error.code });
      }
    },

    async Pull(request: ThriftPullRequest | null | undefined): Promise<ThriftPullResponse> {
      try {
        const fields = checkedFields({
          chat: request?.Chat,
          cursor: i64ToNumber(request?.Cursor, 'cursor', true),
          limit: request?.Limit,
          reverse: request?.Reverse,
        });
        const page = await backend.pull(parsePullFields(fields));
        return new types.PullResponse({
          Code: 0,
          Msg: 'success',
          Messages: page.messages.map(toThriftMessage),
          HasMore: page.hasMore,
          NextCursor: page.nextCursorMicros,
        });
      } catch (cause) {
        const error = toImError(cause);
        logFailure('Pull', request?.Chat, error, cause);
        return new types.PullResponse({ Code: error.thriftCode, Msg: error.message, ErrorCode: error.code });
      }
    },
  };
}
