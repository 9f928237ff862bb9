/*
 * One fragment's copy between two ports' buffers, shared by the forwarder
 * (forward.ts) and the monitor copies (monitor.ts). Small frames are copied as
 * aligned Float64 words in 64-byte chunks, as netmap's pkt_copy (rounded up
 * inside the 2048-byte buffers; Float64 loads and stores keep every bit
 * pattern, NaNs included); longer ones with the arena's wasm memmove when both
 * ports share an arena, else with one set() of a subarray.
 */

import type { CopyFn } from '../ring/arena.js';

export const COPY_WORDS_MAX = 256;

/**
 * Copies one fragment: up to COPY_WORDS_MAX bytes as 64-byte chunks of Float64
 * words (may copy up to 63 bytes past len, inside both 2048-byte buffers);
 * larger ones with the arena's memmove when source and destination share it
 * (`copy`), else with one set() of a subarray.
 */
export function copyFrame(
  copy: CopyFn | null,
  sU8: Uint8Array,
  sF64: Float64Array,
  so: number,
  dU8: Uint8Array,
  dF64: Float64Array,
  doff: number,
  len: number,
): void {
  if (len <= COPY_WORDS_MAX) {
    const end = (doff >>> 3) + (((len + 63) >>> 6) << 3);
    for (let di = doff >>> 3, si = so >>> 3; di < end; di += 8, si += 8) {
      dF64[di] = sF64[si];
      dF64[di + 1] = sF64[si + 1];
      dF64[di + 2] = sF64[si + 2];
      dF64[di + 3] = sF64[si + 3];
      dF64[di + 4] = sF64[si + 4];
      dF64[di + 5] = sF64[si + 5];
      dF64[di + 6] = sF64[si + 6];
      dF64[di + 7] = sF64[si + 7];
    }
  } else if (copy !== null) {
    copy(doff, so, len);
  } else {
    dU8.set(sU8.subarray(so, so + len), doff);
  }
}
