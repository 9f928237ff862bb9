/* The control protocol's framing: every malformed input is a PROTOCOL error, never a hang or a crash. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeJson, encodeSignal, MessageReader, MSG_KICK, MSG_WAKE } from '../../src/control/wire.js';
import { ErrorCodes, isValeError } from '../../src/index.js';

function collect(max = 1024) {
  const got: unknown[] = [];
  const r = new MessageReader(max, {
    json: (m) => got.push(m),
    signal: (t, h) => got.push([t, h]),
  });
  return { r, got };
}

test('messages split at every byte boundary are reassembled', () => {
  const msgs = Buffer.concat([encodeJson({ a: 1 }), encodeSignal(MSG_KICK, 7), encodeJson({ b: 'x'.repeat(100) })]);
  for (let cut = 0; cut <= msgs.length; cut++) {
    const { r, got } = collect();
    r.feed(msgs.subarray(0, cut));
    r.feed(msgs.subarray(cut));
    assert.deepEqual(got, [{ a: 1 }, [MSG_KICK, 7], { b: 'x'.repeat(100) }]);
  }
});

test('malformed input is a VALE_ERR_PROTOCOL error', () => {
  const hdr = (type: number, len: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(((type << 24) | len) >>> 0);
    return b;
  };
  const cases: Array<[string, Buffer]> = [
    ['unknown type', Buffer.concat([hdr(9, 2), Buffer.from('{}')])],
    ['oversized', hdr(1, 4096)],
    ['not JSON', Buffer.concat([hdr(1, 5), Buffer.from('hello')])],
    ['JSON array', Buffer.concat([hdr(1, 2), Buffer.from('[]')])],
    ['JSON null', Buffer.concat([hdr(1, 4), Buffer.from('null')])],
    ['signal with a long payload', Buffer.concat([hdr(MSG_WAKE, 8), Buffer.alloc(8)])],
    ['random bytes', Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3])],
  ];
  for (const [what, bytes] of cases) {
    const { r } = collect();
    assert.throws(
      () => r.feed(bytes),
      (e: unknown) => isValeError(e, ErrorCodes.PROTOCOL),
      what,
    );
  }
});

test('a truncated message waits for more and emits nothing', () => {
  const { r, got } = collect();
  const m = encodeJson({ op: 'hello' });
  r.feed(m.subarray(0, m.length - 1));
  assert.deepEqual(got, []);
});
