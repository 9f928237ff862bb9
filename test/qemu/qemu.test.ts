/*
 * QEMU socket ports against the real QEMU (Debian's qemu-system-x86, 7.2 in
 * CI). No guest OS: QEMU runs with `-machine none` and joins two of its
 * network back-ends with its own hub (-netdev hubport), so every frame one
 * uvale port sends into QEMU comes back out of the other one:
 *
 *   x ─ vale0 ─ q1 ═ QEMU back-end a ─ hub 0 ─ back-end b ═ q2 ─ vale1 ─ y
 *
 * The two QEMU ports sit on different switches, so the hub cannot loop
 * flooded frames. Cases: both stream ports listened on by uvale (QEMU
 * server=off); uvale dialing a QEMU with server=on, QEMU killed and
 * restarted, uvale redialing; dgram and socket (tcp, udp) back-ends; and the
 * same through the daemon with `uvale ctl -a`. Skipped (with the reason)
 * when qemu-system-x86_64 is not installed; every QEMU is killed in finally.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connectPort, type NetmapPort, openPort, ValeHost } from '../../src/index.js';
import { QemuPort } from '../../src/ports/qemu/qemu-port.js';
import { exited, spawnDaemon, until, uvale } from '../helpers/daemon.js';
import { BROADCAST, frame, macN, putChain, Rng, receive, seqOf, split } from '../helpers/vale.js';
import { freeTcpPorts, freeUdpPorts } from './free-port.js';

const QEMU = 'qemu-system-x86_64';
const probe = spawnSync(QEMU, ['--version'], { encoding: 'utf8', timeout: 10_000 });
const skip = probe.status === 0 ? null : `${QEMU} is not installed (apt-get install qemu-system-x86)`;
const WAIT = 10_000;

const tmp = mkdtempSync(join(tmpdir(), 'uvale-qemu-real-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const path = (): string => join(tmp, `q${++n}.sock`);

/** Starts QEMU with back-ends a and b joined by hub 0; resolves once it is running. */
async function startQemu(a: string, b: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const args = [
    '-nodefaults',
    '-nographic',
    '-machine',
    'none',
    '-netdev',
    `${a},id=a`,
    '-netdev',
    `${b},id=b`,
    '-netdev',
    'hubport,id=h1,hubid=0,netdev=a',
    '-netdev',
    'hubport,id=h2,hubid=0,netdev=b',
  ];
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  child.on('error', (e) => (err += String(e)));
  return { child, stderr: () => err };
}

async function stopQemu(q: { child: ChildProcess } | null): Promise<void> {
  if (q === null) return;
  if (q.child.exitCode === null && q.child.signalCode === null) q.child.kill('SIGKILL');
  await exited(q.child, 5000).catch(() => {});
}

/**
 * Sends `count` frames of mixed sizes (jumbo chains too) from `src`, `batch`
 * per txsync, and checks that `dst` gets each one, bit-exact. Returns how many
 * arrived out of order: QEMU's own queues may reorder (see the report in the
 * first test); uvale's side keeps order (test/ports/qemu.test.ts checks it).
 */
async function roundTrip(
  src: NetmapPort,
  dst: NetmapPort,
  mac: number,
  count: number,
  first = 0,
  batch = count,
): Promise<number> {
  const rng = new Rng(first + 1);
  const sizes = [60, 1514, 2049, 9014, 64, 4000];
  const want = new Map<number, Uint8Array>();
  const got: Uint8Array[] = [];
  for (let i = 0; i < count; ) {
    const k = Math.min(batch, count - i);
    for (let j = 0; j < k; j++, i++) {
      const len = sizes[i % sizes.length] as number;
      const f = frame(BROADCAST, macN(mac), { seq: first + i, len, fill: rng.bytes(len) });
      want.set(first + i, f);
      putChain(src, split(f, 2048));
    }
    src.txsync();
    got.push(...(await receive(dst, k, WAIT)));
  }
  assert.equal(got.length, count, 'every frame arrived');
  let reordered = 0;
  let last = -1;
  for (const f of got) {
    const s = seqOf(f);
    const w = want.get(s);
    assert.ok(w !== undefined && Buffer.from(w).equals(f), `frame ${s} arrived intact, once`);
    want.delete(s);
    if (s < last) reordered++;
    last = Math.max(last, s);
  }
  return reordered;
}

/** Waits until a frame sent from `src` reaches `dst` (QEMU may still be connecting its second back-end). */
async function flowing(src: NetmapPort, dst: NetmapPort): Promise<void> {
  const end = Date.now() + WAIT;
  for (let i = 0; ; i++) {
    putChain(src, [frame(BROADCAST, macN(99), { seq: 100000 + i })]);
    src.txsync();
    if ((await receive(dst, 1, 100)).length > 0) {
      await new Promise((r) => setTimeout(r, 50));
      await receive(dst, 1000, 50); // probes still in flight
      return;
    }
    if (Date.now() > end) assert.fail('no frame crossed QEMU');
  }
}

if (skip !== null) {
  test('real QEMU', { skip }, () => {});
} else {
  describe(`real QEMU (${probe.stdout.split('\n')[0]})`, { timeout: 120_000 }, () => {
    test('stream, uvale listening: frames cross QEMU’s hub both ways', async (t) => {
      const host = new ValeHost();
      const [p1, p2] = [path(), path()];
      const q1 = QemuPort.attach(host, `vale0:q1=stream:unix:${p1}`);
      const q2 = QemuPort.attach(host, `vale1:q2=stream:unix:${p2}`);
      const x = openPort('vale0:x', { host });
      const y = openPort('vale1:y', { host });
      let qemu: Awaited<ReturnType<typeof startQemu>> | null = null;
      try {
        await Promise.all([q1.ready, q2.ready]);
        qemu = await startQemu(
          `stream,server=off,addr.type=unix,addr.path=${p1}`,
          `stream,server=off,addr.type=unix,addr.path=${p2}`,
        );
        const qm = qemu;
        await until(() => q1.connected && q2.connected, WAIT, `QEMU to connect (${qm.stderr()})`);
        await flowing(x, y);
        const r1 = await roundTrip(x, y, 1, 200);
        const r2 = await roundTrip(y, x, 2, 200, 1000);
        t.diagnostic(`frames QEMU delivered out of order: ${r1} of 200 one way, ${r2} of 200 the other`);
        assert.equal(q1.info().counters.errors + q2.info().counters.errors, 0);
        // QEMU goes away: the ports stay, listening, and count what they cannot send
        await stopQemu(qemu);
        qemu = null;
        await until(() => !q1.connected && !q2.connected, WAIT, 'the ports to see QEMU gone');
        assert.ok(q1.attached && q2.attached);
      } finally {
        await stopQemu(qemu);
        q1.close();
        q2.close();
        x.close();
        y.close();
      }
    });

    test('stream, uvale dialing QEMU (server=on): QEMU killed and restarted, uvale redials, frames flow again', async () => {
      const host = new ValeHost();
      const [p1, p2] = [path(), path()];
      const q2 = QemuPort.attach(host, `vale1:q2=stream:unix:${p2}`);
      const x = openPort('vale0:x', { host });
      const y = openPort('vale1:y', { host });
      let q1: QemuPort | null = null;
      let qemu: Awaited<ReturnType<typeof startQemu>> | null = null;
      const args = [
        `stream,server=on,addr.type=unix,addr.path=${p1}`,
        `stream,server=off,addr.type=unix,addr.path=${p2}`,
      ] as const;
      try {
        await q2.ready;
        qemu = await startQemu(...args);
        q1 = QemuPort.attach(host, `vale0:q1=stream:unix:${p1},connect`);
        const [a, qm] = [q1, qemu];
        await until(() => a.connected && q2.connected, WAIT, `uvale and QEMU to connect (${qm.stderr()})`);
        await flowing(x, y);
        await roundTrip(x, y, 1, 100);
        await roundTrip(y, x, 2, 100, 1000);
        for (let round = 0; round < 2; round++) {
          await stopQemu(qemu);
          qemu = null;
          await until(() => !a.connected && !q2.connected, WAIT, 'the ports to see QEMU gone');
          // frames sent while QEMU is away are counted, not thrown
          putChain(x, [frame(BROADCAST, macN(1), { seq: 5 })]);
          x.txsync();
          await until(() => a.info().counters.outDrops > 0, WAIT, 'a counted drop');
          qemu = await startQemu(...args);
          const qm2 = qemu;
          await until(() => a.connected && q2.connected, WAIT, `the redial (${qm2.stderr()})`);
          await flowing(x, y);
          await roundTrip(x, y, 1, 100, 2000 + round * 1000);
          await roundTrip(y, x, 2, 100, 2500 + round * 1000);
        }
        assert.equal(a.info().extra.connects, 3);
      } finally {
        await stopQemu(qemu);
        q1?.close();
        q2.close();
        x.close();
        y.close();
      }
    });

    test('dgram over UDP loopback, socket (tcp listen/connect, udp) and stream over TCP (both modes)', async (t) => {
      const host = new ValeHost();
      const [l1, r1, l2, r2] = (await freeUdpPorts(4)) as [number, number, number, number];
      const [t1, t2, t3, t4] = (await freeTcpPorts(4)) as [number, number, number, number];
      // a: QEMU -netdev dgram; b: QEMU -netdev socket,connect (TCP, stream framing)
      const cases: Array<[string, string, string, string]> = [
        [
          `dgram:udp:127.0.0.1:${l1}:127.0.0.1:${r1}`,
          `dgram,local.type=inet,local.host=127.0.0.1,local.port=${r1},remote.type=inet,remote.host=127.0.0.1,remote.port=${l1}`,
          `socket:tcp:127.0.0.1:${t1}`,
          `socket,connect=127.0.0.1:${t1}`,
        ],
        [
          `socket:udp:127.0.0.1:${l2}:127.0.0.1:${r2}`,
          `socket,udp=127.0.0.1:${l2},localaddr=127.0.0.1:${r2}`,
          `stream:tcp:127.0.0.1:${t2}`,
          `stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${t2}`,
        ],
        // uvale dials both: QEMU -netdev socket,listen= and -netdev stream,server=on over TCP
        [
          `socket:tcp:127.0.0.1:${t3},connect`,
          `socket,listen=127.0.0.1:${t3}`,
          `stream:tcp:127.0.0.1:${t4},connect`,
          `stream,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=${t4}`,
        ],
      ];
      for (const [s1, qa, s2, qb] of cases) {
        const q1 = QemuPort.attach(host, `vale0:q1=${s1}`);
        const q2 = QemuPort.attach(host, `vale1:q2=${s2}`);
        const x = openPort('vale0:x', { host });
        const y = openPort('vale1:y', { host });
        let qemu: Awaited<ReturnType<typeof startQemu>> | null = null;
        try {
          await Promise.all([q1.ready, q2.ready]);
          qemu = await startQemu(qa, qb);
          const qm = qemu;
          await until(() => q1.connected && q2.connected, WAIT, `QEMU to connect (${qm.stderr()})`);
          await flowing(x, y);
          // UDP has no flow control: batches of 10 keep QEMU's socket buffer from overflowing
          await roundTrip(x, y, 1, 100, 0, 10);
          await roundTrip(y, x, 2, 100, 1000, 10);
          t.diagnostic(`${s1} and ${s2}: 100 frames each way`);
        } finally {
          await stopQemu(qemu);
          q1.close();
          q2.close();
          x.close();
          y.close();
        }
      }
    });

    test('through the daemon: uvale ctl -a SWITCH:PORT=SPEC, frames cross QEMU, ctl -d detaches', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'uvale-qemu-d-'));
      const daemon = await spawnDaemon(dir);
      const [p1, p2] = [path(), path()];
      let qemu: Awaited<ReturnType<typeof startQemu>> | null = null;
      const ports: NetmapPort[] = [];
      try {
        for (const spec of [`vale0:q1=stream:unix:${p1}`, `vale1:q2=stream:unix:${p2}`]) {
          const r = await uvale(['ctl', '--dir', dir, '-a', spec], { timeoutMs: WAIT });
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /attached, port_idx 0/);
        }
        const bad = await uvale(['ctl', '--dir', dir, '-a', 'vale0:q3=stream:tcp:127.0.0.1'], { timeoutMs: WAIT });
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /bad QEMU port spec .*expected HOST:PORT/);
        const x = await connectPort('vale0:x', { dir });
        const y = await connectPort('vale1:y', { dir });
        ports.push(x, y);
        qemu = await startQemu(
          `stream,server=off,addr.type=unix,addr.path=${p1}`,
          `stream,server=off,addr.type=unix,addr.path=${p2}`,
        );
        await flowing(x, y);
        await roundTrip(x, y, 1, 100);
        await roundTrip(y, x, 2, 100, 1000);
        const list = await uvale(['ctl', '--dir', dir], { timeoutMs: WAIT });
        assert.match(list.stdout, /vale0:q1 bridge_idx 0 port_idx 0/);
        for (const name of ['vale0:q1', 'vale1:q2']) {
          const r = await uvale(['ctl', '--dir', dir, '-d', name], { timeoutMs: WAIT });
          assert.equal(r.code, 0, r.stderr);
        }
        const after = await uvale(['ctl', '--dir', dir], { timeoutMs: WAIT });
        assert.doesNotMatch(after.stdout, /q1|q2/);
      } finally {
        for (const p of ports) p.close();
        await stopQemu(qemu);
        daemon.kill('SIGTERM');
        await exited(daemon, 5000).catch(() => daemon.kill('SIGKILL'));
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
