/*
 * Property test of request arguments (src/control/requests.ts checkArgs): any
 * JSON object either yields args that match the request's schema exactly or is
 * refused with ValeError INVALID_ARG; never another error.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkArgs, REQUESTS, type RequestName } from '../../src/control/requests.js';
import { ErrorCodes, ValeError } from '../../src/core/errors.js';

const ops = Object.keys(REQUESTS) as RequestName[];
const schemaKeys = [...new Set(ops.flatMap((op) => Object.keys(REQUESTS[op].args)))];
const key = fc.oneof(
  fc.constantFrom(...schemaKeys, 'id', 'op', 'constructor', 'toString', '__proto__'),
  fc.string({ maxLength: 6 }),
);
const value = fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.string({ maxLength: 5000 }), fc.double(), fc.constant(null));

test('checkArgs: exact schema match or INVALID_ARG', () => {
  fc.assert(
    fc.property(fc.constantFrom(...ops), fc.array(fc.tuple(key, value), { maxLength: 6 }), (op, pairs) => {
      const m: Record<string, unknown> = JSON.parse(JSON.stringify(Object.fromEntries(pairs)));
      for (const [k, v] of pairs)
        Object.defineProperty(m, k, { value: v, enumerable: true, configurable: true, writable: true });
      const schema: Record<string, string> = REQUESTS[op].args;
      let out: Record<string, unknown>;
      try {
        out = checkArgs(op, m) as Record<string, unknown>;
      } catch (e) {
        assert.ok(e instanceof ValeError, `not a ValeError: ${e}`);
        assert.equal(e.code, ErrorCodes.INVALID_ARG);
        return;
      }
      for (const k of Object.keys(out)) assert.ok(Object.hasOwn(schema, k), `'${k}' is not in the schema of '${op}'`);
      for (const [k, f] of Object.entries(schema)) {
        const v = out[k];
        if (v === undefined) {
          assert.ok(f.startsWith('?'), `required '${k}' missing`);
          continue;
        }
        assert.equal(v, m[k]);
        const t = f.replace('?', '');
        if (t === 'string') assert.ok(typeof v === 'string' && v.length <= 4096);
        else if (t === 'int') assert.ok(Number.isSafeInteger(v));
        else assert.equal(typeof v, 'boolean');
      }
    }),
    { numRuns: 5000 },
  );
});

test('checkArgs refuses inherited names such as constructor (fuzz seed 1764377719)', () => {
  for (const k of ['constructor', 'toString', 'hasOwnProperty']) {
    assert.throws(
      () => checkArgs('adapters', { [k]: [] }),
      (e: unknown) => e instanceof ValeError && e.code === ErrorCodes.INVALID_ARG,
    );
  }
});
