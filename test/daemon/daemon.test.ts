/*
 * The daemon as users meet it: started on first use, one per run directory,
 * private socket, and faults that hurt only their cause (bad messages, a
 * client killed mid-burst, a stalled receiver, the daemon itself killed).
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { encodeJson } from '../../src/control/wire.js';
import {
  connectPort,
  Daemon,
  DaemonClient,
  ErrorCodes,
  isValeError,
  layout,
  type NetmapPort,
  type NetmapRing,
} from '../../src/index.js';
import { BIN, runDirs, spawnDaemon, until, uvale } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, macN, putSlot, receive, send } from '../helpers/vale.js';

const runDir = runDirs();

function shmEntries(): string[] {
  try {
    return readdirSync('/dev/shm');
  } catch {
    return [];
  }
}

/** Sends `n` unicast frames from a to b (b's MAC learned first) and returns how many b got. */
async function exchange(a: NetmapPort, b: NetmapPort, n: number): Promise<number> {
  send(b, [frame(BROADCAST, macN(2))]);
  await receive(a, 1);
  let got = 0;
  for (let i = 0; i < n; i += 100) {
    const k = Math.min(100, n - i);
    send(
      a,
      Array.from({ length: k }, (_, j) => frame(macN(2), macN(1), { seq: i + j })),
    );
    got += (await receive(b, k)).length;
  }
  return got;
}

test('the first port opened starts a daemon; its socket is private; it exits when idle', async () => {
  const dir = runDir('auto');
  const before = shmEntries();
  const a = await connectPort('vale-a:0', { dir });
  const b = await connectPort('vale-a:1', { dir });
  const st = statSync(`${dir}/uvale.sock`);
  assert.equal(st.mode & 0o777, 0o600);
  const pid = Number(readFileSync(`${dir}/uvale.lock`, 'utf8'));
  assert.ok(pid > 0 && pid !== process.pid, 'a separate daemon process holds the lock');
  assert.equal(await exchange(a, b, 300), 300);
  assert.deepEqual(shmEntries(), before, 'nothing in /dev/shm');
  a.close();
  b.close();
  await until(
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    8000,
    'the idle daemon to exit',
  );
});

test('garbage, truncated and oversized messages close only their own connection', async () => {
  const dir = runDir('garbage');
  const d = new Daemon({ dir, log: () => {} });
  await d.start();
  try {
    const a = await connectPort('vale-g:0', { dir });
    const b = await connectPort('vale-g:1', { dir });
    assert.equal(await exchange(a, b, 100), 100);
    const evil: Buffer[] = [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.from([0x01, 0xff, 0xff, 0xff]), // a 16 MiB JSON message
      Buffer.concat([Buffer.from([0x01, 0, 0, 5]), Buffer.from('{"id"')]), // bad JSON
      encodeJson({ id: 1, op: 'open', name: 'vale-g:2', fd: 3 }), // before hello
      Buffer.from([0x01, 0, 0, 100, 0x7b]), // truncated, then the peer goes away
    ];
    for (const bytes of evil) {
      const reply = await new Promise<string>((resolve) => {
        const s = connect(`${dir}/uvale.sock`);
        let text = '';
        s.on('data', (c) => (text += c.toString('latin1')));
        s.on('close', () => resolve(text));
        s.on('error', () => resolve(text));
        s.write(bytes);
        setTimeout(() => s.end(), 200);
      });
      if (bytes.length !== 5) assert.match(reply, /VALE_ERR_PROTOCOL/, `reply to ${bytes.toString('latin1')}`);
    }
    assert.equal(await exchange(a, b, 100), 100, 'the other ports still forward');
    assert.equal(d.listPorts().length, 2);
    a.close();
    b.close();
  } finally {
    await d.stop();
  }
});

test('bad names and exceeded limits are reported by the daemon with their codes', async () => {
  const dir = runDir('limits');
  const d = new Daemon({ dir, log: () => {}, settings: { 'dev.netmap.max_ports': 2 } });
  await d.start();
  try {
    await assert.rejects(connectPort('notvale:0', { dir }), (e) => isValeError(e, ErrorCodes.INVALID_NAME));
    await assert.rejects(connectPort('vale-x:123456789012', { dir }), (e) => isValeError(e, ErrorCodes.INVALID_NAME));
    for (const bad of [7, -12, 1e9]) {
      await assert.rejects(connectPort('vale-x:h', { dir, vnetHdrLen: bad }), (e: unknown) => {
        assert.ok(isValeError(e, ErrorCodes.INVALID_ARG), String(e));
        assert.match((e as Error).message, /vnetHdrLen must be 0, 10 or 12/);
        return true;
      });
    }
    const c0 = await DaemonClient.connect({ dir });
    await assert.rejects(c0.requestUntyped('open', { name: 'vale-x:h', fd: 0, vnetHdrLen: 'twelve' }), (e) =>
      isValeError(e, ErrorCodes.INVALID_ARG),
    );
    c0.close();
    const p = [await connectPort('vale-x:0', { dir }), await connectPort('vale-x:1', { dir })];
    await assert.rejects(connectPort('vale-x:2', { dir }), (e: unknown) => {
      assert.ok(isValeError(e, ErrorCodes.LIMIT));
      assert.match((e as Error).message, /dev\.netmap\.max_ports/);
      return true;
    });
    await assert.rejects(connectPort('vale-x:0', { dir }), (e) => isValeError(e, ErrorCodes.BUSY));
    const c = await DaemonClient.connect({ dir });
    await c.request('sysctl-set', { set: 'dev.netmap.max_ports=3' });
    const third = await connectPort('vale-x:2', { dir });
    for (const x of [...p, third]) x.close();
    c.close();
  } finally {
    await d.stop();
  }
});

test('a client killed mid-burst loses its port within a second; the others keep forwarding', async () => {
  const dir = runDir('kill');
  const daemon = await spawnDaemon(dir);
  try {
    const a = await connectPort('vale-k:0', { dir });
    const b = await connectPort('vale-k:1', { dir });
    const { spawn } = await import('node:child_process');
    const gen = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-k:9', '-f', 'tx', '--dir', dir], {
      stdio: 'ignore',
    });
    const client = await DaemonClient.connect({ dir, autostart: false });
    const names = async () =>
      ((await client.request('list')) as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
    await until(async () => (await names()).includes('vale-k:9'), 5000, 'the generator to open its port');
    await until(() => drain(b).length > 0, 5000, 'the generator’s broadcast to arrive');
    const maps = () =>
      readFileSync(`/proc/${daemon.pid}/maps`, 'utf8')
        .split('\n')
        .filter((l) => l.includes('memfd:uvale')).length;
    const mapped = maps();
    gen.kill('SIGKILL');
    const t0 = Date.now();
    await until(async () => !(await names()).includes('vale-k:9'), 1000, 'the killed client’s port to vanish');
    assert.ok(Date.now() - t0 <= 1000);
    assert.equal(maps(), mapped - 1, 'its shared memory is unmapped');
    drain(b);
    assert.equal(await exchange(a, b, 200), 200);
    a.close();
    b.close();
    client.close();
  } finally {
    daemon.kill('SIGTERM');
  }
});

test('a stalled receiver loses only its own frames', async () => {
  const dir = runDir('stall');
  const d = new Daemon({ dir, log: () => {} });
  await d.start();
  try {
    const a = await connectPort('vale-s:0', { dir });
    const b = await connectPort('vale-s:1', { dir });
    const timed = async () => {
      const t0 = performance.now();
      const got = await exchange(a, b, 2000);
      return { got, ms: performance.now() - t0 };
    };
    const alone = await timed();
    const stalled = await connectPort('vale-s:2', { dir, rxSlots: 64 });
    // flood so the stalled port's ring fills, then measure a <-> b again
    send(
      a,
      Array.from({ length: 500 }, (_, i) => frame(BROADCAST, macN(1), { seq: i })),
    );
    await receive(b, 500);
    const withStall = await timed();
    assert.equal(alone.got, 2000);
    assert.equal(withStall.got, 2000, 'no frame between the other ports is lost');
    assert.ok(stalled.counters().dropRxFull > 0, 'the stalled port counts its drops');
    assert.equal(b.counters().dropRxFull, 0);
    // rates compared loosely: the machine is shared; a stall that blocked others would be many times slower
    assert.ok(withStall.ms < alone.ms * 4 + 500, `with a stalled port ${withStall.ms} ms, alone ${alone.ms} ms`);
    for (const p of [a, b, stalled]) p.close();
  } finally {
    await d.stop();
  }
});

test('a killed daemon gives clients a clear error, and a new one starts cleanly', async () => {
  const dir = runDir('dkill');
  const daemon = await spawnDaemon(dir);
  const p = await connectPort('vale-d:0', { dir });
  daemon.kill('SIGKILL');
  await until(
    () => {
      try {
        p.rxsync();
        return false;
      } catch (e) {
        assert.ok(isValeError(e, ErrorCodes.DAEMON), String(e));
        assert.match((e as Error).message, /daemon/);
        return true;
      }
    },
    3000,
    'the port to report the daemon gone',
  );
  await assert.rejects(p.poll({ timeout: 100 }), (e) => isValeError(e, ErrorCodes.DAEMON));
  p.close();
  // the stale socket is still there; the next open starts a new daemon in its place
  const a = await connectPort('vale-d:0', { dir });
  const b = await connectPort('vale-d:1', { dir });
  assert.equal(await exchange(a, b, 50), 50);
  a.close();
  b.close();
  await uvale(['ctl', '--shutdown', '--dir', dir]);
});

test('two daemons never serve one run directory', async () => {
  const dir = runDir('two');
  const first = await spawnDaemon(dir);
  try {
    const r = await uvale(['daemon', '--dir', dir], { timeoutMs: 5000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /another uvale daemon already serves/);
    const c = await DaemonClient.connect({ dir, autostart: false });
    assert.equal(c.daemonPid, first.pid);
    c.close();
  } finally {
    first.kill('SIGTERM');
  }
});

test('a client waiting in poll() and an idle daemon use no CPU', async () => {
  const dir = runDir('idle');
  const daemon = await spawnDaemon(dir);
  const { spawn } = await import('node:child_process');
  const rx = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-i:1', '-f', 'rx', '--dir', dir], { stdio: 'ignore' });
  try {
    const client = await DaemonClient.connect({ dir, autostart: false });
    await until(
      async () => {
        const r = (await client.request('list')) as { ports: Array<{ name: string }> };
        return r.ports.some((p) => p.name === 'vale-i:1');
      },
      5000,
      'the receiver to open its port',
    );
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    // utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat)
    const ticks = (pid: number): number => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return Number(f[11]) + Number(f[12]);
    };
    const before = [ticks(rx.pid as number), ticks(daemon.pid as number)];
    await new Promise((r) => setTimeout(r, 1500));
    const used = [ticks(rx.pid as number) - (before[0] as number), ticks(daemon.pid as number) - (before[1] as number)];
    // 1.5 s is 150 ticks; a spinning process would use ~150. pkt-gen's report timer wakes it once a second.
    assert.ok((used[0] as number) <= 5, `the waiting receiver used ${used[0]} ticks`);
    assert.ok((used[1] as number) <= 5, `the idle daemon used ${used[1]} ticks`);
  } finally {
    rx.kill('SIGKILL');
    daemon.kill('SIGTERM');
  }
});

test('frames handed over by txsync() right before close() are still delivered', async () => {
  const dir = runDir('close');
  const d = await spawnDaemon(dir); // in another process, so the KICK and the close arrive together
  try {
    const b = await connectPort('vale-c:b', { dir });
    for (let round = 0; round < 10; round++) {
      const a = await connectPort('vale-c:a', { dir });
      send(
        a,
        Array.from({ length: 50 }, (_, i) => frame(BROADCAST, macN(1), { seq: i })),
      );
      a.close();
      assert.equal((await receive(b, 50)).length, 50, `round ${round}`);
    }
    b.close();
  } finally {
    d.kill('SIGTERM');
  }
});

test('the daemon sees only what a sync published: a head moved mid-chain without txsync() is not forwarded', async () => {
  const dir = runDir('synchead');
  const d = await spawnDaemon(dir); // in another process: it reads the rings while this one writes them
  try {
    const a = await connectPort('vale-s:a', { dir });
    const b = await connectPort('vale-s:b', { dir });
    const ring = a.txRings[0] as NetmapRing;
    const jumbo = frame(BROADCAST, macN(1), { len: 3000, seq: 7 });
    for (let round = 0; round < 5; round++) {
      // a txsync wakes the daemon, which then polls this port for a while...
      send(a, [frame(BROADCAST, macN(1), { seq: round })]);
      // ...while the first fragment's slot is published in head, but not synced
      putSlot(ring, jumbo.subarray(0, 2048), layout.NS_MOREFRAG);
      assert.equal((await receive(b, 1, 5000)).length, 1, `round ${round}: the synced frame crossed`);
      await new Promise((r) => setTimeout(r, 30)); // the daemon keeps polling this port meanwhile
      assert.equal((await receive(b, 1, 50)).length, 0, `round ${round}: nothing of the unsynced chain crossed`);
      putSlot(ring, jumbo.subarray(2048), 0);
      a.txsync();
      assert.deepEqual(await receive(b, 1), [Buffer.from(jumbo)], `round ${round}: the chain crossed whole`);
    }
    a.close();
    b.close();
  } finally {
    d.kill('SIGTERM');
  }
});
