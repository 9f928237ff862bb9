/*
 * ring/chain.ts: frames written as NS_MOREFRAG chains (writeChain, layChain,
 * ChainWriter) and read back (ChainReader), on a real region: chains of 1 to
 * 64 slots, lengths at and around every buffer boundary, chains that wrap the
 * ring's end, and the bytes around them left alone.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena } from '../../src/ring/arena.js';
import { ChainReader, ChainWriter, chainSlots, layChain, writeChain } from '../../src/ring/chain.js';
import {
  MAX_FRAGS,
  NM_BUF_SIZE,
  NS_MOREFRAG,
  regionGeometry,
  SLOT_FLAGS,
  SLOT_LEN,
  SLOT_SIZE,
} from '../../src/ring/layout.js';
import { NetmapRing } from '../../src/ring/netmap-ring.js';
import { initRegion } from '../../src/ring/region.js';

const SLOTS = 128;

function makeRing(): NetmapRing {
  const g = regionGeometry({ txRings: 1, rxRings: 1, txSlots: SLOTS, rxSlots: SLOTS });
  const arena = new Arena(g.size);
  const region = initRegion(arena, 0, g, 'chain');
  return new NetmapRing(region, 0);
}

function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Every slot's buffer filled with 0xa5, lengths and flags set to a marker. */
function poison(ring: NetmapRing): void {
  for (let s = 0; s < ring.numSlots; s++) {
    ring.u8.fill(0xa5, ring.buf(s), ring.buf(s) + NM_BUF_SIZE);
    ring.setLen(s, 0x7777);
    ring.setFlags(s, 0x4000);
  }
}

/** The lengths and flags a chain of `len` bytes must have, from `slot`. */
function checkLayout(ring: NetmapRing, slot: number, len: number): number {
  const k = chainSlots(len);
  let s = slot;
  for (let i = 0; i < k; i++) {
    const last = i === k - 1;
    assert.equal(ring.len(s), last ? len - (k - 1) * NM_BUF_SIZE : NM_BUF_SIZE, `len of fragment ${i} of ${len}`);
    assert.equal(ring.flags(s), last ? 0 : NS_MOREFRAG, `flags of fragment ${i} of ${len}`);
    s = ring.next(s);
  }
  return s;
}

/** Bytes of the last buffer after the frame's end are still the poison. */
function checkTailUntouched(ring: NetmapRing, slot: number, len: number): void {
  let s = slot;
  for (let i = 1; i < chainSlots(len); i++) s = ring.next(s);
  const o = ring.buf(s) + ring.len(s);
  const end = ring.buf(s) + NM_BUF_SIZE;
  for (let i = o; i < end; i++) if (ring.u8[i] !== 0xa5) assert.fail(`byte ${i - o} past the end of ${len} changed`);
}

const LENGTHS: number[] = [0, 1, 14, 60];
for (let k = 1; k <= MAX_FRAGS; k++) {
  LENGTHS.push(k * NM_BUF_SIZE - 1, k * NM_BUF_SIZE);
  if (k < MAX_FRAGS) LENGTHS.push(k * NM_BUF_SIZE + 1);
}

test('chainSlots: one slot up to NM_BUF_SIZE (zero included), one more per started buffer', () => {
  assert.equal(chainSlots(0), 1);
  assert.equal(chainSlots(1), 1);
  assert.equal(chainSlots(NM_BUF_SIZE), 1);
  assert.equal(chainSlots(NM_BUF_SIZE + 1), 2);
  assert.equal(chainSlots(64 * NM_BUF_SIZE), 64);
  assert.equal(chainSlots(65535), 32);
});

test('writeChain lays out 1..64-slot chains bit-exact, wrapping the ring, and ChainReader reads them back', () => {
  const ring = makeRing();
  const reader = new ChainReader();
  for (const len of LENGTHS) {
    poison(ring);
    const slot = SLOTS - 20; // chains of more than 20 slots wrap
    const src = bytes(len + 7, len);
    const next = writeChain(ring, slot, src, 3, 3 + len); // a range inside the source, not from 0
    assert.equal(next, (slot + chainSlots(len)) % SLOTS, `slot after ${len}`);
    assert.equal(checkLayout(ring, slot, len), next);
    checkTailUntouched(ring, slot, len);
    assert.ok(reader.walk(ring, slot, (next + 1) % SLOTS), `walk ${len}`);
    assert.deepEqual([reader.len, reader.slots, reader.next], [len, chainSlots(len), next]);
    const out = new Uint8Array(len + 4).fill(0x5a);
    assert.equal(reader.gather(ring, slot, reader.slots, out, 2), len);
    assert.deepEqual(out.subarray(2, 2 + len), src.subarray(3, 3 + len), `bytes of ${len}`);
    assert.deepEqual([out[0], out[1], out[len + 2], out[len + 3]], [0x5a, 0x5a, 0x5a, 0x5a], 'nothing outside');
  }
});

test('ChainWriter: any split into appends gives what writeChain gives', () => {
  const ring = makeRing();
  const writer = new ChainWriter(ring);
  const reader = new ChainReader();
  let seed = 1;
  for (const len of LENGTHS) {
    poison(ring);
    const src = bytes(len, len + 1);
    const slot = (len * 7) % SLOTS;
    writer.begin(slot);
    for (let pos = 0; pos < len; ) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const piece = [1, 3, NM_BUF_SIZE - 1, NM_BUF_SIZE, NM_BUF_SIZE + 1, 5000][seed % 6] as number;
      const end = Math.min(len, pos + piece);
      writer.append(src, pos, end);
      pos = end;
    }
    assert.equal(writer.len, len);
    const next = writer.end();
    assert.equal(next, (slot + chainSlots(len)) % SLOTS);
    assert.equal(checkLayout(ring, slot, len), next);
    checkTailUntouched(ring, slot, len);
    assert.ok(reader.walk(ring, slot, (next + 1) % SLOTS));
    const out = new Uint8Array(len);
    reader.gather(ring, slot, reader.slots, out, 0);
    assert.deepEqual(out, src);
  }
});

test('layChain sets lengths and flags only: the bytes in the buffers stay as they are', () => {
  const ring = makeRing();
  for (const len of [0, 1, NM_BUF_SIZE, NM_BUF_SIZE + 1, 33 * NM_BUF_SIZE - 5]) {
    poison(ring);
    const slot = SLOTS - 3;
    const next = layChain(ring, slot, len);
    assert.equal(next, (slot + chainSlots(len)) % SLOTS);
    assert.equal(checkLayout(ring, slot, len), next);
    for (let s = 0; s < SLOTS; s++) {
      const b = ring.buf(s);
      assert.ok(
        ring.u8.subarray(b, b + NM_BUF_SIZE).every((x) => x === 0xa5),
        `buffer of slot ${s} untouched`,
      );
    }
  }
});

test('ChainReader.walk: false at tail and for a chain that runs into tail; slot fields read through layout.ts', () => {
  const ring = makeRing();
  const reader = new ChainReader();
  const next = writeChain(ring, 10, bytes(3 * NM_BUF_SIZE, 9), 0, 3 * NM_BUF_SIZE);
  assert.equal(next, 13);
  assert.equal(reader.walk(ring, 10, 10), false, 'slot is tail');
  assert.equal(reader.walk(ring, 10, 12), false, 'the last fragment is at tail');
  assert.equal(reader.walk(ring, 10, 13), true, 'ends just before tail');
  assert.equal(reader.walk(ring, 11, 13), true, 'from a middle fragment: the rest of the chain');
  assert.deepEqual([reader.len, reader.slots, reader.next], [2 * NM_BUF_SIZE, 2, 13]);
  // the helper reads the fields netmap_slot has at SLOT_LEN and SLOT_FLAGS
  const w = (ring.slotsW + 12 * (SLOT_SIZE >>> 2)) << 2;
  assert.equal(ring.u16[(w + SLOT_LEN) >>> 1], NM_BUF_SIZE);
  assert.equal(ring.u16[(w + SLOT_FLAGS) >>> 1], 0);
});

test('ChainReader: a corrupt slot length above NM_BUF_SIZE counts as one buffer, never reads past it', () => {
  const ring = makeRing();
  const reader = new ChainReader();
  poison(ring);
  const src = bytes(2 * NM_BUF_SIZE, 3);
  writeChain(ring, 0, src, 0, src.length);
  ring.setLen(0, 60000);
  assert.ok(reader.walk(ring, 0, 5));
  assert.equal(reader.len, 2 * NM_BUF_SIZE);
  const out = new Uint8Array(2 * NM_BUF_SIZE);
  assert.equal(reader.gather(ring, 0, reader.slots, out, 0), 2 * NM_BUF_SIZE);
  assert.deepEqual(out, src);
});
