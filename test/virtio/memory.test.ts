/* The guest memory table: translation bounds, overlap refusal, user-address lookups. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValeError } from '../../src/core/errors.js';
import { GuestMemory, type MemRegion } from '../../src/virtio/memory.js';

function region(guestAddr: number, size: number, userAddr: number): MemRegion {
  return { guestAddr, size, userAddr, mmapOffset: 0, bytes: new Uint8Array(size) };
}

test('translate: inside one region gives the offset and the bytes; anything else -1', () => {
  const a = region(0, 0x1000, 0x7000_0000);
  const b = region(0x10_0000, 0x2000, 0x7100_0000);
  const m = new GuestMemory([a, b]);
  assert.equal(m.translate(0, 0x1000), 0);
  assert.equal(m.hit, a.bytes);
  assert.equal(m.translate(0x10_0010, 16), 0x10);
  assert.equal(m.hit, b.bytes);
  assert.equal(m.hitIndex, 1);
  assert.equal(m.translate(0xfff, 2), -1, 'runs past a region');
  assert.equal(m.translate(0x1000, 1), -1, 'between regions');
  assert.equal(m.translate(0x10_2000, 0), -1, 'len 0 still needs a mapped byte');
  assert.equal(m.translate(-1, 1), -1);
  assert.equal(m.translate(0.5, 1), -1);
  assert.equal(m.translate(2 ** 53, 1), -1);
  assert.equal(m.translate(0, Number.NaN), -1);
  assert.equal(m.translateUser(0x7100_0ff0, 0x10), 0xff0);
  assert.equal(m.translateUser(0x10_0000, 1), -1, 'guest address is not a user address');
  assert.equal(m.userToGuest(0x7100_0004), 0x10_0004);
  assert.equal(m.userToGuest(0x6000_0000), -1);
});

test('translate never answers with a range outside the region it names', () => {
  const regs = [region(0x1000, 0x3000, 0x9000), region(0x8000, 0x100, 0x20000)];
  const m = new GuestMemory(regs);
  // Every address around and inside both regions, with lengths at and around the edges.
  for (let addr = 0; addr <= 0x9000; addr += 0x7f) {
    for (const len of [0, 1, 0x7f, 0x100, 0xfff, 0x1000, 0x2f81, 0x3000, 0x3001]) {
      const off = m.translate(addr, len);
      const inside = regs.some((r) => addr >= r.guestAddr && addr + Math.max(len, 1) <= r.guestAddr + r.size);
      assert.equal(off >= 0, inside, `0x${addr.toString(16)}+${len}`);
      if (off >= 0) {
        assert.ok(off + Math.max(len, 1) <= m.hit.length);
        assert.equal(regs[m.hitIndex]!.guestAddr + off, addr);
      }
    }
  }
});

test('tables with overlapping, empty, oversized or short regions are refused', () => {
  const bad: MemRegion[][] = [
    [region(0, 0x1000, 0), region(0x800, 0x1000, 0x10000)],
    [region(0, 0x1000, 0), region(0x10000, 0x1000, 0x800)],
    [{ ...region(0, 0x10, 0), size: 0, bytes: new Uint8Array(0) }],
    [{ ...region(0, 0x10, 0), bytes: new Uint8Array(8) }],
    [{ ...region(0, 0x10, 0), guestAddr: 2 ** 53 - 8 }],
    [{ ...region(0, 0x10, 0), userAddr: -1 }],
    Array.from({ length: 9 }, (_, i) => region(i * 0x1000, 0x1000, i * 0x1000)),
  ];
  for (const t of bad) assert.throws(() => new GuestMemory(t), isValeError);
  assert.equal(new GuestMemory([region(0, 0x1000, 0), region(0x1000, 0x1000, 0x1000)]).count, 2, 'adjacent is fine');
});
