import { createRequire } from 'node:module';
import type { TProtocol, TTransport } from 'thrift';

// Typed access to the code that scripts/gen-thrift.sh generates into
// gen-nodejs/ (CommonJS). The .d.ts files that thrift 0.17 emits next to it
// declare the classes without exporting them, so the shapes are declared here.

/** A Thrift i64 as the Node.js runtime reads it (node-int64). */
export interface Int64Value {
  /** With allowImprecise false, values beyond ±2^53 become ±Infinity. */
  toNumber(allowImprecise: boolean): number;
}

/** An i64 field: what the runtime reads (Int64Value), or a number the caller writes. */
export type I64 = Int64Value | number;

export interface ThriftMessage {
  Chat?: string | null;
  Text?: string | null;
  Sender?: string | null;
  SendTime?: I64 | null;
  ClientMsgId?: string | null;
}

export interface ThriftSendRequest {
  message?: ThriftMessage | null;
}

export interface ThriftSendResponse {
  Code: number;
  Msg: string;
  Stored?: ThriftMessage | null;
  ErrorCode?: string | null;
}

export interface ThriftPullRequest {
  Chat?: string | null;
  Cursor?: I64 | null;
  Limit?: number | null;
  Reverse?: boolean | null;
}

export interface ThriftPullResponse {
  Code: number;
  Msg: string;
  Messages?: ThriftMessage[] | null;
  HasMore?: boolean | null;
  NextCursor?: I64 | null;
  ErrorCode?: string | null;
}

/** The service as the generated Processor calls it (promise style). */
export interface IMServiceHandler {
  Send(req: ThriftSendRequest | null | undefined): Promise<ThriftSendResponse>;
  Pull(req: ThriftPullRequest | null | undefined): Promise<ThriftPullResponse>;
}

export interface IMServiceClient {
  Send(req: ThriftSendRequest): Promise<ThriftSendResponse>;
  Pull(req: ThriftPullRequest): Promise<ThriftPullResponse>;
  /** Pending calls by sequence id (a field of the generated client). */
  _reqs: Record<number, unknown>;
  /** Sequence id of the last call (a field of the generated client). */
  _seqid: number;
}

export interface IMServiceProcessor {
  process(input: TProtocol, output: TProtocol): void;
}

interface GeneratedService {
  Client: new (output: TTransport, protocol: new (transport: TTransport) => TProtocol) => IMServiceClient;
  Processor: new (handler: IMServiceHandler) => IMServiceProcessor;
}

interface GeneratedTypes {
  Message: new (args: ThriftMessage) => ThriftMessage;
  SendRequest: new (args: ThriftSendRequest) => ThriftSendRequest;
  SendResponse: new (args: ThriftSendResponse) => ThriftSendResponse;
  PullRequest: new (args: ThriftPullRequest) => ThriftPullRequest;
  PullResponse: new (args: ThriftPullResponse) => ThriftPullResponse;
}

const require = createRequire(import.meta.url);
export const IMService = require('../../gen-nodejs/IMService.js') as GeneratedService;
export const types = require('../../gen-nodejs/im_service_types.js') as GeneratedTypes;
