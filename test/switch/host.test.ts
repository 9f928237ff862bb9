/*
 * Register/unregister over a host's switches (src/switch/host.ts): limits,
 * port numbers, shared opens, switch lifetime.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, openPort, ValeHost } from '../../src/index.js';
import { assertCode, BROADCAST, drain, frame, macN, send, seqOf } from '../helpers/vale.js';

describe('limits', () => {
  test('the 5th switch is VALE_ERR_LIMIT naming dev.netmap.max_bridges; raising it works', () => {
    const host = new ValeHost();
    for (let i = 0; i < 4; i++) openPort(`vale${i}:a`, { host });
    assertCode(() => openPort('vale4:a', { host }), ErrorCodes.LIMIT, /dev\.netmap\.max_bridges/);
    assert.equal(host.listSwitches().length, 4);
    // ports of existing switches are still fine
    openPort('vale0:b', { host });
    host.settings.set('dev.netmap.max_bridges', 5);
    const p = openPort('vale4:a', { host });
    assert.equal(p.name, 'vale4:a');
    assertCode(() => openPort('vale5:a', { host }), ErrorCodes.LIMIT, /max_bridges/);
  });

  test('closing a switch’s last port frees its slot for another switch', () => {
    const host = new ValeHost({ 'dev.netmap.max_bridges': 1 });
    const a = openPort('vale0:a', { host });
    assertCode(() => openPort('vale1:a', { host }), ErrorCodes.LIMIT);
    a.close();
    openPort('vale1:a', { host });
  });

  test('the 17th port is VALE_ERR_LIMIT naming dev.netmap.max_ports; raising it works', () => {
    const host = new ValeHost();
    const small = { txSlots: 64, rxSlots: 64 };
    const ports = Array.from({ length: 16 }, (_, i) => openPort(`vale0:p${i}`, { host, ...small }));
    assertCode(() => openPort('vale0:p16', { host, ...small }), ErrorCodes.LIMIT, /dev\.netmap\.max_ports/);
    // a second switch has its own 16
    openPort('vale1:p16', { host, ...small });
    host.settings.set('dev.netmap.max_ports', 17);
    const p = openPort('vale0:p16', { host, ...small });
    assert.equal(p.portIndex, 16);
    // the new port works like any other
    send(p, [frame(BROADCAST, macN(16), { seq: 1 })]);
    for (const q of ports) assert.equal(q.counters().rxPackets, 1, `${q.name} received the broadcast`);
  });

  test('at most 252 ports per switch (VALE reserves 2 of its 254 slots): max_ports stops at 252', () => {
    const host = new ValeHost({ 'dev.netmap.max_ports': 252, 'dev.netmap.max_buffers': 8 });
    const ports = Array.from({ length: 252 }, (_, i) => openPort(`vale0:${i}`, { host, txSlots: 2, rxSlots: 4 }));
    assert.deepEqual(
      ports.map((p) => p.portIndex),
      Array.from({ length: 252 }, (_, i) => i),
    );
    assertCode(() => openPort('vale0:x', { host, txSlots: 2, rxSlots: 4 }), ErrorCodes.LIMIT, /max_ports/);
    assertCode(() => host.settings.set('dev.netmap.max_ports', 253), ErrorCodes.INVALID_ARG);
    // a broadcast reaches all 251 others
    send(ports[251] as (typeof ports)[0], [frame(BROADCAST, macN(1))]);
    assert.equal(ports.filter((p) => drain(p).length === 1).length, 251);
  });

  test('lowering a limit does not affect what exists', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    openPort('vale0:b', { host });
    host.settings.set('dev.netmap.max_ports', 1);
    assertCode(() => openPort('vale0:c', { host }), ErrorCodes.LIMIT);
    send(a, [frame(BROADCAST, macN(1))]);
    // sharing an existing port is not a new port
    openPort('vale0:a', { host }).close();
  });
});

describe('port numbers and sharing', () => {
  test('port numbers are reused LIFO (a,b,c → 0,1,2; close b; next gets 1)', () => {
    const host = new ValeHost();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => openPort(`vale0:${n}`, { host }));
    assert.deepEqual(
      [a, b, c].map((p) => p?.portIndex),
      [0, 1, 2],
    );
    b?.close();
    const d = openPort('vale0:d', { host });
    assert.equal(d.portIndex, 1);
    a?.close();
    c?.close();
    // freed 0 then 2: the last freed comes back first
    assert.equal(openPort('vale0:e', { host }).portIndex, 2);
    assert.equal(openPort('vale0:f', { host }).portIndex, 0);
    assert.equal(openPort('vale0:g', { host }).portIndex, 3);
  });

  test('opening an existing name shares the port; the second open’s ring config is ignored', () => {
    const host = new ValeHost();
    const a1 = openPort('vale0:a', { host, txSlots: 64, rxSlots: 128 });
    const a2 = openPort('vale0:a', { host, txSlots: 256, rxSlots: 512, txRings: 2 });
    const b = openPort('vale0:b', { host });
    assert.notEqual(a1, a2);
    assert.equal(a2.portIndex, a1.portIndex);
    assert.equal(a2.vport, a1.vport);
    assert.equal(a2.txRings.length, 1);
    assert.equal(a2.txRings[0]?.numSlots, 64);
    assert.equal(a2.rxRings[0]?.numSlots, 128);
    assert.equal(a1.vport.users, 2);
    // one port: what is sent to it is visible through either handle
    send(b, [frame(BROADCAST, macN(2), { seq: 1 })]);
    assert.deepEqual(drain(a2).map(seqOf), [1]);
    // closing one handle keeps the port
    a1.close();
    assert.equal(a2.vport.users, 1);
    send(b, [frame(BROADCAST, macN(2), { seq: 2 })]);
    assert.deepEqual(drain(a2).map(seqOf), [2]);
    assertCode(() => a1.rxsync(), ErrorCodes.CLOSED);
    a2.close();
    assert.equal(host.getSwitch('vale0')?.find('a'), undefined);
  });

  test('the switch and its MAC table go with the last close; reopening starts empty', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    send(a, [frame(BROADCAST, macN(1))]);
    send(b, [frame(BROADCAST, macN(2))]);
    const sw = host.getSwitch('vale0');
    assert.equal(sw?.macEntries().length, 2);
    a.close();
    assert.ok(host.getSwitch('vale0') !== undefined, 'still has b');
    b.close();
    assert.equal(host.getSwitch('vale0'), undefined);
    assert.deepEqual(host.listSwitches(), []);
    const c = openPort('vale0:c', { host });
    const sw2 = host.getSwitch('vale0');
    assert.notEqual(sw2, sw);
    assert.deepEqual(sw2?.macEntries(), []);
    assert.equal(c.portIndex, 0);
  });

  test('hosts are independent', () => {
    const h1 = new ValeHost();
    const h2 = new ValeHost();
    const a = openPort('vale0:a', { host: h1 });
    const b = openPort('vale0:b', { host: h2 });
    const a2 = openPort('vale0:x', { host: h1 });
    send(b, [frame(BROADCAST, macN(2))]);
    assert.deepEqual(drain(a), []);
    assert.deepEqual(drain(a2), []);
    assert.equal(h2.getSwitch('vale0')?.find('a'), undefined);
  });

  test('settings given to a host are validated', () => {
    assertCode(() => new ValeHost({ 'dev.netmap.max_ports': 0 }), ErrorCodes.INVALID_ARG);
    assertCode(() => new ValeHost({ 'dev.netmap.nope': 1 }), ErrorCodes.NOT_FOUND);
    assert.equal(new ValeHost({ 'dev.netmap.max_ports': 3 }).settings.maxPorts, 3);
  });
});
