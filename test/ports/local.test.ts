/*
 * In-process ports (src/ports/local/local-port.ts): the shared port contract,
 * then what is specific to LocalPort (poll's wake-up, lifecycle on a host).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, type NetmapRing, openPort, ValeHost } from '../../src/index.js';
import { assertCode, assertRejectsCode, BROADCAST, drain, frame, macN, put, send, seqOf } from '../helpers/vale.js';
import { portCompliance } from './compliance.js';

portCompliance('local (in-process)', () => {
  const host = new ValeHost();
  return {
    open: (name, opts) => openPort(name, { host, ...opts }),
    teardown: () => {
      assert.deepEqual(host.listSwitches(), [], 'every switch is gone once its ports are closed');
    },
  };
});

describe('LocalPort.poll', () => {
  test('the waiter is woken in a microtask after delivery, not inside the sender’s txsync', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const rx = b.rxRings[0] as NetmapRing;
    let settled = false;
    const waiting = b.poll().then((r) => {
      settled = true;
      return r;
    });
    send(a, [frame(BROADCAST, macN(1), { seq: 1 })]);
    // still inside the sender's turn: the waiter has not run (it would have rxsynced b)
    assert.equal(rx.tail, 0);
    assert.equal(settled, false);
    await Promise.resolve();
    assert.equal(rx.tail, 1, 'woken by a microtask, before any timer or I/O');
    assert.deepEqual(await waiting, { in: true, out: false });
    assert.deepEqual(drain(b).map(seqOf), [1]);
  });

  test('a sender woken receiver can send back from its poll continuation without re-entering the sender', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const pong = b.poll().then(() => {
      const f = drain(b)[0] as Uint8Array;
      send(b, [frame(macN(1), macN(2), { seq: seqOf(f) + 1 })]);
    });
    send(a, [frame(BROADCAST, macN(1), { seq: 41 })]);
    await pong;
    assert.deepEqual(drain(a).map(seqOf), [42]);
  });

  test('several waiters on one port all resolve', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const waits = [b.poll(), b.poll({ timeout: 5000 }), b.poll({ events: 'in' })];
    send(a, [frame(BROADCAST, macN(1))]);
    for (const r of await Promise.all(waits)) assert.deepEqual(r, { in: true, out: false });
  });

  test('poll resolves at once when frames are already there', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    send(a, [frame(BROADCAST, macN(1))]);
    assert.deepEqual(await b.poll({ timeout: 0 }), { in: true, out: false });
    assert.deepEqual(await b.poll({ events: 'inout', timeout: 0 }), { in: true, out: true });
  });

  test('poll txsyncs pending TX slots first, as netmap’s poll does', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    put(a, [frame(BROADCAST, macN(1), { seq: 3 })]);
    assert.deepEqual(drain(b), [], 'not sent yet');
    assert.deepEqual(await a.poll({ timeout: 0 }), { in: false, out: false });
    assert.deepEqual(drain(b).map(seqOf), [3]);
  });

  test('poll times out with in:false and leaves no timer behind when woken', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const t0 = Date.now();
    assert.deepEqual(await b.poll({ timeout: 25 }), { in: false, out: false });
    assert.ok(Date.now() - t0 >= 20);
    // a long timeout that is woken early must not keep the process alive (the test would hang)
    const w = b.poll({ timeout: 60_000 });
    send(a, [frame(BROADCAST, macN(1))]);
    assert.deepEqual(await w, { in: true, out: false });
  });

  test('poll with an illegal RX head rejects with VALE_ERR_RING_REINIT', async () => {
    const host = new ValeHost();
    const b = openPort('vale0:b', { host });
    (b.rxRings[0] as NetmapRing).head = 5;
    await assertRejectsCode(b.poll({ timeout: 0 }), ErrorCodes.RING_REINIT);
    assert.equal((b.rxRings[0] as NetmapRing).head, 0);
  });

  test('closing rejects every waiter with VALE_ERR_CLOSED and clears their timers', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const w1 = a.poll();
    const w2 = a.poll({ timeout: 60_000 });
    a.close();
    await assertRejectsCode(w1, ErrorCodes.CLOSED);
    await assertRejectsCode(w2, ErrorCodes.CLOSED);
  });

  test('closing one handle of a shared port rejects only that handle’s waiters', async () => {
    const host = new ValeHost();
    const a1 = openPort('vale0:a', { host });
    const a2 = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const w1 = a1.poll();
    const w2 = a2.poll();
    a1.close();
    await assertRejectsCode(w1, ErrorCodes.CLOSED);
    send(b, [frame(BROADCAST, macN(2))]);
    assert.deepEqual(await w2, { in: true, out: false });
  });
});

describe('LocalPort lifecycle', () => {
  test('close twice is safe; every call after close throws VALE_ERR_CLOSED', async () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    a.close();
    a.close();
    assertCode(() => a.txsync(), ErrorCodes.CLOSED, /vale0:a/);
    assertCode(() => a.rxsync(), ErrorCodes.CLOSED);
    assertCode(() => a.counters(), ErrorCodes.CLOSED);
    assertCode(() => a.vport, ErrorCodes.CLOSED);
    assertCode(() => a.portIndex, ErrorCodes.CLOSED);
    const p = a.poll();
    assert.ok(p instanceof Promise, 'poll reports errors through its promise');
    await assertRejectsCode(p, ErrorCodes.CLOSED);
    assert.equal(host.getSwitch('vale0'), undefined);
  });

  test('the rings stay readable after close (memory is not yanked from under the client)', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    send(a, [frame(BROADCAST, macN(1), { seq: 6 })]);
    b.rxsync();
    const rx = b.rxRings[0] as NetmapRing;
    b.close();
    assert.equal(rx.tail, 1);
    assert.equal(seqOf(rx.frame(0)), 6);
  });

  test('a closed port no longer receives; the others still do', () => {
    const host = new ValeHost();
    const a = openPort('vale0:a', { host });
    const b = openPort('vale0:b', { host });
    const c = openPort('vale0:c', { host });
    b.close();
    send(a, [frame(BROADCAST, macN(1), { seq: 1 })]);
    assert.deepEqual(drain(c).map(seqOf), [1]);
    assert.equal(host.getSwitch('vale0')?.activePorts, 2);
  });
});
