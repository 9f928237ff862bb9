/*
 * The user's ring view (src/ring/netmap-ring.ts): netmap_user.h helpers.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layout, type NetmapRing, openPort, ValeHost } from '../../src/index.js';

function ring(slots = 8): { tx: NetmapRing; rx: NetmapRing } {
  const p = openPort('vale0:a', { host: new ValeHost(), txSlots: slots, rxSlots: slots, txRings: 2, rxRings: 2 });
  return { tx: p.txRings[1] as NetmapRing, rx: p.rxRings[1] as NetmapRing };
}

test('ring identity: direction, ring id, slots, buffer size', () => {
  const { tx, rx } = ring();
  assert.equal(tx.dir, 'tx');
  assert.equal(rx.dir, 'rx');
  assert.equal(tx.ringId, 1);
  assert.equal(rx.ringId, 1);
  assert.equal(tx.numSlots, 8);
  assert.equal(tx.bufSize, layout.NM_BUF_SIZE);
});

test('next wraps; space and empty follow cur and tail', () => {
  const { tx, rx } = ring();
  assert.equal(tx.next(0), 1);
  assert.equal(tx.next(7), 0);
  assert.equal(tx.space(), 7);
  assert.ok(!tx.empty());
  tx.cur = 5;
  assert.equal(tx.space(), 2);
  tx.cur = 7;
  assert.ok(tx.empty());
  assert.equal(rx.space(), 0);
  assert.ok(rx.empty());
});

test('slot accessors read and write the slot fields', () => {
  const { tx } = ring();
  tx.setLen(3, 1514);
  tx.setFlags(3, 0x2000 | layout.NS_MOREFRAG);
  assert.equal(tx.len(3), 1514);
  assert.equal(tx.flags(3), 0x2020);
  assert.ok(tx.moreFrag(3));
  assert.equal(tx.rfrags(3), 0x20);
  const idx = tx.bufIdx(3);
  tx.setBufIdx(3, idx + 1);
  assert.equal(tx.bufIdx(3), idx + 1);
  assert.equal(tx.len(2), 0, 'neighbours untouched');
});

test('buffers: distinct per slot, 2048 bytes apart, invalid indices map to buffer 0', () => {
  const { tx, rx } = ring();
  const offs = new Set<number>();
  for (let s = 0; s < 8; s++) {
    offs.add(tx.buf(s));
    offs.add(rx.buf(s));
    assert.equal((tx.buf(s) - tx.bufsBase) % layout.NM_BUF_SIZE, 0);
  }
  assert.equal(offs.size, 16);
  assert.equal(tx.bufOffset(tx.numBufs), tx.bufsBase);
  assert.equal(tx.bufOffset(0xffffffff), tx.bufsBase);
  const v = tx.bufView(2);
  assert.equal(v.length, layout.NM_BUF_SIZE);
  v[0] = 0xab;
  tx.setLen(2, 1);
  assert.deepEqual([...tx.frame(2)], [0xab]);
});
