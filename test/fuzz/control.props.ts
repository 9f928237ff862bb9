/*
 * The control protocol, as a daemon reads it from any local client: framing
 * (src/control/wire.ts MessageReader) and every request's arguments
 * (src/control/requests.ts checkArgs).
 *
 *   control/frame-bytes  arbitrary bytes cut at arbitrary points raise nothing
 *                        but ValeError PROTOCOL and never leave more than one
 *                        message buffered
 *   control/frame-split  valid messages arrive intact whatever the split
 *   control/args         any JSON object yields args that match the request's
 *                        schema exactly, or is refused with INVALID_ARG
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { checkArgs, REQUESTS, type RequestName } from '../../src/control/requests.js';
import { encodeJson, encodeSignal, MessageReader, MSG_JSON, MSG_KICK, MSG_WAKE } from '../../src/control/wire.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { assertValeError, type FuzzProp, prop } from './registry.js';

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

/** Frames with a type and a length at and around the limits, then any body; or just bytes. */
const wireArb = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc
    .array(
      fc.record({
        type: fc.oneof(fc.constantFrom(MSG_JSON, MSG_KICK, MSG_WAKE), fc.nat(255)),
        len: fc.oneof(fc.nat(8), fc.integer({ min: MAX - 4, max: MAX + 4 }), fc.constantFrom(0xffffff, 2 * MAX)),
        body: fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.json().map((j) => Buffer.from(j)),
        ),
        pad: fc.nat(MAX + 8),
      }),
      { maxLength: 4 },
    )
    .map((fs) =>
      Buffer.concat(
        fs.map((f) => {
          const h = Buffer.alloc(4);
          h.writeUInt32BE(((f.type << 24) | f.len) >>> 0);
          return Buffer.concat([h, f.body, Buffer.alloc(Math.min(f.pad, f.len))]);
        }),
      ),
    ),
);

const frameBytes: FuzzProp = {
  name: 'control/frame-bytes',
  runs: 3000,
  property: () =>
    prop(
      fc.property(wireArb, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const r = new MessageReader(MAX, { json() {}, signal() {} });
        for (const chunk of splits(bytes, cuts)) {
          try {
            r.feed(chunk);
          } catch (e) {
            assertValeError(e, ErrorCodes.PROTOCOL, 'MessageReader.feed');
            return;
          }
          assert.ok(r.pending <= 4 + MAX, `${r.pending} bytes pending`);
        }
      }),
    ),
};

const frameSplit: FuzzProp = {
  name: 'control/frame-split',
  runs: 1000,
  property: () => {
    const msg = fc.oneof(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 20 })), {
        maxKeys: 5,
      }),
      fc.nat(),
    );
    return prop(
      fc.property(fc.array(msg, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
        const got: unknown[] = [];
        const r = new MessageReader(64 * 1024, {
          json: (o) => got.push(o),
          signal: (_t, h) => got.push(h),
        });
        const wire = Buffer.concat(
          msgs.map((m) => (typeof m === 'number' ? encodeSignal(MSG_KICK, m) : encodeJson(m))),
        );
        for (const chunk of splits(wire, cuts)) r.feed(chunk);
        assert.equal(r.pending, 0);
        assert.deepEqual(
          got,
          msgs.map((m) => (typeof m === 'number' ? m >>> 0 : JSON.parse(JSON.stringify(m)))),
        );
      }),
    );
  },
};

const ops = Object.keys(REQUESTS) as RequestName[];
const schemaKeys = [...new Set(ops.flatMap((op) => Object.keys(REQUESTS[op].args)))];

const args: FuzzProp = {
  name: 'control/args',
  runs: 5000,
  property: () => {
    const key = fc.oneof(
      fc.constantFrom(...schemaKeys, 'id', 'op', 'constructor', 'toString', '__proto__'),
      fc.string({ maxLength: 6 }),
    );
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 1 }),
      fc.string({ maxLength: 20 }),
      // strings at the 4096-character limit (fast-check's default size keeps strings short)
      fc.integer({ min: 4094, max: 4098 }).map((n) => 'x'.repeat(n)),
      fc.double(),
      fc.constant(null),
    );
    return prop(
      fc.property(fc.constantFrom(...ops), fc.array(fc.tuple(key, value), { maxLength: 6 }), (op, pairs) => {
        const m: Record<string, unknown> = JSON.parse(JSON.stringify(Object.fromEntries(pairs)));
        for (const [k, v] of pairs)
          Object.defineProperty(m, k, { value: v, enumerable: true, configurable: true, writable: true });
        const schema: Record<string, string> = REQUESTS[op].args;
        let out: Record<string, unknown>;
        try {
          out = checkArgs(op, m) as Record<string, unknown>;
        } catch (e) {
          assertValeError(e, ErrorCodes.INVALID_ARG, `checkArgs('${op}')`);
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
    );
  },
};

export const CONTROL_PROPS: FuzzProp[] = [frameBytes, frameSplit, args];
