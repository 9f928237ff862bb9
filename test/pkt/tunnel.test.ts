import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeGeneve,
  decodeVxlan,
  encodeGeneve,
  encodeVxlan,
  TUN_BAD_OPT_LEN,
  TUN_BAD_PROTO,
  TUN_BAD_VERSION,
  TUN_CRITICAL,
  TUN_NO_VNI_FLAG,
  TUN_OAM,
  TUN_OK,
  TUN_RUNT,
  TUN_STATUS_NAMES,
  TUN_TRUNCATED,
  TunnelHeader,
} from '../../src/pkt/tunnel.js';

/** A datagram: header made by `enc` at offset `at`, then a frame of `frameLen` bytes counting up. */
function datagram(enc: (b: Uint8Array, o: number, v: number) => void, vni: number, frameLen: number, at = 0) {
  const b = new Uint8Array(at + 8 + frameLen);
  enc(b, at, vni);
  for (let i = 0; i < frameLen; i++) b[at + 8 + i] = i & 0xff;
  return b;
}

test('VXLAN: encode then decode gives the VNI and the frame, with the bytes of RFC 7348', () => {
  const b = datagram(encodeVxlan, 0x123456, 60, 3);
  assert.deepEqual([...b.subarray(3, 11)], [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
  const h = new TunnelHeader();
  assert.equal(decodeVxlan(b, 3, b.length - 3, h), TUN_OK);
  assert.equal(h.vni, 0x123456);
  assert.equal(h.offset, 8);
  assert.equal(h.len, 60);
  // reserved bits are ignored on receipt
  b[3] = 0xff;
  b[10] = 0xff;
  assert.equal(decodeVxlan(b, 3, b.length - 3, h), TUN_OK);
  assert.equal(h.vni, 0x123456);
});

test('VXLAN: every bad case has its status', () => {
  const h = new TunnelHeader();
  const good = datagram(encodeVxlan, 42, 14);
  assert.equal(decodeVxlan(good, 0, good.length, h), TUN_OK, 'a 14-byte inner frame is enough');
  for (let n = 0; n < 8; n++) assert.equal(decodeVxlan(good, 0, n, h), TUN_TRUNCATED, `length ${n}`);
  for (let n = 8; n < 22; n++) assert.equal(decodeVxlan(good, 0, n, h), TUN_RUNT, `length ${n}`);
  const noI = good.slice();
  noI[0] = 0xf7;
  assert.equal(decodeVxlan(noI, 0, noI.length, h), TUN_NO_VNI_FLAG);
});

test('Geneve: encode then decode, with and without options', () => {
  const h = new TunnelHeader();
  const b = datagram(encodeGeneve, 0xabcdef, 64);
  assert.deepEqual([...b.subarray(0, 8)], [0, 0, 0x65, 0x58, 0xab, 0xcd, 0xef, 0]);
  assert.equal(decodeGeneve(b, 0, b.length, h), TUN_OK);
  assert.deepEqual([h.vni, h.offset, h.len], [0xabcdef, 8, 64]);
  // two options: 4 + 8 bytes (lengths 0 and 1 words), opt len 3 words
  const o = new Uint8Array(8 + 12 + 20);
  encodeGeneve(o, 0, 7);
  o[0] = 3;
  o.set([0x01, 0x02, 0x03, 0x00], 8);
  o.set([0x01, 0x02, 0x04, 0x01, 9, 9, 9, 9], 12);
  assert.equal(decodeGeneve(o, 0, o.length, h), TUN_OK);
  assert.deepEqual([h.vni, h.offset, h.len], [7, 20, 20]);
});

test('Geneve: every bad case has its status', () => {
  const h = new TunnelHeader();
  const good = datagram(encodeGeneve, 1, 20);
  const bad = (edit: (b: Uint8Array) => void, len = good.length): number => {
    const b = good.slice();
    edit(b);
    return decodeGeneve(b, 0, len, h);
  };
  for (let n = 0; n < 8; n++) assert.equal(decodeGeneve(good, 0, n, h), TUN_TRUNCATED);
  assert.equal(decodeGeneve(good, 0, 21, h), TUN_RUNT);
  assert.equal(
    bad((b) => (b[0] = 0x40)),
    TUN_BAD_VERSION,
  );
  assert.equal(
    bad((b) => (b[0] = 0xc0)),
    TUN_BAD_VERSION,
  );
  assert.equal(
    bad((b) => (b[2] = 0x08)),
    TUN_BAD_PROTO,
  );
  assert.equal(
    bad((b) => (b[1] = 0x40)),
    TUN_CRITICAL,
  );
  assert.equal(
    bad((b) => (b[1] = 0x80)),
    TUN_OAM,
  );
  // option length beyond the datagram
  assert.equal(
    bad((b) => (b[0] = 63)),
    TUN_TRUNCATED,
  );
  // one option word whose TLV claims 2 more words
  assert.equal(
    bad((b) => {
      b[0] = 1;
      b[11] = 2;
    }),
    TUN_BAD_OPT_LEN,
  );
  // two option words: a 4-byte option, then 4 bytes claiming a longer one
  assert.equal(
    bad((b) => {
      b[0] = 2;
      b[11] = 0;
      b[15] = 1;
    }),
    TUN_BAD_OPT_LEN,
  );
  assert.equal(TUN_STATUS_NAMES.length, 9);
});

test('decoders never throw and never read outside [off, off + len)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(8), (bytes, pad) => {
      // the bytes sit between guard bytes of 0x6d; a decoder that reads a guard would see TEB/flags differ
      const b = new Uint8Array(pad + bytes.length + 300).fill(0x6d);
      b.set(bytes, pad);
      const h = new TunnelHeader();
      for (const dec of [decodeVxlan, decodeGeneve]) {
        const s = dec(b, pad, bytes.length, h);
        assert.ok(s >= 0 && s < TUN_STATUS_NAMES.length);
        if (s === TUN_OK) {
          assert.ok(h.offset + h.len === bytes.length && h.len >= 14);
          const only = dec(bytes, 0, bytes.length, new TunnelHeader());
          assert.equal(only, TUN_OK, 'the same verdict without the guard bytes');
        }
      }
    }),
    { numRuns: 3000 },
  );
});
