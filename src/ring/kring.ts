/*
 * The switch's side of one ring: netmap's kring. It keeps the authoritative
 * hwcur/hwtail privately and treats the ring header in port memory as
 * untrusted user input.
 *
 * Ownership, as in netmap (N = numSlots, one slot always empty):
 *
 *      hwcur            head        cur        tail = hwtail
 *   ----|================|==========|===========|-------------
 *        switch done      user's     user's      switch's slots
 *        with these       (head..tail owned by the user)
 *
 *   TX: the user fills [head, tail) and advances head; txsync forwards
 *       [hwcur, head) and gives every slot back (hwtail = head - 1).
 *   RX: the switch appends at hwtail; the user consumes [head, tail) and
 *       advances head to release; rxsync sets hwcur = head.
 *
 * Everything the switch relies on (slot count, offsets, buffer count) comes
 * from the region's geometry, which the switch computed itself; values in
 * port memory (head, cur, sync head, slots) are read once, checked, and only
 * the checked copy is used.
 *
 * Every sync first runs the prologue: head and cur must lie, circularly, in
 * [hwcur, hwtail] with head <= cur. Anything else re-initialises this ring
 * (head = cur = hwcur, tail = hwtail, bad slots fixed) and reports the error to
 * this port only; nothing is forwarded from a ring in that state.
 */

import type { Arena } from './arena.js';
import {
  NM_BUF_SIZE,
  NM_RESERVED_BUFS,
  NS_MOREFRAG,
  RING_CUR,
  RING_ERRORS,
  RING_HDR_SIZE,
  RING_HEAD,
  RING_HWCUR,
  RING_HWTAIL,
  RING_SYNC_HEAD,
  RING_TAIL,
  SLOT_BUF_IDX_W,
  SLOT_FLAGS_H,
  SLOT_LEN_H,
  SLOT_SHIFT_W,
} from './layout.js';
import type { Region } from './region.js';

export class KRing {
  readonly arena: Arena;
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  /** u32 index of the ring header in the arena. */
  readonly hdrW: number;
  /** u32 index of slot 0 (slot s starts at slotsW + 4*s). */
  readonly slotsW: number;
  readonly numSlots: number;
  /** numSlots - 1, netmap's `lim`. */
  readonly lim: number;
  /** Byte offset of buffer 0 in the arena. */
  readonly bufsBase: number;
  readonly numBufs: number;
  readonly isTx: boolean;
  readonly ringId: number;

  hwcur = 0;
  hwtail = 0;
  /** Re-initialisations caused by illegal head/cur moves. */
  errors = 0;

  constructor(region: Region, index: number) {
    const g = region.geometry;
    this.arena = region.arena;
    this.u32 = region.arena.u32;
    this.u16 = region.arena.u16;
    const base = region.base + (g.ringOfs[index] as number);
    this.hdrW = base >>> 2;
    this.slotsW = (base + RING_HDR_SIZE) >>> 2;
    this.isTx = index < g.txRings;
    this.ringId = this.isTx ? index : index - g.txRings;
    // from the switch's own geometry, never read back from port memory the client can write
    this.numSlots = this.isTx ? g.txSlots : g.rxSlots;
    this.lim = this.numSlots - 1;
    this.bufsBase = region.base + g.bufsOfs;
    this.numBufs = g.numBufs;
    this.hwcur = 0;
    this.hwtail = this.isTx ? this.lim : 0;
  }

  /** Slots free for the switch to fill (RX) : N - 1 - (hwtail - hwcur). */
  rxSpace(): number {
    let busy = this.hwtail - this.hwcur;
    if (busy < 0) busy += this.numSlots;
    return this.lim - busy;
  }

  /**
   * netmap's nm_{tx,rx}sync_prologue: returns the user's new head, or -1 when
   * head/cur are illegal (the caller then calls reinit()). `remote` is for a
   * port in another process, whose ring the switch reads at any time: head is
   * the one the client published at its last sync (RING_SYNC_HEAD), and cur is
   * not checked (the client library checks it at its own syncs).
   */
  prologue(remote = false): number {
    const u32 = this.u32;
    const n = this.numSlots;
    const head = u32[this.hdrW + ((remote ? RING_SYNC_HEAD : RING_HEAD) >>> 2)] as number;
    const cur = u32[this.hdrW + (RING_CUR >>> 2)] as number;
    if (head >= n || (!remote && cur >= n)) return -1;
    const hwcur = this.hwcur;
    let span = this.hwtail - hwcur;
    if (span < 0) span += n;
    let dh = head - hwcur;
    if (dh < 0) dh += n;
    let dc = cur - hwcur;
    if (dc < 0) dc += n;
    if (dh > span || (!remote && (dc > span || dc < dh))) return -1;
    return head;
  }

  /** netmap_ring_reinit: puts the ring back to the switch's view and repairs bad slots. */
  reinit(): void {
    const u32 = this.u32;
    const u16 = this.u16;
    this.errors++;
    u32[this.hdrW + (RING_HEAD >>> 2)] = this.hwcur;
    u32[this.hdrW + (RING_SYNC_HEAD >>> 2)] = this.hwcur;
    u32[this.hdrW + (RING_CUR >>> 2)] = this.hwcur;
    u32[this.hdrW + (RING_TAIL >>> 2)] = this.hwtail;
    u32[this.hdrW + (RING_ERRORS >>> 2)] = this.errors;
    for (let s = 0; s < this.numSlots; s++) {
      const w = this.slotsW + (s << SLOT_SHIFT_W);
      const idx = u32[w + SLOT_BUF_IDX_W] as number;
      if (idx < NM_RESERVED_BUFS || idx >= this.numBufs) {
        u32[w + SLOT_BUF_IDX_W] = 0;
        u16[(w << 1) + SLOT_LEN_H] = 0;
      } else if ((u16[(w << 1) + SLOT_LEN_H] as number) > NM_BUF_SIZE) {
        u16[(w << 1) + SLOT_LEN_H] = 0;
      }
    }
  }

  /** Publishes hwcur/hwtail in the kernel area of the header. */
  publish(): void {
    this.u32[this.hdrW + (RING_HWCUR >>> 2)] = this.hwcur;
    this.u32[this.hdrW + (RING_HWTAIL >>> 2)] = this.hwtail;
  }

  /** Gives the user the switch's view: tail = hwtail (netmap's nm_sync_finalize). */
  finalize(): void {
    this.u32[this.hdrW + (RING_TAIL >>> 2)] = this.hwtail;
  }

  /** Frames (last slots of chains, NS_MOREFRAG clear) in [hwcur, head); at most numSlots reads. */
  framesBefore(head: number): number {
    let n = 0;
    for (let j = this.hwcur; j !== head; j = j === this.lim ? 0 : j + 1) {
      if (((this.u16[((this.slotsW + (j << SLOT_SHIFT_W)) << 1) + SLOT_FLAGS_H] as number) & NS_MOREFRAG) === 0) n++;
    }
    return n;
  }

  /**
   * TX, after the switch took [hwcur, head): every slot goes back to the user
   * (hwcur = head, hwtail = head - 1, as VALE's txsync leaves a ring), published.
   */
  reclaim(head: number): void {
    this.hwcur = head;
    this.hwtail = head === 0 ? this.lim : head - 1;
    this.publish();
  }
}
