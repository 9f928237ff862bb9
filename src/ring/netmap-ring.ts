/*
 * The user's view of one ring: netmap_ring plus the helpers of netmap_user.h
 * (nm_ring_next, nm_ring_space, nm_ring_empty, NETMAP_BUF).
 *
 * It only reads and writes port memory; syncing is the port's job
 * (NetmapPort.txsync/rxsync/poll). Accessors are small methods over the
 * arena's typed arrays so they inline; hot user loops may also index the
 * exposed views directly:
 *
 *   slot s:   w = slotsW + (s << SLOT_SHIFT_W)   (layout.ts)
 *             u32[w + SLOT_BUF_IDX_W]            buf_idx
 *             u16[(w << 1) + SLOT_LEN_H]         len
 *             u16[(w << 1) + SLOT_FLAGS_H]       flags
 *   buffer b: u8[bufsBase + b*NM_BUF_SIZE ...]
 *
 * Transmit (TX ring):
 *   while (ring.space() > 0) { const s = ring.cur; fill ring.buf(s); ring.setLen(s, n);
 *                              ring.head = ring.cur = ring.next(s); }
 *   port.txsync();
 * Receive (RX ring):
 *   port.rxsync();  // or await port.poll()
 *   while (!ring.empty()) { const s = ring.cur; use ring.buf(s), ring.len(s);
 *                           ring.head = ring.cur = ring.next(s); }
 */

import type { Arena } from './arena.js';
import {
  NM_BUF_SIZE,
  NS_MOREFRAG,
  NS_RFRAGS_SHIFT,
  RING_CUR,
  RING_HDR_SIZE,
  RING_HEAD,
  RING_NUM_SLOTS,
  RING_TAIL,
  SLOT_BUF_IDX_W,
  SLOT_FLAGS_H,
  SLOT_LEN_H,
  SLOT_SHIFT_W,
} from './layout.js';
import type { Region } from './region.js';

export class NetmapRing {
  readonly arena: Arena;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  /** u32 index of the ring header. */
  readonly hdrW: number;
  /** u32 index of slot 0. */
  readonly slotsW: number;
  readonly numSlots: number;
  /** Byte offset of buffer 0 in the arena. */
  readonly bufsBase: number;
  readonly numBufs: number;
  readonly bufSize = NM_BUF_SIZE;
  /** 'tx' or 'rx'. */
  readonly dir: 'tx' | 'rx';
  /** Ring number within its direction (netmap's ringid). */
  readonly ringId: number;

  constructor(region: Region, index: number) {
    const g = region.geometry;
    this.arena = region.arena;
    this.u8 = region.arena.u8;
    this.u16 = region.arena.u16;
    this.u32 = region.arena.u32;
    this.f64 = region.arena.f64;
    const base = region.base + g.ringOfs[index];
    this.hdrW = base >>> 2;
    this.slotsW = (base + RING_HDR_SIZE) >>> 2;
    this.numSlots = this.u32[this.hdrW + (RING_NUM_SLOTS >>> 2)];
    this.bufsBase = region.base + g.bufsOfs;
    this.numBufs = g.numBufs;
    this.dir = index < g.txRings ? 'tx' : 'rx';
    this.ringId = index < g.txRings ? index : index - g.txRings;
  }

  /** (u) First slot owned by the user. */
  get head(): number {
    return this.u32[this.hdrW + (RING_HEAD >>> 2)];
  }
  set head(v: number) {
    this.u32[this.hdrW + (RING_HEAD >>> 2)] = v;
  }
  /** (u) Wake-up point and the user's current position. */
  get cur(): number {
    return this.u32[this.hdrW + (RING_CUR >>> 2)];
  }
  set cur(v: number) {
    this.u32[this.hdrW + (RING_CUR >>> 2)] = v;
  }
  /** (k) First slot owned by the switch; changes only during this port's syncs. */
  get tail(): number {
    return this.u32[this.hdrW + (RING_TAIL >>> 2)];
  }

  /** nm_ring_next. */
  next(i: number): number {
    return i + 1 === this.numSlots ? 0 : i + 1;
  }
  /** nm_ring_space: slots between cur and tail. */
  space(): number {
    let s = this.tail - this.cur;
    if (s < 0) s += this.numSlots;
    return s;
  }
  /** nm_ring_empty. */
  empty(): boolean {
    return this.cur === this.tail;
  }

  bufIdx(slot: number): number {
    return this.u32[this.slotsW + (slot << SLOT_SHIFT_W) + SLOT_BUF_IDX_W];
  }
  /** Swap in another buffer of this port (zero-copy between this port's rings). */
  setBufIdx(slot: number, idx: number): void {
    this.u32[this.slotsW + (slot << SLOT_SHIFT_W) + SLOT_BUF_IDX_W] = idx;
  }
  len(slot: number): number {
    return this.u16[((this.slotsW + (slot << SLOT_SHIFT_W)) << 1) + SLOT_LEN_H];
  }
  setLen(slot: number, len: number): void {
    this.u16[((this.slotsW + (slot << SLOT_SHIFT_W)) << 1) + SLOT_LEN_H] = len;
  }
  flags(slot: number): number {
    return this.u16[((this.slotsW + (slot << SLOT_SHIFT_W)) << 1) + SLOT_FLAGS_H];
  }
  setFlags(slot: number, flags: number): void {
    this.u16[((this.slotsW + (slot << SLOT_SHIFT_W)) << 1) + SLOT_FLAGS_H] = flags;
  }
  /** On RX: does another fragment of this frame follow? */
  moreFrag(slot: number): boolean {
    return (this.flags(slot) & NS_MOREFRAG) !== 0;
  }
  /** On RX: the number of fragments of the frame this slot belongs to (NS_RFRAGS). */
  rfrags(slot: number): number {
    return this.flags(slot) >>> NS_RFRAGS_SHIFT;
  }

  /** NETMAP_BUF: byte offset in `u8` of the buffer with index `idx` (invalid → reserved buffer 0). */
  bufOffset(idx: number): number {
    return this.bufsBase + (idx < this.numBufs ? idx : 0) * NM_BUF_SIZE;
  }
  /** Byte offset in `u8` of the buffer of `slot`. */
  buf(slot: number): number {
    return this.bufOffset(this.bufIdx(slot));
  }
  /** A view of the frame bytes in `slot` (allocates a view: for convenience, not for hot loops). */
  frame(slot: number): Uint8Array {
    const o = this.buf(slot);
    return this.u8.subarray(o, o + this.len(slot));
  }
  /** A view of the whole buffer of `slot`, to fill before setLen(). */
  bufView(slot: number): Uint8Array {
    const o = this.buf(slot);
    return this.u8.subarray(o, o + NM_BUF_SIZE);
  }
}
