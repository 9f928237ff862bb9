/*
 * Monitors and mirrors (src/switch/monitor.ts, docs/monitors.md) on an
 * in-process switch: directions, order, chains bit for bit, full monitors,
 * read-only monitors, several monitors, a monitored port going away, mirrors.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, layout, openPort, ValeHost } from '../../src/index.js';
import { bridge } from '../helpers/bridge.js';
import {
  assertCode,
  BROADCAST,
  drain,
  drainSlots,
  frame,
  macN,
  putChain,
  Rng,
  send,
  seqOf,
  split,
} from '../helpers/vale.js';

const [MA, MB, MC] = [macN(0xa), macN(0xb), macN(0xc)];

/** a, b and c learnt (drained), a monitor opened after. */
function setup(suffix: string, ringOpts: { rxSlots?: number } = {}) {
  const b = bridge(['a', 'b', 'c']);
  const [a, bb, c] = b.ports as [(typeof b.ports)[0], (typeof b.ports)[0], (typeof b.ports)[0]];
  send(a, [frame(BROADCAST, MA, { seq: 900 })]);
  send(bb, [frame(MA, MB, { seq: 901 })]);
  send(c, [frame(MA, MC, { seq: 902 })]);
  for (const p of [a, bb, c]) drain(p);
  const mon = openPort(`vale0:a/${suffix}`, { host: b.host, ...ringOpts });
  return { ...b, a, bb, c, mon };
}

describe('monitor directions', () => {
  test('/r sees what a receives only, /t what it sends only, /rt both in order', () => {
    for (const [suffix, want] of [
      ['r', [2, 4]],
      ['t', [1, 3]],
      ['rt', [1, 2, 3, 4]],
      ['tr', [1, 2, 3, 4]],
      ['z', [1, 2, 3, 4]],
    ] as const) {
      const { a, bb, c, mon } = setup(suffix);
      send(a, [frame(MB, MA, { seq: 1 })]);
      send(bb, [frame(MA, MB, { seq: 2 })]);
      send(a, [frame(MB, MA, { seq: 3 })]);
      send(bb, [frame(MA, MB, { seq: 4 })]);
      send(bb, [frame(MC, MB, { seq: 5 })]); // b to c: not a's traffic
      assert.deepEqual(drain(mon).map(seqOf), want, suffix);
      // the monitored ports got everything as before
      assert.deepEqual(drain(bb).map(seqOf), [1, 3]);
      assert.deepEqual(drain(a).map(seqOf), [2, 4]);
      assert.deepEqual(drain(c).map(seqOf), [5]);
    }
  });

  test('a monitor is not a switch port: it gets no flood, takes no number, learns nothing', () => {
    const { a, bb, c, mon, sw } = setup('r');
    assert.equal(mon.portIndex, -1);
    assert.equal(sw.list().length, 3);
    send(bb, [frame(BROADCAST, MB, { seq: 7 })]);
    assert.deepEqual(drain(mon).map(seqOf), [7]); // a received the flood: so does its /r monitor
    assert.deepEqual(drain(a).map(seqOf), [7]);
    assert.deepEqual(drain(c).map(seqOf), [7]);
    send(c, [frame(BROADCAST, MC, { seq: 8 })]);
    assert.deepEqual(drain(mon).map(seqOf), [8]);
  });

  test('a TX monitor sees frames the switch drops (no destination, runts) as the port sent them', () => {
    const { a, mon } = setup('t');
    const runt = frame(MB, MA).subarray(0, 10);
    send(a, [frame(MA, MA, { seq: 1 }), runt]);
    const got = drain(mon);
    assert.equal(got.length, 2);
    assert.deepEqual([...(got[1] as Uint8Array)], [...runt]);
    assert.equal(a.counters().dropNoDest, 1);
    assert.equal(a.counters().dropRunt, 1);
  });
});

describe('copies are exact', () => {
  test('random frames and fragment chains reach a /rt monitor bit for bit, in order', () => {
    const { a, bb, mon } = setup('rt', { rxSlots: 1024 });
    const rng = new Rng(13);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const len = rng.int(60, 5000);
      const fill = rng.bytes(len);
      const from = i % 3 === 0 ? bb : a;
      const f = frame(from === a ? MB : MA, from === a ? MA : MB, { len, seq: i, fill });
      // NaN-like and odd patterns live in fill; chains of 2048-byte fragments
      putChain(from, len > 2048 ? split(f, 2048) : [f]);
      from.txsync();
      sent.push(f);
    }
    const got = drain(mon);
    assert.equal(got.length, sent.length);
    for (let i = 0; i < got.length; i++) {
      assert.deepEqual(Buffer.from(got[i] as Uint8Array), Buffer.from(sent[i] as Uint8Array), `frame ${i}`);
    }
  });

  test('chains keep their fragment flags on the monitor ring', () => {
    const { a, mon } = setup('t');
    putChain(a, split(frame(MB, MA, { len: 5000, seq: 1 }), 2048));
    a.txsync();
    const slots = drainSlots(mon);
    assert.deepEqual(
      slots.map((s) => s.flags & layout.NS_MOREFRAG),
      [layout.NS_MOREFRAG, layout.NS_MOREFRAG, 0],
    );
    assert.deepEqual(
      slots.map((s) => s.len),
      [2048, 2048, 904],
    );
  });
});

describe('virtio-net headers', () => {
  test('a monitor of a port with a 12-byte header gets plain frames by default, or the header if it asks', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host, vnetHdrLen: 12 });
    const b = openPort('vale0:b', { host });
    const plain = openPort('vale0:a/rt', { host });
    const raw = openPort('vale0:a/t', { host, vnetHdrLen: 12 });
    const f = frame(MB, MA, { seq: 1, len: 100 });
    const withHdr = new Uint8Array(12 + f.length);
    withHdr.set(f, 12);
    send(a, [withHdr]);
    send(b, [frame(MA, MB, { seq: 2, len: 80 })]);
    const got = drain(plain);
    assert.deepEqual(Buffer.from(got[0] as Uint8Array), Buffer.from(f));
    assert.deepEqual(got.map(seqOf), [1, 2]);
    assert.deepEqual(
      drain(raw).map((x) => Buffer.from(x)),
      [Buffer.from(withHdr)],
    );
    assert.deepEqual(drain(b).map(seqOf), [1]);
  });
});

describe('full and stalled monitors', () => {
  test('a full monitor drops its own copies only, counted in its dropMonitor', () => {
    const { a, bb, mon } = setup('t', { rxSlots: 8 });
    const frames = Array.from({ length: 20 }, (_, i) => frame(MB, MA, { seq: i }));
    send(a, frames);
    assert.deepEqual(drain(bb).map(seqOf), frames.map(seqOf)); // b got all 20
    assert.deepEqual(drain(mon).map(seqOf), [0, 1, 2, 3, 4, 5, 6]); // 7 slots free in an 8-slot ring
    assert.equal(mon.counters().dropMonitor, 13);
    assert.equal(mon.counters().rxPackets, 7);
    assert.equal(a.counters().dropRxFull + bb.counters().dropRxFull, 0);
  });

  test('a stalled monitor (never read) does not change what the monitored pair delivers', () => {
    const { a, bb, mon } = setup('rt', { rxSlots: 4 });
    let got = 0;
    for (let round = 0; round < 50; round++) {
      send(
        a,
        Array.from({ length: 16 }, (_, i) => frame(MB, MA, { seq: round * 16 + i })),
      );
      got += drain(bb).length;
    }
    assert.equal(got, 800);
    assert.equal(bb.counters().dropRxFull, 0);
    assert.equal(mon.counters().rxPackets, 3);
    assert.equal(mon.counters().dropMonitor, 797);
  });

  test('garbage in a monitor client ring (head, slots) harms only the monitor', () => {
    const { a, bb, mon } = setup('t', { rxSlots: 16 });
    const ring = mon.rxRings[0] as (typeof mon.rxRings)[0];
    ring.setBufIdx(3, 0xffffffff); // a slot pointing nowhere: the copy lands in a scratch buffer
    send(
      a,
      Array.from({ length: 6 }, (_, i) => frame(MB, MA, { seq: i })),
    );
    assert.equal(drain(bb).length, 6);
    assert.equal(mon.counters().rxPackets, 6);
  });
});

describe('read-only monitors, several monitors, the port going away', () => {
  test("what a monitor's client sends goes nowhere, counted in its dropNoDest", () => {
    const { bb, c, mon } = setup('rt');
    send(mon, [frame(BROADCAST, MC, { seq: 1 }), frame(MB, MC, { seq: 2 })]);
    assert.deepEqual(drain(bb), []);
    assert.deepEqual(drain(c), []);
    assert.equal(mon.counters().dropNoDest, 2);
    assert.equal(mon.counters().txPackets, 0);
  });

  test('several monitors of one port, each with its own copy; closing one leaves the others', () => {
    const { a, bb, host, mon } = setup('t');
    const m2 = openPort('vale0:a/rt', { host });
    const m3 = openPort('vale0:b/r', { host });
    send(a, [frame(MB, MA, { seq: 1 })]);
    assert.deepEqual(drain(mon).map(seqOf), [1]);
    assert.deepEqual(drain(m2).map(seqOf), [1]);
    assert.deepEqual(drain(m3).map(seqOf), [1]);
    mon.close();
    send(a, [frame(MB, MA, { seq: 2 })]);
    assert.deepEqual(drain(m2).map(seqOf), [2]);
    assert.deepEqual(drain(m3).map(seqOf), [2]);
    assert.deepEqual(drain(bb).map(seqOf), [1, 2]);
  });

  test('a monitor of a port that does not exist, or of a monitor, is refused', () => {
    const { host } = setup('t');
    assertCode(() => openPort('vale0:zz/r', { host }), ErrorCodes.NOT_FOUND);
    assertCode(() => openPort('vale9:a/r', { host }), ErrorCodes.NOT_FOUND);
    assertCode(() => openPort('vale0:a/t/r', { host }), ErrorCodes.INVALID_NAME);
  });

  test('the monitored port closing ends the monitor: what was copied is read, then VALE_ERR_CLOSED', async () => {
    const { a, bb, mon } = setup('t');
    send(a, [frame(MB, MA, { seq: 1 })]);
    a.close();
    assert.equal((await mon.poll({ timeout: 1000 })).in, true);
    const ring = mon.rxRings[0] as (typeof mon.rxRings)[0];
    assert.equal(seqOf(ring.frame(ring.cur)), 1);
    ring.head = ring.cur = ring.tail;
    assertCode(() => mon.rxsync(), ErrorCodes.CLOSED, /monitored port closed/);
    assert.equal(drain(bb).length, 1);
    mon.close();
  });

  test('a poll waiting on an ended monitor rejects at once, not after its timeout', async () => {
    const { a, mon } = setup('rt');
    const t0 = Date.now();
    const waiting = mon.poll({ timeout: 5000 });
    a.close();
    await assert.rejects(waiting, (e: unknown) => (e as { code?: string }).code === ErrorCodes.CLOSED);
    assert.ok(Date.now() - t0 < 1000);
    assertCode(() => mon.rxsync(), ErrorCodes.CLOSED);
    mon.close();
  });
});

describe('mirrors (ValeSwitch.mirror)', () => {
  test('a mirror copies both directions of SRC to DST, which keeps its own traffic; unmirror stops it', () => {
    const { sw, a, bb, c } = setup('t');
    sw.mirror('a', 'c');
    send(a, [frame(MB, MA, { seq: 1 })]);
    send(bb, [frame(MA, MB, { seq: 2 })]);
    send(bb, [frame(MC, MB, { seq: 3 })]); // c's own traffic
    assert.deepEqual(drain(c).map(seqOf), [1, 2, 3]);
    assert.deepEqual(
      sw.copyList().map((l) => [l.src.portName, l.dst.portName, l.dirs]),
      [
        ['a', 'c', 3],
        ['a', 'a/t', 2],
      ],
    );
    assert.equal(sw.unmirror('a', 'c'), true);
    assert.equal(sw.unmirror('a', 'c'), false);
    send(a, [frame(MB, MA, { seq: 4 })]);
    assert.deepEqual(drain(c).map(seqOf), []);
  });

  test('a mirror ends with either port; copies are never copied again (no loops)', () => {
    const { sw, a, bb, c } = setup('t');
    sw.mirror('a', 'c');
    sw.mirror('c', 'a');
    send(bb, [frame(MA, MB, { seq: 1 })]);
    assert.deepEqual(drain(c).map(seqOf), [1]);
    assert.deepEqual(drain(a).map(seqOf), [1]);
    c.close();
    assert.deepEqual(
      sw.copyList().map((l) => l.dst.portName),
      ['a/t'],
    );
    assert.equal(sw.copyLinks, 1);
    send(bb, [frame(MA, MB, { seq: 2 })]);
    assert.deepEqual(drain(a).map(seqOf), [2]);
  });

  test('a mirror to itself or from an unknown port is refused', () => {
    const { sw } = setup('t');
    assertCode(() => sw.mirror('a', 'a'), ErrorCodes.INVALID_ARG);
    assertCode(() => sw.mirror('zz', 'a'), ErrorCodes.NOT_FOUND);
  });
});
