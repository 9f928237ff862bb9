/*
 * Split virtqueues over a plain ArrayBuffer acting as guest memory: good
 * chains (direct, indirect, mixed readable/writable), hostile ones (loops,
 * out-of-range addresses and indexes, bad indirect tables), the used ring
 * published once per burst, and both notification-suppression schemes.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValeError } from '../../src/core/errors.js';
import { GuestMemory } from '../../src/virtio/memory.js';
import {
  BROKEN,
  EMPTY,
  needEvent,
  SplitQueue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
} from '../../src/virtio/virtqueue.js';

const GPA = 0x4000_0000;
const UVA = 0x7f00_0000_0000;
const SIZE = 1 << 20;
const DESC = GPA;
const AVAIL = GPA + 0x4000;
const USED = GPA + 0x8000;

/** A guest: one region of 1 MiB with a queue of `num` at DESC/AVAIL/USED, and helpers to play the driver. */
function guest(num: number, opts: { eventIdx?: boolean; indirect?: boolean } = {}) {
  const ab = new ArrayBuffer(SIZE);
  const bytes = new Uint8Array(ab);
  const dv = new DataView(ab);
  const mem = new GuestMemory([{ guestAddr: GPA, size: SIZE, userAddr: UVA, mmapOffset: 0, bytes }]);
  const q = SplitQueue.create(
    mem,
    { num, desc: UVA + (DESC - GPA), avail: UVA + (AVAIL - GPA), used: UVA + (USED - GPA) },
    { space: 'user', ...opts },
  );
  const at = (gpa: number) => gpa - GPA;
  let availIdx = 0;
  return {
    q,
    bytes,
    dv,
    setDesc(table: number, i: number, addr: number, len: number, flags: number, next: number) {
      const o = at(table) + 16 * i;
      dv.setBigUint64(o, BigInt(addr), true);
      dv.setUint32(o + 8, len, true);
      dv.setUint16(o + 12, flags, true);
      dv.setUint16(o + 14, next, true);
    },
    offer(head: number) {
      dv.setUint16(at(AVAIL) + 4 + 2 * (availIdx % num), head, true);
      availIdx = (availIdx + 1) & 0xffff;
      dv.setUint16(at(AVAIL) + 2, availIdx, true);
    },
    setAvailIdx(v: number) {
      dv.setUint16(at(AVAIL) + 2, v, true);
    },
    usedIdx: () => dv.getUint16(at(USED) + 2, true),
    usedFlags: () => dv.getUint16(at(USED), true),
    usedEntry: (i: number) => [dv.getUint32(at(USED) + 4 + 8 * i, true), dv.getUint32(at(USED) + 8 + 8 * i, true)],
    availEvent: () => dv.getUint16(at(USED) + 4 + 8 * num, true),
    setUsedEvent: (v: number) => dv.setUint16(at(AVAIL) + 4 + 2 * num, v, true),
    setAvailFlags: (v: number) => dv.setUint16(at(AVAIL), v, true),
    at,
  };
}

test('queue size must be a power of two up to 32768, rings inside memory and aligned', () => {
  const bytes = new Uint8Array(1 << 20);
  const mem = new GuestMemory([{ guestAddr: 0, size: bytes.length, userAddr: 0x1000_0000, mmapOffset: 0, bytes }]);
  const ok = { desc: 0, avail: 0x10000, used: 0x20000 };
  for (const num of [0, 3, 100, 65536, 1.5]) {
    assert.throws(() => SplitQueue.create(mem, { num, ...ok }), isValeError, `num ${num}`);
  }
  assert.equal(SplitQueue.create(mem, { num: 256, ...ok }).num, 256);
  assert.equal(SplitQueue.create(mem, { num: 32768, desc: 0, avail: 0x80000, used: 0x90000 }).num, 32768);
  // desc table running off the end, a misaligned used ring, a ring in user space given as guest.
  assert.throws(
    () => SplitQueue.create(mem, { num: 256, desc: (1 << 20) - 16, avail: 0x10000, used: 0x20000 }),
    /outside/,
  );
  assert.throws(() => SplitQueue.create(mem, { num: 256, desc: 0, avail: 0x10000, used: 0x20002 }), /aligned/);
  assert.throws(() => SplitQueue.create(mem, { num: 256, ...ok }, { space: 'user' }), /outside/);
});

test('a direct chain: readable then writable segments, bytes at the right offsets', () => {
  const g = guest(8);
  g.setDesc(DESC, 3, GPA + 0x10000, 100, VIRTQ_DESC_F_NEXT, 5);
  g.setDesc(DESC, 5, GPA + 0x20000, 200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
  g.setDesc(DESC, 1, GPA + 0x30000, 300, VIRTQ_DESC_F_WRITE, 0);
  g.bytes[0x10000] = 0xab;
  assert.equal(g.q.nextChain(), EMPTY);
  g.offer(3);
  assert.equal(g.q.pending(), 1);
  assert.equal(g.q.nextChain(), 3);
  assert.equal(g.q.segs, 3);
  assert.equal(g.q.readable, 1);
  assert.equal(g.q.readBytes, 100);
  assert.equal(g.q.writeBytes, 500);
  assert.deepEqual([...g.q.segLen.subarray(0, 3)], [100, 200, 300]);
  assert.equal(g.q.segBytes[0]![g.q.segOff[0]!], 0xab);
  assert.equal(g.q.segOff[2], 0x30000);
  assert.equal(g.q.nextChain(), EMPTY);
});

test('used ring: entries written by pushUsed, used.idx stored once by publishUsed', () => {
  const g = guest(4);
  for (let i = 0; i < 4; i++) g.setDesc(DESC, i, GPA + 0x10000 + 0x1000 * i, 64, VIRTQ_DESC_F_WRITE, 0);
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3; i++) g.offer((round + i) % 4);
    for (let i = 0; i < 3; i++) {
      const id = g.q.nextChain();
      assert.ok(id >= 0);
      g.q.pushUsed(id, 60 + i);
      assert.equal(g.usedIdx(), (round * 3) & 0xffff, 'not visible before publish');
    }
    assert.equal(g.q.unpublished, 3);
    g.q.publishUsed();
    assert.equal(g.usedIdx(), round * 3 + 3);
    assert.deepEqual(g.usedEntry((round * 3 + 2) % 4), [(round + 2) % 4, 62]);
  }
  assert.equal(g.q.publishUsed(), false, 'nothing pushed: no interrupt');
});

test('indexes wrap at 2^16', () => {
  const g = guest(4);
  g.setDesc(DESC, 0, GPA + 0x10000, 64, 0, 0);
  g.q.setBase(0xfffe);
  // Driver side at 0xfffe too: write avail entries at the wrapped positions.
  for (let k = 0; k < 4; k++) {
    const idx = (0xfffe + k) & 0xffff;
    g.dv.setUint16(g.at(AVAIL) + 4 + 2 * (idx % 4), 0, true);
    g.setAvailIdx((idx + 1) & 0xffff);
    assert.equal(g.q.nextChain(), 0);
    g.q.pushUsed(0, 64);
    g.q.publishUsed();
    assert.equal(g.usedIdx(), (idx + 1) & 0xffff);
  }
  assert.equal(g.q.lastAvail, 2);
});

test('indirect descriptors: walked when negotiated, refused otherwise', () => {
  const IND = GPA + 0x40000;
  for (const indirect of [true, false]) {
    const g = guest(8, { indirect });
    g.setDesc(IND, 0, GPA + 0x10000, 12, VIRTQ_DESC_F_NEXT, 1);
    g.setDesc(IND, 1, GPA + 0x11000, 1500, VIRTQ_DESC_F_NEXT, 2);
    g.setDesc(IND, 2, GPA + 0x12000, 48, 0, 0);
    g.setDesc(DESC, 6, IND, 48, VIRTQ_DESC_F_INDIRECT, 0);
    g.offer(6);
    if (indirect) {
      assert.equal(g.q.nextChain(), 6);
      assert.equal(g.q.segs, 3);
      assert.equal(g.q.readBytes, 1560);
    } else {
      assert.equal(g.q.nextChain(), BROKEN);
      assert.match(g.q.error, /INDIRECT_DESC/);
    }
  }
});

/** Each hostile layout must give BROKEN with a reason, quickly, and every later call too. */
const hostile: [string, (g: ReturnType<typeof guest>) => void, RegExp][] = [
  [
    'a descriptor loop',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x10000, 10, VIRTQ_DESC_F_NEXT, 1);
      g.setDesc(DESC, 1, GPA + 0x10000, 10, VIRTQ_DESC_F_NEXT, 0);
      g.offer(0);
    },
    /loop/,
  ],
  [
    'a self loop',
    (g) => {
      g.setDesc(DESC, 2, GPA + 0x10000, 10, VIRTQ_DESC_F_NEXT, 2);
      g.offer(2);
    },
    /loop/,
  ],
  [
    'a loop inside an indirect table',
    (g) => {
      const IND = GPA + 0x40000;
      g.setDesc(IND, 0, GPA + 0x10000, 10, VIRTQ_DESC_F_NEXT, 1);
      g.setDesc(IND, 1, GPA + 0x10000, 10, VIRTQ_DESC_F_NEXT, 0);
      g.setDesc(DESC, 0, IND, 32, VIRTQ_DESC_F_INDIRECT, 0);
      g.offer(0);
    },
    /loop/,
  ],
  ['a head out of range', (g) => g.offer(8), /head/],
  [
    'a next out of range',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x10000, 10, VIRTQ_DESC_F_NEXT, 9);
      g.offer(0);
    },
    /next/,
  ],
  [
    'a buffer below guest memory',
    (g) => {
      g.setDesc(DESC, 0, GPA - 16, 64, 0, 0);
      g.offer(0);
    },
    /outside/,
  ],
  [
    'a buffer running past the end',
    (g) => {
      g.setDesc(DESC, 0, GPA + SIZE - 10, 64, 0, 0);
      g.offer(0);
    },
    /outside/,
  ],
  [
    'a buffer at 2^63',
    (g) => {
      g.setDesc(DESC, 0, 0, 64, 0, 0);
      g.dv.setBigUint64(g.at(DESC), 1n << 63n, true);
      g.offer(0);
    },
    /2\^53/,
  ],
  [
    'a 4 GiB length',
    (g) => {
      g.setDesc(DESC, 0, GPA, 0xffff_ffff, 0, 0);
      g.offer(0);
    },
    /outside/,
  ],
  [
    'avail.idx jumping by more than the queue size',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x10000, 10, 0, 0);
      g.setAvailIdx(9);
    },
    /avail index/,
  ],
  [
    'nested indirect',
    (g) => {
      const IND = GPA + 0x40000;
      g.setDesc(IND, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
      g.setDesc(DESC, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
      g.offer(0);
    },
    /nested/,
  ],
  [
    'indirect with NEXT',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x40000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
      g.offer(0);
    },
    /NEXT/,
  ],
  [
    'an indirect table of 17 bytes',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x40000, 17, VIRTQ_DESC_F_INDIRECT, 0);
      g.offer(0);
    },
    /multiple of 16/,
  ],
  [
    'an indirect table outside memory',
    (g) => {
      g.setDesc(DESC, 0, GPA + SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
      g.offer(0);
    },
    /outside/,
  ],
  [
    'an indirect table longer than the queue',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x40000, 16 * 9, VIRTQ_DESC_F_INDIRECT, 0);
      g.offer(0);
    },
    /longer than the queue/,
  ],
  [
    'a readable descriptor after a writable one',
    (g) => {
      g.setDesc(DESC, 0, GPA + 0x10000, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
      g.setDesc(DESC, 1, GPA + 0x10000, 10, 0, 0);
      g.offer(0);
    },
    /after a writable/,
  ],
];

for (const [name, setup, why] of hostile) {
  test(`hostile ring: ${name} breaks the queue, with a reason`, () => {
    const g = guest(8, { indirect: true });
    setup(g);
    assert.equal(g.q.nextChain(), BROKEN);
    assert.match(g.q.error, why);
    assert.equal(g.q.nextChain(), BROKEN, 'stays broken');
  });
}

test('a loop in the largest queue ends after at most 32768 steps', () => {
  const bytes = new Uint8Array(1 << 20);
  const mem = new GuestMemory([{ guestAddr: 0, size: bytes.length, userAddr: 0, mmapOffset: 0, bytes }]);
  const q = SplitQueue.create(mem, { num: 32768, desc: 0, avail: 0x80000, used: 0x90000 });
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < 32768; i++) {
    dv.setBigUint64(16 * i, 0xa0000n, true);
    dv.setUint32(16 * i + 8, 1, true);
    dv.setUint16(16 * i + 12, VIRTQ_DESC_F_NEXT, true);
    dv.setUint16(16 * i + 14, (i + 1) & 32767, true);
  }
  dv.setUint16(0x80002, 1, true);
  assert.equal(q.nextChain(), BROKEN);
  assert.match(q.error, /loop/);
});

test('needEvent is vring_need_event modulo 2^16', () => {
  assert.equal(needEvent(0, 1, 0), true);
  assert.equal(needEvent(5, 5, 0), false);
  assert.equal(needEvent(4, 5, 0), true);
  assert.equal(needEvent(0xffff, 2, 0xfffe), true);
  assert.equal(needEvent(3, 2, 0xfffe), false);
});

test('EVENT_IDX: interrupts only when used_event is crossed; kicks asked for through avail_event', () => {
  const g = guest(8, { eventIdx: true });
  for (let i = 0; i < 8; i++) g.setDesc(DESC, i, GPA + 0x10000, 64, VIRTQ_DESC_F_WRITE, 0);
  g.setUsedEvent(2);
  g.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT); // ignored under EVENT_IDX
  for (let i = 0; i < 2; i++) g.offer(i);
  for (let i = 0; i < 2; i++) g.q.pushUsed(g.q.nextChain(), 64);
  assert.equal(g.q.publishUsed(), false, 'used 0 -> 2 does not cross used_event 2');
  g.offer(2);
  g.q.pushUsed(g.q.nextChain(), 64);
  assert.equal(g.q.publishUsed(), true, 'used 2 -> 3 crosses used_event 2');
  g.q.setKicks(true);
  assert.equal(g.availEvent(), 3);
  assert.equal(g.usedFlags(), 0, 'no flag under EVENT_IDX');
});

test('without EVENT_IDX: NO_INTERRUPT and NO_NOTIFY flags', () => {
  const g = guest(8);
  g.setDesc(DESC, 0, GPA + 0x10000, 64, VIRTQ_DESC_F_WRITE, 0);
  g.offer(0);
  g.q.pushUsed(g.q.nextChain(), 64);
  assert.equal(g.q.publishUsed(), true);
  g.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
  g.offer(0);
  g.q.pushUsed(g.q.nextChain(), 64);
  assert.equal(g.q.publishUsed(), false);
  g.q.setKicks(false);
  assert.equal(g.usedFlags(), VRING_USED_F_NO_NOTIFY);
  g.q.setKicks(true);
  assert.equal(g.usedFlags(), 0);
});

test('unget returns the same chain again', () => {
  const g = guest(8);
  g.setDesc(DESC, 4, GPA + 0x10000, 64, 0, 0);
  g.offer(4);
  assert.equal(g.q.nextChain(), 4);
  g.q.unget();
  assert.equal(g.q.nextChain(), 4);
  assert.equal(g.q.nextChain(), EMPTY);
});
