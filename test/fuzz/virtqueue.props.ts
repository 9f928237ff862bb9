/*
 * The device side of a split virtqueue (src/virtio/virtqueue.ts) over guest
 * memory (src/virtio/memory.ts) written by a hostile driver: descriptor
 * tables of any content (loops, out-of-range heads and `next` indexes,
 * addresses and lengths past, across and between regions, beyond 2^53,
 * readable after writable, indirect tables nested, misaligned, too long or
 * outside memory), avail indexes anywhere, memory regions side by side.
 *
 *   virtq/chains   every nextChain() answers what a model of the virtio rules
 *                  (the header of virtqueue.ts) says: the same head and the
 *                  same segments, EMPTY, or BROKEN for good; every segment
 *                  lies inside one region's bytes (nothing outside guest
 *                  memory is handed out) and a chain has at most `num` of
 *                  them; it never throws
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { GuestMemory, type MemRegion } from '../../src/virtio/memory.js';
import {
  BROKEN,
  EMPTY,
  SplitQueue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from '../../src/virtio/virtqueue.js';
import { type FuzzProp, prop } from './registry.js';

const RING_GPA = 0x10000;
const RING_SIZE = 1024;
const P53 = 2 ** 53;

interface Desc {
  lo: number;
  hi: number;
  len: number;
  flags: number;
  next: number;
}

/** Where a descriptor points: into a region (possibly past its edges), or anywhere. */
const addrArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('in' as const),
      r: fc.nat(3),
      off: fc.integer({ min: -8, max: 600 }),
      len: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(16, 32, 48, 64, 0xffffffff)),
    }),
  },
  {
    // ending just before, at or just past a region's last byte
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      r: fc.nat(3),
      d: fc.integer({ min: -2, max: 2 }),
      len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 32, 48, 64)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      lo: fc.integer({ min: 0, max: 0xffffffff }),
      hi: fc.oneof(fc.constantFrom(0, 0x1fffff, 0x200000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })),
      len: fc.integer({ min: 0, max: 0xffffffff }),
    }),
  },
);
const flagsArb = fc.oneof(
  { weight: 8, arbitrary: fc.subarray([VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT]) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((f) => [f]) },
);
const descArb = fc.record({ at: addrArb, flags: flagsArb, next: fc.oneof(fc.nat(17), fc.nat(0xffff)) });

const caseArb = fc.record({
  num: fc.constantFrom(1, 2, 4, 8, 16),
  indirect: fc.boolean(),
  /** Data regions: size, and where (right after the previous one, or with a gap). */
  regions: fc.array(fc.record({ size: fc.integer({ min: 1, max: 512 }), gap: fc.oneof(fc.constant(0), fc.nat(64)) }), {
    minLength: 1,
    maxLength: 3,
  }),
  /** A region at the top of the 2^53 space. */
  top: fc.boolean(),
  table: fc.array(descArb, { minLength: 16, maxLength: 16 }),
  /** Descriptors written into the data regions (read as indirect tables). */
  inData: fc.array(fc.tuple(fc.nat(3), fc.nat(31), descArb), { maxLength: 12 }),
  heads: fc.array(fc.oneof(fc.nat(17), fc.nat(0xffff)), { minLength: 16, maxLength: 16 }),
  base: fc.oneof(fc.constant(0), fc.nat(0xffff)),
  availDelta: fc.oneof(fc.nat(17), fc.nat(0xffff)),
});
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

/** Guest memory of a case: the ring region first, then the data regions. */
function memoryOf(c: Case): MemRegion[] {
  const out: MemRegion[] = [
    { guestAddr: RING_GPA, size: RING_SIZE, userAddr: RING_GPA, mmapOffset: 0, bytes: new Uint8Array(RING_SIZE) },
  ];
  let at = RING_GPA + RING_SIZE;
  for (const r of c.regions) {
    at += r.gap;
    out.push({ guestAddr: at, size: r.size, userAddr: at, mmapOffset: 0, bytes: new Uint8Array(r.size) });
    at += r.size;
  }
  if (c.top)
    out.push({ guestAddr: P53 - 1 - 256, size: 256, userAddr: 0x100000, mmapOffset: 0, bytes: new Uint8Array(256) });
  return out;
}

function resolve(d: typeof descArb extends fc.Arbitrary<infer T> ? T : never, mem: MemRegion[]): Desc {
  const flags = d.flags.reduce((a, b) => a | b, 0) & 0xffff;
  if (d.at.kind === 'raw') return { lo: d.at.lo, hi: d.at.hi, len: d.at.len, flags, next: d.next };
  const r = mem[d.at.r % mem.length] as MemRegion;
  const addr = Math.max(0, r.guestAddr + (d.at.kind === 'end' ? r.size - d.at.len + d.at.d : d.at.off));
  return { lo: addr % 2 ** 32, hi: Math.floor(addr / 2 ** 32), len: d.at.len, flags, next: d.next };
}

function writeDesc(b: Uint8Array, o: number, d: Desc): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  if (o + 16 > b.length) return;
  dv.setUint32(o, d.lo, true);
  dv.setUint32(o + 4, d.hi, true);
  dv.setUint32(o + 8, d.len, true);
  dv.setUint16(o + 12, d.flags, true);
  dv.setUint16(o + 14, d.next, true);
}

/** The model's translate: [region, offset] of [addr, addr + max(len, 1)) inside one region, or null. */
function find(mem: MemRegion[], addr: number, len: number): [number, number] | null {
  const l = Math.max(len, 1);
  for (let i = 0; i < mem.length; i++) {
    const r = mem[i] as MemRegion;
    if (addr >= r.guestAddr && addr + l <= r.guestAddr + r.size) return [i, addr - r.guestAddr];
  }
  return null;
}

type Seg = [region: number, off: number, len: number, write: boolean];

/** One nextChain() as the rules say: a head and its segments, EMPTY, or BROKEN. */
function modelNext(
  st: { last: number; broken: boolean },
  mem: MemRegion[],
  num: number,
  indirect: boolean,
): number | [number, Seg[]] {
  if (st.broken) return BROKEN;
  const ring = mem[0] as MemRegion;
  const dv = new DataView(ring.bytes.buffer);
  const availOff = 16 * num;
  const d = (dv.getUint16(availOff + 2, true) - st.last) & 0xffff;
  const broken = (): number => {
    st.broken = true;
    return BROKEN;
  };
  if (d > num) return broken();
  if (d === 0) return EMPTY;
  const head = dv.getUint16(availOff + 4 + 2 * (st.last % num), true);
  if (head >= num) return broken();
  st.last = (st.last + 1) & 0xffff;
  let table: [DataView, number] = [dv, 0];
  let tableLen = num;
  let i = head;
  let steps = 0;
  let inIndirect = false;
  let sawWrite = false;
  const segs: Seg[] = [];
  for (;;) {
    if (++steps > num) return broken(); // at most num descriptors in all
    const [tv, tb] = table;
    const o = tb + 16 * i;
    const lo = tv.getUint32(o, true);
    const hi = tv.getUint32(o + 4, true);
    const addr = hi * 2 ** 32 + lo;
    const len = tv.getUint32(o + 8, true);
    const flags = tv.getUint16(o + 12, true);
    const next = tv.getUint16(o + 14, true);
    if (addr >= P53) return broken();
    if (flags & VIRTQ_DESC_F_INDIRECT) {
      if (!indirect || inIndirect || flags & VIRTQ_DESC_F_NEXT) return broken();
      if (len === 0 || len % 16 !== 0 || len / 16 > num) return broken();
      const f = find(mem, addr, len);
      if (f === null || f[1] % 4 !== 0) return broken();
      table = [new DataView((mem[f[0]] as MemRegion).bytes.buffer), f[1]];
      tableLen = len / 16;
      inIndirect = true;
      i = 0;
      continue;
    }
    const write = (flags & VIRTQ_DESC_F_WRITE) !== 0;
    if (!write && sawWrite) return broken();
    sawWrite ||= write;
    const f = find(mem, addr, len);
    if (f === null) return broken();
    segs.push([f[0], f[1], len, write]);
    if (!(flags & VIRTQ_DESC_F_NEXT)) return [head, segs];
    if (next >= tableLen) return broken();
    i = next;
  }
}

const chains: FuzzProp = {
  name: 'virtq/chains',
  runs: 1500,
  property: () =>
    prop(
      fc.property(caseArb, (c) => {
        const mem = memoryOf(c);
        const ringBytes = (mem[0] as MemRegion).bytes;
        const num = c.num;
        for (let k = 0; k < num; k++) writeDesc(ringBytes, 16 * k, resolve(c.table[k]!, mem));
        for (const [r, slot, d] of c.inData) {
          const reg = mem[1 + (r % (mem.length - 1))] as MemRegion;
          writeDesc(reg.bytes, 16 * slot, resolve(d, mem));
        }
        const dv = new DataView(ringBytes.buffer);
        const availOff = 16 * num;
        for (let k = 0; k < num; k++) dv.setUint16(availOff + 4 + 2 * k, c.heads[k]!, true);
        dv.setUint16(availOff + 2, (c.base + c.availDelta) & 0xffff, true);
        const usedOff = (availOff + 6 + 2 * num + 3) & ~3;
        const gm = new GuestMemory(mem);
        const q = SplitQueue.create(
          gm,
          { num, desc: RING_GPA, avail: RING_GPA + availOff, used: RING_GPA + usedOff },
          { indirect: c.indirect },
        );
        q.setBase(c.base);
        const st = { last: c.base & 0xffff, broken: false };
        const regionBytes = mem.map((r) => r.bytes);
        for (let call = 0; call < num + 3; call++) {
          let got: number;
          try {
            got = q.nextChain();
          } catch (e) {
            assert.fail(`nextChain threw: ${String(e)}`);
          }
          const want = modelNext(st, mem, num, c.indirect);
          if (typeof want === 'number') {
            assert.equal(got, want, `call ${call}: ${got} (${q.error}), model ${want}`);
            if (want === BROKEN) assert.notEqual(q.error, '');
            if (want === EMPTY) break;
            continue;
          }
          const [head, segs] = want;
          assert.equal(got, head, `call ${call}: ${got} (${q.error}), model head ${head}`);
          assert.ok(q.segs <= num, `${q.segs} segments for a queue of ${num}`);
          assert.equal(q.segs, segs.length, 'segments');
          let rb = 0;
          let wb = 0;
          for (let s = 0; s < q.segs; s++) {
            const [r, off, len, write] = segs[s] as Seg;
            const bytes = q.segBytes[s] as Uint8Array;
            // the segment is inside one region's own bytes: nothing outside guest memory is handed out
            assert.equal(bytes, regionBytes[r], `segment ${s}: region`);
            assert.equal(q.segOff[s], off, `segment ${s}: offset`);
            assert.equal(q.segLen[s], len, `segment ${s}: length`);
            assert.ok(off + len <= bytes.length, `segment ${s} runs past its region`);
            if (write) wb += len;
            else rb += len;
            assert.equal(s < q.readable, !write, `segment ${s}: readable before writable`);
          }
          assert.equal(q.readBytes, rb);
          assert.equal(q.writeBytes, wb);
        }
        assert.equal(q.lastAvail, st.last, 'lastAvail');
      }),
    ),
};

export const VIRTQ_PROPS: FuzzProp[] = [chains];
