/*
 * Ring ownership and validation (src/ring/kring.ts), as a property test: a
 * seeded random walk of legal and illegal head/cur moves on the TX and RX
 * rings of a two-port switch, with traffic, checked step by step against a
 * model of netmap's rules.
 *
 *   legal moves     frames are never lost or duplicated: each frame sent while
 *                   the receiver ring had room arrives exactly once, in order,
 *                   bit-exact; the others are counted in dropRxFull.
 *   illegal moves   the sync throws VALE_ERR_RING_REINIT, that ring is reset to
 *                   head = cur = hwcur, tail = hwtail, and no other ring of
 *                   either port changes other than as the model says.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, type LocalPort, type NetmapRing, openPort, ValeHost } from '../../src/index.js';
import { BROADCAST, drainAll, frame, macN, Rng, send, seqOf } from '../helpers/vale.js';

interface TxModel {
  hwcur: number;
  head: number;
  cur: number;
  tail: number;
  /** seqs written into [hwcur, head), not yet synced. */
  pending: number[];
}

interface RxModel {
  hwcur: number;
  head: number;
  cur: number;
  tail: number;
  /** seqs in [hwcur, hwtail): delivered, not yet released. */
  queue: number[];
}

interface PortModel {
  port: LocalPort;
  mac: string;
  tx: TxModel[];
  rx: RxModel[];
  delivered: number;
  dropped: number;
  ringErrors: number;
}

const mod = (x: number, n: number): number => ((x % n) + n) % n;

function runWalk(seed: number, steps: number): { frames: number; illegal: number; drops: number } {
  const rng = new Rng(seed);
  const host = new ValeHost();
  const a = openPort('vale0:a', { host, txRings: 2, rxRings: 2, txSlots: 8, rxSlots: 16 });
  const b = openPort('vale0:b', { host, txRings: 2, rxRings: 2, txSlots: 16, rxSlots: 8 });
  // learn both MACs, then start from drained rings
  send(a, [frame(BROADCAST, macN(0xa))]);
  send(b, [frame(BROADCAST, macN(0xb))]);
  drainAll(a);
  drainAll(b);

  const model = (port: LocalPort, mac: string): PortModel => ({
    port,
    mac,
    tx: port.txRings.map((r) => ({ hwcur: r.head, head: r.head, cur: r.cur, tail: r.tail, pending: [] })),
    rx: port.rxRings.map((r) => ({ hwcur: r.head, head: r.head, cur: r.cur, tail: r.tail, queue: [] })),
    delivered: port.counters().rxPackets,
    dropped: 0,
    ringErrors: 0,
  });
  const ports = [model(a, macN(0xa)), model(b, macN(0xb))];
  const sent = new Map<number, Uint8Array>();
  let seq = 1000;
  let illegal = 0;

  const check = (where: string): void => {
    for (const pm of ports) {
      pm.port.txRings.forEach((r, i) => {
        const m = pm.tx[i] as TxModel;
        assert.deepEqual([r.head, r.cur, r.tail], [m.head, m.cur, m.tail], `${where}: ${pm.port.name} TX ${i}`);
      });
      pm.port.rxRings.forEach((r, i) => {
        const m = pm.rx[i] as RxModel;
        assert.deepEqual([r.head, r.cur, r.tail], [m.head, m.cur, m.tail], `${where}: ${pm.port.name} RX ${i}`);
      });
      const c = pm.port.counters();
      assert.equal(c.rxPackets, pm.delivered, `${where}: ${pm.port.name} rxPackets`);
      assert.equal(c.dropRxFull, pm.dropped, `${where}: ${pm.port.name} dropRxFull`);
      assert.equal(c.ringErrors, pm.ringErrors, `${where}: ${pm.port.name} ringErrors`);
    }
  };

  /** What txsync does to TX ring i of `src` (when legal): forward pending, reclaim. */
  const forward = (src: PortModel, dst: PortModel, i: number): void => {
    const t = src.tx[i] as TxModel;
    for (const s of t.pending) {
      const f = sent.get(s) as Uint8Array;
      const bcast = f[0] === 0xff;
      const rq = dst.rx[bcast ? 0 : i % dst.rx.length] as RxModel;
      const n = dst.port.rxRings[0]?.numSlots as number;
      if (rq.queue.length < n - 1) {
        rq.queue.push(s);
        dst.delivered++;
      } else {
        dst.dropped++;
        sent.delete(s);
      }
    }
    t.pending = [];
    const n = src.port.txRings[i]?.numSlots as number;
    t.hwcur = t.head;
    t.tail = mod(t.head - 1, n);
  };

  /** What rxsync does to RX ring i (when legal): release [hwcur, head), tail = hwtail. */
  const release = (pm: PortModel, i: number): void => {
    const r = pm.rx[i] as RxModel;
    const n = pm.port.rxRings[i]?.numSlots as number;
    for (const s of r.queue.splice(0, mod(r.head - r.hwcur, n))) sent.delete(s);
    r.hwcur = r.head;
    r.tail = mod(r.hwcur + r.queue.length, n);
  };

  const expectReinit = (fn: () => void, where: string): void => {
    assert.throws(
      fn,
      (e: unknown) => (e as { code?: string }).code === ErrorCodes.RING_REINIT,
      `${where}: illegal move must throw VALE_ERR_RING_REINIT`,
    );
  };

  for (let step = 0; step < steps; step++) {
    const pi = rng.int(0, 1);
    const src = ports[pi] as PortModel;
    const dst = ports[1 - pi] as PortModel;
    const op = rng.int(0, 99);
    const where = `seed ${seed} step ${step} op ${op}`;

    if (op < 30) {
      // write frames at head, move head and cur legally
      const i = rng.int(0, src.tx.length - 1);
      const ring = src.port.txRings[i] as NetmapRing;
      const t = src.tx[i] as TxModel;
      const n = ring.numSlots;
      const room = mod(t.tail - t.head, n);
      const k = rng.int(0, room);
      let h = t.head;
      for (let j = 0; j < k; j++) {
        const s = seq++;
        const f = frame(rng.chance(0.25) ? BROADCAST : dst.mac, src.mac, {
          seq: s,
          len: rng.int(19, 300),
          tag: pi * 16 + i,
        });
        sent.set(s, f);
        ring.bufView(h).set(f);
        ring.setLen(h, f.length);
        ring.setFlags(h, 0);
        t.pending.push(s);
        h = ring.next(h);
      }
      t.head = h;
      t.cur = mod(h + rng.int(0, mod(t.tail - h, n)), n);
      ring.head = t.head;
      ring.cur = t.cur;
    } else if (op < 50) {
      // txsync: every TX ring of src forwards its pending frames
      src.port.txsync();
      for (let i = 0; i < src.tx.length; i++) forward(src, dst, i);
    } else if (op < 65) {
      // read some visible frames of an RX ring, move head and cur legally
      const i = rng.int(0, src.rx.length - 1);
      const ring = src.port.rxRings[i] as NetmapRing;
      const r = src.rx[i] as RxModel;
      const n = ring.numSlots;
      const consumed = mod(r.head - r.hwcur, n);
      const visible = mod(r.tail - r.head, n);
      const k = rng.int(0, visible);
      let h = r.head;
      for (let j = 0; j < k; j++) {
        const want = r.queue[consumed + j];
        assert.ok(want !== undefined, `${where}: model has the frame`);
        const f = ring.frame(h);
        assert.equal(seqOf(f), want, `${where}: RX ${i} slot ${h} carries the next frame in order`);
        assert.equal(ring.flags(h), 0x100, `${where}: single-slot flags`);
        assert.ok(Buffer.from(sent.get(want) as Uint8Array).equals(f), `${where}: frame ${want} is bit-exact`);
        h = ring.next(h);
      }
      r.head = h;
      r.cur = mod(h + rng.int(0, mod(r.tail - h, n)), n);
      ring.head = r.head;
      ring.cur = r.cur;
    } else if (op < 85) {
      // rxsync: release and see new frames on every RX ring
      src.port.rxsync();
      for (let i = 0; i < src.rx.length; i++) release(src, i);
    } else if (op < 93) {
      // illegal TX move
      illegal++;
      const i = rng.int(0, src.tx.length - 1);
      const ring = src.port.txRings[i] as NetmapRing;
      const t = src.tx[i] as TxModel;
      const n = ring.numSlots;
      const how = rng.int(0, 3);
      if (how === 0) ring.head = n + rng.int(0, 5);
      else if (how === 1) ring.cur = rng.chance(0.5) ? 0xffffffff : n + rng.int(0, 5);
      else {
        // cur behind head (circularly, seen from hwcur)
        const dh = rng.int(1, n - 1);
        const dc = rng.int(0, dh - 1);
        ring.head = mod(t.hwcur + dh, n);
        ring.cur = mod(t.hwcur + dc, n);
      }
      expectReinit(() => src.port.txsync(), where);
      // this ring: pending frames discarded, back to the switch's view
      for (const s of t.pending) sent.delete(s);
      t.pending = [];
      t.head = t.cur = t.hwcur;
      t.tail = mod(t.hwcur - 1, n);
      src.ringErrors++;
      // the other TX rings of the port were synced normally
      for (let j = 0; j < src.tx.length; j++) if (j !== i) forward(src, dst, j);
    } else {
      // illegal RX move
      const i = rng.int(0, src.rx.length - 1);
      const ring = src.port.rxRings[i] as NetmapRing;
      const r = src.rx[i] as RxModel;
      const n = ring.numSlots;
      const span = r.queue.length; // hwtail - hwcur
      const choices = [0, 1];
      if (span < n - 1) choices.push(2, 3);
      if (span >= 1) choices.push(4);
      const how = rng.pick(choices);
      if (how === 0) ring.head = n + rng.int(0, 100);
      else if (how === 1) ring.cur = 0x80000000 + rng.int(0, 100);
      else if (how === 2) {
        // head past hwtail
        ring.head = ring.cur = mod(r.hwcur + rng.int(span + 1, n - 1), n);
      } else if (how === 3) {
        // cur past hwtail
        ring.cur = mod(r.hwcur + rng.int(span + 1, n - 1), n);
      } else {
        // cur behind head
        const dh = rng.int(1, span);
        const dc = rng.int(0, dh - 1);
        ring.head = mod(r.hwcur + dh, n);
        ring.cur = mod(r.hwcur + dc, n);
      }
      illegal++;
      expectReinit(() => src.port.rxsync(), where);
      // this ring: nothing released, head = cur = hwcur, tail = hwtail
      r.head = r.cur = r.hwcur;
      r.tail = mod(r.hwcur + r.queue.length, n);
      src.ringErrors++;
      for (let j = 0; j < src.rx.length; j++) if (j !== i) release(src, j);
    }
    check(where);
  }

  // drain everything that is left and account for every frame
  let frames = 0;
  for (const pm of ports) {
    pm.port.txsync();
    const other = ports[1 - ports.indexOf(pm)] as PortModel;
    for (let i = 0; i < pm.tx.length; i++) forward(pm, other, i);
  }
  for (const pm of ports) {
    pm.port.rxsync();
    for (let i = 0; i < pm.rx.length; i++) release(pm, i);
    pm.port.rxRings.forEach((ring, i) => {
      const r = pm.rx[i] as RxModel;
      for (const want of r.queue) {
        assert.ok(!ring.empty(), 'the ring shows every frame the model expects');
        assert.equal(seqOf(ring.frame(ring.cur)), want);
        assert.ok(Buffer.from(sent.get(want) as Uint8Array).equals(ring.frame(ring.cur)));
        ring.head = ring.cur = ring.next(ring.cur);
      }
      assert.ok(ring.empty(), 'nothing beyond what the model expects');
      r.head = r.cur = ring.head;
    });
    pm.port.rxsync();
    for (let i = 0; i < pm.rx.length; i++) release(pm, i);
    frames += pm.delivered;
  }
  check('end');
  assert.equal(sent.size, 0, 'every frame sent was delivered once or counted as dropped');
  return { frames, illegal, drops: ports[0]!.dropped + ports[1]!.dropped };
}

describe('ring invariants (seeded random walk)', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: legal moves lose and duplicate nothing, illegal moves re-init only their ring`, () => {
      const r = runWalk(seed, 3000);
      // the walk must actually exercise delivery, overflow and re-inits
      assert.ok(r.frames > 1000, `frames ${r.frames}`);
      assert.ok(r.drops > 50, `drops ${r.drops}`);
      assert.ok(r.illegal > 200, `illegal ${r.illegal}`);
    });
  }
});

describe('prologue (netmap_*sync_prologue)', () => {
  test('TX right after a sync: every head < N is legal (the whole ring is the user’s), cur must not precede head', () => {
    const host = new ValeHost();
    const p = openPort('vale0:a', { host, txSlots: 8 });
    openPort('vale0:b', { host });
    const ring = p.txRings[0] as NetmapRing;
    for (let h = 0; h < 8; h++) {
      // head = h sends h slots from 0 (garbage lengths of zero are runts: counted, not forwarded)
      ring.head = h;
      ring.cur = h;
      p.txsync();
      assert.equal(ring.tail, (h + 7) % 8);
      // put the ring back at 0 by sending the rest
      ring.head = ring.cur = 0;
      p.txsync();
    }
    ring.head = 3;
    ring.cur = 2;
    assert.throws(() => p.txsync(), { code: ErrorCodes.RING_REINIT });
    assert.deepEqual([ring.head, ring.cur, ring.tail], [0, 0, 7]);
    assert.equal(p.counters().ringErrors, 1);
  });

  test('a user overwriting tail is silently corrected', () => {
    const host = new ValeHost();
    const p = openPort('vale0:a', { host, txSlots: 8, rxSlots: 8 });
    const tx = p.txRings[0] as NetmapRing;
    const rx = p.rxRings[0] as NetmapRing;
    tx.u32[tx.hdrW + 2] = 3;
    rx.u32[rx.hdrW + 2] = 5;
    p.txsync();
    p.rxsync();
    assert.equal(tx.tail, 7);
    assert.equal(rx.tail, 0);
    assert.equal(p.counters().ringErrors, 0);
  });

  test('re-init repairs bad slots of that ring: buf_idx out of range → 0, len over the buffer → 0', () => {
    const host = new ValeHost();
    const p = openPort('vale0:a', { host, txSlots: 8 });
    const ring = p.txRings[0] as NetmapRing;
    ring.setBufIdx(1, 0xdeadbeef);
    ring.setLen(1, 60);
    ring.setLen(2, 4000);
    const keep = ring.bufIdx(2);
    ring.head = 9;
    assert.throws(() => p.txsync(), { code: ErrorCodes.RING_REINIT });
    assert.equal(ring.bufIdx(1), 0);
    assert.equal(ring.len(1), 0);
    assert.equal(ring.bufIdx(2), keep);
    assert.equal(ring.len(2), 0);
  });
});
