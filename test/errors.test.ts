import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ImError, errorRegister, imErrorFromStatus, toImError, type ErrorCode } from '../src/core/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('error register', () => {
  it('every code is documented with its status', () => {
    for (const [code, entry] of Object.entries(errorRegister)) {
      const row = readme.split('\n').find((line) => line.startsWith('|') && line.includes(`\`${code}\``));
      assert.ok(row, `README error table lists ${code}`);
      assert.match(
        row,
        new RegExp(`^\\|\\s*${entry.httpStatus}\\s*\\|`),
        `README gives ${code} status ${entry.httpStatus}`,
      );
    }
  });

  it('codes map to documented statuses', () => {
    const allowed = new Set([400, 404, 413, 500, 503, 504]);
    for (const [code, entry] of Object.entries(errorRegister)) {
      assert.ok(allowed.has(entry.httpStatus), `${code} uses status ${entry.httpStatus}`);
    }
  });

  it('Thrift code equals the HTTP status', () => {
    for (const code of Object.keys(errorRegister) as ErrorCode[]) {
      const error = new ImError(code, 'x');
      assert.equal(error.thriftCode, error.httpStatus);
      assert.notEqual(error.thriftCode, 0);
    }
  });

  it('status round-trips through Thrift', () => {
    for (const code of Object.keys(errorRegister) as ErrorCode[]) {
      const error = new ImError(code, 'reason');
      assert.equal(imErrorFromStatus(error.thriftCode, 'reason', code).code, code);
    }
    assert.equal(imErrorFromStatus(413, 'too big').code, 'TEXT_TOO_LARGE');
    assert.equal(imErrorFromStatus(418, 'odd').code, 'INTERNAL');
  });

  it('unknown errors become INTERNAL', () => {
    const wrapped = toImError(new RangeError('boom'));
    assert.equal(wrapped.code, 'INTERNAL');
    assert.match(wrapped.message, /boom/);
    const same = new ImError('INVALID_ARGUMENT', 'bad');
    assert.equal(toImError(same), same);
  });
});
