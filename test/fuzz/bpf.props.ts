/*
 * Classic BPF (src/pkt/bpf.ts), as `uvale tcpdump` loads a filter: the
 * validator and the interpreter against a model written from bpf(4) and the
 * header comment of bpf.ts (BSD's bounds rules: a load outside the captured
 * bytes, or a division by X = 0, rejects the frame).
 *
 *   bpf/program   any program (mostly valid opcodes, jumps and scratch
 *                 indexes near the edges, sometimes any opcode): the validator
 *                 accepts exactly the programs the model calls valid, refusing
 *                 the rest with BpfError; an accepted program run over any
 *                 frame gives the model's answer, after at most one pass (the
 *                 model counts steps), and the answer does not depend on the
 *                 bytes outside [off, off + caplen) of the buffer (nothing
 *                 outside the packet is read)
 *   bpf/listing   any text given as `tcpdump -ddd` output: instructions or a
 *                 BpfError, nothing else
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { BPF_MAXINSNS, BpfError, type BpfInsn, BpfProgram, parseBpfDecimal } from '../../src/pkt/bpf.js';
import { type FuzzProp, prop } from './registry.js';

/** Every opcode bpf(4) defines (BSD; no extensions). */
const OPCODES = [
  // ld: imm, len, mem, abs/ind w/h/b
  0x00, 0x80, 0x60, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,
  // ldx: imm, mem, len, msh
  0x01, 0x61, 0x81, 0xb1,
  // st, stx
  0x02, 0x03,
  // alu k/x: add sub mul div or and lsh rsh (neg k only) mod xor
  0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c,
  0xa4, 0xac,
  // jmp: ja, jeq jgt jge jset k/x
  0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d,
  // ret k, x, a
  0x06, 0x0e, 0x16,
  // tax, txa
  0x07, 0x87,
];
const VALID = new Set(OPCODES);

/** Why the model refuses `prog`, or null when it is a valid program. */
function modelInvalid(prog: BpfInsn[]): string | null {
  const n = prog.length;
  if (n < 1 || n > BPF_MAXINSNS) return 'length';
  for (let pc = 0; pc < n; pc++) {
    const { code, jt, jf, k } = prog[pc] as BpfInsn;
    if (!VALID.has(code)) return `opcode ${code}`;
    const cls = code & 7;
    const left = n - pc - 1; // instructions after this one
    if (code === 0x05 && !(k < left)) return 'ja out';
    if (cls === 5 && code !== 0x05 && !(jt < left && jf < left && jt <= 255 && jf <= 255)) return 'jump out';
    const mem = code === 0x02 || code === 0x03 || code === 0x60 || code === 0x61;
    if (mem && k >= 16) return 'mem index';
    if ((code === 0x34 || code === 0x94) && k === 0) return 'div by 0';
  }
  const last = (prog[n - 1] as BpfInsn).code;
  if ((last & 7) !== 6) return 'no final return';
  return null;
}

/** The model's run: the frame is exactly `pkt` (caplen = its length). Returns [result, steps]. */
function modelRun(prog: BpfInsn[], pkt: Uint8Array, wirelen: number): [number, number] {
  let a = 0;
  let x = 0;
  const m = new Array<number>(16).fill(0);
  const get = (at: number, size: number): number | null => {
    if (at + size > pkt.length) return null; // at is at most 2^33: exact in a double
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + (pkt[at + i] as number);
    return v;
  };
  let steps = 0;
  for (let pc = 0; ; ) {
    steps++;
    assert.ok(pc < prog.length, 'the model ran off the end of a valid program');
    const { code, jt, jf, k } = prog[pc] as BpfInsn;
    pc++;
    const src = (code & 8) !== 0 ? x : k;
    switch (code) {
      case 0x00:
        a = k;
        break;
      case 0x80:
        a = wirelen;
        break;
      case 0x60:
        a = m[k] as number;
        break;
      case 0x01:
        x = k;
        break;
      case 0x61:
        x = m[k] as number;
        break;
      case 0x81:
        x = wirelen;
        break;
      case 0xb1: {
        const v = get(k, 1);
        if (v === null) return [0, steps];
        x = (v & 15) * 4;
        break;
      }
      case 0x02:
        m[k] = a;
        break;
      case 0x03:
        m[k] = x;
        break;
      case 0x07:
        x = a;
        break;
      case 0x87:
        a = x;
        break;
      case 0x06:
        return [k, steps];
      case 0x0e:
        return [x, steps];
      case 0x16:
        return [a, steps];
      default: {
        const cls = code & 7;
        if (cls === 0) {
          const size = (code & 0x18) === 0 ? 4 : (code & 0x18) === 8 ? 2 : 1;
          const v = get((code & 0xe0) === 0x40 ? x + k : k, size);
          if (v === null) return [0, steps];
          a = v;
        } else if (cls === 4) {
          const v = src;
          const op = code & 0xf0;
          const big = BigInt(a);
          const bv = BigInt(v);
          let r: bigint;
          if (op === 0x00) r = big + bv;
          else if (op === 0x10) r = big - bv;
          else if (op === 0x20) r = big * bv;
          else if (op === 0x30) {
            if (v === 0) return [0, steps];
            r = big / bv;
          } else if (op === 0x40) r = big | bv;
          else if (op === 0x50) r = big & bv;
          else if (op === 0x60) r = v >= 32 ? 0n : big << bv;
          else if (op === 0x70) r = v >= 32 ? 0n : big >> bv;
          else if (op === 0x80) r = -big;
          else if (op === 0x90) {
            if (v === 0) return [0, steps];
            r = big % bv;
          } else r = big ^ bv;
          a = Number(BigInt.asUintN(32, r));
        } else {
          // jumps
          if (code === 0x05) {
            pc += k;
            break;
          }
          const op = code & 0xf0;
          const t = op === 0x10 ? a === src : op === 0x20 ? a > src : op === 0x30 ? a >= src : (a & src) !== 0;
          pc += t ? jt : jf;
        }
      }
    }
  }
}

const u32 = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 80 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 15, 16, 17, 31, 32, 33, 0x7fffffff, 0xfffffffc, 0xffffffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const small = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(255, 256, 0xffff));
const insnArb: fc.Arbitrary<BpfInsn> = fc.record({
  code: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...OPCODES) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }) },
    { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0x10000, -1)) },
  ),
  jt: small,
  jf: small,
  k: u32,
});
const retArb: fc.Arbitrary<BpfInsn> = fc.record({
  code: fc.constantFrom(0x06, 0x0e, 0x16),
  jt: fc.constant(0),
  jf: fc.constant(0),
  k: u32,
});
const programArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.array(insnArb, { maxLength: 24 }), retArb).map(([p, r]) => [...p, r]) },
  { weight: 1, arbitrary: fc.array(insnArb, { maxLength: 24 }) },
);

const program: FuzzProp = {
  name: 'bpf/program',
  runs: 2000,
  property: () =>
    prop(
      fc.property(
        programArb,
        fc.array(fc.record({ pkt: fc.uint8Array({ maxLength: 80 }), off: fc.nat(8), extra: fc.nat(300) }), {
          minLength: 1,
          maxLength: 4,
        }),
        (prog, frames) => {
          const why = modelInvalid(prog);
          let p: BpfProgram;
          try {
            p = new BpfProgram(prog);
          } catch (e) {
            assert.ok(e instanceof BpfError, `not a BpfError: ${String(e)}`);
            assert.notEqual(why, null, `a valid program refused: ${(e as Error).message}`);
            return;
          }
          assert.equal(why, null, `an invalid program accepted (${why})`);
          for (const f of frames) {
            // the frame inside a larger buffer: junk before and after it
            const buf = new Uint8Array(f.off + f.pkt.length + 8).fill(0x5a);
            buf.set(f.pkt, f.off);
            const wirelen = f.pkt.length + f.extra;
            const got = p.run(buf, f.off, f.pkt.length, wirelen);
            const [want, steps] = modelRun(prog, Uint8Array.from(f.pkt), wirelen);
            assert.ok(steps <= prog.length, `${steps} steps for ${prog.length} instructions`);
            assert.equal(got, want, 'the result differs from the model');
            buf.fill(0xc3, 0, f.off);
            buf.fill(0xc3, f.off + f.pkt.length);
            assert.equal(
              p.run(buf, f.off, f.pkt.length, wirelen),
              got,
              'the result depends on bytes outside the frame',
            );
          }
        },
      ),
    ),
};

const listing: FuzzProp = {
  name: 'bpf/listing',
  runs: 2000,
  property: () => {
    const num = fc.oneof(
      fc.nat(300).map(String),
      fc.constantFrom('-1', '1.5', '0x10', '', ' ', 'NaN', '4294967296', '1e3'),
      fc.string({ maxLength: 4 }),
    );
    const line = fc.array(num, { maxLength: 5 }).map((a) => a.join(' '));
    const text = fc.oneof(
      fc.array(line, { maxLength: 8 }).map((ls) => [String(ls.length), ...ls].join('\n')),
      fc.array(line, { maxLength: 8 }).map((ls) => ls.join('\n')),
      fc.string({ maxLength: 60 }),
    );
    return prop(
      fc.property(text, (t) => {
        let prog: BpfInsn[];
        try {
          prog = parseBpfDecimal(t);
        } catch (e) {
          assert.ok(e instanceof BpfError, `not a BpfError: ${String(e)}`);
          return;
        }
        for (const i of prog) {
          for (const v of [i.code, i.jt, i.jf, i.k]) assert.ok(Number.isInteger(v) && v >= 0, `field ${v}`);
          assert.ok(i.k <= 0xffffffff);
        }
        // the validator decides about the rest, with a BpfError or a program
        try {
          new BpfProgram(prog);
        } catch (e) {
          assert.ok(e instanceof BpfError, `not a BpfError: ${String(e)}`);
        }
      }),
    );
  },
};

export const BPF_PROPS: FuzzProp[] = [program, listing];
