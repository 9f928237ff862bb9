/*
 * Byte ranges copied as Int32 words from plain JS, for the small, unaligned
 * copies of the stream adapters (a frame cut out of a socket read lies at any
 * byte offset): no call into the runtime and no view allocated per copy,
 * which TypedArray.set and Buffer.copy need for a range (measured: 60 bytes
 * ~12-16 ns this way against ~50 ns for set() of a new view, more with its
 * garbage); copies over COPY_WORDS_MAX bytes are one set(). Offsets are absolute in the ArrayBuffers (the views start at 0).
 *
 * The destination is brought to a word boundary with at most 3 byte stores;
 * then whole words are stored, each one source word or, when the source is
 * not on a word boundary, two neighbours shifted together (little-endian
 * only; a big-endian host copies those bytes one by one); the last 0-3 bytes
 * are bytes. Only the bytes [d, d + len) of the destination are written, and
 * only words holding a byte of [s, s + len) of the source are read, so a copy
 * never touches memory outside its two ranges' words. Bit-exact: Int32 loads
 * and stores keep every pattern.
 *
 * WordViews keeps the two views of the last ArrayBuffer asked for (a copy
 * loop reads one buffer many times: one socket read, one arena).
 */

const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Longer copies are one TypedArray.set (its memmove wins there; the view it needs is then cheap). */
export const COPY_WORDS_MAX = 1024;

/**
 * A Uint8Array and an Int32Array over the whole of one ArrayBuffer (the Int32
 * view stops at its last whole word), and where in it the array last asked
 * for starts.
 */
export class WordViews {
  buffer: ArrayBufferLike | null = null;
  u8: Uint8Array = new Uint8Array(0);
  i32: Int32Array = new Int32Array(0);
  /** The byte offset of `array` in `buffer`. */
  offset = 0;
  private array: Uint8Array | null = null;

  /** Makes this hold views over `a.buffer`, and a's offset in it (nothing new if it already does). */
  of(a: Uint8Array): this {
    if (a === this.array) return this; // a typed array's buffer and offset never change
    this.array = a;
    this.offset = a.byteOffset;
    const b = a.buffer;
    if (b !== this.buffer) {
      this.buffer = b;
      this.u8 = new Uint8Array(b);
      this.i32 = new Int32Array(b, 0, b.byteLength >>> 2);
    }
    return this;
  }
}

/**
 * Copies `len` bytes from byte `s` of the buffer under sU8/sI32 to byte `d` of
 * the buffer under dU8/dI32 (views from offset 0 over whole buffers). The
 * ranges must not overlap, and both must lie inside their buffers.
 */
export function copyBytes(
  dU8: Uint8Array,
  dI32: Int32Array,
  d: number,
  sU8: Uint8Array,
  sI32: Int32Array,
  s: number,
  len: number,
): void {
  if (len > COPY_WORDS_MAX) {
    dU8.set(new Uint8Array(sU8.buffer, s, len), d);
    return;
  }
  let n = len;
  while ((d & 3) !== 0 && n > 0) {
    dU8[d++] = sU8[s++];
    n--;
  }
  let words = n >>> 2;
  const r = s & 3;
  const sw = s >>> 2;
  if (r === 0) {
    const dw = d >>> 2;
    for (let k = 0; k < words; k++) dI32[dw + k] = sI32[sw + k];
  } else if (LE) {
    // the last word read is sw + words; one cut short at the buffer's end is left to the byte loop
    const room = sI32.length - 1 - sw;
    if (words > room) words = Math.max(room, 0);
    const lo = r << 3;
    const hi = 32 - lo;
    const dw = d >>> 2;
    let w = sI32[sw];
    for (let k = 0; k < words; k++) {
      const nx = sI32[sw + k + 1];
      dI32[dw + k] = (w >>> lo) | (nx << hi);
      w = nx;
    }
  } else {
    words = 0;
  }
  const b = words << 2;
  d += b;
  s += b;
  n -= b;
  while (n > 0) {
    dU8[d++] = sU8[s++];
    n--;
  }
}
