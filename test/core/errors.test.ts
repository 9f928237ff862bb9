/*
 * ValeError (src/core/errors.ts): stable codes, errno, wire form.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorFromJSON } from '../../src/core/errors.js';
import { type ErrorCode, ErrorCodes, isValeError, ValeError } from '../../src/index.js';

const TABLE: Array<[keyof typeof ErrorCodes, ErrorCode, string]> = [
  ['INVALID_NAME', 'VALE_ERR_INVALID_NAME', 'EINVAL'],
  ['INVALID_ARG', 'VALE_ERR_INVALID_ARG', 'EINVAL'],
  ['LIMIT', 'VALE_ERR_LIMIT', 'ENOMEM'],
  ['BUSY', 'VALE_ERR_BUSY', 'EBUSY'],
  ['NOT_FOUND', 'VALE_ERR_NOT_FOUND', 'ENXIO'],
  ['EXISTS', 'VALE_ERR_EXISTS', 'EEXIST'],
  ['RING_REINIT', 'VALE_ERR_RING_REINIT', 'EINVAL'],
  ['CLOSED', 'VALE_ERR_CLOSED', 'EBADF'],
  ['PROTOCOL', 'VALE_ERR_PROTOCOL', 'EPROTO'],
  ['NOT_SUPPORTED', 'VALE_ERR_NOT_SUPPORTED', 'EOPNOTSUPP'],
  ['DAEMON', 'VALE_ERR_DAEMON', 'ECONNREFUSED'],
  ['SYSTEM', 'VALE_ERR_SYSTEM', 'EIO'],
];

test('every code has its stable string and errno', () => {
  // codes may be added, never changed or removed; every code has an errno
  for (const code of Object.values(ErrorCodes)) {
    assert.match(code, /^VALE_ERR_[A-Z_]+$/);
    assert.match(new ValeError(code, 'x').errno, /^E[A-Z]+$/, code);
  }
  for (const [key, code, errno] of TABLE) {
    assert.equal(ErrorCodes[key], code);
    const e = new ValeError(code, `message for ${key}`);
    assert.ok(e instanceof Error);
    assert.ok(e instanceof ValeError);
    assert.equal(e.name, 'ValeError');
    assert.equal(e.code, code);
    assert.equal(e.errno, errno);
    assert.equal(e.message, `message for ${key}`);
    assert.match(String(e), new RegExp(`^ValeError: message for ${key}$`));
    assert.ok(typeof e.stack === 'string');
  }
});

test('toJSON / errorFromJSON round trip through JSON text', () => {
  for (const [, code, errno] of TABLE) {
    const e = new ValeError(code, `oops: ${code} "quoted" ü`);
    const wire = JSON.parse(JSON.stringify(e));
    assert.deepEqual(wire, { code, errno, message: `oops: ${code} "quoted" ü` });
    const back = errorFromJSON(wire);
    assert.ok(back instanceof ValeError);
    assert.equal(back.code, code);
    assert.equal(back.errno, errno);
    assert.equal(back.message, e.message);
  }
});

test('errorFromJSON turns anything malformed into VALE_ERR_PROTOCOL', () => {
  const bad: unknown[] = [
    null,
    undefined,
    42,
    'VALE_ERR_LIMIT',
    [],
    {},
    { code: 'VALE_ERR_NOPE', message: 'x' },
    { code: 'VALE_ERR_LIMIT' },
    { code: 'VALE_ERR_LIMIT', message: 7 },
    { code: 12, message: 'x' },
  ];
  for (const o of bad) {
    const e = errorFromJSON(o);
    assert.equal(e.code, ErrorCodes.PROTOCOL, JSON.stringify(o));
    assert.equal(e.errno, 'EPROTO');
  }
});

test('cause is kept', () => {
  const cause = new Error('ENOENT');
  const e = new ValeError(ErrorCodes.SYSTEM, 'open failed', { cause });
  assert.equal(e.cause, cause);
});

test('isValeError checks the class and optionally the code', () => {
  const e = new ValeError(ErrorCodes.BUSY, 'busy');
  assert.ok(isValeError(e));
  assert.ok(isValeError(e, ErrorCodes.BUSY));
  assert.ok(!isValeError(e, ErrorCodes.CLOSED));
  assert.ok(!isValeError(new Error('x')));
  assert.ok(!isValeError({ code: ErrorCodes.BUSY }));
  assert.ok(!isValeError(null));
});
