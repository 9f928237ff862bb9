/*
 * ring/word-copy.ts and the chain code built on it: copies at random byte
 * offsets and lengths (every alignment of source and destination, buffers
 * whose length is not a whole number of words, ranges that touch a buffer's
 * end, plain and shared memory) are bit-exact against Buffer.copy, write
 * nothing outside the destination range; ChainWriter fed pieces of Buffers
 * that lie at any offset of their ArrayBuffer, and ChainReader.gather into
 * any offset, give the bytes and layout of writeChain.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { Arena } from '../../src/ring/arena.js';
import { ChainReader, ChainWriter, chainSlots } from '../../src/ring/chain.js';
import { NM_BUF_SIZE, NS_MOREFRAG, regionGeometry } from '../../src/ring/layout.js';
import { NetmapRing } from '../../src/ring/netmap-ring.js';
import { initRegion } from '../../src/ring/region.js';
import { COPY_WORDS_MAX, copyBytes, WordViews } from '../../src/ring/word-copy.js';

function noise(b: Uint8Array, seed: number): void {
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
}

function memory(len: number, shared: boolean): ArrayBufferLike {
  return shared ? new SharedArrayBuffer(len) : new ArrayBuffer(len);
}

const copyCase = fc
  .record({
    srcLen: fc.integer({ min: 1, max: 2 * COPY_WORDS_MAX + 40 }),
    dstLen: fc.integer({ min: 1, max: 2 * COPY_WORDS_MAX + 40 }),
    srcShared: fc.boolean(),
    dstShared: fc.boolean(),
    a: fc.double({ min: 0, max: 1, noNaN: true }),
    b: fc.double({ min: 0, max: 1, noNaN: true }),
    c: fc.double({ min: 0, max: 1, noNaN: true }),
    // ranges ending exactly at a buffer's end are the interesting ones for the last word
    toEnd: fc.constantFrom('none', 'src', 'dst'),
    seed: fc.nat(),
  })
  .map((k) => {
    let len = Math.min(k.srcLen, k.dstLen, Math.floor(k.c * (Math.min(k.srcLen, k.dstLen) + 1)));
    if (k.c > 0.9) len = Math.min(k.srcLen, k.dstLen, 1 + (k.seed % 80)); // many short copies
    let s = Math.min(k.srcLen - len, Math.floor(k.a * (k.srcLen - len + 1)));
    let d = Math.min(k.dstLen - len, Math.floor(k.b * (k.dstLen - len + 1)));
    if (k.toEnd === 'src') s = k.srcLen - len;
    if (k.toEnd === 'dst') d = k.dstLen - len;
    return { ...k, len, s, d };
  });

test('copyBytes: any offsets, lengths and buffer sizes, bit-exact against Buffer.copy, nothing else written', () => {
  fc.assert(
    fc.property(copyCase, (k) => {
      const src = new Uint8Array(memory(k.srcLen, k.srcShared));
      const dst = new Uint8Array(memory(k.dstLen, k.dstShared));
      noise(src, k.seed);
      noise(dst, k.seed + 1);
      const want = Buffer.from(dst);
      Buffer.from(src.buffer).copy(want, k.d, k.s, k.s + k.len);
      const sv = new WordViews().of(src);
      const dv = new WordViews().of(dst);
      copyBytes(dv.u8, dv.i32, k.d, sv.u8, sv.i32, k.s, k.len);
      assert.deepEqual(Buffer.from(dst), want);
    }),
    { numRuns: 3000 },
  );
});

test('copyBytes: every source and destination alignment for lengths 0..70', () => {
  const src = new Uint8Array(new ArrayBuffer(96));
  noise(src, 7);
  const sv = new WordViews().of(src);
  for (let len = 0; len <= 70; len++) {
    for (let s = 0; s < 8; s++) {
      for (let d = 0; d < 8; d++) {
        const dst = new Uint8Array(new SharedArrayBuffer(88)).fill(0x5a);
        const dv = new WordViews().of(dst);
        copyBytes(dv.u8, dv.i32, d, sv.u8, sv.i32, s + 16, len);
        const want = Buffer.alloc(88, 0x5a);
        Buffer.from(src.buffer).copy(want, d, s + 16, s + 16 + len);
        assert.deepEqual(Buffer.from(dst), want, `len ${len} s ${s} d ${d}`);
      }
    }
  }
});

test('WordViews: one pair of views per ArrayBuffer, made again only for another one', () => {
  const v = new WordViews();
  const a = new Uint8Array(new ArrayBuffer(10));
  const first = v.of(a.subarray(3)).i32;
  assert.equal(first.length, 2, 'the Int32 view stops at the last whole word');
  assert.equal(v.of(a.subarray(1, 5)).i32, first, 'the same buffer: the same views');
  assert.notEqual(v.of(new Uint8Array(8)).i32, first);
});

function makeRing(slots: number): NetmapRing {
  const g = regionGeometry({ txRings: 1, rxRings: 1, txSlots: slots, rxSlots: slots });
  const arena = new Arena(g.size);
  return new NetmapRing(initRegion(arena, 0, g, 'wc'), 0);
}

test('ChainWriter from Buffers at any offset, in any pieces, and gather to any offset: bit-exact, chains laid out', () => {
  const SLOTS = 64;
  const ring = makeRing(SLOTS);
  const writer = new ChainWriter(ring);
  const reader = new ChainReader();
  fc.assert(
    fc.property(
      fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 3 * NM_BUF_SIZE + 5 })),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 12 }),
      fc.nat(SLOTS - 1),
      fc.nat(7),
      fc.nat(),
      (len, cuts, slot, outOff, seed) => {
        const frame = new Uint8Array(len);
        noise(frame, seed);
        for (let s = 0; s < SLOTS; s++) ring.u8.fill(0xa5, ring.buf(s), ring.buf(s) + NM_BUF_SIZE);
        writer.begin(slot);
        let pos = 0;
        let k = 0;
        while (pos < len) {
          const end = Math.min(len, pos + (cuts[k++ % cuts.length] as number));
          // each piece in a buffer of its own, at an odd place in a larger ArrayBuffer
          const lead = (seed + k) % 13;
          const holder = new Uint8Array(lead + (end - pos) + 5);
          holder.set(frame.subarray(pos, end), lead);
          writer.append(holder.subarray(lead), 0, end - pos);
          pos = end;
        }
        const next = writer.end();
        assert.equal(writer.len, len);
        assert.equal(next, (slot + chainSlots(len)) % SLOTS);
        let s = slot;
        for (let left = len; ; ) {
          const l = Math.min(left, NM_BUF_SIZE);
          assert.equal(ring.len(s), l);
          assert.equal(ring.flags(s), left > NM_BUF_SIZE ? NS_MOREFRAG : 0);
          const o = ring.buf(s);
          if (l < NM_BUF_SIZE) assert.equal(ring.u8[o + l], 0xa5, 'the byte after the frame is left alone');
          left -= l;
          if (left === 0) break;
          s = ring.next(s);
        }
        assert.ok(reader.walk(ring, slot, (next + 1) % SLOTS));
        const out = new Uint8Array(outOff + len + 3).fill(0x33);
        assert.equal(reader.gather(ring, slot, reader.slots, out.subarray(1), outOff), len);
        assert.deepEqual(out.subarray(outOff + 1, outOff + 1 + len), frame);
        assert.ok(
          out.subarray(0, outOff + 1).every((x) => x === 0x33),
          'nothing written before',
        );
        assert.ok(
          out.subarray(outOff + 1 + len).every((x) => x === 0x33),
          'nothing written after',
        );
      },
    ),
    { numRuns: 400 },
  );
});

test('a range outside its array throws RangeError (as set() did) and writes nothing past the array', () => {
  const ring = makeRing(8);
  const writer = new ChainWriter(ring);
  const pool = new Uint8Array(64).fill(7);
  const src = pool.subarray(8, 24);
  writer.begin(0);
  assert.throws(() => writer.append(src, 0, 17), RangeError, 'a source range past the array');
  assert.throws(() => writer.append(src, -1, 4), RangeError);
  writer.append(src, 0, 16);
  writer.end();
  const reader = new ChainReader();
  assert.ok(reader.walk(ring, 0, 2));
  const out = new Uint8Array(64).fill(1);
  assert.throws(() => reader.gather(ring, 0, reader.slots, out.subarray(0, 20), 5), RangeError);
  assert.ok(
    out.subarray(20).every((x) => x === 1),
    'nothing written past the destination array',
  );
  assert.equal(reader.gather(ring, 0, reader.slots, out.subarray(0, 20), 4), 16);
  assert.deepEqual(out.subarray(4, 20), src);
});
