/*
 * Frames <-> slots for adapters whose far side carries one whole frame per
 * read or write (a TAP fd, a VDE datagram socket), over ring/chain.ts. Every
 * view is made once, at attach time, so the common paths (a frame read in
 * place, an RX frame in one slot or lying in place) allocate nothing; the
 * rare ones (a read into scratch near the ring's end, a gathered chain) make
 * one short-lived view per copied fragment.
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

import { ChainReader, chainSlots, layChain, writeChain } from '../ring/chain.js';
import { MAX_FRAGS, MAX_FRAME, NM_BUF_SIZE, NS_MOREFRAG } from '../ring/layout.js';
import type { NetmapRing } from '../ring/netmap-ring.js';
import { VNET_HDR_LEN } from '../sys/index.js';

/** Slots one read may fill: room for a 64 KB frame (MAX_FRAME bytes plus a virtio-net header). */
export const READ_SLOTS = chainSlots(MAX_FRAME + VNET_HDR_LEN);
export const READ_MAX = READ_SLOTS * NM_BUF_SIZE;
/** Slots of a chain nextRx() gathers at most (the switch makes none longer than MAX_FRAGS). */
const GATHER_SLOTS = MAX_FRAGS + 1;

export class FrameIo {
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  /** Per TX slot: a view from its buffer over READ_MAX consecutive bytes, or null (read into scratch). */
  private readonly txSpans: Array<Uint8Array | null>;
  /** Where reads go when a slot has no span; also a buffer for reads that only drain the source. */
  readonly scratch: Uint8Array;
  private readonly rxViews: Uint8Array[];
  /** Per RX slot: a view from its buffer over READ_MAX consecutive bytes, or null. */
  private readonly rxSpans: Array<Uint8Array | null>;
  private readonly gather: Uint8Array;
  private readonly chain = new ChainReader();
  /** The frame nextRx() found: its bytes (from 0), its length, and the RX slot after it. */
  buf: Uint8Array;
  len = 0;
  next = 0;

  constructor(tx: NetmapRing, rx: NetmapRing) {
    this.tx = tx;
    this.rx = rx;
    this.txSpans = spans(tx);
    this.rxViews = [];
    for (let s = 0; s < rx.numSlots; s++) this.rxViews.push(rx.bufView(s));
    this.rxSpans = spans(rx);
    this.scratch = new Uint8Array(READ_MAX);
    this.gather = new Uint8Array(GATHER_SLOTS * NM_BUF_SIZE);
    this.buf = this.gather;
  }

  /** The buffer to read the frame for TX slot `cur` into (READ_MAX bytes). */
  readTarget(cur: number): Uint8Array {
    return this.txSpans[cur] ?? this.scratch;
  }

  /** Lays out the `len` bytes just read into readTarget(cur) as a chain from `cur`; returns the slot after it. */
  place(cur: number, len: number): number {
    if (this.txSpans[cur] !== null) return layChain(this.tx, cur, len);
    return writeChain(this.tx, cur, this.scratch, 0, len);
  }

  /**
   * The frame at RX slot `cur` into buf/len/next: buf[0, len) is the whole
   * frame (a chain as it lies in the ring, or gathered); false if its chain
   * does not end before `tail` (the switch publishes whole chains, so this only
   * guards against a corrupt ring, as does cutting a chain longer than
   * GATHER_SLOTS short).
   */
  nextRx(cur: number, tail: number): boolean {
    const rx = this.rx;
    if ((rx.flags(cur) & NS_MOREFRAG) === 0) {
      this.buf = this.rxViews[cur] as Uint8Array;
      this.len = rx.len(cur);
      this.next = rx.next(cur);
      return true;
    }
    const chain = this.chain;
    if (!chain.walk(rx, cur, tail)) return false;
    this.next = chain.next;
    const span = this.rxSpans[cur] as Uint8Array | null;
    if (span !== null && this.liesInPlace(cur, chain.slots, chain.len)) {
      this.buf = span;
      this.len = chain.len;
      return true;
    }
    this.buf = this.gather;
    this.len = chain.gather(rx, cur, Math.min(chain.slots, GATHER_SLOTS), this.gather, 0);
    return true;
  }

  /** The chain of `slots` slots at `cur` is full buffers that follow each other, not wrapping the ring: its span holds it. */
  private liesInPlace(cur: number, slots: number, len: number): boolean {
    const rx = this.rx;
    if (len > READ_MAX || cur + slots > rx.numSlots) return false;
    const b0 = rx.bufIdx(cur);
    const last = cur + slots - 1;
    for (let s = cur; s <= last; s++) {
      if (rx.bufIdx(s) !== b0 + (s - cur)) return false;
      if (s !== last && rx.len(s) !== NM_BUF_SIZE) return false;
    }
    return true;
  }
}

/**
 * Per slot of `ring`: a view over READ_MAX bytes from its buffer when the
 * ring's buffers follow each other and READ_MAX bytes fit before the end of
 * the last one; else null.
 */
function spans(ring: NetmapRing): Array<Uint8Array | null> {
  let consecutive = true;
  for (let s = 1; s < ring.numSlots; s++) if (ring.bufIdx(s) !== ring.bufIdx(s - 1) + 1) consecutive = false;
  const end = ring.buf(ring.numSlots - 1) + NM_BUF_SIZE;
  const out: Array<Uint8Array | null> = [];
  for (let s = 0; s < ring.numSlots; s++) {
    const o = ring.buf(s);
    out.push(consecutive && o + READ_MAX <= end ? ring.u8.subarray(o, o + READ_MAX) : null);
  }
  return out;
}
