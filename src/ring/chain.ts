/*
 * Frames as NS_MOREFRAG chains: the one way uvale writes bytes into TX slots
 * and reads them back out of RX slots (netmap_user.h leaves this to every
 * application; uvale's adapters and tools share this one).
 *
 * A frame of `len` bytes occupies ceil(len / NM_BUF_SIZE) consecutive slots
 * (circularly): every slot but the last is full (NM_BUF_SIZE bytes) and has
 * NS_MOREFRAG; the last holds the rest (1..NM_BUF_SIZE bytes) and no
 * NS_MOREFRAG. A zero-length frame is one slot of length 0. Callers check the
 * room first (chainSlots(len) slots from `slot`); nothing here looks at head
 * or tail on TX.
 *
 *   layChain     the bytes are in the buffers already (read in place): set
 *                each slot's len and flags.
 *   writeChain   copy src[start, end) in, then lay it out.
 *   ChainWriter  the same for a frame that arrives in pieces (a stream):
 *                begin(slot), append(...) as bytes come, end().
 *   ChainReader  on RX: walk(ring, slot, tail) finds the chain at `slot`
 *                (its bytes, slots, and the slot after it) if it ends before
 *                `tail`; gather(ring, slot, slots, dst, pos) copies it out.
 *
 * A slot length above NM_BUF_SIZE (a corrupt slot) counts as NM_BUF_SIZE:
 * no read runs past a slot's buffer.
 *
 * Bytes are copied with ./word-copy.ts (Int32 words, any alignment): nothing
 * allocates per frame; views over a source or destination buffer are made
 * once per ArrayBuffer met (a socket read, an output batch), not per copy.
 * Copies are bit-exact; bytes past a frame's end in its last buffer are left
 * as they were. A source must not overlap the buffers it is copied into.
 */

import { NM_BUF_SIZE, NS_MOREFRAG } from './layout.js';
import type { NetmapRing } from './netmap-ring.js';
import { copyBytes, WordViews } from './word-copy.js';

/** Slots a frame of `len` bytes takes (a zero-length frame still takes one). */
export function chainSlots(len: number): number {
  return len <= NM_BUF_SIZE ? 1 : Math.ceil(len / NM_BUF_SIZE);
}

/** Sets len and flags of the slots from `slot` for `len` bytes already in their buffers; returns the slot after the chain. */
export function layChain(ring: NetmapRing, slot: number, len: number): number {
  const n = ring.numSlots;
  let s = slot;
  let left = len;
  while (left > NM_BUF_SIZE) {
    ring.setLen(s, NM_BUF_SIZE);
    ring.setFlags(s, NS_MOREFRAG);
    left -= NM_BUF_SIZE;
    s = s + 1 === n ? 0 : s + 1;
  }
  ring.setLen(s, left);
  ring.setFlags(s, 0);
  return s + 1 === n ? 0 : s + 1;
}

/** The views writeChain() last copied from. */
const writeSrc = new WordViews();

/** A range outside its array: what TypedArray.set() threw here before the word copies. */
function outOfBounds(): RangeError {
  return new RangeError('chain copy: range outside the array');
}

/** Copies src[start, end) to byte offset `to` of the ring's arena. */
function copyIn(ring: NetmapRing, to: number, v: WordViews, start: number, end: number): void {
  copyBytes(ring.u8, ring.arena.i32, to, v.u8, v.i32, v.offset + start, end - start);
}

/** Copies src[start, end) into the buffers from `slot` on as one chain; returns the slot after it. */
export function writeChain(
  ring: NetmapRing,
  slot: number,
  src: Uint8Array,
  start: number,
  end: number,
  chunk = NM_BUF_SIZE,
): number {
  if (start < 0 || end > src.length) throw outOfBounds();
  const v = writeSrc.of(src);
  const n = ring.numSlots;
  let s = slot;
  let off = start;
  while (end - off > chunk) {
    copyIn(ring, ring.buf(s), v, off, off + chunk);
    ring.setLen(s, chunk);
    ring.setFlags(s, NS_MOREFRAG);
    off += chunk;
    s = s + 1 === n ? 0 : s + 1;
  }
  copyIn(ring, ring.buf(s), v, off, end);
  ring.setLen(s, end - off);
  ring.setFlags(s, 0);
  return s + 1 === n ? 0 : s + 1;
}

/**
 * One frame written in pieces into a TX ring: begin(slot), append() any
 * number of times, end(). The bytes appended between begin() and end() are
 * laid out exactly as writeChain() would lay out their concatenation.
 */
export class ChainWriter {
  private readonly ring: NetmapRing;
  /** Views over the buffer appended from last. */
  private readonly src = new WordViews();
  /** The slot being filled and the bytes in it so far. */
  private slot = 0;
  private off = 0;
  /** Bytes appended since begin(). */
  len = 0;

  constructor(ring: NetmapRing) {
    this.ring = ring;
  }

  /** Starts a frame at `slot` (any unfinished one is forgotten). */
  begin(slot: number): void {
    this.slot = slot;
    this.off = 0;
    this.len = 0;
  }

  /** Copies src[start, end) after the bytes appended so far. */
  append(src: Uint8Array, start: number, end: number): void {
    const ring = this.ring;
    if (start < 0 || end > src.length) throw outOfBounds();
    const v = this.src.of(src);
    while (start < end) {
      if (this.off === NM_BUF_SIZE) {
        ring.setLen(this.slot, NM_BUF_SIZE);
        ring.setFlags(this.slot, NS_MOREFRAG);
        this.slot = ring.next(this.slot);
        this.off = 0;
      }
      const k = Math.min(NM_BUF_SIZE - this.off, end - start);
      copyIn(ring, ring.buf(this.slot) + this.off, v, start, start + k);
      this.off += k;
      this.len += k;
      start += k;
    }
  }

  /** Ends the frame: its last slot gets its length and no NS_MOREFRAG. Returns the slot after the chain. */
  end(): number {
    const ring = this.ring;
    ring.setLen(this.slot, this.off);
    ring.setFlags(this.slot, 0);
    return ring.next(this.slot);
  }
}

/**
 * Walks RX chains. After walk() returns true, `len`, `slots` and `next` are
 * those of the chain it found. One reader can serve any number of rings.
 */
export class ChainReader {
  /** Views over the buffer gathered into last. */
  private readonly dst = new WordViews();
  /** Bytes of the chain (the sum of its slots' lengths). */
  len = 0;
  /** Slots it spans. */
  slots = 0;
  /** The slot after its last one. */
  next = 0;

  /**
   * The chain that starts at `slot`: true if its last slot (no NS_MOREFRAG)
   * comes before `tail`; false if `slot` is `tail` or the chain runs into it
   * (not all delivered yet, or a corrupt ring).
   */
  walk(ring: NetmapRing, slot: number, tail: number): boolean {
    const n = ring.numSlots;
    let len = 0;
    let slots = 0;
    for (let s = slot; s !== tail; ) {
      const l = ring.len(s);
      len += Math.min(l, NM_BUF_SIZE);
      slots++;
      const more = (ring.flags(s) & NS_MOREFRAG) !== 0;
      s = s + 1 === n ? 0 : s + 1;
      if (!more) {
        this.len = len;
        this.slots = slots;
        this.next = s;
        return true;
      }
    }
    return false;
  }

  /** Copies the `slots` slots from `slot` (a chain walk() found) to dst at `pos`; returns the bytes copied. */
  gather(ring: NetmapRing, slot: number, slots: number, dst: Uint8Array, pos: number): number {
    const u8 = ring.u8;
    const i32 = ring.arena.i32;
    const v = this.dst.of(dst);
    const base = v.offset;
    const limit = dst.length;
    if (pos < 0) throw outOfBounds();
    let p = pos;
    let s = slot;
    for (let k = 0; k < slots; k++) {
      const o = ring.buf(s);
      let l = ring.len(s);
      if (l > NM_BUF_SIZE) l = NM_BUF_SIZE;
      if (p + l > limit) throw outOfBounds();
      copyBytes(v.u8, v.i32, base + p, u8, i32, o, l);
      p += l;
      s = ring.next(s);
    }
    return p - pos;
  }
}
