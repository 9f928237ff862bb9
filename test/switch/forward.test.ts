/*
 * The forwarding path (src/switch/forward.ts): learning bridge, flooding, ring
 * full drops, fragment chains, copies, bad input, batch sizes, multiple rings.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LocalPort, layout, macWords, type NetmapRing, openPort, rthash, ValeHost } from '../../src/index.js';
import { bridge } from '../helpers/bridge.js';
import {
  BROADCAST,
  drain,
  drainAll,
  drainSlots,
  frame,
  hex,
  macN,
  put,
  putChain,
  putSlot,
  Rng,
  send,
  seqOf,
  split,
} from '../helpers/vale.js';

const { NS_MOREFRAG } = layout;

describe('learning bridge (netmap utils/tests 007)', () => {
  test('broadcast, learned unicast, unknown unicast, multicast, no hairpin', () => {
    const { ports, sw } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    const [m0, m1, m2] = [macN(0x10), macN(0x11), macN(0x12)];

    // broadcast from v2: seen by v0 and v1, not by v2 (the sender is excluded)
    send(v2, [frame(BROADCAST, m2, { seq: 1 })]);
    assert.deepEqual(drain(v0).map(seqOf), [1]);
    assert.deepEqual(drain(v1).map(seqOf), [1]);
    assert.deepEqual(drain(v2), []);
    assert.deepEqual(
      sw.macEntries().map((e) => [e.mac, e.port]),
      [[m2, 2]],
    );

    // unicast to v2's (now learned) MAC from v0: seen only by v2
    send(v0, [frame(m2, m0, { seq: 2 })]);
    assert.deepEqual(drain(v2).map(seqOf), [2]);
    assert.deepEqual(drain(v1), []);
    assert.deepEqual(drain(v0), []);

    // v0 was learned by that frame: unicast to m0 from v1 reaches v0 only
    send(v1, [frame(m0, m1, { seq: 3 })]);
    assert.deepEqual(drain(v0).map(seqOf), [3]);
    assert.deepEqual(drain(v2), []);

    // unicast to an unknown MAC floods to every other port
    send(v0, [frame(macN(0x99), m0, { seq: 4 })]);
    assert.deepEqual(drain(v1).map(seqOf), [4]);
    assert.deepEqual(drain(v2).map(seqOf), [4]);
    assert.deepEqual(drain(v0), []);

    // multicast (group bit set, not broadcast) floods too
    send(v1, [frame('01:00:5e:00:00:01', m1, { seq: 5 }), frame('33:33:00:00:00:01', m1, { seq: 6 })]);
    assert.deepEqual(drain(v0).map(seqOf), [5, 6]);
    assert.deepEqual(drain(v2).map(seqOf), [5, 6]);
    assert.deepEqual(drain(v1), []);

    // unicast to the sender's own MAC: dropped (no hairpin), counted on the sender
    const before = v2.counters().dropNoDest;
    send(v2, [frame(m2, m2, { seq: 7 }), frame(m2, m1, { seq: 8 })]);
    assert.equal(v2.counters().dropNoDest - before, 2);
    for (const p of ports) assert.deepEqual(drain(p), []);

    // the frame from v2 claiming m1 moved m1 to v2: VALE trusts source addresses
    assert.deepEqual(
      sw
        .macEntries()
        .map((e) => [e.mac, e.port])
        .sort(),
      [
        [m0, 0],
        [m1, 2],
        [m2, 2],
      ],
    );
  });

  test('counters: tx counts what the client sent, rx what it received', () => {
    const { ports } = bridge(3);
    const [a, b, c] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    send(a, [frame(BROADCAST, macN(1), { len: 60 }), frame(BROADCAST, macN(1), { len: 100 })]);
    assert.equal(a.counters().txPackets, 2);
    assert.equal(a.counters().txBytes, 160);
    for (const p of [b, c]) {
      assert.equal(p.counters().rxPackets, 2);
      assert.equal(p.counters().rxBytes, 160);
      assert.equal(p.counters().txPackets, 0);
    }
    assert.equal(a.counters().rxPackets, 0);
  });

  test('a frame is delivered only when the receiver syncs: RX tail moves in rxsync only', () => {
    const { ports } = bridge(2);
    const [a, b] = ports as [(typeof ports)[0], (typeof ports)[0]];
    const rx = b.rxRings[0] as NetmapRing;
    send(a, [frame(BROADCAST, macN(1))]);
    assert.equal(rx.tail, 0, 'the sender never writes the receiver tail');
    b.rxsync();
    assert.equal(rx.tail, 1);
  });
});

describe('lookups inside one batch', () => {
  test('unicast, group, unknown and learned destinations interleaved keep their own decisions', () => {
    // the forwarder reuses the previous frame's lookup for the same destination; every
    // change of destination, a group address, or a learning step in between must undo that
    const [a, b, c] = bridge(3).ports as [LocalPort, LocalPort, LocalPort];
    send(b, [frame(BROADCAST, macN(2))]);
    send(c, [frame(BROADCAST, macN(3))]);
    for (const p of [a, b, c]) drain(p);
    const seq = [
      frame(macN(2), macN(1), { seq: 1 }), // to b
      frame(BROADCAST, macN(1), { seq: 2 }), // flood
      frame(macN(2), macN(1), { seq: 3 }), // to b again, after a group address
      frame('01:00:5e:00:00:01', macN(1), { seq: 4 }), // multicast: flood
      frame(macN(2), macN(1), { seq: 5 }), // to b
      frame(macN(9), macN(1), { seq: 6 }), // unknown: flood
      frame(macN(9), macN(1), { seq: 7 }), // unknown again: flood
      frame(macN(3), macN(1), { seq: 8 }), // to c
      frame(macN(2), macN(7), { seq: 9 }), // to b, from a new source (learning in between)
      frame(macN(1), macN(7), { seq: 10 }), // to a's old MAC: hairpin on a, dropped
    ];
    send(a, seq);
    assert.deepEqual(drain(b).map(seqOf), [1, 2, 3, 4, 5, 6, 7, 9]);
    assert.deepEqual(drain(c).map(seqOf), [2, 4, 6, 7, 8]);
    assert.equal(a.counters().dropNoDest, 1);
  });
});

describe('destination lists built in runs', () => {
  test('runs to one port broken by other ports, broadcast and drops keep each list in source order', () => {
    // classify keeps the tail of the current run in a register and stores it when the list
    // changes; every switch of list (and back) must link the frames in order
    const [a, b, c, d] = bridge(4).ports as [LocalPort, LocalPort, LocalPort, LocalPort];
    for (const [p, k] of [
      [b, 2],
      [c, 3],
      [d, 4],
    ] as const) {
      send(p, [frame(BROADCAST, macN(k))]);
    }
    for (const p of [a, b, c, d]) drain(p);
    const to = [2, 2, 2, 3, 3, 2, 0, 0, 2, 4, 3, 1, 2, 2, 4, 4, 0, 3, 2];
    // 0: broadcast; 1: a's own MAC (hairpin, dropped)
    const seq = to.map((k, i) => frame(k === 0 ? BROADCAST : macN(k), macN(1), { seq: i }));
    send(a, seq);
    const want = (k: number): number[] => to.flatMap((t, i) => (t === k || t === 0 ? [i] : []));
    assert.deepEqual(drain(b).map(seqOf), want(2));
    assert.deepEqual(drain(c).map(seqOf), want(3));
    assert.deepEqual(drain(d).map(seqOf), want(4));
    assert.deepEqual(drain(a), []);
    assert.equal(a.counters().dropNoDest, 1);
    // the next batch starts from empty lists
    send(a, [frame(macN(3), macN(1), { seq: 100 }), frame(macN(2), macN(1), { seq: 101 })]);
    assert.deepEqual(drain(b).map(seqOf), [101]);
    assert.deepEqual(drain(c).map(seqOf), [100]);
  });
});

describe('learning table', () => {
  function collidingMacs(): [string, string, number] {
    const seen = new Map<number, string>();
    for (let i = 1; ; i++) {
      const m = macN(i);
      const { a, b } = macWords(m);
      const h = rthash(a, b);
      const other = seen.get(h);
      if (other !== undefined) return [other, m, h];
      seen.set(h, m);
    }
  }

  test('collision: B overwrites A in the same bucket, then traffic to A floods', () => {
    const [macA, macB, bucket] = collidingMacs();
    assert.notEqual(macA, macB);
    const { ports, sw } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    send(v0, [frame(BROADCAST, macA)]);
    drainAll(v1);
    drainAll(v2);
    assert.deepEqual(
      sw.macEntries().map((e) => [e.mac, e.port, e.bucket]),
      [[macA, 0, bucket]],
    );
    // A is learned: unicast to A reaches v0 only
    send(v2, [frame(macA, macN(0x777), { seq: 1 })]);
    assert.deepEqual(drain(v0).map(seqOf), [1]);
    assert.deepEqual(drain(v1), []);

    send(v1, [frame(BROADCAST, macB)]);
    drain(v0);
    drain(v2);
    const entries = sw.macEntries().filter((e) => e.bucket === bucket);
    assert.deepEqual(
      entries.map((e) => [e.mac, e.port]),
      [[macB, 1]],
      'B took the bucket',
    );

    // A is now unknown: flooded to v0 and v1
    send(v2, [frame(macA, macN(0x777), { seq: 2 })]);
    assert.deepEqual(drain(v0).map(seqOf), [2]);
    assert.deepEqual(drain(v1).map(seqOf), [2]);
    // B is known: only v1
    send(v2, [frame(macB, macN(0x777), { seq: 3 })]);
    assert.deepEqual(drain(v1).map(seqOf), [3]);
    assert.deepEqual(drain(v0), []);
  });

  test('last_smac cache: a port does not re-learn the MAC it sent last until it sends another', () => {
    const { ports, sw } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    const X = macN(0xa1);
    const Y = macN(0xa2);
    const portOf = (mac: string): number | undefined => sw.macEntries().find((e) => e.mac === mac)?.port;
    const toX = (seq: number): void => send(v2, [frame(X, macN(0xee), { seq })]);

    send(v0, [frame(BROADCAST, X)]);
    assert.equal(portOf(X), 0);
    send(v1, [frame(BROADCAST, X)]); // X moves to v1
    assert.equal(portOf(X), 1);
    send(v0, [frame(BROADCAST, X)]); // v0 sent X last: cached, not re-learned
    assert.equal(portOf(X), 1, 'quirk kept: X stays on v1');
    drainAll(v0);
    drainAll(v1);
    drainAll(v2);
    toX(1);
    assert.deepEqual(drain(v1).map(seqOf), [1], 'traffic to X keeps going to v1');
    assert.deepEqual(drain(v0), []);

    send(v0, [frame(BROADCAST, Y), frame(BROADCAST, X)]); // another source in between
    assert.equal(portOf(X), 0, 're-learned after a different source MAC');
    drainAll(v1);
    drainAll(v2);
    toX(2);
    assert.deepEqual(drain(v0).map(seqOf), [2]);
    assert.deepEqual(drain(v1), []);
  });

  test('group source addresses are never learned', () => {
    const { ports, sw } = bridge(2);
    send(ports[0] as (typeof ports)[0], [frame(BROADCAST, '01:00:5e:00:00:01'), frame(BROADCAST, BROADCAST)]);
    assert.deepEqual(sw.macEntries(), []);
  });

  test('the all-zero MAC does not match an empty bucket (deviation: netmap sends it to port 0)', () => {
    const { ports } = bridge(3);
    const [v0, v1, v2] = ports as [(typeof ports)[0], (typeof ports)[0], (typeof ports)[0]];
    send(v1, [frame('00:00:00:00:00:00', macN(1), { seq: 1 })]);
    assert.deepEqual(drain(v0).map(seqOf), [1], 'flooded');
    assert.deepEqual(drain(v2).map(seqOf), [1], 'flooded');
    // once learned (pkt-gen's default source is all-zero), it is an ordinary unicast MAC
    send(v2, [frame(BROADCAST, '00:00:00:00:00:00')]);
    drainAll(v0);
    drainAll(v1);
    send(v1, [frame('00:00:00:00:00:00', macN(1), { seq: 2 })]);
    assert.deepEqual(drain(v2).map(seqOf), [2]);
    assert.deepEqual(drain(v0), []);
  });

  test("a detached port's MACs are forgotten: a port reusing its number does not inherit them", () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const c = openPort('vale0:c', { host });
    const M = macN(0xb0);
    send(b, [frame(BROADCAST, M)]);
    b.close();
    const d = openPort('vale0:d', { host });
    assert.equal(d.portIndex, 1, 'd reuses b’s number');
    assert.equal(
      host
        .getSwitch('vale0')
        ?.macEntries()
        .find((e) => e.mac === M),
      undefined,
    );
    drain(a);
    drain(c);
    send(a, [frame(M, macN(1), { seq: 9 })]);
    assert.deepEqual(drain(c).map(seqOf), [9], 'M is unknown again: flooded');
    assert.deepEqual(drain(d).map(seqOf), [9]);
  });
});

describe('full receiver ring', () => {
  test('N-slot ring not drained: exactly N-1 of M frames delivered, in order, rest counted dropRxFull', () => {
    const N = 64;
    const M = 200;
    const host = new ValeHost();
    const tx = openPort('vale0:tx', { host });
    const rx = openPort('vale0:rx', { host, rxSlots: N });
    send(rx, [frame(BROADCAST, macN(2))]); // learn rx's MAC
    const frames = Array.from({ length: M }, (_, i) => frame(macN(2), macN(1), { seq: i }));
    put(tx, frames);
    const ring = tx.txRings[0] as NetmapRing;
    const head = ring.head;
    tx.txsync(); // never blocks, never throws
    assert.equal(ring.tail, head === 0 ? ring.numSlots - 1 : head - 1, 'TX tail = head - 1');
    assert.equal(ring.space(), ring.numSlots - 1, 'the whole TX ring is free again');
    const got = drain(rx);
    assert.deepEqual(
      got.map(seqOf),
      Array.from({ length: N - 1 }, (_, i) => i),
    );
    assert.equal(rx.counters().dropRxFull, M - (N - 1));
    assert.equal(rx.counters().rxPackets, N - 1);
    assert.equal(tx.counters().txPackets, M);
  });

  test('frames beyond a full ring are dropped across syncs until the receiver releases', () => {
    const host = new ValeHost();
    const tx = openPort('vale0:tx', { host });
    const rx = openPort('vale0:rx', { host, rxSlots: 8 });
    send(rx, [frame(BROADCAST, macN(2))]);
    let seq = 0;
    for (let round = 0; round < 3; round++) {
      send(
        tx,
        Array.from({ length: 5 }, () => frame(macN(2), macN(1), { seq: seq++ })),
      );
    }
    assert.deepEqual(drain(rx).map(seqOf), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(rx.counters().dropRxFull, 8);
    send(tx, [frame(macN(2), macN(1), { seq: 100 })]);
    assert.deepEqual(drain(rx).map(seqOf), [100], 'room again after release');
  });

  test('a full receiver does not affect other receivers of a broadcast', () => {
    const host = new ValeHost();
    const tx = openPort('vale0:tx', { host });
    const slow = openPort('vale0:slow', { host, rxSlots: 4 });
    const fast = openPort('vale0:fast', { host });
    send(
      tx,
      Array.from({ length: 10 }, (_, i) => frame(BROADCAST, macN(1), { seq: i })),
    );
    assert.deepEqual(drain(slow).map(seqOf), [0, 1, 2]);
    assert.equal(drain(fast).length, 10);
    assert.equal(slow.counters().dropRxFull, 7);
    assert.equal(fast.counters().dropRxFull, 0);
  });

  test('a full ring mid-way through merged unicast and broadcast lists: source order, every later frame counted', () => {
    // short (one 64-byte chunk) and long frames take different copy paths; the ring fills on
    // either kind, in either list
    for (const longAt of [-1, 6, 7, 8]) {
      const host = new ValeHost();
      const tx = openPort('vale0:tx', { host });
      const rx = openPort('vale0:rx', { host, rxSlots: 8 }); // 7 usable
      send(rx, [frame(BROADCAST, macN(2))]);
      const frames = Array.from({ length: 12 }, (_, i) =>
        frame(i % 3 === 1 ? BROADCAST : macN(2), macN(1), { seq: i, len: i === longAt || i % 4 === 0 ? 200 : 60 }),
      );
      send(tx, frames);
      assert.deepEqual(drain(rx).map(seqOf), [0, 1, 2, 3, 4, 5, 6], `long frame at ${longAt}`);
      assert.equal(rx.counters().dropRxFull, 5, `long frame at ${longAt}`);
      assert.equal(rx.counters().rxPackets, 7, `long frame at ${longAt}`);
    }
  });
});

describe('fragments', () => {
  function pair(rxSlots = 1024) {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host, rxSlots });
    send(b, [frame(BROADCAST, macN(2))]);
    return { host, a, b };
  }

  test('plain frames arrive with flags 0x100', () => {
    const { a, b } = pair();
    send(a, [frame(macN(2), macN(1), { len: 60 }), frame(macN(2), macN(1), { len: 2048 })]);
    const slots = drainSlots(b);
    assert.deepEqual(
      slots.map((s) => [s.len, s.flags]),
      [
        [60, 0x100],
        [2048, 0x100],
      ],
    );
  });

  test('a chain of k slots arrives contiguously with flags (k<<8)|MOREFRAG, last k<<8', () => {
    const { a, b } = pair();
    const rng = new Rng(7);
    for (const k of [2, 3, 5, 17, 64]) {
      const lens = Array.from({ length: k }, (_, i) =>
        i === 0 ? 60 : rng.int(1, Math.min(2048, Math.floor(65535 / k))),
      ); // at most 65535 bytes
      const whole = frame(macN(2), macN(1), { len: lens.reduce((x, y) => x + y, 0), fill: rng.bytes(70000) });
      const frags: Uint8Array[] = [];
      let o = 0;
      for (const l of lens) {
        frags.push(whole.subarray(o, o + l));
        o += l;
      }
      // a plain frame before and after the chain
      put(a, [frame(macN(2), macN(1), { seq: 1 })]);
      putChain(a, frags);
      put(a, [frame(macN(2), macN(1), { seq: 2 })]);
      a.txsync();
      const slots = drainSlots(b);
      assert.equal(slots.length, k + 2);
      assert.equal(slots[0]?.flags, 0x100);
      assert.equal(slots[k + 1]?.flags, 0x100);
      const chain = slots.slice(1, k + 1);
      chain.forEach((s, i) => {
        assert.equal(s.flags, i < k - 1 ? (k << 8) | NS_MOREFRAG : k << 8, `k=${k} fragment ${i}`);
        assert.equal(s.len, lens[i]);
      });
      assert.deepEqual(Buffer.concat(chain.map((s) => s.data)), Buffer.from(whole));
    }
    assert.equal(a.counters().truncated, 0);
    assert.equal(a.counters().dropFrags, 0);
  });

  test('a chain cut by the end of a txsync is forwarded truncated and counted', () => {
    const { a, b } = pair();
    const f = frame(macN(2), macN(1), { len: 300, seq: 5 });
    const ring = a.txRings[0] as NetmapRing;
    putSlot(ring, f.subarray(0, 100), NS_MOREFRAG);
    putSlot(ring, f.subarray(100, 200), NS_MOREFRAG);
    a.txsync();
    const slots = drainSlots(b);
    assert.deepEqual(
      slots.map((s) => [s.len, s.flags]),
      [
        [100, (2 << 8) | NS_MOREFRAG],
        [100, 2 << 8],
      ],
    );
    assert.deepEqual(Buffer.concat(slots.map((s) => s.data)), Buffer.from(f.subarray(0, 200)));
    assert.equal(a.counters().truncated, 1);
    // a single-slot cut chain becomes a plain frame
    putSlot(ring, frame(macN(2), macN(1), { seq: 6 }), NS_MOREFRAG);
    a.txsync();
    assert.deepEqual(
      drainSlots(b).map((s) => s.flags),
      [0x100],
    );
    assert.equal(a.counters().truncated, 2);
  });

  test('a chain needing more slots than remain drops itself and every later frame to that port in the batch', () => {
    const { a, b, host } = pair(16); // 15 usable
    const c = openPort('vale0:c', { host });
    send(c, [frame(BROADCAST, macN(3))]);
    drain(b);
    put(
      a,
      Array.from({ length: 10 }, (_, i) => frame(macN(2), macN(1), { seq: i })),
    );
    const big = frame(macN(2), macN(1), { len: 6 * 100, seq: 10 });
    putChain(a, split(big, 100)); // 6 slots, 5 remain
    put(a, [frame(macN(2), macN(1), { seq: 11 }), frame(macN(3), macN(1), { seq: 12 })]);
    put(a, [frame(macN(2), macN(1), { seq: 13 })]);
    a.txsync();
    assert.deepEqual(drain(b).map(seqOf), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(drain(c).map(seqOf), [12], 'other destinations are not affected');
    assert.equal(b.counters().dropRxFull, 3, 'the chain and the two later frames');
    // the next batch starts afresh
    send(a, [frame(macN(2), macN(1), { seq: 14 })]);
    assert.deepEqual(drain(b).map(seqOf), [14]);
  });

  test('a chain that exactly fills the remaining slots is delivered', () => {
    const { a, b } = pair(8); // 7 usable
    put(a, [frame(macN(2), macN(1), { seq: 1 })]);
    const big = frame(macN(2), macN(1), { len: 6 * 50, seq: 2 });
    putChain(a, split(big, 50));
    a.txsync();
    const got = drain(b);
    assert.equal(got.length, 2);
    assert.deepEqual(Buffer.from(got[1] as Uint8Array), Buffer.from(big));
    assert.equal(b.counters().dropRxFull, 0);
  });

  test('a 65535-byte frame as a chain arrives bit-exact', () => {
    const { a, b } = pair();
    const rng = new Rng(65535);
    const big = frame(macN(2), macN(1), { len: 65535, fill: rng.bytes(65535) });
    const frags = split(big, 2048);
    assert.equal(frags.length, 32);
    putChain(a, frags);
    a.txsync();
    const slots = drainSlots(b);
    assert.equal(slots.length, 32);
    assert.equal(slots[0]?.flags, (32 << 8) | NS_MOREFRAG);
    assert.equal(slots[31]?.flags, 32 << 8);
    assert.equal(slots[31]?.len, 65535 - 31 * 2048);
    assert.ok(Buffer.from(big).equals(Buffer.concat(slots.map((s) => s.data))), 'bit-exact');
    assert.equal(b.counters().rxBytes, 65535);
    assert.equal(b.counters().rxPackets, 1);
    assert.equal(a.counters().txBytes, 65535);
  });

  test('a chain of 64 fragments passes; 65 or more is dropped (dropFrags), frames around it are not', () => {
    const { a, b } = pair();
    const f64 = frame(macN(2), macN(1), { len: 64 * 20, seq: 64 });
    const f65 = frame(macN(2), macN(1), { len: 65 * 20, seq: 65 });
    const f100 = frame(macN(2), macN(1), { len: 100 * 20, seq: 100 });
    put(a, [frame(macN(2), macN(1), { seq: 1 })]);
    putChain(a, split(f65, 20));
    put(a, [frame(macN(2), macN(1), { seq: 2 })]);
    putChain(a, split(f64, 20));
    putChain(a, split(f100, 20));
    put(a, [frame(macN(2), macN(1), { seq: 3 })]);
    a.txsync();
    const got = drain(b);
    assert.deepEqual(got.map(seqOf), [1, 2, 64, 3]);
    assert.ok(Buffer.from(f64).equals(got[2] as Uint8Array));
    assert.equal(a.counters().dropFrags, 2);
  });

  test('a long chain at a batch boundary stays whole (bridge batch smaller than the chain)', () => {
    const host = new ValeHost({ 'dev.netmap.bridge': 4 });
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    send(b, [frame(BROADCAST, macN(2))]);
    const big = frame(macN(2), macN(1), { len: 10 * 100, seq: 7 });
    put(a, [frame(macN(2), macN(1), { seq: 1 }), frame(macN(2), macN(1), { seq: 2 })]);
    putChain(a, split(big, 100));
    put(a, [frame(macN(2), macN(1), { seq: 3 })]);
    a.txsync();
    const got = drain(b);
    assert.deepEqual(got.map(seqOf), [1, 2, 7, 3]);
    assert.ok(Buffer.from(big).equals(got[2] as Uint8Array));
  });
});

describe('bit-exact copies', () => {
  /** Float64 NaN bit patterns: signalling and quiet, both signs, with payloads. */
  const NANS: bigint[] = [
    0x7ff0000000000001n,
    0x7ff4000000000000n,
    0x7ff7ffffffffffffn,
    0xfff0000000000001n,
    0xfff5555555555555n,
    0x7ff8000000000000n,
    0x7ff8deadbeef0001n,
    0xfff8000000000000n,
    0xfffc0000cafe0000n,
    0x7fffffffffffffffn,
    0xffffffffffffffffn,
  ];

  function payload(rng: Rng, len: number): Uint8Array {
    const f = rng.bytes(len);
    f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    const dv = new DataView(f.buffer);
    // NaNs at 8-byte aligned positions (slot buffers are 2048-aligned, so these are Float64 words)
    for (let o = 16, i = rng.int(0, NANS.length); o + 8 <= len; o += 8, i++) {
      if (rng.chance(0.6)) dv.setBigUint64(o, NANS[i % NANS.length] as bigint, true);
    }
    return f;
  }

  function roundTrip(a: ReturnType<typeof openPort>, b: ReturnType<typeof openPort>, rng: Rng, batch: number): void {
    const ring = a.txRings[0] as NetmapRing;
    const sizes: number[] = [];
    for (let s = 14; s <= 2048; s++) sizes.push(s);
    // twice: the second pass runs after the forwarder is optimised
    const all = [...sizes, ...sizes];
    for (let i = 0; i < all.length; i += batch) {
      const chunk = all.slice(i, i + batch).map((len) => payload(rng, len));
      for (const f of chunk) putSlot(ring, f);
      a.txsync();
      const got = drainSlots(b);
      assert.equal(got.length, chunk.length);
      for (let k = 0; k < chunk.length; k++) {
        const want = chunk[k] as Uint8Array;
        const have = (got[k] as { data: Uint8Array }).data;
        if (!Buffer.from(want).equals(have)) {
          assert.fail(`frame of ${want.length} bytes differs: ${hex(want, 40)} vs ${hex(have, 40)}`);
        }
      }
    }
  }

  test('every size 14..2048 with random bytes and NaN patterns, same arena (word copy and Arena.copy)', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    assert.equal(a.vport.region.arena, b.vport.region.arena, 'both ports share the switch arena');
    send(b, [frame(BROADCAST, '02:00:00:00:00:02')]);
    roundTrip(a, b, new Rng(1), 500);
  });

  test('many NaN-filled small frames stay exact after optimisation', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const ring = a.txRings[0] as NetmapRing;
    const f = new Uint8Array(256);
    const dv = new DataView(f.buffer);
    for (let o = 0; o < 256; o += 8) dv.setBigUint64(o, NANS[(o >>> 3) % NANS.length] as bigint, true);
    f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) putSlot(ring, f.subarray(0, 14 + ((i * 8) % 243)));
      a.txsync();
      const got = drainSlots(b);
      assert.equal(got.length, 500);
      for (let i = 0; i < 500; i++) {
        const len = 14 + ((i * 8) % 243);
        if (!Buffer.from(f.subarray(0, len)).equals((got[i] as { data: Uint8Array }).data)) {
          assert.fail(`round ${round} frame ${i} (${len} B) lost a NaN bit pattern`);
        }
      }
    }
  });

  test('cross-arena copies: a port whose region does not fit the switch arena', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    host.settings.set('dev.netmap.max_buffers', 4096);
    const b = openPort('vale0:b', { host, txSlots: 2048, rxSlots: 4096 });
    assert.notEqual(a.vport.region.arena, b.vport.region.arena, 'b has an arena of its own');
    send(b, [frame(BROADCAST, '02:00:00:00:00:02')]);
    drain(a);
    roundTrip(a, b, new Rng(2), 700);
    // and back: from the big port into the switch arena
    send(a, [frame(BROADCAST, '02:00:00:00:00:01')]);
    drain(b);
    const rng = new Rng(3);
    const ring = b.txRings[0] as NetmapRing;
    for (const len of [14, 100, 256, 257, 1000, 2048]) {
      const f = payload(rng, len);
      f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
      putSlot(ring, f);
      b.txsync();
      assert.ok(Buffer.from(f).equals(drain(a)[0] as Uint8Array), `${len} bytes`);
    }
  });

  test('a port past the switch arena capacity (max_ports raised later) gets its own arena and works', () => {
    const host = new ValeHost({ 'dev.netmap.max_ports': 2 });
    const a = openPort('vale0:a', { host, rxSlots: 64, txSlots: 64 });
    openPort('vale0:b', { host, rxSlots: 64, txSlots: 64 });
    host.settings.set('dev.netmap.max_ports', 3);
    const c = openPort('vale0:c', { host, rxSlots: 64, txSlots: 64 });
    assert.notEqual(c.vport.region.arena, a.vport.region.arena);
    const rng = new Rng(4);
    for (const len of [60, 300, 2048]) {
      const f = payload(rng, len);
      f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      send(a, [f]);
      assert.ok(Buffer.from(f).equals(drain(c)[0] as Uint8Array));
      send(c, [f]);
      assert.ok(Buffer.from(f).equals(drain(a)[0] as Uint8Array));
    }
  });

  test('zero-copy inside a port: a TX slot may carry a buffer swapped from the RX ring', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const f = frame(BROADCAST, macN(1), { len: 500, seq: 42 });
    send(a, [f]);
    b.rxsync();
    const rx = b.rxRings[0] as NetmapRing;
    const tx = b.txRings[0] as NetmapRing;
    const rs = rx.cur;
    const ts = tx.cur;
    const rIdx = rx.bufIdx(rs);
    const tIdx = tx.bufIdx(ts);
    // forward the received frame back out without copying it (apps/bridge style)
    tx.setBufIdx(ts, rIdx);
    tx.setLen(ts, rx.len(rs));
    tx.setFlags(ts, layout.NS_BUF_CHANGED);
    rx.setBufIdx(rs, tIdx);
    rx.setFlags(rs, layout.NS_BUF_CHANGED);
    rx.head = rx.cur = rx.next(rs);
    tx.head = tx.cur = tx.next(ts);
    b.txsync();
    b.rxsync();
    assert.equal(b.counters().badSlots, 0);
    assert.ok(Buffer.from(f).equals(drain(a)[0] as Uint8Array));
  });
});

describe('bad input', () => {
  test('runts (< 14 bytes) are dropped and counted on the sender', () => {
    const { ports } = bridge(2);
    const [a, b] = ports as [(typeof ports)[0], (typeof ports)[0]];
    const full = frame(BROADCAST, macN(1), { seq: 1 });
    for (let len = 0; len < 14; len++) put(a, [full.subarray(0, len)]);
    put(a, [full.subarray(0, 14)]);
    a.txsync();
    assert.equal(a.counters().dropRunt, 14);
    const got = drain(b);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.length, 14);
    // the lookup sees the first fragment only: a chain starting with < 14 bytes is a runt too
    const f = frame(BROADCAST, macN(1), { len: 200 });
    putChain(a, [f.subarray(0, 10), f.subarray(10)]);
    a.txsync();
    assert.equal(a.counters().dropRunt, 15);
    assert.deepEqual(drain(b), []);
  });

  test('bad slots (len > 2048, buf_idx out of range or reserved) are counted and not delivered', () => {
    const { ports } = bridge(2);
    const [a, b] = ports as [(typeof ports)[0], (typeof ports)[0]];
    const ring = a.txRings[0] as NetmapRing;
    const numBufs = ring.numBufs;
    const good = (seq: number) => frame(BROADCAST, macN(1), { seq });
    putSlot(ring, good(1));
    // len over the buffer size
    putSlot(ring, good(2));
    ring.setLen((ring.head + ring.numSlots - 1) % ring.numSlots, 2049);
    putSlot(ring, good(3));
    ring.setLen((ring.head + ring.numSlots - 1) % ring.numSlots, 0xffff);
    // buffer index past the region, and the reserved buffers 0 and 1
    for (const idx of [numBufs, numBufs + 1000, 0xffffffff, 0, 1]) {
      const s = ring.cur;
      const saved = ring.bufIdx(s);
      putSlot(ring, good(10));
      ring.setBufIdx(s, idx);
      a.txsync();
      ring.setBufIdx(s, saved);
    }
    putSlot(ring, good(4));
    a.txsync();
    assert.equal(a.counters().badSlots, 7);
    assert.deepEqual(drain(b).map(seqOf), [1, 4]);
    assert.equal(b.counters().rxPackets, 2);
  });

  test('a bad slot inside a chain is carried as an empty fragment, the rest of the chain intact', () => {
    const { ports } = bridge(2);
    const [a, b] = ports as [(typeof ports)[0], (typeof ports)[0]];
    const ring = a.txRings[0] as NetmapRing;
    const f = frame(BROADCAST, macN(1), { len: 300, seq: 1 });
    putSlot(ring, f.subarray(0, 100), NS_MOREFRAG);
    putSlot(ring, f.subarray(100, 200), NS_MOREFRAG);
    ring.setLen((ring.head + ring.numSlots - 1) % ring.numSlots, 5000);
    putSlot(ring, f.subarray(200, 300));
    a.txsync();
    const slots = drainSlots(b);
    assert.deepEqual(
      slots.map((s) => s.len),
      [100, 0, 100],
    );
    assert.equal(a.counters().badSlots, 1);
  });
});

describe('dev.netmap.bridge batch size', () => {
  /** A fixed mixed workload: unicast to two ports, broadcast, unknown, runts, chains. */
  function run(batch: number, rxSlots: number) {
    const host = new ValeHost({ 'dev.netmap.bridge': batch });
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host, rxSlots });
    const c = openPort('vale0:c', { host, rxSlots });
    send(b, [frame(BROADCAST, macN(2))]);
    send(c, [frame(BROADCAST, macN(3))]);
    drain(a);
    drain(b);
    drain(c);
    const rng = new Rng(99);
    let seq = 0;
    const ring = a.txRings[0] as NetmapRing;
    const out = { b: [] as string[], c: [] as string[] };
    const collect = (): void => {
      out.b.push(...drain(b).map((f) => Buffer.from(f).toString('hex')));
      out.c.push(...drain(c).map((f) => Buffer.from(f).toString('hex')));
    };
    for (let sync = 0; sync < 6; sync++) {
      const n = rng.int(1, 200);
      for (let i = 0; i < n && ring.space() > 70; i++) {
        const dst = rng.pick([macN(2), macN(3), BROADCAST, macN(9)]);
        const kind = rng.int(0, 9);
        if (kind === 0) {
          putSlot(ring, frame(dst, macN(1)).subarray(0, rng.int(0, 13)));
        } else if (kind === 1 && rxSlots > 16) {
          const f = frame(dst, macN(1), { len: rng.int(60, 5000), seq: seq++ });
          putChain(a, split(f, rng.int(100, 2048)));
        } else {
          putSlot(ring, frame(dst, macN(1), { len: rng.int(14 + 4, 2048), seq: seq++ }));
        }
      }
      a.txsync();
      if (sync % 2 === 1) {
        // drain only every other sync so that small rings overflow
        collect();
      }
    }
    collect();
    return { out, counters: [a.counters(), b.counters(), c.counters()] };
  }

  test('batch sizes 1, 2 and 1024 deliver the same frames in the same order', () => {
    const ref = run(1024, 1024);
    assert.ok(ref.out.b.length > 50);
    for (const batch of [1, 2, 3, 64]) assert.deepEqual(run(batch, 1024), ref, `batch ${batch}`);
  });

  test('... also when single-slot frames overflow small receiver rings', () => {
    const ref = run(1024, 16);
    assert.ok((ref.counters[1]?.dropRxFull ?? 0) > 0, 'the workload overflows');
    for (const batch of [1, 2, 7]) assert.deepEqual(run(batch, 16), ref, `batch ${batch}`);
  });
});

describe('multiple rings', () => {
  test('unicast from TX ring k lands in RX ring k mod rxRings; broadcast in RX ring 0 only, once', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host, txRings: 4, rxRings: 4, txSlots: 64, rxSlots: 64 });
    const b = openPort('vale0:b', { host, txRings: 2, rxRings: 3, txSlots: 64, rxSlots: 64 });
    const c = openPort('vale0:c', { host, rxSlots: 64, txSlots: 64 });
    send(b, [frame(BROADCAST, macN(2))]);
    send(c, [frame(BROADCAST, macN(3))]);
    drainAll(a);
    drainAll(b);
    drainAll(c);
    for (let k = 0; k < 4; k++) {
      put(a, [frame(macN(2), macN(1), { seq: 10 + k }), frame(macN(3), macN(1), { seq: 20 + k })], k);
      put(a, [frame(BROADCAST, macN(1), { seq: 30 + k })], k);
    }
    a.txsync();
    const rb = drainAll(b).map((r) => r.map(seqOf));
    const rc = drainAll(c).map((r) => r.map(seqOf));
    // TX rings are synced in order 0..3; TX ring 3 maps onto RX ring 0 (3 mod 3)
    assert.deepEqual(rb, [[10, 30, 31, 32, 13, 33], [11], [12]]);
    assert.deepEqual(rc, [[20, 30, 21, 31, 22, 32, 23, 33]]);
    assert.deepEqual(drainAll(a), [[], [], [], []]);
  });

  test('frames from one TX ring to one RX ring keep their source order, broadcast merged in', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host, txRings: 2, rxRings: 2, txSlots: 256, rxSlots: 256 });
    const c = openPort('vale0:c', { host }); // one RX ring: TX ring 1 maps onto ring 0
    send(c, [frame(BROADCAST, macN(3))]);
    drainAll(a);
    put(
      a,
      [
        frame(BROADCAST, macN(1), { seq: 1 }),
        frame(macN(3), macN(1), { seq: 2 }),
        frame(BROADCAST, macN(1), { seq: 3 }),
        frame(macN(3), macN(1), { seq: 4 }),
      ],
      1,
    );
    a.txsync();
    assert.deepEqual(drain(c).map(seqOf), [1, 2, 3, 4]);
  });

  test('a port bound with more RX rings than the sender has TX rings sees only rings 0..k', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host, rxRings: 4, rxSlots: 256 });
    send(b, [frame(BROADCAST, macN(2))]);
    send(a, [frame(macN(2), macN(1), { seq: 1 }), frame(BROADCAST, macN(1), { seq: 2 })]);
    assert.deepEqual(
      drainAll(b).map((r) => r.map(seqOf)),
      [[1, 2], [], [], []],
    );
  });
});
