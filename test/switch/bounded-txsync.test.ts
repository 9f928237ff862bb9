/*
 * The daemon's bounded txsync (ValeSwitch.txsync(port, true), KRing.limitHead):
 * one pass takes at most dev.netmap.bridge slots of a TX ring, extended to the
 * end of a chain it would cut, and leaves the rest for the next pass. No frame
 * is cut, lost, duplicated or reordered across passes.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type NetmapRing, openPort, ValeHost } from '../../src/index.js';
import { BROADCAST, drain, frame, macN, putChain, putSlot, seqOf, split } from '../helpers/vale.js';

test('a bounded pass stops at dev.netmap.bridge slots, never inside a chain; the next pass takes the rest', () => {
  const host = new ValeHost({ 'dev.netmap.bridge': 4 });
  const a = openPort('vale-bt:a', { host });
  const b = openPort('vale-bt:b', { host });
  const sw = host.getSwitch('vale-bt');
  const va = sw?.find('a');
  assert.ok(sw !== undefined && va !== undefined);
  const ring = a.txRings[0] as NetmapRing;
  // slots 0..2 single frames, 3..5 one chain of 3, 6..9 single frames: 10 slots, 8 frames
  for (let s = 0; s < 3; s++) putSlot(ring, frame(BROADCAST, macN(1), { seq: s }));
  putChain(a, split(frame(BROADCAST, macN(1), { seq: 3, len: 5000 }), 2048));
  for (let s = 4; s < 8; s++) putSlot(ring, frame(BROADCAST, macN(1), { seq: s }));

  sw.txsync(va, true);
  // 4 slots would end inside the chain (slots 3..5): the pass runs to its end, slot 6
  let got = drain(b);
  assert.deepEqual(got.map(seqOf), [0, 1, 2, 3]);
  assert.equal(got[3]?.length, 5000);
  assert.equal(a.counters().txPackets, 4);
  assert.equal(a.counters().truncated, 0);
  a.rxsync();
  assert.equal(ring.tail, 5, 'slots 0..5 given back');

  sw.txsync(va, true);
  got = drain(b);
  assert.deepEqual(got.map(seqOf), [4, 5, 6, 7]);
  assert.equal(a.counters().txPackets, 8);
  assert.equal(a.counters().truncated, 0);

  // unbounded (in-process txsync): everything at once, whatever dev.netmap.bridge says
  for (let s = 8; s < 18; s++) putSlot(ring, frame(BROADCAST, macN(1), { seq: s }));
  a.txsync();
  assert.deepEqual(drain(b).map(seqOf), [8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
  a.close();
  b.close();
});
