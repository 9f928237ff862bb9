/*
 * Creating and reading a port region (see layout.ts for the picture).
 *
 * initRegion() writes a fresh region: the interface header, every ring header
 * in its netmap initial state (TX head = cur = 0, tail = N-1; RX all 0), and one
 * distinct buffer per slot. openRegion() reads one back and checks every field
 * against the memory it lives in, so a region mapped from shared memory that a
 * client scribbled on can never make the switch index outside it.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { Arena } from './arena.js';
import {
  DIR_RX,
  DIR_TX,
  IF_BUF_SIZE,
  IF_BUFS_OFS,
  IF_MAGIC,
  IF_MAGIC_VALUE,
  IF_NAME,
  IF_NAME_SIZE,
  IF_NUM_BUFS,
  IF_REGION_SIZE,
  IF_RING_OFS,
  IF_RX_RINGS,
  IF_TX_RINGS,
  IF_VERSION,
  LAYOUT_VERSION,
  MAX_RINGS,
  MAX_SLOTS,
  NM_BUF_SIZE,
  NM_RESERVED_BUFS,
  REGION_ALIGN,
  type RegionGeometry,
  RING_BUF_SIZE,
  RING_CUR,
  RING_DIR,
  RING_HDR_SIZE,
  RING_HEAD,
  RING_HWCUR,
  RING_HWTAIL,
  RING_ID,
  RING_NUM_SLOTS,
  RING_SYNC_HEAD,
  RING_TAIL,
  regionGeometry,
  SLOT_BUF_IDX,
  SLOT_FLAGS,
  SLOT_LEN,
  SLOT_SIZE,
} from './layout.js';

/** A region placed in an arena: everything needed to find its rings and buffers. */
export interface Region {
  readonly arena: Arena;
  /** Byte offset of the region in the arena. */
  readonly base: number;
  readonly geometry: RegionGeometry;
  readonly name: string;
}

export function initRegion(arena: Arena, base: number, geometry: RegionGeometry, name: string): Region {
  if (base % REGION_ALIGN !== 0 || base + geometry.size > arena.size) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `region of ${geometry.size} bytes does not fit at ${base}`);
  }
  const { u8, u16, u32 } = arena;
  u8.fill(0, base, base + geometry.bufsOfs);
  const w = base >>> 2;
  u32[w + (IF_MAGIC >>> 2)] = IF_MAGIC_VALUE;
  u32[w + (IF_VERSION >>> 2)] = LAYOUT_VERSION;
  const nameBytes = Buffer.from(name, 'latin1');
  u8.set(nameBytes.subarray(0, IF_NAME_SIZE - 1), base + IF_NAME);
  u32[w + (IF_TX_RINGS >>> 2)] = geometry.txRings;
  u32[w + (IF_RX_RINGS >>> 2)] = geometry.rxRings;
  u32[w + (IF_BUF_SIZE >>> 2)] = NM_BUF_SIZE;
  u32[w + (IF_NUM_BUFS >>> 2)] = geometry.numBufs;
  u32[w + (IF_BUFS_OFS >>> 2)] = geometry.bufsOfs;
  u32[w + (IF_REGION_SIZE >>> 2)] = geometry.size;
  let buf = NM_RESERVED_BUFS;
  const nrings = geometry.txRings + geometry.rxRings;
  for (let r = 0; r < nrings; r++) {
    const isTx = r < geometry.txRings;
    const slots = isTx ? geometry.txSlots : geometry.rxSlots;
    const ro = base + geometry.ringOfs[r];
    u32[w + (IF_RING_OFS >>> 2) + r] = geometry.ringOfs[r];
    const rw = ro >>> 2;
    u32[rw + (RING_NUM_SLOTS >>> 2)] = slots;
    u32[rw + (RING_BUF_SIZE >>> 2)] = NM_BUF_SIZE;
    u16[(ro + RING_ID) >>> 1] = isTx ? r : r - geometry.txRings;
    u16[(ro + RING_DIR) >>> 1] = isTx ? DIR_TX : DIR_RX;
    const tail = isTx ? slots - 1 : 0;
    u32[rw + (RING_HEAD >>> 2)] = 0;
    u32[rw + (RING_CUR >>> 2)] = 0;
    u32[rw + (RING_TAIL >>> 2)] = tail;
    u32[rw + (RING_HWCUR >>> 2)] = 0;
    u32[rw + (RING_HWTAIL >>> 2)] = tail;
    u32[rw + (RING_SYNC_HEAD >>> 2)] = 0;
    const so = ro + RING_HDR_SIZE;
    for (let s = 0; s < slots; s++) {
      const o = so + s * SLOT_SIZE;
      u32[(o + SLOT_BUF_IDX) >>> 2] = buf++;
      u16[(o + SLOT_LEN) >>> 1] = 0;
      u16[(o + SLOT_FLAGS) >>> 1] = 0;
    }
  }
  return { arena, base, geometry, name };
}

/** Reads and validates the region at `base` (a region made by initRegion, possibly in another process). */
export function openRegion(arena: Arena, base: number): Region {
  const bad = (what: string): ValeError =>
    new ValeError(ErrorCodes.PROTOCOL, `invalid port region at ${base}: ${what}`);
  if (base % REGION_ALIGN !== 0 || base + REGION_ALIGN > arena.size) throw bad('outside the arena');
  const { u8, u32 } = arena;
  const w = base >>> 2;
  if (u32[w + (IF_MAGIC >>> 2)] !== IF_MAGIC_VALUE) throw bad('bad magic');
  if (u32[w + (IF_VERSION >>> 2)] !== LAYOUT_VERSION) throw bad('layout version mismatch');
  const txRings = u32[w + (IF_TX_RINGS >>> 2)];
  const rxRings = u32[w + (IF_RX_RINGS >>> 2)];
  if (txRings < 1 || txRings > MAX_RINGS || rxRings < 1 || rxRings > MAX_RINGS) throw bad('ring count');
  const first = base + u32[w + (IF_RING_OFS >>> 2)];
  const txSlots = u32[(first + RING_NUM_SLOTS) >>> 2];
  const rxo = base + u32[w + (IF_RING_OFS >>> 2) + txRings];
  const rxSlots = u32[(rxo + RING_NUM_SLOTS) >>> 2];
  if (txSlots < 2 || txSlots > MAX_SLOTS || rxSlots < 2 || rxSlots > MAX_SLOTS) throw bad('slot count');
  const geometry = regionGeometry({ txRings, rxRings, txSlots, rxSlots });
  for (let r = 0; r < txRings + rxRings; r++) {
    if (u32[w + (IF_RING_OFS >>> 2) + r] !== geometry.ringOfs[r]) throw bad(`ring ${r} offset`);
  }
  if (
    u32[w + (IF_BUFS_OFS >>> 2)] !== geometry.bufsOfs ||
    u32[w + (IF_NUM_BUFS >>> 2)] !== geometry.numBufs ||
    u32[w + (IF_REGION_SIZE >>> 2)] !== geometry.size ||
    u32[w + (IF_BUF_SIZE >>> 2)] !== NM_BUF_SIZE
  ) {
    throw bad('buffer geometry');
  }
  if (base + geometry.size > arena.size) throw bad('larger than the arena');
  let end = base + IF_NAME;
  while (end < base + IF_NAME + IF_NAME_SIZE && u8[end] !== 0) end++;
  const name = Buffer.from(u8.buffer, u8.byteOffset + base + IF_NAME, end - (base + IF_NAME)).toString('latin1');
  return { arena, base, geometry, name };
}
