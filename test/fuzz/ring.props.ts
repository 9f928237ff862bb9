/*
 * The switch's data path under a hostile client, against a model of netmap's
 * rules (ring/kring.ts prologue, switch/forward.ts, README "Forwarding").
 *
 * One in-process switch with four ports: port 0 is hostile (it writes any
 * head/cur, any slot bufIdx/len/flags, NS_MOREFRAG chains of any length,
 * terminated or not, scribbles on its RX slots), ports 1-3 behave (they send
 * through the public API and drain what they get). After every sync:
 *
 *   - nothing throws (the data path counts, never throws);
 *   - every counter of every port equals the model's, and they account for
 *     every frame: frames in = txPackets + dropFrags, txPackets = runts +
 *     no-destination + frames with destinations, and the destinations' rx +
 *     dropRxFull add up to the copies the model sends;
 *   - only the offending port is affected: the well-behaved ports never see a
 *     ring error, and receive exactly the model's frames, bytes and RX flags;
 *   - nothing outside a port's own region is written: a snapshot of the arena
 *     before and after differs only where the model allows it (the sender's
 *     ring headers and slots, the receivers' new RX slots, their buffers and
 *     the published hwtail, the counters), and bytes between regions (set to
 *     a canary) are never read into a frame.
 *
 * The model is deliberately naive: whole frames as byte arrays, a Map for the
 * MAC table (the unicast MACs used as sources hash to distinct buckets, so the
 * switch's collisions cannot matter), no scratch tables.
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import {
  type LocalPort,
  layout,
  macWords,
  type NetmapRing,
  openPort,
  parseMac,
  rthash,
  ValeHost,
} from '../../src/index.js';
import { C_RING_ERRORS, COUNTER_NAMES, NUM_COUNTERS } from '../../src/switch/counters.js';
import { rxsyncPort, txsyncPort } from '../../src/switch/vale-switch.js';
import type { VPort } from '../../src/switch/vport.js';
import type { FuzzProp } from './registry.js';

const {
  IF_COUNTERS,
  IF_HDR_SIZE,
  MAX_FRAGS,
  NM_BUF_SIZE,
  NM_RESERVED_BUFS,
  NS_MOREFRAG,
  NS_RFRAGS_SHIFT,
  RING_HWCUR,
  RING_HWTAIL,
  SLOT_SIZE,
} = layout;

/** README: chains up to 64 slots and 65535 bytes (MAX_FRAME, virtio-net header not counted). */
const MAX_CHAIN_BYTES = 65535;
const NPORTS = 4;
const ATTACKER = 0;
const A_TX_SLOTS = 128;
const A_RX_SLOTS = 16;
const G_TX_SLOTS = 16;
const G_RX_SLOTS = 24;
const CANARY = 0xa5;

// ---- MACs ----

const UNICAST = [
  '02:00:00:00:00:10',
  '02:00:00:00:00:11',
  '02:00:00:00:00:12',
  '02:00:00:00:00:13',
  '00:00:00:00:00:00',
];
const GROUP = ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01', '03:00:00:00:00:10'];
{
  const buckets = new Set(
    UNICAST.map((m) => {
      const { a, b } = macWords(m);
      return rthash(a, b);
    }),
  );
  // if two sources shared a bucket the switch would forget one; the Map model would not
  assert.equal(buckets.size, UNICAST.length, 'the model needs source MACs in distinct hash buckets');
}

function bytes(frags: Uint8Array[]): number {
  let t = 0;
  for (const f of frags) t += f.length;
  return t;
}

function macKey(b: Uint8Array, o: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (b[o + i] as number).toString(16).padStart(2, '0');
  return s;
}

// ---- commands ----

type Choice<T> = fc.Arbitrary<T>;

/** A bufIdx as a hostile client picks it: mostly valid, often at an edge, sometimes anything. */
const bufIdxArb: Choice<{ kind: 'valid'; n: number } | { kind: 'edge'; d: number } | { kind: 'raw'; v: number }> =
  fc.oneof(
    { weight: 6, arbitrary: fc.nat().map((n) => ({ kind: 'valid' as const, n })) },
    // numBufs + d: the first indices past the port's buffers
    { weight: 2, arbitrary: fc.integer({ min: -1, max: 3 }).map((d) => ({ kind: 'edge' as const, d })) },
    {
      weight: 2,
      arbitrary: fc.oneof(fc.constantFrom(0, 1, 2), fc.nat()).map((v) => ({ kind: 'raw' as const, v })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff).map((v) => ({ kind: 'raw' as const, v })),
    },
  );
const lenArb = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 20 }) },
  { weight: 4, arbitrary: fc.integer({ min: 14, max: 900 }) },
  { weight: 2, arbitrary: fc.constantFrom(60, 256, 257, 2047, 2048, 2049, 0xffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);
const flagsArb = fc.oneof(fc.constant(0), fc.constant(NS_MOREFRAG), fc.integer({ min: 0, max: 0xffff }));
const macArb = fc.oneof(fc.constantFrom(...UNICAST, ...GROUP), fc.uint8Array({ minLength: 6, maxLength: 6 }));
/** A ring index as a hostile client writes it: near the model's pointers, small, or anything. */
const ptrArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('legal' as const), a: fc.nat(), b: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('near' as const),
      a: fc.integer({ min: -2, max: 2 }),
      b: fc.integer({ min: -2, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), a: fc.nat(), b: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('huge' as const),
      a: fc.constantFrom(0xffffffff, 0x80000000, 200),
      b: fc.nat(),
    }),
  },
);

const cmdArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('slot' as const),
      at: fc.nat(),
      bi: bufIdxArb,
      len: lenArb,
      flags: flagsArb,
      dst: macArb,
      src: fc.constantFrom(...UNICAST, ...GROUP),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('chain' as const),
      frags: fc.oneof(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 60, max: 70 }),
        // 32-34 fragments of nearly 2048 bytes: just under and over the 65535-byte limit
        fc.integer({ min: 32, max: 34 }),
        fc.integer({ min: 1, max: 127 }),
      ),
      terminated: fc.boolean(),
      // up to a full buffer: 33 or more full fragments make a chain over 65535 bytes
      len: fc.oneof(
        fc.integer({ min: 1, max: 900 }),
        fc.integer({ min: 1900, max: NM_BUF_SIZE }),
        fc.integer({ min: 1980, max: NM_BUF_SIZE }),
      ),
      dst: macArb,
      src: fc.constantFrom(...UNICAST),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('move' as const), p: ptrArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('txsync' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rxmove' as const), p: ptrArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rxscribble' as const), at: fc.nat(), bi: bufIdxArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('good' as const),
      from: fc.integer({ min: 1, max: NPORTS - 1 }),
      dst: fc.constantFrom(...UNICAST, ...GROUP),
      count: fc.integer({ min: 1, max: 6 }),
      // mostly its own MAC; sometimes another port's (MACs move between ports, as VALE trusts sources)
      src: fc.option(fc.constantFrom(...UNICAST), { freq: 3 }),
      len: fc.integer({ min: 14, max: 2500 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('drain' as const), port: fc.integer({ min: 1, max: NPORTS - 1 }) }),
  },
);
type Cmd = typeof cmdArb extends fc.Arbitrary<infer T> ? T : never;

// ---- the model ----

interface RingModel {
  n: number;
  hwcur: number;
  hwtail: number;
}

interface ModelPort {
  tx: RingModel;
  rx: RingModel;
  counters: number[];
  lastSrc: string | null;
  /** Frames expected in the RX ring, in order (well-behaved ports only). */
  queue: { data: Uint8Array; frags: number }[];
}

interface Frame {
  frags: Uint8Array[];
}

/** Index of the counter, by name. */
const C = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<(typeof COUNTER_NAMES)[number], number>;

/** netmap's prologue: head and cur in [hwcur, hwtail] circularly, head <= cur. */
function legal(r: RingModel, head: number, cur: number): boolean {
  if (head >= r.n || cur >= r.n) return false;
  const span = (r.hwtail - r.hwcur + r.n) % r.n;
  const dh = (head - r.hwcur + r.n) % r.n;
  const dc = (cur - r.hwcur + r.n) % r.n;
  return dh <= span && dc <= span && dh <= dc;
}

class Model {
  readonly ports: ModelPort[];
  readonly table = new Map<string, number>();
  /** Totals for the accounting identities. */
  framesIn = 0;
  copies = 0;
  withDest = 0;

  constructor(readonly batch: number) {
    this.ports = Array.from({ length: NPORTS }, (_, i) => {
      const txN = i === ATTACKER ? A_TX_SLOTS : G_TX_SLOTS;
      const rxN = i === ATTACKER ? A_RX_SLOTS : G_RX_SLOTS;
      return {
        tx: { n: txN, hwcur: 0, hwtail: txN - 1 },
        rx: { n: rxN, hwcur: 0, hwtail: 0 },
        counters: new Array(NUM_COUNTERS).fill(0),
        lastSrc: null,
        queue: [],
      };
    });
  }

  /** Classifies and delivers one batch from `src` (netmap's flush). Returns slots written per port. */
  flush(src: number, frames: Frame[], written: number[]): void {
    const sp = this.ports[src] as ModelPort;
    // per destination, in source order: the frames and whether the ring still takes more
    const perDst: Frame[][] = Array.from({ length: NPORTS }, () => []);
    for (const f of frames) {
      let total = 0;
      for (const x of f.frags) total += x.length;
      sp.counters[C.txPackets] += 1;
      sp.counters[C.txBytes] += total;
      const first = f.frags[0] as Uint8Array;
      if (first.length < 14) {
        sp.counters[C.dropRunt] += 1;
        continue;
      }
      const sa = macKey(first, 6);
      if (((first[6] as number) & 1) === 0 && sa !== sp.lastSrc) {
        this.table.set(sa, src);
        sp.lastSrc = sa;
      }
      let dsts: number[];
      if (((first[0] as number) & 1) !== 0) dsts = [];
      else {
        const d = this.table.get(macKey(first, 0));
        dsts = d === undefined ? [] : [d];
        if (d === src) {
          sp.counters[C.dropNoDest] += 1;
          continue;
        }
      }
      if (dsts.length === 0) for (let p = 0; p < NPORTS; p++) if (p !== src) dsts.push(p);
      this.withDest++;
      for (const d of dsts) (perDst[d] as Frame[]).push(f);
    }
    for (let d = 0; d < NPORTS; d++) {
      const list = perDst[d] as Frame[];
      const dp = this.ports[d] as ModelPort;
      this.copies += list.length;
      let space = dp.rx.n - 1 - ((dp.rx.hwtail - dp.rx.hwcur + dp.rx.n) % dp.rx.n);
      for (let k = 0; k < list.length; k++) {
        const f = list[k] as Frame;
        if (f.frags.length > space) {
          dp.counters[C.dropRxFull] += list.length - k;
          break;
        }
        space -= f.frags.length;
        dp.rx.hwtail = (dp.rx.hwtail + f.frags.length) % dp.rx.n;
        written[d] = (written[d] as number) + f.frags.length;
        dp.counters[C.rxPackets] += 1;
        let total = 0;
        for (const x of f.frags) total += x.length;
        dp.counters[C.rxBytes] += total;
        if (d !== ATTACKER) dp.queue.push({ data: Buffer.concat(f.frags), frags: f.frags.length });
      }
    }
  }
}

// ---- the world: a switch, its ports, and the model ----

class World {
  readonly host: ValeHost;
  readonly ports: LocalPort[];
  readonly vps: VPort[];
  readonly model: Model;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  /** The attacker's TX slots as the model believes them (after the model's reinit fixes). */
  readonly shadow: { bi: number; len: number; flags: number }[];

  constructor(batch: number) {
    this.host = new ValeHost({
      'dev.netmap.max_ports': NPORTS,
      'dev.netmap.max_buffers': 128,
      'dev.netmap.bridge': batch,
    });
    this.ports = [];
    for (let i = 0; i < NPORTS; i++) {
      const a = i === ATTACKER;
      this.ports.push(
        openPort(`vale-f:p${i}`, {
          host: this.host,
          txSlots: a ? A_TX_SLOTS : G_TX_SLOTS,
          rxSlots: a ? A_RX_SLOTS : G_RX_SLOTS,
        }),
      );
    }
    this.vps = this.ports.map((p) => p.vport);
    this.model = new Model(batch);
    const arena = (this.vps[0] as VPort).region.arena;
    for (const v of this.vps) assert.equal(v.region.arena, arena, 'all ports in one arena');
    this.u8 = arena.u8;
    this.u32 = arena.u32;
    this.u16 = arena.u16;
    // canary everywhere outside the regions
    const regions = this.vps
      .map((v) => [v.region.base, v.region.base + v.region.geometry.size])
      .sort((a, b) => a[0]! - b[0]!);
    let at = 0;
    for (const [lo, hi] of regions) {
      this.u8.fill(CANARY, at, lo);
      at = hi as number;
    }
    this.u8.fill(CANARY, at, arena.size);
    // every buffer starts with junk of its own, so a copy from the wrong place shows
    for (const v of this.vps) {
      const g = v.region.geometry;
      for (let b = 0; b < g.numBufs; b++) {
        const o = v.region.base + g.bufsOfs + b * NM_BUF_SIZE;
        this.u8.fill((v.index * 64 + b) & 0xff, o, o + NM_BUF_SIZE);
      }
    }
    const tx = this.ring(ATTACKER, 'tx');
    this.shadow = [];
    for (let s = 0; s < A_TX_SLOTS; s++) this.shadow.push({ bi: tx.bufIdx(s), len: tx.len(s), flags: tx.flags(s) });
  }

  ring(p: number, dir: 'tx' | 'rx'): NetmapRing {
    const port = this.ports[p] as LocalPort;
    return (dir === 'tx' ? port.txRings[0] : port.rxRings[0]) as NetmapRing;
  }

  numBufs(p: number): number {
    return (this.vps[p] as VPort).region.geometry.numBufs;
  }

  bufIdx(p: number, c: Extract<Cmd, { op: 'slot' }>['bi']): number {
    if (c.kind === 'raw') return c.v >>> 0;
    if (c.kind === 'edge') return this.numBufs(p) + c.d;
    return NM_RESERVED_BUFS + (c.n % (this.numBufs(p) - NM_RESERVED_BUFS));
  }

  /** Writes a TX slot of the attacker (and, for a valid bufIdx, the frame into its buffer). */
  writeSlot(s: number, bi: number, len: number, flags: number, dst: Uint8Array, src: Uint8Array, fill: number): void {
    const tx = this.ring(ATTACKER, 'tx');
    tx.setBufIdx(s, bi);
    tx.setLen(s, len);
    tx.setFlags(s, flags);
    this.shadow[s] = { bi, len, flags };
    if (bi >= NM_RESERVED_BUFS && bi < this.numBufs(ATTACKER)) {
      const b = tx.bufView(s);
      b.fill(fill);
      b.set(dst, 0);
      b.set(src, 6);
    }
  }

  /** The attacker's ring pointers from a pointer choice. */
  pointers(r: RingModel, p: Extract<Cmd, { op: 'move' }>['p']): [number, number] {
    const span = (r.hwtail - r.hwcur + r.n) % r.n;
    switch (p.kind) {
      case 'legal': {
        const dh = p.a % (span + 1);
        const dc = dh + (p.b % (span - dh + 1));
        return [(r.hwcur + dh) % r.n, (r.hwcur + dc) % r.n];
      }
      case 'near': {
        // just past either end: the illegal moves a buggy client makes
        const h = (r.hwtail + p.a + r.n) % r.n;
        return [h, (h + p.b + r.n) % r.n];
      }
      case 'raw':
        return [p.a % (r.n + 3), p.b % (r.n + 3)];
      case 'huge':
        return [p.a, p.b % r.n];
    }
  }

  // ---- snapshots ----

  snapshot(): Uint8Array {
    return this.u8.slice();
  }

  /**
   * Compares the arena with `before`, allowing writes only where a sync by
   * `sender` may write: its ring headers and slots and counters, and for each
   * other port the counters, the RX hwtail word and the RX slots (len, flags)
   * in `newSlots[p]` from the old hwtail on, with their buffers.
   */
  checkWrites(before: Uint8Array, sender: number, oldTail: number[], newSlots: number[]): void {
    const after = this.u8;
    // copy the allowed bytes into `before`, then one memcmp; scan only on a difference
    const allow = (lo: number, hi: number): void => before.set(after.subarray(lo, hi), lo);
    for (let p = 0; p < NPORTS; p++) {
      const v = this.vps[p] as VPort;
      const base = v.region.base;
      const g = v.region.geometry;
      allow(base + IF_COUNTERS, base + IF_COUNTERS + 8 * NUM_COUNTERS);
      if (p === sender) {
        allow(base + IF_HDR_SIZE, base + g.bufsOfs); // ring headers and slots
        continue;
      }
      const rx = this.ring(p, 'rx');
      const hdr = rx.hdrW << 2;
      allow(hdr + RING_HWTAIL, hdr + RING_HWTAIL + 4);
      for (let k = 0; k < (newSlots[p] as number); k++) {
        const s = ((oldTail[p] as number) + k) % rx.numSlots;
        const w = (rx.slotsW + s * (SLOT_SIZE >>> 2)) << 2;
        allow(w + 4, w + 8);
        const o = rx.bufOffset(rx.bufIdx(s));
        allow(o, o + NM_BUF_SIZE);
      }
    }
    if (Buffer.compare(before, after) === 0) return;
    for (let i = 0; i < after.length; i++) {
      if (after[i] !== before[i]) {
        const owner = this.vps.find((v) => i >= v.region.base && i < v.region.base + v.region.geometry.size);
        const where = owner === undefined ? 'outside every region' : `in ${owner.name} at +${i - owner.region.base}`;
        assert.fail(`a sync of port ${sender} wrote byte ${i} (${where}): ${before[i]} -> ${after[i]}`);
      }
    }
  }

  checkCounters(when: string): void {
    for (let p = 0; p < NPORTS; p++) {
      const got = Array.from((this.vps[p] as VPort).counters.subarray(0, NUM_COUNTERS));
      const want = (this.model.ports[p] as ModelPort).counters;
      if (got.join() !== want.join()) {
        const diff = COUNTER_NAMES.filter((_, i) => got[i] !== want[i]).map(
          (n) => `${n}=${got[C[n]]} (model ${want[C[n]]})`,
        );
        assert.fail(`${when}: port ${p} counters: ${diff.join(', ')}`);
      }
    }
    // the accounting identities, from the switch's own counters
    let tx = 0;
    let dropRunt = 0;
    let noDest = 0;
    let dropFrags = 0;
    let dropOversize = 0;
    let delivered = 0;
    for (const v of this.vps) {
      tx += v.counters[C.txPackets] as number;
      dropRunt += v.counters[C.dropRunt] as number;
      noDest += v.counters[C.dropNoDest] as number;
      dropFrags += v.counters[C.dropFrags] as number;
      dropOversize += v.counters[C.dropOversize] as number;
      delivered += (v.counters[C.rxPackets] as number) + (v.counters[C.dropRxFull] as number);
    }
    assert.equal(
      this.model.framesIn,
      tx + dropFrags + dropOversize,
      `${when}: frames in = txPackets + dropFrags + dropOversize`,
    );
    assert.equal(tx, dropRunt + noDest + this.model.withDest, `${when}: txPackets = runts + no destination + sent`);
    assert.equal(delivered, this.model.copies, `${when}: rx + dropRxFull = copies sent`);
  }

  // ---- operations ----

  /** The attacker's txsync, through the model first. */
  txsyncAttacker(): void {
    const m = this.model;
    const mp = m.ports[ATTACKER] as ModelPort;
    const tx = this.ring(ATTACKER, 'tx');
    const head = tx.head;
    const cur = tx.cur;
    const before = this.snapshot();
    const oldTail = m.ports.map((p) => p.rx.hwtail);
    const written = new Array(NPORTS).fill(0);
    let ok = true;
    if (!legal(mp.tx, head, cur)) {
      ok = false;
      mp.counters[C.ringErrors] += 1;
      for (const s of this.shadow) {
        if (s.bi < NM_RESERVED_BUFS || s.bi >= this.numBufs(ATTACKER)) {
          s.bi = 0;
          s.len = 0;
        } else if (s.len > NM_BUF_SIZE) s.len = 0;
      }
    } else if (head !== mp.tx.hwcur) {
      this.modelTx(head, written);
      mp.tx.hwcur = head;
      mp.tx.hwtail = (head + mp.tx.n - 1) % mp.tx.n;
    }
    let bad = -1;
    try {
      bad = txsyncPort(this.vps[ATTACKER] as VPort);
    } catch (e) {
      assert.fail(`txsync threw on the data path: ${String(e)}`);
    }
    assert.equal(bad, ok ? 0 : 1, 'txsync reports the re-initialised ring');
    // the ring as the switch left it
    const hw = this.u32[tx.hdrW + (RING_HWCUR >>> 2)];
    assert.equal(tx.tail, mp.tx.hwtail, 'tail = hwtail');
    if (!ok) {
      assert.deepEqual([tx.head, tx.cur], [mp.tx.hwcur, mp.tx.hwcur], 'reinit puts head = cur = hwcur');
    } else {
      assert.equal(hw, mp.tx.hwcur, 'published hwcur');
    }
    for (let s = 0; s < A_TX_SLOTS; s++) {
      const sh = this.shadow[s] as { bi: number; len: number; flags: number };
      if (tx.bufIdx(s) !== sh.bi || tx.len(s) !== sh.len || tx.flags(s) !== sh.flags) {
        assert.fail(`TX slot ${s}: ${tx.bufIdx(s)}/${tx.len(s)}/${tx.flags(s)}, model ${sh.bi}/${sh.len}/${sh.flags}`);
      }
    }
    this.checkWrites(before, ATTACKER, oldTail, written);
    this.checkCounters('attacker txsync');
  }

  /** netmap's txsync as the model reads it: slots [hwcur, head) into frames, in batches. */
  private modelTx(head: number, written: number[]): void {
    const m = this.model;
    const mp = m.ports[ATTACKER] as ModelPort;
    const n = mp.tx.n;
    const numBufs = this.numBufs(ATTACKER);
    const tx = this.ring(ATTACKER, 'tx');
    let batch: Frame[] = [];
    let batchSlots = 0;
    let chain: Uint8Array[] = [];
    let skipping = false;
    for (let j = mp.tx.hwcur; j !== head; j = (j + 1) % n) {
      const s = this.shadow[j] as { bi: number; len: number; flags: number };
      const more = (s.flags & NS_MOREFRAG) !== 0;
      if (skipping) {
        if (!more) skipping = false;
        continue;
      }
      let data: Uint8Array;
      if (s.bi < NM_RESERVED_BUFS || s.bi >= numBufs || s.len > NM_BUF_SIZE) {
        mp.counters[C.badSlots] += 1;
        data = new Uint8Array(0);
      } else {
        const o = tx.bufOffset(s.bi);
        data = this.u8.slice(o, o + s.len);
      }
      chain.push(data);
      if (more) {
        if (chain.length === MAX_FRAGS) {
          // a 65th fragment is coming: the chain is dropped whole, the rest of it skipped
          mp.counters[C.dropFrags] += 1;
          m.framesIn++;
          chain = [];
          skipping = true;
        }
        continue;
      }
      m.framesIn++;
      if (bytes(chain) > MAX_CHAIN_BYTES) {
        // longer than any port may be handed: dropped whole, counted on the sender
        mp.counters[C.dropOversize] += 1;
        chain = [];
        continue;
      }
      batch.push({ frags: chain });
      batchSlots += chain.length;
      chain = [];
      if (batchSlots >= m.batch) {
        m.flush(ATTACKER, batch, written);
        batch = [];
        batchSlots = 0;
      }
    }
    if (skipping) {
      // ended inside a chain already dropped: nothing more to count
    } else if (chain.length > 0) {
      // the sync ended inside a chain: forwarded cut short, counted as truncated
      mp.counters[C.truncated] += 1;
      m.framesIn++;
      if (bytes(chain) > MAX_CHAIN_BYTES) mp.counters[C.dropOversize] += 1;
      else batch.push({ frags: chain });
    }
    if (batch.length > 0) m.flush(ATTACKER, batch, written);
  }

  /** The attacker's rxsync after writing head/cur. */
  rxsyncAttacker(head: number, cur: number): void {
    const mp = this.model.ports[ATTACKER] as ModelPort;
    const rx = this.ring(ATTACKER, 'rx');
    rx.head = head;
    rx.cur = cur;
    const ok = legal(mp.rx, head, cur);
    if (ok) mp.rx.hwcur = head;
    else mp.counters[C.ringErrors] += 1;
    const before = this.snapshot();
    let bad = -1;
    try {
      bad = rxsyncPort(this.vps[ATTACKER] as VPort);
    } catch (e) {
      assert.fail(`rxsync threw: ${String(e)}`);
    }
    assert.equal(bad, ok ? 0 : 1);
    assert.equal(rx.tail, mp.rx.hwtail);
    if (!ok) assert.deepEqual([rx.head, rx.cur], [mp.rx.hwcur, mp.rx.hwcur]);
    this.checkWrites(before, ATTACKER, [], new Array(NPORTS).fill(0));
    this.checkCounters('attacker rxsync');
  }

  /** A well-behaved port sends `count` frames of `len` bytes (chains past 2048) through the public API. */
  good(from: number, dst: Uint8Array, src: Uint8Array, count: number, len: number, seed: number): void {
    const port = this.ports[from] as LocalPort;
    const tx = this.ring(from, 'tx');
    const frames: Frame[] = [];
    let slots = 0;
    for (let k = 0; k < count; k++) {
      const nfr = Math.ceil(len / NM_BUF_SIZE);
      if (slots + nfr > tx.space()) break;
      const f = new Uint8Array(len);
      for (let i = 0; i < len; i++) f[i] = (seed + k * 7 + i * 13) & 0xff;
      f.set(dst, 0);
      f.set(src, 6);
      const frags: Uint8Array[] = [];
      for (let o = 0; o < len; o += NM_BUF_SIZE) frags.push(f.slice(o, Math.min(len, o + NM_BUF_SIZE)));
      frags.forEach((x, i) => {
        const s = tx.cur;
        tx.bufView(s).set(x);
        tx.setLen(s, x.length);
        tx.setFlags(s, i < frags.length - 1 ? NS_MOREFRAG : 0);
        tx.head = tx.cur = tx.next(s);
      });
      slots += nfr;
      frames.push({ frags });
    }
    const m = this.model;
    const before = this.snapshot();
    const oldTail = m.ports.map((p) => p.rx.hwtail);
    const written = new Array(NPORTS).fill(0);
    // batches cut at frame boundaries once `batch` slots are collected
    let batch: Frame[] = [];
    let bs = 0;
    for (const f of frames) {
      m.framesIn++;
      batch.push(f);
      bs += f.frags.length;
      if (bs >= m.batch) {
        m.flush(from, batch, written);
        batch = [];
        bs = 0;
      }
    }
    if (batch.length > 0) m.flush(from, batch, written);
    try {
      port.txsync();
    } catch (e) {
      assert.fail(`a well-behaved port's txsync threw: ${String(e)}`);
    }
    this.checkWrites(before, from, oldTail, written);
    this.checkCounters(`port ${from} send`);
  }

  /** A well-behaved port drains its RX ring: exactly the model's frames, bytes and flags. */
  drain(p: number): void {
    const port = this.ports[p] as LocalPort;
    const mp = this.model.ports[p] as ModelPort;
    const rx = this.ring(p, 'rx');
    port.rxsync();
    const got: { data: Uint8Array; frags: number }[] = [];
    let parts: Uint8Array[] = [];
    while (!rx.empty()) {
      const s = rx.cur;
      const fl = rx.flags(s);
      parts.push(rx.frame(s).slice());
      const cnt = fl >>> NS_RFRAGS_SHIFT;
      if ((fl & NS_MOREFRAG) === 0) {
        assert.equal(cnt, parts.length, `port ${p}: RX fragment count`);
        got.push({ data: Buffer.concat(parts), frags: cnt });
        parts = [];
      } else {
        assert.equal(fl & 0xff, NS_MOREFRAG, `port ${p}: RX flags 0x${fl.toString(16)}`);
      }
      rx.head = rx.cur = rx.next(s);
    }
    assert.equal(parts.length, 0, `port ${p}: an unterminated chain in an RX ring`);
    assert.equal(got.length, mp.queue.length, `port ${p}: frames received`);
    for (let i = 0; i < got.length; i++) {
      const g = got[i] as { data: Uint8Array; frags: number };
      const w = mp.queue[i] as { data: Uint8Array; frags: number };
      assert.equal(g.frags, w.frags, `port ${p} frame ${i}: fragments`);
      assert.ok(
        Buffer.from(g.data).equals(Buffer.from(w.data)),
        `port ${p} frame ${i}: bytes differ from what was sent`,
      );
    }
    mp.queue = [];
    port.rxsync();
    mp.rx.hwcur = rx.head;
    assert.equal(mp.rx.hwcur, mp.rx.hwtail);
  }

  run(cmds: Cmd[]): void {
    const mp = this.model.ports[ATTACKER] as ModelPort;
    const tx = this.ring(ATTACKER, 'tx');
    let seed = 1;
    for (const c of cmds) {
      switch (c.op) {
        case 'slot': {
          const s = c.at % A_TX_SLOTS;
          const dst = typeof c.dst === 'string' ? parseMac(c.dst) : c.dst;
          this.writeSlot(s, this.bufIdx(ATTACKER, c.bi), c.len, c.flags, dst, parseMac(c.src), c.fill);
          // usually publish it: head/cur just past it, when that is legal
          const nh = (s + 1) % A_TX_SLOTS;
          if (legal(mp.tx, nh, nh)) tx.head = tx.cur = nh;
          break;
        }
        case 'chain': {
          // a chain written at cur, each fragment in its own buffer, then head/cur past it (if it fits)
          const dst = typeof c.dst === 'string' ? parseMac(c.dst) : c.dst;
          let s = mp.tx.hwcur;
          const span = (mp.tx.hwtail - mp.tx.hwcur + mp.tx.n) % mp.tx.n;
          const k = Math.min(c.frags, span);
          for (let i = 0; i < k; i++) {
            const last = i === k - 1 && c.terminated;
            const bi = NM_RESERVED_BUFS + ((s * 7 + i) % (this.numBufs(ATTACKER) - NM_RESERVED_BUFS));
            this.writeSlot(s, bi, c.len, last ? 0 : NS_MOREFRAG, dst, parseMac(c.src), i & 0xff);
            s = (s + 1) % A_TX_SLOTS;
          }
          tx.head = tx.cur = s;
          break;
        }
        case 'move': {
          const [h, cu] = this.pointers(mp.tx, c.p);
          tx.head = h;
          tx.cur = cu;
          break;
        }
        case 'txsync':
          this.txsyncAttacker();
          break;
        case 'rxmove': {
          const [h, cu] = this.pointers(mp.rx, c.p);
          this.rxsyncAttacker(h, cu);
          break;
        }
        case 'rxscribble': {
          const rx = this.ring(ATTACKER, 'rx');
          rx.setBufIdx(c.at % A_RX_SLOTS, this.bufIdx(ATTACKER, c.bi));
          break;
        }
        case 'good':
          this.good(c.from, parseMac(c.dst), parseMac(c.src ?? (UNICAST[c.from] as string)), c.count, c.len, seed++);
          break;
        case 'drain':
          this.drain(c.port);
          break;
      }
    }
    this.txsyncAttacker();
    for (let p = 1; p < NPORTS; p++) this.drain(p);
    // only the offending port is affected: the others never had a ring error
    for (let p = 1; p < NPORTS; p++) assert.equal((this.vps[p] as VPort).counters[C_RING_ERRORS], 0);
  }

  close(): void {
    for (const p of this.ports) p.close();
  }
}

const batchArb = fc.constantFrom(1, 2, 3, 5, 64, 1024);

const hostile: FuzzProp = {
  name: 'ring/hostile-client',
  runs: 150,
  property: () =>
    fc.property(batchArb, fc.array(cmdArb, { maxLength: 40 }), (batch, cmds) => {
      const w = new World(batch);
      try {
        w.run(cmds);
      } finally {
        w.close();
      }
    }) as unknown as fc.IRawProperty<unknown, false>,
};

/**
 * README: chains of up to 64 slots and 65535 bytes past the port's virtio-net header; a longer
 * chain is dropped whole and counted (dropOversize), whatever its slot count, whether it ends
 * in the sync or is cut short by its end (then counted as truncated too).
 */
const chainBytes: FuzzProp = {
  name: 'ring/chain-bytes',
  runs: 80,
  property: () =>
    fc.property(
      fc.integer({ min: 1, max: MAX_FRAGS }),
      fc.oneof(fc.integer({ min: 60, max: NM_BUF_SIZE }), fc.integer({ min: 1990, max: NM_BUF_SIZE })),
      fc.integer({ min: -40, max: 40 }),
      fc.constantFrom(0, 10, 12),
      fc.boolean(),
      // a chain of exactly 65535 + t bytes (header included): both sides of the limit, with and without header
      fc.option(fc.integer({ min: -3, max: 14 }), { freq: 2 }),
      (frags0, len0, lastDelta, hdrLen, terminated, t) => {
        let frags = frags0;
        let len = len0;
        let lastLen = Math.max(hdrLen + 14, Math.min(NM_BUF_SIZE, len + lastDelta));
        if (t !== null) {
          const want = MAX_CHAIN_BYTES + t;
          frags = Math.max(frags, Math.ceil(want / NM_BUF_SIZE));
          len = Math.ceil(want / frags);
          lastLen = want - (frags - 1) * len;
        }
        const host = new ValeHost({ 'dev.netmap.max_ports': 2, 'dev.netmap.max_buffers': 128 });
        const [a, b] = [0, 1].map((i) =>
          openPort(`vale-c:p${i}`, { host, txSlots: 128, rxSlots: 128, vnetHdrLen: hdrLen }),
        ) as [LocalPort, LocalPort];
        try {
          const tx = a.txRings[0] as NetmapRing;
          let total = 0;
          for (let i = 0; i < frags; i++) {
            // the last fragment a little shorter or longer, to land on both sides of the limit
            const l = i === frags - 1 ? lastLen : len;
            const buf = tx.bufView(i);
            buf.fill(i);
            buf.set(parseMac(GROUP[0] as string), hdrLen);
            buf.set(parseMac(UNICAST[0] as string), hdrLen + 6);
            tx.setLen(i, l);
            tx.setFlags(i, i < frags - 1 || !terminated ? NS_MOREFRAG : 0);
            total += l;
          }
          tx.head = tx.cur = frags;
          txsyncPort(a.vport);
          const frame = total - hdrLen;
          const rxp = b.vport.counters[C.rxPackets] as number;
          const ac = a.vport.counters;
          if (!terminated && frags === MAX_FRAGS) {
            // a 64th fragment with NS_MOREFRAG announces a 65th: over the slot limit, dropped whole
            assert.equal(ac[C.dropFrags], 1, 'a chain announcing a 65th fragment is counted in dropFrags');
            assert.equal(rxp, 0);
            return;
          }
          assert.equal(ac[C.truncated], terminated ? 0 : 1, 'an unterminated chain is counted as truncated');
          if (frame <= MAX_CHAIN_BYTES) {
            assert.equal(rxp, 1, `a ${frame}-byte frame (${frags} fragments, header ${hdrLen}) is delivered`);
            assert.equal(ac[C.dropOversize], 0);
          } else {
            assert.equal(rxp, 0, `a ${frame}-byte frame (${frags} fragments, header ${hdrLen}) was delivered`);
            assert.equal(ac[C.dropOversize], 1, 'the oversize chain is counted (dropOversize) on the sender');
            assert.equal(ac[C.txPackets], 0, 'an oversize chain is not a sent frame');
          }
          const drops = COUNTER_NAMES.filter((n) => n.startsWith('drop')).reduce((t, n) => t + (ac[C[n]] as number), 0);
          assert.equal(rxp + drops, 1, 'the frame is delivered or counted once as a drop');
        } finally {
          a.close();
          b.close();
        }
      },
    ) as unknown as fc.IRawProperty<unknown, false>,
};

export const RING_PROPS: FuzzProp[] = [hostile, chainBytes];
