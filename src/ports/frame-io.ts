/*
 * Frames <-> slots for adapters whose far side carries one whole frame per
 * read or write (a TAP fd, a VDE datagram socket). Every view is made once,
 * at attach time, so moving a frame allocates nothing.
 *
 * In: a frame is read straight into the TX slot at cur and may run on into
 * the following slots' buffers (the TX buffers of a fresh in-process port are
 * consecutive); place() then lays it out as a NS_MOREFRAG chain. Near the end
 * of the ring, where that room is short, the read goes to a scratch buffer
 * and place() copies it in.
 * Out: nextRx() finds the frame at an RX slot: the slot's own buffer; for a
 * chain, where its buffers follow each other full (as the switch fills a
 * fresh port's ring from a chain like those place() makes), a view from its
 * first buffer; else the chain gathered into one buffer. Either way one write.
 */

import { MAX_FRAGS, NM_BUF_SIZE, NS_MOREFRAG } from '../ring/layout.js';
import type { NetmapRing } from '../ring/netmap-ring.js';

/** Slots one read may fill: room for a 64 KB frame (65535 bytes plus a 12-byte header). */
export const READ_SLOTS = 33;
export const READ_MAX = READ_SLOTS * NM_BUF_SIZE;

export class FrameIo {
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  /** Per TX slot: a view from its buffer over READ_MAX consecutive bytes, or null (read into scratch). */
  private readonly txSpans: Array<Uint8Array | null>;
  /** Where reads go when a slot has no span; also a buffer for reads that only drain the source. */
  readonly scratch: Uint8Array;
  private readonly scratchFrags: Uint8Array[];
  private readonly rxViews: Uint8Array[];
  /** Per RX slot: a view from its buffer over READ_MAX consecutive bytes, or null. */
  private readonly rxSpans: Array<Uint8Array | null>;
  private readonly gather: Uint8Array;
  /** The frame nextRx() found: its bytes (from 0), its length, and the RX slot after it. */
  buf: Uint8Array;
  len = 0;
  next = 0;

  constructor(tx: NetmapRing, rx: NetmapRing) {
    this.tx = tx;
    this.rx = rx;
    const u8 = tx.u8;
    let consecutive = true;
    for (let s = 1; s < tx.numSlots; s++) if (tx.bufIdx(s) !== tx.bufIdx(s - 1) + 1) consecutive = false;
    const ringEnd = tx.buf(tx.numSlots - 1) + NM_BUF_SIZE;
    this.txSpans = [];
    for (let s = 0; s < tx.numSlots; s++) {
      const o = tx.buf(s);
      this.txSpans.push(consecutive && o + READ_MAX <= ringEnd ? u8.subarray(o, o + READ_MAX) : null);
    }
    this.rxViews = [];
    for (let s = 0; s < rx.numSlots; s++) this.rxViews.push(rx.bufView(s));
    let rxConsecutive = true;
    for (let s = 1; s < rx.numSlots; s++) if (rx.bufIdx(s) !== rx.bufIdx(s - 1) + 1) rxConsecutive = false;
    const rxEnd = rx.buf(rx.numSlots - 1) + NM_BUF_SIZE;
    this.rxSpans = [];
    for (let s = 0; s < rx.numSlots; s++) {
      const o = rx.buf(s);
      this.rxSpans.push(rxConsecutive && o + READ_MAX <= rxEnd ? rx.u8.subarray(o, o + READ_MAX) : null);
    }
    this.scratch = new Uint8Array(READ_MAX);
    this.scratchFrags = [];
    for (let k = 0; k < READ_SLOTS; k++) {
      this.scratchFrags.push(this.scratch.subarray(k * NM_BUF_SIZE, (k + 1) * NM_BUF_SIZE));
    }
    this.gather = new Uint8Array((MAX_FRAGS + 1) * NM_BUF_SIZE);
    this.buf = this.gather;
  }

  /** The buffer to read the frame for TX slot `cur` into (READ_MAX bytes). */
  readTarget(cur: number): Uint8Array {
    return this.txSpans[cur] ?? this.scratch;
  }

  /** Lays out the `len` bytes just read into readTarget(cur) as a chain from `cur`; returns the slot after it. */
  place(cur: number, len: number): number {
    const tx = this.tx;
    const n = tx.numSlots;
    const inPlace = this.txSpans[cur] !== null;
    let left = len;
    for (let k = 0; ; k++) {
      const l = Math.min(left, NM_BUF_SIZE);
      if (!inPlace) tx.u8.set(this.scratchFrags[k] as Uint8Array, tx.buf(cur));
      tx.setLen(cur, l);
      left -= l;
      tx.setFlags(cur, left > 0 ? NS_MOREFRAG : 0);
      cur = cur + 1 === n ? 0 : cur + 1;
      if (left === 0) return cur;
    }
  }

  /**
   * The frame at RX slot `cur` into buf/len/next: buf[0, len) is the whole
   * frame (a chain as it lies in the ring, or gathered); false if its chain
   * does not end before `tail` (the switch publishes whole chains, so this only
   * guards against a corrupt ring).
   */
  nextRx(cur: number, tail: number): boolean {
    const rx = this.rx;
    const views = this.rxViews;
    if ((rx.flags(cur) & NS_MOREFRAG) === 0) {
      this.buf = views[cur] as Uint8Array;
      this.len = rx.len(cur);
      this.next = rx.next(cur);
      return true;
    }
    // the chain where it lies: full buffers in slots that do not wrap, consecutive buffers
    const span = this.rxSpans[cur] as Uint8Array | null;
    if (span !== null) {
      const n = rx.numSlots;
      const b0 = rx.bufIdx(cur);
      let len = 0;
      for (let s = cur; rx.bufIdx(s) === b0 + (s - cur); ) {
        const l = rx.len(s);
        len += l;
        if ((rx.flags(s) & NS_MOREFRAG) === 0) {
          if (len > READ_MAX) break;
          this.buf = span;
          this.len = len;
          this.next = s + 1 === n ? 0 : s + 1;
          return true;
        }
        s++;
        if (l !== NM_BUF_SIZE || s === n || s === tail) break;
      }
    }
    // else gathered: each copy may run past len; the next one overwrites it
    const gather = this.gather;
    let len = 0;
    for (let s = cur; s !== tail; ) {
      gather.set(views[s] as Uint8Array, len);
      len += rx.len(s);
      const more = (rx.flags(s) & NS_MOREFRAG) !== 0;
      s = rx.next(s);
      if (!more) {
        this.buf = gather;
        this.len = len;
        this.next = s;
        return true;
      }
    }
    return false;
  }
}
