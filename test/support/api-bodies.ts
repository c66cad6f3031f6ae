import assert from 'node:assert/strict';
import type { JsonResponse } from './http-client.js';

/** A message as the HTTP API returns it. */
export interface MessageBody {
  chat: string;
  text: string;
  sender: string;
  send_time: number;
  client_msg_id?: string;
}

export interface PullBody {
  messages: MessageBody[];
  has_more: boolean;
  next_cursor: number;
}

export interface ErrorBody {
  code: string;
  message: string;
}

/** Asserts a 200 reply and returns its body as the type the route documents. */
export function okBody<T>(response: JsonResponse): T {
  assert.equal(response.status, 200, `expected 200, got ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body as T;
}

/** Asserts an error reply of the given status and code and returns its body. */
export function errorBody(response: JsonResponse, status: number, code: string): ErrorBody {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`);
  const body = response.body as ErrorBody;
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  return body;
}

let chatCounter = 0;

/** Two member ids and their canonical chat, unique within the test run. */
export function uniqueChat(prefix = 'c'): { chat: string; a: string; b: string } {
  chatCounter++;
  const a = `${prefix}${chatCounter}-ann`;
  const b = `${prefix}${chatCounter}-bob`;
  return { chat: `${a}:${b}`, a, b };
}

export function assertStrictlyIncreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i]! > values[i - 1]!, `value at ${i} (${values[i]}) is not above ${values[i - 1]}`);
  }
}
