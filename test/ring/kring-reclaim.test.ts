/*
 * KRing.reclaim(head): the TX reclaim of every sync (the forwarder's, its
 * abort path, and a port outside any switch) gives the whole ring back,
 * hwcur = head and hwtail = head - 1 circularly, and publishes both.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena } from '../../src/ring/arena.js';
import { KRing } from '../../src/ring/kring.js';
import { RING_HWCUR, RING_HWTAIL, regionGeometry } from '../../src/ring/layout.js';
import { initRegion } from '../../src/ring/region.js';

test('reclaim(head): hwcur = head, hwtail = head - 1 (lim at 0), both published', () => {
  const g = regionGeometry({ txRings: 1, rxRings: 1, txSlots: 16, rxSlots: 16 });
  const kr = new KRing(initRegion(new Arena(g.size), 0, g, 'r'), 0);
  for (const head of [0, 1, 7, 15]) {
    kr.reclaim(head);
    const want = head === 0 ? 15 : head - 1;
    assert.deepEqual([kr.hwcur, kr.hwtail], [head, want], `head ${head}`);
    assert.equal(kr.u32[kr.hdrW + (RING_HWCUR >>> 2)], head);
    assert.equal(kr.u32[kr.hdrW + (RING_HWTAIL >>> 2)], want);
  }
});
