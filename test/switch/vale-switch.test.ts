/*
 * One switch (src/switch/vale-switch.ts): lookup modules (mSwitch regops),
 * ring geometry checks, port numbering and the MAC table dump.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, type NetmapRing, NM_BDG_BROADCAST, NM_BDG_NOPORT, openPort, ValeHost } from '../../src/index.js';
import { bridge } from '../helpers/bridge.js';
import { assertCode, BROADCAST, drain, drainAll, frame, macN, send, seqOf } from '../helpers/vale.js';

describe('lookup modules', () => {
  test("'hub' floods everything, learned unicast included, and learns nothing", () => {
    const { ports, sw } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    send(v1, [frame(BROADCAST, macN(1))]);
    drainAll(v0);
    drainAll(v2);
    assert.equal(sw.macEntries().length, 1);
    sw.setLookup('hub');
    assert.deepEqual(sw.macEntries(), [], 'setLookup resets the table');
    send(v0, [frame(macN(1), macN(0), { seq: 1 }), frame(macN(0), macN(2), { seq: 2 })]);
    assert.deepEqual(drain(v1).map(seqOf), [1, 2]);
    assert.deepEqual(drain(v2).map(seqOf), [1, 2]);
    assert.deepEqual(drain(v0), [], 'never back to the sender');
    assert.deepEqual(sw.macEntries(), [], 'the hub does not learn');
  });

  test('a function lookup: port numbers, NM_BDG_BROADCAST and NM_BDG_NOPORT', () => {
    const { ports, sw } = bridge(4);
    const [v0, v1, v2, v3] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    const calls: Array<[string, number]> = [];
    // route by the tag byte at offset 18: the tag is the answer
    sw.setLookup((bytes, off, len, src) => {
      calls.push([Buffer.from(bytes.subarray(off, off + 12)).toString('hex'), src]);
      assert.ok(len >= 14);
      return bytes[off + 18] as number;
    });
    const f = (seq: number, tag: number) => frame(macN(5), macN(6), { seq, tag });
    send(v0, [
      f(1, 2),
      f(2, NM_BDG_BROADCAST),
      f(3, NM_BDG_NOPORT),
      f(4, 0), // the sender itself
      f(5, 200), // no such port
      f(6, 253),
      f(7, 3),
    ]);
    assert.deepEqual(drain(v2).map(seqOf), [1, 2]);
    assert.deepEqual(drain(v1).map(seqOf), [2]);
    assert.deepEqual(drain(v3).map(seqOf), [2, 7]);
    assert.deepEqual(drain(v0), []);
    assert.equal(v0.counters().dropNoDest, 4);
    assert.equal(calls.length, 7);
    assert.deepEqual(calls[0], [Buffer.from(f(1, 2).subarray(0, 12)).toString('hex'), 0]);
    assert.deepEqual(sw.macEntries(), [], 'a custom lookup replaces learning');
  });

  test('a function lookup returning odd values drops them', () => {
    const { ports, sw } = bridge(2);
    const [v0, v1] = ports as [(typeof ports)[0], (typeof ports)[0]];
    const answers = [-1, 1.5, 1e9, Number.NaN, 256, 1];
    let i = 0;
    sw.setLookup(() => answers[i++] as number);
    send(
      v0,
      answers.map((_, k) => frame(macN(1), macN(0), { seq: k })),
    );
    // 1.5 | 0 === 1 is port 1; NaN | 0 === 0 is the sender
    assert.deepEqual(drain(v1).map(seqOf), [1, 5]);
    assert.equal(v0.counters().dropNoDest, 4);
  });

  test('setLookup back to learning starts from an empty table', () => {
    const { ports, sw } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    send(v1, [frame(BROADCAST, macN(1))]);
    send(v2, [frame(BROADCAST, macN(2))]);
    assert.equal(sw.macEntries().length, 2);
    sw.setLookup('learning');
    assert.deepEqual(sw.macEntries(), []);
    drainAll(v0);
    drainAll(v1);
    drainAll(v2);
    send(v0, [frame(macN(1), macN(0), { seq: 1 })]);
    assert.deepEqual(drain(v1).map(seqOf), [1]);
    assert.deepEqual(drain(v2).map(seqOf), [1], 'unknown again: flooded');
    // the ports' last_smac caches were reset with the table: their next frame is learned,
    // even from the same source MAC as before (else a one-MAC port would flood forever)
    send(v1, [frame(BROADCAST, macN(1))]);
    assert.equal(sw.macEntries().find((e) => e.mac === macN(1))?.port, 1);
    drainAll(v0);
    drainAll(v2);
    send(v0, [frame(macN(1), macN(0), { seq: 2 })]);
    assert.deepEqual(drain(v1).map(seqOf), [2]);
    assert.deepEqual(drain(v2), []);
  });

  test('setLookup rejects anything else', () => {
    const { sw } = bridge(1);
    for (const bad of ['bridge', '', 42, null, undefined, {}]) {
      assertCode(() => sw.setLookup(bad as never), ErrorCodes.INVALID_ARG);
    }
  });

  test('a lookup that throws: txsync throws it, and the switch keeps forwarding correctly afterwards', () => {
    const { ports, sw } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    let n = 0;
    sw.setLookup(() => {
      if (++n === 3) throw new Error('boom');
      return 1;
    });
    assert.throws(
      () =>
        send(v0, [
          frame(macN(1), macN(0), { seq: 1 }),
          frame(macN(1), macN(0), { seq: 2 }),
          frame(macN(1), macN(0), { seq: 3 }),
        ]),
      /boom/,
    );
    const ring = v0.txRings[0] as NetmapRing;
    assert.equal(ring.tail, ring.head - 1, 'the TX ring is given back all the same');
    assert.deepEqual(drain(v1), [], 'the unfinished batch is lost, not half-delivered');
    assert.deepEqual(drain(v2), []);
    sw.setLookup('hub');
    send(v0, [frame(macN(1), macN(0), { seq: 10 }), frame(macN(2), macN(0), { seq: 11 })]);
    assert.deepEqual(drain(v1).map(seqOf), [10, 11]);
    assert.deepEqual(drain(v2).map(seqOf), [10, 11]);
    send(v2, [frame(macN(1), macN(2), { seq: 12 })]);
    assert.deepEqual(drain(v1).map(seqOf), [12]);
    assert.deepEqual(drain(v0).map(seqOf), [12]);
  });

  test('a lookup that throws with small batches: earlier batches were delivered, nothing is sent twice', () => {
    const { ports, sw } = bridge(2, {}, { 'dev.netmap.bridge': 1 });
    const [v0, v1] = ports as [(typeof ports)[0], (typeof ports)[0]];
    let n = 0;
    sw.setLookup(() => {
      if (++n === 3) throw new Error('boom');
      return 1;
    });
    assert.throws(
      () =>
        send(
          v0,
          [1, 2, 3, 4].map((seq) => frame(macN(1), macN(0), { seq })),
        ),
      /boom/,
    );
    assert.deepEqual(drain(v1).map(seqOf), [1, 2]);
    send(v0, [frame(macN(1), macN(0), { seq: 5 })]);
    assert.deepEqual(drain(v1).map(seqOf), [5]);
  });

  test('a lookup that re-enters the switch is refused with VALE_ERR_BUSY', () => {
    const { ports, sw } = bridge(2);
    const [v0, v1] = ports as [(typeof ports)[0], (typeof ports)[0]];
    let calls = 0;
    sw.setLookup(() => {
      calls++;
      v1.txsync(); // nothing pending on v1: a no-op, allowed
      if (calls === 2) send(v1, [frame(BROADCAST, macN(1))]); // a real forwarding pass: refused
      return NM_BDG_BROADCAST;
    });
    send(v0, [frame(BROADCAST, macN(0), { seq: 4 })]);
    assert.deepEqual(drain(v1).map(seqOf), [4]);
    assertCode(() => send(v0, [frame(BROADCAST, macN(0))]), ErrorCodes.BUSY);
    sw.setLookup('learning');
    send(v0, [frame(BROADCAST, macN(0), { seq: 5 })]);
    assert.deepEqual(drain(v1).map(seqOf), [5]);
  });
});

describe('ring geometry', () => {
  test('ring counts and slot counts outside 1..16 / 2..4096 are VALE_ERR_INVALID_ARG', () => {
    const host = new ValeHost({ 'dev.netmap.max_buffers': 16384 });
    const bad = [
      { txRings: 0 },
      { rxRings: 17 },
      { txRings: 1.5 },
      { rxRings: -1 },
      { txSlots: 1 },
      { rxSlots: 0 },
      { txSlots: 4097 },
      { rxSlots: 100.5 },
      { txSlots: Number.NaN },
    ];
    for (const opts of bad) {
      assertCode(() => openPort('vale0:x', { host, ...opts }), ErrorCodes.INVALID_ARG);
    }
    assert.equal(host.getSwitch('vale0'), undefined, 'a failed first open leaves no switch behind');
    const p = openPort('vale0:x', { host, txRings: 16, rxRings: 16, txSlots: 1024, rxSlots: 2 });
    assert.equal(p.txRings.length, 16);
    assert.equal(p.rxRings.length, 16);
    assert.equal(p.rxRings[15]?.numSlots, 2);
  });

  test('more slots than dev.netmap.max_buffers per direction is VALE_ERR_LIMIT naming the setting', () => {
    const host = new ValeHost();
    for (const opts of [
      { txSlots: 2048 },
      { rxSlots: 1025 },
      { txRings: 2, txSlots: 1024 },
      { rxRings: 3, rxSlots: 512 },
    ]) {
      assertCode(() => openPort('vale0:x', { host, ...opts }), ErrorCodes.LIMIT, /dev\.netmap\.max_buffers/);
    }
    const ok = openPort('vale0:x', { host, txRings: 2, txSlots: 512, rxRings: 4, rxSlots: 256 });
    assert.equal(ok.txRings.length, 2);
    host.settings.set('dev.netmap.max_buffers', 2048);
    const big = openPort('vale0:y', { host, txSlots: 2048 });
    assert.equal(big.txRings[0]?.numSlots, 2048);
  });

  test('defaults: one ring each way of min(1024, max_buffers) slots; TX tail = N-1, RX all zero', () => {
    const host = new ValeHost({ 'dev.netmap.max_buffers': 100 });
    const p = openPort('vale0:x', { host });
    const tx = p.txRings[0];
    const rx = p.rxRings[0];
    assert.ok(tx !== undefined && rx !== undefined);
    assert.equal(tx.numSlots, 100);
    assert.deepEqual([tx.head, tx.cur, tx.tail], [0, 0, 99]);
    assert.deepEqual([rx.head, rx.cur, rx.tail], [0, 0, 0]);
    assert.equal(tx.space(), 99, 'N-1 usable slots');
    const q = openPort('vale0:y', { host: new ValeHost() });
    assert.equal(q.txRings[0]?.numSlots, 1024);
  });
});

describe('MAC table dump', () => {
  test('macEntries lists learned MACs with port numbers and full port names, in bucket order', () => {
    const { ports, sw } = bridge(['a', 'b']);
    send(ports[0] as (typeof ports)[0], [frame(BROADCAST, macN(1))]);
    send(ports[1] as (typeof ports)[0], [frame(BROADCAST, macN(2))]);
    const e = sw.macEntries();
    assert.equal(e.length, 2);
    assert.ok((e[0]?.bucket ?? 0) < (e[1]?.bucket ?? 0));
    const byMac = Object.fromEntries(e.map((x) => [x.mac, [x.port, x.portName]]));
    assert.deepEqual(byMac, { [macN(1)]: [0, 'vale0:a'], [macN(2)]: [1, 'vale0:b'] });
  });
});
