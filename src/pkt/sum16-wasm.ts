/*
 * The WebAssembly kernel behind sum16Wide() (./sum16-wide.ts): 32 bytes per
 * step in two 128-bit accumulators (i32x4.extadd_pairwise_i16x8_u widens
 * eight little-endian 16-bit words to four 32-bit pair sums), about four
 * times as fast as the best plain loop over typed arrays (docs/vxlan.md,
 * "Performance"). Its text:
 *
 *   (module
 *     (import "e" "m" (memory 1 65536 shared))
 *     (func (export "s") (param $p i32) (param $end i32) (result i32)
 *       (local $a v128) (local $b v128)
 *       local.get $p  local.get $end  i32.add  local.set $end   ;; $end = $p + n
 *       block
 *         loop
 *           local.get $p  local.get $end  i32.ge_u  br_if 1
 *           local.get $a  local.get $p  v128.load offset=0
 *           i32x4.extadd_pairwise_i16x8_u  i32x4.add  local.set $a
 *           local.get $b  local.get $p  v128.load offset=16
 *           i32x4.extadd_pairwise_i16x8_u  i32x4.add  local.set $b
 *           local.get $p  i32.const 32  i32.add  local.set $p
 *           br 0
 *         end
 *       end
 *       local.get $a  local.get $b  i32x4.add  local.set $a
 *       local.get $a  i32x4.extract_lane 0  local.get $a  i32x4.extract_lane 1  i32.add
 *       local.get $a  i32x4.extract_lane 2  i32.add  local.get $a  i32x4.extract_lane 3  i32.add))
 *
 * s(p, n) sums the little-endian words of memory[p, p+n) (n a multiple of
 * 32) without folding: a caller keeps n <= 32768, so each lane stays below
 * 2^28 and the result below 2^31. The module is assembled below from named
 * instructions (no build step, no dependency); it imports a shared memory,
 * as src/ring/arena.ts's arenas are, or a plain one (scratch space: V8
 * copies in and out of plain memory twice as fast as shared), and is
 * instantiated once per memory.
 */

/** Unsigned LEB128. */
function u32(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function vec(items: number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

function name(s: string): number[] {
  return [...u32(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

function section(id: number, body: number[]): number[] {
  return [id, ...u32(body.length), ...body];
}

const I32 = 0x7f;
const V128 = 0x7b;
const EMPTY = 0x40; // a block with no result
// instructions (core)
const block = [0x02, EMPTY];
const loop = [0x03, EMPTY];
const end = [0x0b];
const br = (depth: number): number[] => [0x0c, ...u32(depth)];
const brIf = (depth: number): number[] => [0x0d, ...u32(depth)];
const localGet = (i: number): number[] => [0x20, ...u32(i)];
const localSet = (i: number): number[] => [0x21, ...u32(i)];
const i32Const = (v: number): number[] => [0x41, ...u32(v)]; // small positive values: LEB128 = SLEB128 below 64
const i32GeU = [0x4f];
const i32Add = [0x6a];
// instructions (SIMD, prefix 0xfd)
const simd = (op: number): number[] => [0xfd, ...u32(op)];
const v128Load = (offset: number): number[] => [...simd(0x00), 0 /* align 2^0 */, ...u32(offset)];
const i32x4ExtractLane = (lane: number): number[] => [...simd(0x1b), lane];
const i32x4ExtaddPairwiseI16x8U = simd(0x7f);
const i32x4Add = simd(0xae);

const P = 0;
const END = 1;
const A = 2;
const B = 3;

const body = [
  ...vec([[2, V128]]),
  ...localGet(P),
  ...localGet(END),
  ...i32Add,
  ...localSet(END),
  ...block,
  ...loop,
  ...localGet(P),
  ...localGet(END),
  ...i32GeU,
  ...brIf(1),
  ...localGet(A),
  ...localGet(P),
  ...v128Load(0),
  ...i32x4ExtaddPairwiseI16x8U,
  ...i32x4Add,
  ...localSet(A),
  ...localGet(B),
  ...localGet(P),
  ...v128Load(16),
  ...i32x4ExtaddPairwiseI16x8U,
  ...i32x4Add,
  ...localSet(B),
  ...localGet(P),
  ...i32Const(32),
  ...i32Add,
  ...localSet(P),
  ...br(0),
  ...end,
  ...end,
  ...localGet(A),
  ...localGet(B),
  ...i32x4Add,
  ...localSet(A),
  ...localGet(A),
  ...i32x4ExtractLane(0),
  ...localGet(A),
  ...i32x4ExtractLane(1),
  ...i32Add,
  ...localGet(A),
  ...i32x4ExtractLane(2),
  ...i32Add,
  ...localGet(A),
  ...i32x4ExtractLane(3),
  ...i32Add,
  ...end,
];

/** The module's bytes, importing a shared memory (as above) or, with shared = false, a plain one. */
export function sum16Wasm(shared: boolean): Uint8Array {
  const limits = shared ? 0x03 : 0x01; // a maximum, shared or not
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec([[0x60, ...vec([[I32], [I32]]), ...vec([[I32]])]])), // type 0: (i32, i32) -> i32
    ...section(2, vec([[...name('e'), ...name('m'), 0x02, limits, ...u32(1), ...u32(65536)]])), // memory
    ...section(3, vec([[0]])), // func 0 has type 0
    ...section(7, vec([[...name('s'), 0x00, 0]])), // export func 0 as "s"
    ...section(10, vec([[...u32(body.length), ...body]])),
  ]);
}

/** Bytes the kernel takes per call at most (see above), and the multiple it takes. */
export const SUM16_WASM_MAX = 32768;
export const SUM16_WASM_STEP = 32;
