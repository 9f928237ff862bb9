/*
 * Property tests of control-protocol framing (src/control/wire.ts): arbitrary
 * bytes cut at arbitrary points never raise anything but ValeError PROTOCOL and
 * never leave more than one message buffered; valid messages survive any split.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeJson, encodeSignal, MessageReader, MSG_KICK } from '../../src/control/wire.js';
import { ErrorCodes, ValeError } from '../../src/core/errors.js';

const MAX = 256;

function splits(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(prev, c)));
    prev = c;
  }
  return out;
}

test('arbitrary bytes: only PROTOCOL errors, at most one message buffered', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const r = new MessageReader(MAX, { json() {}, signal() {} });
      for (const chunk of splits(bytes, cuts)) {
        try {
          r.feed(chunk);
        } catch (e) {
          assert.ok(e instanceof ValeError, `not a ValeError: ${e}`);
          assert.equal(e.code, ErrorCodes.PROTOCOL);
          return;
        }
        assert.ok(r.pending <= 4 + MAX, `${r.pending} bytes pending`);
      }
    }),
    { numRuns: 3000 },
  );
});

test('valid messages arrive intact whatever the split', () => {
  const msg = fc.oneof(
    fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 20 })), { maxKeys: 5 }),
    fc.nat(),
  );
  fc.assert(
    fc.property(fc.array(msg, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
      const got: unknown[] = [];
      const r = new MessageReader(64 * 1024, {
        json: (o) => got.push(o),
        signal: (_t, h) => got.push(h),
      });
      const wire = Buffer.concat(msgs.map((m) => (typeof m === 'number' ? encodeSignal(MSG_KICK, m) : encodeJson(m))));
      for (const chunk of splits(wire, cuts)) r.feed(chunk);
      assert.equal(r.pending, 0);
      assert.deepEqual(
        got,
        msgs.map((m) => (typeof m === 'number' ? m >>> 0 : JSON.parse(JSON.stringify(m)))),
      );
    }),
    { numRuns: 1000 },
  );
});
