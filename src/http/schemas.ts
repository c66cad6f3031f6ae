import { Type } from 'typebox';

// Response schemas: fastify compiles them into serialisers (fast-json-stringify),
// which is faster than JSON.stringify and guarantees that every field is present.

export const MessageJson = Type.Object({
  chat: Type.String(),
  text: Type.String(),
  sender: Type.String(),
  /** Microseconds since the Unix epoch. */
  send_time: Type.Integer(),
});

/** Reply of a send: the stored message, plus the caller's client_msg_id when it gave one. */
export const SentJson = Type.Object({
  ...MessageJson.properties,
  client_msg_id: Type.Optional(Type.String()),
});

export const PullJson = Type.Object({
  messages: Type.Array(MessageJson),
  has_more: Type.Boolean(),
  next_cursor: Type.Integer(),
});

export const ErrorJson = Type.Object({
  code: Type.String(),
  message: Type.String(),
});

export const errorResponses = {
  400: ErrorJson,
  404: ErrorJson,
  413: ErrorJson,
  500: ErrorJson,
  503: ErrorJson,
  504: ErrorJson,
};

export const PingJson = Type.Object({ message: Type.String() });
