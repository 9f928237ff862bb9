/*
 * The switch's ring view (src/ring/kring.ts) takes its geometry from the
 * region it built, never from the ring header, which the client can write at
 * any time (issue 8, defect 1): a header rewritten between initRegion and the
 * KRing's construction, then a huge sync head, must cost one bounded reinit.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, openPort, ValeHost } from '../../src/index.js';
import { Arena } from '../../src/ring/arena.js';
import { KRing } from '../../src/ring/kring.js';
import { RING_HEAD, RING_NUM_SLOTS, RING_SYNC_HEAD, regionGeometry } from '../../src/ring/layout.js';
import { initRegion } from '../../src/ring/region.js';
import { assertCode, drain, frame, macN, send } from '../helpers/vale.js';

test('numSlots comes from the geometry, not from a header rewritten before the KRing is built', () => {
  const g = regionGeometry({ txRings: 1, rxRings: 1, txSlots: 16, rxSlots: 32 });
  const region = initRegion(new Arena(g.size), 0, g, 'r');
  const u32 = region.arena.u32;
  for (const i of [0, 1]) {
    const hdrW = (region.base + (g.ringOfs[i] as number)) >>> 2;
    u32[hdrW + (RING_NUM_SLOTS >>> 2)] = 0x40000000;
  }
  const tx = new KRing(region, 0);
  const rx = new KRing(region, 1);
  assert.equal(tx.numSlots, 16);
  assert.equal(rx.numSlots, 32);
  // A huge published head is illegal against our own slot count, and reinit is bounded.
  u32[tx.hdrW + (RING_SYNC_HEAD >>> 2)] = 0x3fffffff;
  assert.equal(tx.prologue(true), -1);
  const t0 = performance.now();
  tx.reinit();
  assert.ok(performance.now() - t0 < 50, 'reinit walks only our own slots');
  assert.equal(u32[tx.hdrW + (RING_SYNC_HEAD >>> 2)], tx.hwcur);
});

test('in-process switch: hostile header and slots on one port cost bounded time; others keep forwarding', () => {
  const host = new ValeHost();
  const a = openPort('vale0:a', { host });
  const b = openPort('vale0:b', { host });
  const c = openPort('vale0:c', { host });
  const ring = a.txRings[0];
  assert.ok(ring);
  const u32 = ring.u32;
  u32[ring.hdrW + (RING_NUM_SLOTS >>> 2)] = 0x40000000;
  u32[ring.hdrW + (RING_HEAD >>> 2)] = 0x3fffffff;
  u32[ring.hdrW + (RING_SYNC_HEAD >>> 2)] = 0x3fffffff;
  const t0 = performance.now();
  assertCode(() => a.txsync(), ErrorCodes.RING_REINIT);
  assert.ok(performance.now() - t0 < 50, `sync took ${performance.now() - t0} ms`);
  // Hostile bufIdx/len in legal slots: counted, not thrown, bounded.
  for (let s = 0; s < 4; s++) {
    ring.setBufIdx(s, s & 1 ? 0xffffffff : 1);
    ring.setLen(s, 0xffff);
  }
  ring.head = ring.cur = 4;
  const t1 = performance.now();
  try {
    a.txsync();
  } catch (e) {
    assert.equal((e as { code?: string }).code, ErrorCodes.RING_REINIT);
  }
  assert.ok(performance.now() - t1 < 50);
  const f = frame(macN(3), macN(2));
  send(b, [f]);
  send(b, [frame(macN(2), macN(3))]);
  assert.equal(drain(c).length >= 1, true, 'c still receives');
});
