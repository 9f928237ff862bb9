/*
 * An arena is one block of memory that holds port regions, with the typed-array
 * views every hot loop indexes (u8, u16, u32, i32, f64). Views are made once,
 * here, so the data path never allocates one.
 *
 * A switch places all its ports' regions in one arena, at a fixed slot per port
 * number (switch/vale-switch.ts), so that frame copies between its ports stay
 * inside one buffer. Arenas uvale allocates are shared WebAssembly memories:
 * a SharedArrayBuffer (workers can use it) that starts on a page boundary (so
 * 2048-byte buffers are cache-line aligned), with `copy(dst, src, len)`, a
 * one-instruction wasm `memory.copy` that the runtime compiles to memmove:
 * on shared memory it is several times faster than TypedArray.copyWithin,
 * which V8 runs as a scalar loop there. Small frames are still copied as
 * Float64 words by the forwarder (cheaper than any call).
 *
 * An arena can also wrap memory made elsewhere (shared memory mapped by
 * src/sys for another process); it then has no `copy` and the forwarder copies
 * with typed-array operations.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { REGION_ALIGN } from './layout.js';

/** (module (import "e" "m" (memory 1 65536 shared)) (func (export "c") (param i32 i32 i32) memory.copy)) */
const COPY_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, 0x02, 0x0b,
  0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x03, 0x01, 0x80, 0x80, 0x04, 0x03, 0x02, 0x01, 0x00, 0x07, 0x05, 0x01, 0x01,
  0x63, 0x00, 0x00, 0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b,
]);
const WASM_PAGE = 65536;
let copyModule: WebAssembly.Module | null = null;

/** Copies `len` bytes from `src` to `dst` (byte offsets in the arena); regions may overlap. */
export type CopyFn = (dst: number, src: number, len: number) => void;

export class Arena {
  readonly buffer: ArrayBufferLike;
  /** Usable bytes (the buffer may be larger). */
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** memmove inside this arena, when it is uvale's own wasm memory; null for wrapped memory. */
  readonly copy: CopyFn | null;

  /** Wraps `buffer` (memory made elsewhere), or allocates `size` zeroed bytes as a shared wasm memory. */
  constructor(bufferOrSize: ArrayBufferLike | number) {
    let buffer: ArrayBufferLike;
    let copy: CopyFn | null = null;
    let size: number;
    if (typeof bufferOrSize === 'number') {
      if (!Number.isInteger(bufferOrSize) || bufferOrSize <= 0 || bufferOrSize % REGION_ALIGN !== 0) {
        throw new ValeError(ErrorCodes.INVALID_ARG, `arena size must be a positive multiple of ${REGION_ALIGN}`);
      }
      const pages = Math.ceil(bufferOrSize / WASM_PAGE);
      if (pages > 65536) throw new ValeError(ErrorCodes.INVALID_ARG, 'arena larger than 4 GiB');
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      if (copyModule === null) copyModule = new WebAssembly.Module(COPY_WASM);
      const inst = new WebAssembly.Instance(copyModule, { e: { m: memory } });
      copy = inst.exports.c as CopyFn;
      buffer = memory.buffer;
      size = bufferOrSize; // the memory is rounded up to whole wasm pages; regions use what was asked for
    } else {
      buffer = bufferOrSize;
      size = buffer.byteLength;
    }
    if (buffer.byteLength % 8 !== 0) {
      throw new ValeError(ErrorCodes.INVALID_ARG, 'arena size must be a multiple of 8 bytes');
    }
    this.buffer = buffer;
    this.size = size;
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.copy = copy;
  }
}
