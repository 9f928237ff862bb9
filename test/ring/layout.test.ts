/*
 * Region geometry (src/ring/layout.ts).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layout } from '../../src/index.js';

const {
  regionGeometry,
  ringBytes,
  NM_BUF_SIZE,
  NM_RESERVED_BUFS,
  REGION_ALIGN,
  IF_HDR_SIZE,
  RING_HDR_SIZE,
  SLOT_SIZE,
} = layout;

test('netmap.h constants', () => {
  assert.equal(NM_BUF_SIZE, 2048);
  assert.equal(layout.NS_BUF_CHANGED, 0x1);
  assert.equal(layout.NS_REPORT, 0x2);
  assert.equal(layout.NS_FORWARD, 0x4);
  assert.equal(layout.NS_NO_LEARN, 0x8);
  assert.equal(layout.NS_INDIRECT, 0x10);
  assert.equal(layout.NS_MOREFRAG, 0x20);
  assert.equal(layout.NS_RFRAGS_SHIFT, 8);
  assert.equal(SLOT_SIZE, 16);
  assert.equal(layout.MAX_RINGS, 16);
  assert.equal(layout.MAX_SLOTS, 4096);
  assert.equal(layout.MAX_FRAGS, 64);
  assert.equal(layout.MIN_FRAME, 14);
  assert.deepEqual(layout.DEFAULT_RING_CONFIG, { txRings: 1, rxRings: 1, txSlots: 1024, rxSlots: 1024 });
});

test('ring header fields do not overlap and fit the header', () => {
  const fields: Array<[number, number]> = [
    [layout.RING_HEAD, 4],
    [layout.RING_CUR, 4],
    [layout.RING_TAIL, 4],
    [layout.RING_NUM_SLOTS, 4],
    [layout.RING_BUF_SIZE, 4],
    [layout.RING_ID, 2],
    [layout.RING_DIR, 2],
    [layout.RING_FLAGS, 4],
    [layout.RING_HWCUR, 4],
    [layout.RING_HWTAIL, 4],
    [layout.RING_KSLEEP, 4],
    [layout.RING_USLEEP, 4],
    [layout.RING_ERRORS, 4],
    [layout.RING_SYNC_HEAD, 4],
  ];
  const used = new Uint8Array(RING_HDR_SIZE);
  for (const [off, size] of fields) {
    assert.equal(off % size, 0, `field at ${off} is aligned`);
    for (let i = off; i < off + size; i++) {
      assert.ok(i < RING_HDR_SIZE);
      assert.equal(used[i], 0, `byte ${i} used twice`);
      used[i] = 1;
    }
  }
  assert.ok(layout.RING_HWCUR >= 64, 'the switch-written fields are on their own cache line');
});

test('interface header fields do not overlap and fit before the ring offsets', () => {
  const fields: Array<[number, number]> = [
    [layout.IF_MAGIC, 4],
    [layout.IF_VERSION, 4],
    [layout.IF_NAME, layout.IF_NAME_SIZE],
    [layout.IF_FLAGS, 4],
    [layout.IF_TX_RINGS, 4],
    [layout.IF_RX_RINGS, 4],
    [layout.IF_BUF_SIZE, 4],
    [layout.IF_NUM_BUFS, 4],
    [layout.IF_BUFS_OFS, 4],
    [layout.IF_REGION_SIZE, 4],
    [layout.IF_WAKE, 4],
  ];
  const used = new Uint8Array(layout.IF_RING_OFS);
  for (const [off, size] of fields) {
    assert.equal(off % 4, 0, `field at ${off} is aligned`);
    for (let i = off; i < off + size; i++) {
      assert.ok(i < layout.IF_RING_OFS, `field at ${off} runs into the ring offsets`);
      assert.equal(used[i], 0, `byte ${i} used twice`);
      used[i] = 1;
    }
  }
  assert.notEqual(layout.USLEEP_MSG, 0);
  assert.notEqual(layout.USLEEP_FUTEX, 0);
  assert.notEqual(layout.USLEEP_MSG, layout.USLEEP_FUTEX);
});

test('regionGeometry places rings, then 2048-aligned buffers, one per slot plus the reserved ones', () => {
  for (const cfg of [
    { txRings: 1, rxRings: 1, txSlots: 1024, rxSlots: 1024 },
    { txRings: 3, rxRings: 2, txSlots: 7, rxSlots: 100 },
    { txRings: 16, rxRings: 16, txSlots: 2, rxSlots: 4096 },
  ]) {
    const g = regionGeometry(cfg);
    assert.equal(g.ringOfs.length, cfg.txRings + cfg.rxRings);
    assert.equal(g.ringOfs[0], IF_HDR_SIZE);
    for (let r = 1; r < g.ringOfs.length; r++) {
      const prevSlots = r - 1 < cfg.txRings ? cfg.txSlots : cfg.rxSlots;
      assert.equal(g.ringOfs[r], (g.ringOfs[r - 1] as number) + ringBytes(prevSlots));
    }
    const last = g.ringOfs[g.ringOfs.length - 1] as number;
    assert.ok(g.bufsOfs >= last + ringBytes(cfg.rxSlots));
    assert.equal(g.bufsOfs % NM_BUF_SIZE, 0);
    assert.equal(g.numBufs, NM_RESERVED_BUFS + cfg.txRings * cfg.txSlots + cfg.rxRings * cfg.rxSlots);
    assert.ok(g.size >= g.bufsOfs + g.numBufs * NM_BUF_SIZE);
    assert.equal(g.size % REGION_ALIGN, 0);
    assert.ok(g.size - (g.bufsOfs + g.numBufs * NM_BUF_SIZE) < REGION_ALIGN);
  }
});
