/*
 * uvale at VALE's limits (issue 10): dev.netmap.max_bridges at its maximum,
 * 64 switches, each opening, forwarding and closing; and one switch with the
 * most ports a VALE switch takes, 252 (254 slots less the two VALE reserves;
 * MAX_PORT_INDEX), every port sending unicast to the next, the 253rd port
 * refused. Small rings keep the test light; the figures at scale are
 * scale-254 and port-memory in `npm run bench`.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, type LocalPort, macWords, openPort, rthash, ValeHost } from '../../src/index.js';
import { MAX_PORT_INDEX } from '../../src/switch/vale-switch.js';
import { assertCode, drain, frame, macN, send, seqOf, srcOf } from '../helpers/vale.js';

const RINGS = { txSlots: 64, rxSlots: 64 };

test('64 switches (dev.netmap.max_bridges=64) open, forward and close; the 65th is refused', () => {
  const host = new ValeHost({ 'dev.netmap.max_bridges': 64 });
  const pairs: Array<[LocalPort, LocalPort]> = [];
  for (let s = 0; s < 64; s++) {
    pairs.push([openPort(`vale-s${s}:a`, { host, ...RINGS }), openPort(`vale-s${s}:b`, { host, ...RINGS })]);
  }
  assert.equal(host.listSwitches().length, 64);
  assertCode(() => openPort('vale-s64:a', { host, ...RINGS }), ErrorCodes.LIMIT, /max_bridges/);
  pairs.forEach(([a, b], s) => {
    send(a, [frame(macN(2 * s + 1), macN(2 * s), { seq: s })]);
    send(b, [frame(macN(2 * s), macN(2 * s + 1), { seq: 1000 + s })]);
  });
  pairs.forEach(([a, b], s) => {
    assert.deepEqual(drain(b).map(seqOf), [s], `switch ${s}: a -> b`);
    assert.deepEqual(drain(a).map(seqOf), [1000 + s], `switch ${s}: b -> a`);
  });
  for (const [a, b] of pairs) {
    a.close();
    b.close();
  }
  assert.equal(host.listSwitches().length, 0);
});

test(`one switch with ${MAX_PORT_INDEX} ports (dev.netmap.max_ports=${MAX_PORT_INDEX}): all-to-next unicast, the next port refused`, () => {
  assert.equal(MAX_PORT_INDEX, 252);
  const host = new ValeHost({ 'dev.netmap.max_ports': MAX_PORT_INDEX });
  const ports: LocalPort[] = [];
  for (let i = 0; i < MAX_PORT_INDEX; i++) ports.push(openPort(`vale-big:${i}`, { host, ...RINGS }));
  assertCode(() => openPort(`vale-big:${MAX_PORT_INDEX}`, { host, ...RINGS }), ErrorCodes.LIMIT);
  // MACs in distinct buckets of the direct-mapped learning table (else the later one wins its bucket)
  const macs: string[] = [];
  const used = new Set<number>();
  for (let n = 1; macs.length < MAX_PORT_INDEX; n++) {
    const { a, b } = macWords(macN(n));
    if (used.has(rthash(a, b))) continue;
    used.add(rthash(a, b));
    macs.push(macN(n));
  }
  // learning: every port announces itself (a frame to itself: learnt, then dropped as no destination)
  ports.forEach((p, i) => {
    send(p, [frame(macs[i] as string, macs[i] as string)]);
  });
  for (const p of ports) assert.equal(drain(p).length, 0);
  ports.forEach((p, i) => {
    send(p, [frame(macs[(i + 1) % MAX_PORT_INDEX] as string, macs[i] as string, { seq: i })]);
  });
  ports.forEach((p, i) => {
    const got = drain(p);
    const from = (i - 1 + MAX_PORT_INDEX) % MAX_PORT_INDEX;
    assert.deepEqual(got.map(seqOf), [from], `port ${i} gets exactly the frame of port ${from}`);
    assert.equal(srcOf(got[0] as Uint8Array), macs[from]);
  });
  const sw = host.getSwitch('vale-big');
  assert.equal(sw?.macEntries().length, MAX_PORT_INDEX);
  for (const p of ports) assert.equal(p.counters().dropRxFull, 0);
  for (const p of ports) p.close();
  assert.equal(host.listSwitches().length, 0);
});
