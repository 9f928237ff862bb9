/*
 * An arena is one block of memory that holds port regions, with the typed-array
 * views every hot loop indexes (u8, u16, u32, f64). Views are made once, here,
 * so the data path never allocates one.
 *
 * A switch places all its ports' regions in one arena, at a fixed slot per port
 * number (switch/vale-switch.ts), so that frame copies between its ports stay
 * inside one buffer: small frames move as aligned Float64 words, large ones with
 * copyWithin, the fastest copies Node has (shared/reference/node-calibration.md).
 * An arena can wrap memory made elsewhere (a SharedArrayBuffer handed to a
 * worker, or shared memory mapped by src/sys for another process).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { REGION_ALIGN } from './layout.js';

export class Arena {
  readonly buffer: ArrayBufferLike;
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  /** Wraps `buffer`, or allocates `size` zeroed bytes (shared by default, for workers). */
  constructor(bufferOrSize: ArrayBufferLike | number, shared = true) {
    let buffer: ArrayBufferLike;
    if (typeof bufferOrSize === 'number') {
      if (!Number.isInteger(bufferOrSize) || bufferOrSize <= 0 || bufferOrSize % REGION_ALIGN !== 0) {
        throw new ValeError(ErrorCodes.INVALID_ARG, `arena size must be a positive multiple of ${REGION_ALIGN}`);
      }
      buffer = shared ? new SharedArrayBuffer(bufferOrSize) : new ArrayBuffer(bufferOrSize);
    } else {
      buffer = bufferOrSize;
    }
    if (buffer.byteLength % 8 !== 0) {
      throw new ValeError(ErrorCodes.INVALID_ARG, 'arena size must be a multiple of 8 bytes');
    }
    this.buffer = buffer;
    this.size = buffer.byteLength;
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }
}
