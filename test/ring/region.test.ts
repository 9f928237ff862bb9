/*
 * Writing and reading back a port region (src/ring/region.ts, src/ring/arena.ts).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena, ErrorCodes, layout } from '../../src/index.js';
import { initRegion, openRegion } from '../../src/ring/region.js';
import { assertCode } from '../helpers/vale.js';

const cfg = { txRings: 2, rxRings: 3, txSlots: 8, rxSlots: 16 };

function fresh(base = 0) {
  const g = layout.regionGeometry(cfg);
  const arena = new Arena(base + g.size + 4096);
  const region = initRegion(arena, base, g, 'vale0:port-name');
  return { g, arena, region };
}

test('initRegion writes netmap’s initial ring state and one distinct buffer per slot', () => {
  const { g, arena, region } = fresh(8192);
  const u32 = arena.u32;
  const u16 = arena.u16;
  const seen = new Set<number>();
  for (let r = 0; r < cfg.txRings + cfg.rxRings; r++) {
    const isTx = r < cfg.txRings;
    const n = isTx ? cfg.txSlots : cfg.rxSlots;
    const ro = region.base + (g.ringOfs[r] as number);
    const w = ro >>> 2;
    assert.equal(u32[w + layout.RING_NUM_SLOTS / 4], n);
    assert.equal(u32[w + layout.RING_HEAD / 4], 0);
    assert.equal(u32[w + layout.RING_CUR / 4], 0);
    assert.equal(u32[w + layout.RING_TAIL / 4], isTx ? n - 1 : 0);
    assert.equal(u32[w + layout.RING_HWTAIL / 4], isTx ? n - 1 : 0);
    assert.equal(u16[(ro + layout.RING_DIR) >>> 1], isTx ? layout.DIR_TX : layout.DIR_RX);
    assert.equal(u16[(ro + layout.RING_ID) >>> 1], isTx ? r : r - cfg.txRings);
    for (let s = 0; s < n; s++) {
      const idx = u32[((ro + layout.RING_HDR_SIZE + s * layout.SLOT_SIZE) >>> 2) + 0] as number;
      assert.ok(idx >= layout.NM_RESERVED_BUFS && idx < g.numBufs);
      assert.ok(!seen.has(idx), 'buffers are not shared between slots');
      seen.add(idx);
    }
  }
});

test('openRegion reads back what initRegion wrote', () => {
  const { arena, region } = fresh(4096);
  const back = openRegion(arena, 4096);
  assert.deepEqual(back.geometry, region.geometry);
  assert.equal(back.name, 'vale0:port-name');
  assert.equal(back.base, 4096);
});

test('names are cut to 15 bytes (IFNAMSIZ with its NUL)', () => {
  const g = layout.regionGeometry(cfg);
  const arena = new Arena(g.size);
  initRegion(arena, 0, g, 'vale0123456789abcdef');
  assert.equal(openRegion(arena, 0).name, 'vale0123456789a');
});

test('openRegion rejects a scribbled region with VALE_ERR_PROTOCOL, never indexing outside it', () => {
  const w32 = (arena: Arena, off: number, v: number) => {
    arena.u32[off >>> 2] = v;
  };
  const cases: Array<[string, (arena: Arena) => void]> = [
    ['magic', (a) => w32(a, layout.IF_MAGIC, 0)],
    ['version', (a) => w32(a, layout.IF_VERSION, 99)],
    ['tx ring count 0', (a) => w32(a, layout.IF_TX_RINGS, 0)],
    ['rx ring count 17', (a) => w32(a, layout.IF_RX_RINGS, 17)],
    ['ring offset', (a) => w32(a, layout.IF_RING_OFS + 4, 12345)],
    ['first ring offset past the arena', (a) => w32(a, layout.IF_RING_OFS, 0x7ffffff0)],
    ['slot count', (a) => w32(a, layout.IF_HDR_SIZE + layout.RING_NUM_SLOTS, 5000)],
    ['buffer count', (a) => w32(a, layout.IF_NUM_BUFS, 1 << 30)],
    ['buffer offset', (a) => w32(a, layout.IF_BUFS_OFS, 0)],
    ['region size', (a) => w32(a, layout.IF_REGION_SIZE, 1 << 30)],
  ];
  for (const [what, scribble] of cases) {
    const { arena } = fresh();
    scribble(arena);
    assert.throws(
      () => openRegion(arena, 0),
      (e: unknown) => (e as { code?: string }).code === ErrorCodes.PROTOCOL,
      what,
    );
  }
  const { arena } = fresh();
  assertCode(() => openRegion(arena, 100), ErrorCodes.PROTOCOL, /outside/);
  assertCode(() => openRegion(arena, arena.size), ErrorCodes.PROTOCOL);
});

test('a region that does not fit its arena is refused', () => {
  const g = layout.regionGeometry(cfg);
  assertCode(() => initRegion(new Arena(g.size - 4096), 0, g, 'x'), ErrorCodes.INVALID_ARG);
  assertCode(() => initRegion(new Arena(g.size + 8192), 100, g, 'x'), ErrorCodes.INVALID_ARG);
  // a truncated copy of a valid region
  const { arena } = fresh();
  const small = new Arena(8192);
  small.u8.set(arena.u8.subarray(0, 8192));
  assertCode(() => openRegion(small, 0), ErrorCodes.PROTOCOL);
});

test('Arena validates its size and wraps existing memory', () => {
  for (const bad of [0, -4096, 100, 4096.5]) assertCode(() => new Arena(bad), ErrorCodes.INVALID_ARG);
  const a = new Arena(8192);
  assert.equal(a.size, 8192);
  assert.ok(a.buffer instanceof SharedArrayBuffer, 'allocated arenas are shared (usable by workers)');
  assert.equal(typeof a.copy, 'function', 'with a memmove');
  a.u8.set([1, 2, 3, 4, 5], 100);
  a.copy?.(102, 100, 5);
  assert.deepEqual([...a.u8.subarray(100, 107)], [1, 2, 1, 2, 3, 4, 5], 'overlapping copy is a memmove');
  const sab = new SharedArrayBuffer(4096);
  const w = new Arena(sab);
  assert.equal(w.copy, null, 'wrapped memory has no wasm memmove');
  w.u8[5] = 7;
  assert.equal(new Uint8Array(sab)[5], 7);
  assertCode(() => new Arena(new ArrayBuffer(12)), ErrorCodes.INVALID_ARG);
});
