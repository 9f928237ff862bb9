/*
 * Monitors and mirrors through the daemon (docs/monitors.md): a client opens
 * PORT/r, /t, /rt while another client holds PORT; each sees its direction in
 * order; a stalled monitor changes nothing for the monitored pair; the
 * monitored port closing ends the monitor (an error, not a hang); mirrors by
 * name, relinked when a port comes back; the requests' access.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectPort, Daemon, DaemonClient, type DaemonPort, ErrorCodes, layout } from '../../src/index.js';
import { tempRunDir } from '../helpers/daemon.js';
import { assertRejectsCode, BROADCAST, drain, frame, macN, receive, send, seqOf } from '../helpers/vale.js';

const [MA, MB, MC] = [macN(0xa), macN(0xb), macN(0xc)];

let daemon: Daemon;
let dir: string;
let cleanup: () => void;
before(async () => {
  const t = tempRunDir('monitor');
  dir = t.dir;
  cleanup = t.cleanup;
  daemon = new Daemon({ dir, log: () => {} });
  await daemon.start();
});
after(async () => {
  await daemon.stop();
  cleanup();
});

const open = (name: string, opts: { rxSlots?: number } = {}): Promise<DaemonPort> =>
  connectPort(name, { dir, ...opts });

/** Ports a, b, c of `sw`, each MAC learnt, drained. */
async function trio(sw: string): Promise<[DaemonPort, DaemonPort, DaemonPort]> {
  const ports = [await open(`${sw}:a`), await open(`${sw}:b`), await open(`${sw}:c`)] as [
    DaemonPort,
    DaemonPort,
    DaemonPort,
  ];
  const macs = [MA, MB, MC];
  for (let i = 0; i < 3; i++) {
    send(ports[i] as DaemonPort, [frame(BROADCAST, macs[i] as string, { seq: 900 + i })]);
    for (let k = 0; k < 3; k++) if (k !== i) await receive(ports[k] as DaemonPort, 1);
  }
  return ports;
}

describe('monitors through the daemon', () => {
  test('PORT/r, /t and /rt of a port another client holds: each its direction, in order', async () => {
    const [a, b, c] = await trio('vale-mn1');
    // opening the port itself is refused (it is another client's memory); a monitor is not
    await assertRejectsCode(open('vale-mn1:a'), ErrorCodes.BUSY);
    const mr = await open('vale-mn1:a/r');
    const mt = await open('vale-mn1:a/t');
    const mrt = await open('vale-mn1:a/rt');
    for (let i = 0; i < 10; i++) {
      // one exchange at a time, so the monitor's order is the order things happened
      send(a, [frame(MB, MA, { seq: 2 * i })]);
      assert.deepEqual((await receive(b, 1)).map(seqOf), [2 * i]);
      send(b, [frame(MA, MB, { seq: 2 * i + 1 })]);
      assert.deepEqual((await receive(a, 1)).map(seqOf), [2 * i + 1]);
    }
    send(b, [frame(MC, MB, { seq: 99 })]); // not a's traffic
    assert.deepEqual((await receive(c, 1)).map(seqOf), [99]);
    const even = Array.from({ length: 10 }, (_, i) => 2 * i);
    assert.deepEqual((await receive(mt, 10)).map(seqOf), even);
    assert.deepEqual(
      (await receive(mr, 10)).map(seqOf),
      even.map((x) => x + 1),
    );
    assert.deepEqual(
      (await receive(mrt, 20)).map(seqOf),
      Array.from({ length: 20 }, (_, i) => i),
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(drain(mr), []);
    assert.equal(mr.counters().dropMonitor, 0);
    for (const p of [mr, mt, mrt, a, b, c]) p.close();
  });

  test('a stalled monitor does not change what the monitored pair delivers; it counts its own drops', async () => {
    const [a, b, c] = await trio('vale-mn2');
    const stalled = await open('vale-mn2:b/rt', { rxSlots: 64 }); // never read
    let got = 0;
    for (let round = 0; round < 40; round++) {
      send(
        a,
        Array.from({ length: 50 }, (_, i) => frame(MB, MA, { seq: round * 50 + i })),
      );
      got += (await receive(b, 50)).length;
    }
    assert.equal(got, 2000);
    assert.equal(b.counters().dropRxFull, 0);
    const sc = stalled.counters();
    assert.equal(sc.rxPackets, 63);
    assert.equal(sc.dropMonitor, 2000 - 63);
    for (const p of [stalled, a, b, c]) p.close();
  });

  test('the monitored port closing ends the monitor: an error, not a hang; what was copied is read first', async () => {
    const [a, b, c] = await trio('vale-mn3');
    const m = await open('vale-mn3:a/rt');
    send(a, [frame(MB, MA, { seq: 1 })]);
    assert.deepEqual((await receive(m, 1)).map(seqOf), [1]);
    send(a, [frame(MB, MA, { seq: 2 })]);
    await receive(b, 2);
    a.close();
    // the copy made before the close is still delivered, then the end
    const t0 = Date.now();
    const r = await m.poll({ timeout: 3000 });
    assert.equal(r.in, true);
    const ring = m.rxRings[0] as (typeof m.rxRings)[0];
    assert.equal(seqOf(ring.frame(ring.cur)), 2);
    ring.head = ring.cur = ring.tail;
    await assertRejectsCode(m.poll({ timeout: 3000 }), ErrorCodes.CLOSED);
    assert.ok(Date.now() - t0 < 2000, 'ended without waiting for the timeout');
    m.close();
    // the name is free again: a new client may open it, and monitor it
    const a2 = await open('vale-mn3:a');
    const m2 = await open('vale-mn3:a/t');
    for (const p of [m2, a2, b, c]) p.close();
  });

  test('a hostile monitor client (garbage sync head, slot indices) changes nothing for the port', async () => {
    const [a, b, c] = await trio('vale-mn7');
    const m = await open('vale-mn7:b/rt', { rxSlots: 64 });
    const ring = m.rxRings[0] as (typeof m.rxRings)[0];
    const u32 = ring.u32;
    for (let s = 0; s < ring.numSlots; s++) u32[ring.slotsW + s * 4] = 0xfffffff0 - s; // buffer indices out of range
    let got = 0;
    for (let round = 0; round < 20; round++) {
      // a sync head that moves anywhere, as a buggy or hostile client might write it
      u32[ring.hdrW + (layout.RING_SYNC_HEAD >>> 2)] = (round * 977) >>> 0;
      send(
        a,
        Array.from({ length: 40 }, (_, i) => frame(MB, MA, { seq: round * 40 + i })),
      );
      got += (await receive(b, 40)).length;
    }
    assert.equal(got, 800);
    assert.equal(b.counters().dropRxFull, 0);
    assert.equal(b.counters().rxPackets, 802); // and the two learning frames
    for (const p of [m, a, b, c]) p.close();
  });

  test('a monitor of a port nobody has open is refused; its TX frames go nowhere, counted', async () => {
    await assertRejectsCode(open('vale-mn4:zz/r'), ErrorCodes.NOT_FOUND);
    const [a, b, c] = await trio('vale-mn4');
    const m = await open('vale-mn4:a/rt');
    send(m, [frame(BROADCAST, MA, { seq: 5 })]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(drain(b), []);
    assert.deepEqual(drain(c), []);
    assert.equal(m.counters().dropNoDest, 1);
    for (const p of [m, a, b, c]) p.close();
  });
});

describe('mirrors through the daemon', () => {
  test('mirror SRC=DST copies both ways, survives SRC reopening, lists, and is removed', async () => {
    const [a, b, c] = await trio('vale-mn5');
    const client = await DaemonClient.connect({ dir, autostart: false });
    try {
      const r = await client.request('mirror', { src: 'vale-mn5:a', dst: 'vale-mn5:c' });
      assert.deepEqual(r, { src: 'vale-mn5:a', dst: 'vale-mn5:c', dirs: 'rt', kind: 'mirror', active: true });
      send(a, [frame(MB, MA, { seq: 1 })]);
      await receive(b, 1);
      send(b, [frame(MA, MB, { seq: 2 })]);
      await receive(a, 1);
      assert.deepEqual((await receive(c, 2)).map(seqOf), [1, 2]);
      // SRC goes and comes back: the mirror waits, then resumes
      a.close();
      await new Promise((r) => setTimeout(r, 50));
      const mine = async () => (await client.request('mirrors')).mirrors.filter((m) => m.src.startsWith('vale-mn5:'));
      let list = await mine();
      assert.deepEqual(
        list.map((m) => [m.src, m.dst, m.active]),
        [['vale-mn5:a', 'vale-mn5:c', false]],
      );
      const a2 = await open('vale-mn5:a');
      const mon = await open('vale-mn5:a/t');
      list = await mine();
      assert.deepEqual(
        list.map((m) => [m.src, m.dst, m.kind, m.dirs, m.active]),
        [
          ['vale-mn5:a', 'vale-mn5:a/t', 'monitor', 't', true],
          ['vale-mn5:a', 'vale-mn5:c', 'mirror', 'rt', true],
        ],
      );
      // a monitor has no port number: ctl -l / --stats of its name do not show its port's
      await assert.rejects(
        client.request('port', { name: 'vale-mn5:a/t' }),
        (e: unknown) => (e as { code?: string }).code === ErrorCodes.NOT_FOUND,
      );
      send(a2, [frame(MB, MA, { seq: 3 })]);
      assert.deepEqual((await receive(c, 1)).map(seqOf), [3]);
      await client.request('mirror', { src: 'vale-mn5:a', dst: 'vale-mn5:c', remove: true });
      send(a2, [frame(MB, MA, { seq: 4 })]);
      await receive(b, 2);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(drain(c), []);
      await assert.rejects(
        client.request('mirror', { src: 'vale-mn5:a', dst: 'vale-mn5:c', remove: true }),
        (e: unknown) => (e as { code?: string }).code === ErrorCodes.NOT_FOUND,
      );
      await assert.rejects(
        client.request('mirror', { src: 'vale-mn5:a', dst: 'vale-mn6:c' }),
        (e: unknown) => (e as { code?: string }).code === ErrorCodes.INVALID_ARG,
      );
      // a monitor's name is no port to attach or create
      for (const [op, args] of [
        ['attach', { name: 'vale-mn5:a/r' }],
        ['newif', { name: 'x/r' }],
      ] as const) {
        await assert.rejects(
          client.request(op, args),
          (e: unknown) => (e as { code?: string }).code === ErrorCodes.INVALID_NAME,
          op,
        );
      }
      for (const p of [mon, a2]) p.close();
    } finally {
      client.close();
      for (const p of [a, b, c]) p.close();
    }
  });
});
