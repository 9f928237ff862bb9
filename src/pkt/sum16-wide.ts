/*
 * sum16() (./checksum.ts) for long data on the per-segment paths (TCP
 * coalescing and TSO cutting): the same unfolded partial sum of big-endian
 * 16-bit words, read one word per load through a Uint16Array over the same
 * memory when the data starts at an even address. The ones'-complement sum
 * does not depend on byte order (RFC 1071 §2(B)): the little-endian words are
 * summed, folded, and the result's bytes swapped. Views are made once per
 * ArrayBuffer (a few long-lived buffers: a socket's, a ring arena, scratch)
 * and kept in a small cache, so a call allocates nothing. Odd addresses and
 * short data go to sum16().
 */

import { sum16 } from './checksum.js';

const CACHE = 4;
const bufs: (ArrayBufferLike | null)[] = new Array(CACHE).fill(null);
const views: Uint16Array[] = new Array(CACHE).fill(new Uint16Array(0));
let nextSlot = 0;

/** Little-endian hosts only: the byte-order trick below assumes it. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function wordsOf(ab: ArrayBufferLike): Uint16Array {
  for (let i = 0; i < CACHE; i++) if (bufs[i] === ab) return views[i] as Uint16Array;
  const v = new Uint16Array(ab, 0, ab.byteLength >>> 1);
  bufs[nextSlot] = ab;
  views[nextSlot] = v;
  nextSlot = (nextSlot + 1) % CACHE;
  return v;
}

/** As sum16(buf, off, len, initial): an unfolded partial sum of big-endian words of buf[off, off+len). */
export function sum16Wide(buf: Uint8Array, off: number, len: number, initial = 0): number {
  const at = buf.byteOffset + off;
  if (!LE || len < 64 || (at & 1) !== 0) return sum16(buf, off, len, initial);
  const w = wordsOf(buf.buffer);
  let i = at >>> 1;
  const n = len >>> 1;
  const end = i + n;
  let s = 0;
  // fold every 8192 words: the sum stays a small integer
  while (i < end) {
    let stop = i + 8192;
    if (stop > end) stop = end;
    const stop4 = stop - 3;
    for (; i < stop4; i += 4) s += w[i] + w[i + 1] + w[i + 2] + w[i + 3];
    for (; i < stop; i++) s += w[i];
    s = (s & 0xffff) + (s >>> 16);
  }
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  s = ((s & 0xff) << 8) | (s >>> 8);
  if ((len & 1) !== 0) s += buf[off + len - 1] << 8;
  return s + initial;
}
