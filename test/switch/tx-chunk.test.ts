/*
 * Chunked txsync (VPort.onTxChunk, src/switch/forward.ts): a port whose client
 * runs in parallel gets its TX slots back every txChunk slots, at a frame
 * boundary, with the frames before them already delivered, so the client
 * refills while the pass goes on. The daemon's shm ports use it.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetmapRing } from '../../src/index.js';
import { RING_HWCUR, RING_HWTAIL } from '../../src/ring/layout.js';
import { bridge } from '../helpers/bridge.js';
import { drain, frame, macN, put, putChain, seqOf, split } from '../helpers/vale.js';

interface Seen {
  hwcur: number;
  hwtail: number;
  /** RX frames the receiver could see (its published hwtail) when the chunk came back. */
  delivered: number;
}

function watch(b: ReturnType<typeof bridge>, chunk: number): Seen[] {
  const [a, r] = b.ports as [(typeof b.ports)[0], (typeof b.ports)[0]];
  const vp = a.vport;
  const tx = a.txRings[0] as NetmapRing;
  const rxKr = r.vport.rx[0] as (typeof vp.rx)[0];
  const seen: Seen[] = [];
  vp.txChunk = chunk;
  vp.onTxChunk = (p) => {
    assert.equal(p, vp);
    const u32 = tx.u32;
    seen.push({
      hwcur: u32[tx.hdrW + (RING_HWCUR >>> 2)] as number,
      hwtail: u32[tx.hdrW + (RING_HWTAIL >>> 2)] as number,
      delivered: rxKr.u32[rxKr.hdrW + (RING_HWTAIL >>> 2)] as number,
    });
  };
  return seen;
}

test('a pass hands TX slots back every txChunk slots, each chunk already delivered', () => {
  const b = bridge(2);
  const [a, r] = b.ports as [(typeof b.ports)[0], (typeof b.ports)[0]];
  const seen = watch(b, 256);
  const dst = macN(0x22);
  const frames = Array.from({ length: 1000 }, (_, i) => frame(dst, macN(0x11), { seq: i }));
  put(a, frames);
  a.txsync();
  // after 256, 512 and 768 slots; the last 232 go back with the end of the pass, not through the hook
  assert.deepEqual(seen, [
    { hwcur: 256, hwtail: 255, delivered: 256 },
    { hwcur: 512, hwtail: 511, delivered: 512 },
    { hwcur: 768, hwtail: 767, delivered: 768 },
  ]);
  const tx = a.txRings[0] as NetmapRing;
  assert.equal(tx.tail, 999, 'the whole ring is back after the pass');
  assert.deepEqual(
    drain(r).map(seqOf),
    frames.map((_, i) => i),
    'every frame once, in order',
  );
});

test('a chunk ends at a frame boundary: a chain is never split between two chunks', () => {
  const b = bridge(2);
  const [a, r] = b.ports as [(typeof b.ports)[0], (typeof b.ports)[0]];
  const seen = watch(b, 100);
  const dst = macN(0x22);
  // 3 slots per frame: chunks end after 102, 204, 306 slots
  const big = frame(dst, macN(0x11), { seq: 7, len: 300 });
  for (let i = 0; i < 110; i++) putChain(a, split(big, 120));
  a.txsync();
  assert.deepEqual(
    seen.map((s) => s.hwcur),
    [102, 204, 306],
  );
  for (const s of seen) assert.equal(s.delivered, s.hwcur, 'one RX slot per TX slot, delivered before the release');
  const got = drain(r);
  assert.equal(got.length, 110);
  for (const f of got) assert.deepEqual(new Uint8Array(f), big);
});

test('without onTxChunk a pass releases its slots once, at the end', () => {
  const b = bridge(2);
  const [a] = b.ports as [(typeof b.ports)[0], (typeof b.ports)[0]];
  const vp = a.vport;
  assert.equal(vp.onTxChunk, null, 'in-process ports do not chunk');
  const dst = macN(0x22);
  put(
    a,
    Array.from({ length: 600 }, (_, i) => frame(dst, macN(0x11), { seq: i })),
  );
  const tx = a.txRings[0] as NetmapRing;
  a.txsync();
  assert.equal(tx.tail, 599);
});
