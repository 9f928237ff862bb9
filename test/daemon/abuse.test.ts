/*
 * A hostile local client hurts only itself (docs/security.md): one that never
 * reads its socket, never says hello, stalls mid-message, opens connections
 * without end, or floods the log. Each case failed before its fix.
 */

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { DaemonClient } from '../../src/control/client.js';
import { encodeJson, PROTOCOL_VERSION } from '../../src/control/wire.js';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import { Daemon, escapeControl } from '../../src/daemon/server.js';
import { connectPort } from '../../src/index.js';
import { IF_WAKE, RING_KSLEEP, RING_USLEEP, USLEEP_FUTEX, USLEEP_MSG } from '../../src/ring/layout.js';
import { runDirs, until } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, macN, send } from '../helpers/vale.js';

const runDir = runDirs();

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** The daemon's connections (internal state, read by the test as an observer). */
function conns(d: Daemon): Array<{ uid: number; socket: Socket }> {
  return [...(d as unknown as { conns: Set<{ uid: number; socket: Socket }> }).conns];
}

test('a client that re-arms its sleep flag and never reads its socket does not grow the daemon', async () => {
  const dir = runDir('wakeflood');
  const d = new Daemon({ dir, log: () => {} });
  await d.start();
  try {
    const victim = await connectPort('vale-w:v', { dir });
    const sender = await connectPort('vale-w:s', { dir });
    const vsock = (victim.client as unknown as { socket: Socket }).socket;
    vsock.pause(); // the hostile client never reads WAKEs again
    const u32 = (victim as unknown as { u32: Uint32Array }).u32;
    const rx = victim.rxRings[0] as unknown as { hdrW: number };
    const f = frame(BROADCAST, macN(1), { len: 60 });
    for (let i = 0; i < 10000; i++) {
      Atomics.store(u32, rx.hdrW + (RING_USLEEP >>> 2), 1); // "I sleep, wake me"
      send(sender, [f]);
      drain(victim); // frees its RX slots (rxsync), so every frame is delivered
      await new Promise((r) => setImmediate(r)); // the daemon forwards, sees the flag, wakes
    }
    await new Promise((r) => setTimeout(r, 200));
    const queued = Math.max(...conns(d).map((c) => c.socket.writableLength));
    assert.ok(queued <= 20 * 1024, `the daemon queued ${queued} bytes for a client that does not read`);
    victim.close();
    sender.close();
  } finally {
    await d.stop();
  }
});

test('a connection that never says hello, or stalls mid-message, is closed; a new one is served', async (t) => {
  const dir = runDir('hello');
  const d = new Daemon({ dir, log: () => {} });
  await d.start();
  t.after(() => d.stop());
  const mute = await dial(`${dir}/uvale.sock`);
  const closed = new Promise<string>((resolve) => {
    let got = '';
    mute.on('data', (b) => (got += b.toString('latin1')));
    mute.on('close', () => resolve(got));
  });
  const t0 = Date.now();
  const reply = await closed;
  assert.ok(Date.now() - t0 >= 4000 && Date.now() - t0 < 9000, `closed after ${Date.now() - t0} ms`);
  assert.match(reply, /no hello within 5000 ms/);

  const staller = await dial(`${dir}/uvale.sock`);
  staller.resume(); // reads (and drops) the daemon's replies, so its close is seen
  staller.write(encodeJson({ id: 1, op: 'hello', version: PROTOCOL_VERSION }));
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(((1 << 24) | 100) >>> 0);
  staller.write(Buffer.concat([hdr, Buffer.from('{"id":2,')])); // announces 100 bytes, sends 8
  const t1 = Date.now();
  await new Promise<void>((resolve) => staller.on('close', () => resolve()));
  assert.ok(Date.now() - t1 >= 9000, `closed after ${Date.now() - t1} ms`);
  const c = await DaemonClient.connect({ dir, autostart: false });
  assert.deepEqual((await c.request('list')).ports, []);
  c.close();
});

test('connections past uvale.max_clients_per_user are refused with LIMIT naming the setting', async () => {
  const dir = runDir('conncap');
  const d = new Daemon({ dir, log: () => {}, settings: { 'uvale.max_clients_per_user': 3 } });
  await d.start();
  try {
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await DaemonClient.connect({ dir, autostart: false }));
    await assert.rejects(DaemonClient.connect({ dir, autostart: false }), (e: unknown) => {
      assert.ok(isValeError(e, ErrorCodes.LIMIT), String(e));
      assert.match((e as Error).message, /uvale\.max_clients_per_user \(3\)/);
      return true;
    });
    (held.pop() as DaemonClient).close();
    await until(() => conns(d).length === 2, 2000, 'the closed connection to go');
    const again = await DaemonClient.connect({ dir, autostart: false });
    again.close();
    for (const c of held) c.close();
  } finally {
    await d.stop();
  }
});

test('log lines: repeated reasons are rate-limited, user text cannot forge lines', async () => {
  const dir = runDir('logflood');
  const lines: string[] = [];
  const d = new Daemon({ dir, log: (l) => lines.push(l) });
  await d.start();
  try {
    for (let i = 0; i < 200; i++) {
      const s = await dial(`${dir}/uvale.sock`);
      s.resume();
      s.write(Buffer.from([0xff, 0, 0, 0])); // unknown message type
      await new Promise<void>((resolve) => s.on('close', () => resolve()));
    }
    const bad = lines.filter((l) => l.includes('unknown message type'));
    assert.ok(bad.length <= 6, `${bad.length} lines for 200 bad clients`);
    const c = await DaemonClient.connect({ dir, autostart: false });
    await assert.rejects(c.request('attach', { name: 'vale0:x=stream:unix:/nonexistent/a\nFAKE: root did it' }));
    c.close();
    assert.ok(!lines.some((l) => l.startsWith('FAKE')), 'no forged line');
    assert.equal(escapeControl('a\nb\x1b[31m'), 'a\\x0ab\\x1b[31m');
  } finally {
    await d.stop();
  }
});

test('a client that flips its sleep flags and futex word wildly stalls nobody and cannot make the daemon spin', async () => {
  const dir = runDir('flagflip');
  const d = new Daemon({ dir, log: () => {} });
  await d.start();
  try {
    const hostile = await connectPort('vale-f:h', { dir });
    const sender = await connectPort('vale-f:s', { dir });
    const receiver = await connectPort('vale-f:r', { dir });
    const u32 = (hostile as unknown as { u32: Uint32Array }).u32;
    const rings = [...hostile.txRings, ...hostile.rxRings] as unknown as Array<{ hdrW: number }>;
    const values = [0, USLEEP_MSG, USLEEP_FUTEX, 3, 0xffffffff, 0x80000000];
    let k = 0;
    const scribble = (): void => {
      for (const r of rings) {
        Atomics.store(u32, r.hdrW + (RING_USLEEP >>> 2), values[k++ % values.length] as number);
        Atomics.store(u32, r.hdrW + (RING_KSLEEP >>> 2), k & 1);
      }
      Atomics.store(u32, IF_WAKE >>> 2, (k * 2654435761) >>> 0);
    };
    const f = frame(BROADCAST, macN(1), { len: 60 });
    let got = 0;
    for (let i = 0; i < 2000; i++) {
      scribble();
      send(sender, [f]); // flooded to the hostile port too, whose RX ring fills and drops
      got += drain(receiver).length;
      await new Promise((r) => setImmediate(r));
    }
    await until(
      () => {
        got += drain(receiver).length;
        return got >= 2000;
      },
      5000,
      'every frame to reach the receiver',
    );
    assert.equal(got, 2000);
    const queued = Math.max(...conns(d).map((c) => c.socket.writableLength));
    assert.ok(queued <= 20 * 1024, `the daemon queued ${queued} bytes of wake-ups`);
    // no traffic, flags still flipping: every port goes to sleep, the daemon runs nothing
    const end = Date.now() + 3000;
    while (d.scheduler.activeCount !== 0 && Date.now() < end) {
      scribble();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(d.scheduler.activeCount, 0, 'the daemon still polls ports with no traffic');
    hostile.close();
    sender.close();
    receiver.close();
  } finally {
    await d.stop();
  }
});
