/*
 * sum16() (./checksum.ts) for long data on the per-segment paths (TCP
 * coalescing and TSO cutting): the same partial sum of big-endian 16-bit
 * words, read many bytes per load. The ones'-complement sum does not depend
 * on byte order (RFC 1071 §2(B)), so little-endian words are summed, folded,
 * and the result's bytes swapped where needed.
 *
 *   - Data in a WebAssembly memory this module knows (sumBytes(): a port's
 *     scratch, plain memory that V8 copies to and from faster than shared;
 *     sumMemory(): any wasm memory with a maximum, shared ones included)
 *     goes to the SIMD kernel of ./sum16-wasm.ts, 32 bytes per step, at any
 *     offset.
 *   - Other data (a socket's buffers, plain arrays) is read as Uint32 words
 *     from the first 4-byte-aligned address, summed as doubles in two
 *     accumulators (exact below 2^53): the bytes at even addresses count as
 *     the low halves, those at odd ones as the high halves, so an odd start
 *     costs nothing more; the few bytes before and after go one at a time.
 *
 * Views and kernels are made once per buffer and found again through a
 * small cache, so a call allocates nothing. Short data goes to sum16(). A
 * host that is not little-endian, or has no wasm SIMD, takes the plain paths.
 */

import { sum16 } from './checksum.js';
import { SUM16_WASM_MAX, SUM16_WASM_STEP, sum16Wasm } from './sum16-wasm.js';

type Kernel = (p: number, n: number) => number;

/** Little-endian hosts only: the byte-order trick assumes it. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The kernel's module for shared [1] and plain [0] memories; null: not made yet, or no SIMD here. */
const wasmModules: (WebAssembly.Module | null)[] = [null, null];
let wasmTried = false;
function kernelModule(shared: boolean): WebAssembly.Module | null {
  if (!wasmTried) {
    wasmTried = true;
    try {
      wasmModules[0] = new WebAssembly.Module(sum16Wasm(false));
      wasmModules[1] = new WebAssembly.Module(sum16Wasm(true));
    } catch {
      wasmModules[0] = wasmModules[1] = null; // the plain paths
    }
  }
  return wasmModules[shared ? 1 : 0] as WebAssembly.Module | null;
}

/** The kernel's instance per memory buffer; weak, so a closed port's scratch goes with the port. */
const kernels = new WeakMap<ArrayBufferLike, Kernel>();
/** The last few buffers looked up and their kernels (null: the plain path), so that a hit is a compare. */
const HOT = 4;
const hotBufs: (ArrayBufferLike | null)[] = new Array(HOT).fill(null);
const hotFns: (Kernel | null)[] = new Array(HOT).fill(null);
let hotNext = 0;

function kernelOf(ab: ArrayBufferLike): Kernel | null {
  for (let i = 0; i < HOT; i++) if (hotBufs[i] === ab) return hotFns[i] as Kernel | null;
  const k = kernels.get(ab) ?? null;
  hotBufs[hotNext] = ab;
  hotFns[hotNext] = k;
  hotNext = (hotNext + 1) % HOT;
  return k;
}

/** The kernel reads `memory` from now on (a wasm memory with a maximum: a scratch, an arena of src/ring). */
export function sumMemory(memory: WebAssembly.Memory): void {
  const buf = memory.buffer;
  const mod = kernelModule(typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer);
  if (!LE || mod === null || kernels.has(buf)) return;
  const inst = new WebAssembly.Instance(mod, { e: { m: memory } });
  kernels.set(buf, inst.exports.s as Kernel);
  for (let i = 0; i < HOT; i++) if (hotBufs[i] === buf) hotBufs[i] = null; // looked up before: plain then
}

/** `n` zeroed bytes in a memory the kernel reads (a scratch buffer for data to checksum; not shared). */
export function sumBytes(n: number): Uint8Array {
  const pages = Math.max(1, Math.ceil(n / 65536));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  sumMemory(memory);
  return new Uint8Array(memory.buffer, 0, n);
}

/** Whether data in `buf` goes to the wasm kernel (for tests and counters). */
export function sumIsWasm(buf: Uint8Array): boolean {
  return kernels.has(buf.buffer);
}

const CACHE = 4;
const vBufs: (ArrayBufferLike | null)[] = new Array(CACHE).fill(null);
const views: Uint32Array[] = new Array(CACHE).fill(new Uint32Array(0));
let nextSlot = 0;

function wordsOf(ab: ArrayBufferLike): Uint32Array {
  for (let i = 0; i < CACHE; i++) if (vBufs[i] === ab) return views[i] as Uint32Array;
  const v = new Uint32Array(ab, 0, ab.byteLength >>> 2);
  vBufs[nextSlot] = ab;
  views[nextSlot] = v;
  nextSlot = (nextSlot + 1) % CACHE;
  return v;
}

/** As sum16(buf, off, len, initial): a partial sum of big-endian words of buf[off, off+len), folded, + initial. */
export function sum16Wide(buf: Uint8Array, off: number, len: number, initial = 0): number {
  if (!LE || len < 64 || off < 0 || off + len > buf.length) return sum16(buf, off, len, initial);
  const kernel = kernelOf(buf.buffer);
  if (kernel !== null) return wasmSum(kernel, buf, off, len, initial);
  return plainSum(buf, off, len, initial);
}

function wasmSum(kernel: Kernel, buf: Uint8Array, off: number, len: number, initial: number): number {
  const at = buf.byteOffset + off;
  const n = len - (len % SUM16_WASM_STEP);
  let s = 0;
  for (let done = 0; done < n; ) {
    const step = Math.min(n - done, SUM16_WASM_MAX);
    s += kernel(at + done, step);
    s = (s & 0xffff) + (s >>> 16);
    done += step;
  }
  // little-endian words counted from `at`: swap to big-endian; the rest (even start, n is even) as sum16
  s = (s & 0xffff) + (s >>> 16);
  s = ((s & 0xff) << 8) | (s >>> 8);
  return sum16(buf, off + n, len - n, s + initial);
}

function plainSum(buf: Uint8Array, off: number, len: number, initial: number): number {
  const w = wordsOf(buf.buffer);
  const end = off + len;
  let a = buf.byteOffset + off;
  const odd = (a & 1) !== 0;
  let p = off;
  // bytes at even addresses are low halves, at odd ones high halves
  let s = 0;
  for (; (a & 3) !== 0; a++, p++) s += (a & 1) === 0 ? (buf[p] as number) : (buf[p] as number) << 8;
  const nw = (end - p) >>> 2;
  let i = a >>> 2;
  const stop = i + nw;
  const stop4 = stop - 3;
  let d0 = 0;
  let d1 = 0;
  for (; i < stop4; i += 4) {
    d0 += (w[i] as number) + (w[i + 2] as number);
    d1 += (w[i + 1] as number) + (w[i + 3] as number);
  }
  for (; i < stop; i++) d0 += w[i] as number;
  let d = d0 + d1; // 2^32 ≡ 1 (mod 0xffff): fold as any other sum
  d = (d % 65536) + Math.floor(d / 65536);
  d = (d % 65536) + Math.floor(d / 65536);
  s += d;
  p += nw * 4;
  a += nw * 4;
  for (; p < end; a++, p++) s += (a & 1) === 0 ? (buf[p] as number) : (buf[p] as number) << 8;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  // an even start: the first byte was a low half, a big-endian word's high one
  if (!odd) s = ((s & 0xff) << 8) | (s >>> 8);
  return s + initial;
}
