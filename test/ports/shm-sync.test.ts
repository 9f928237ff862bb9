/*
 * DaemonPort.pollSync(): a client that blocks its thread on the futex word
 * IF_WAKE (RING_USLEEP = USLEEP_FUTEX) is woken by the daemon with one
 * FUTEX_WAKE, without a WAKE message. The daemon runs in its own process: a
 * thread blocked in pollSync could not run a daemon in the same event loop.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { connectPort } from '../../src/index.js';
import { SPIN_MS } from '../../src/ports/shm/shm-client.js';
import { IF_WAKE, RING_HWTAIL, RING_USLEEP, USLEEP_FUTEX } from '../../src/ring/layout.js';
import { BIN, exited, spawnDaemon, tempRunDir } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, macN, put, send, seqOf } from '../helpers/vale.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

function runDir(tag: string): string {
  const t = tempRunDir(tag);
  cleanups.push(t.cleanup);
  return t.dir;
}

const u32Of = (p: object): Uint32Array => (p as { u32: Uint32Array }).u32;

test('pollSync sleeps on the futex until the daemon forwards a frame from another process', async () => {
  const dir = runDir('sync');
  const daemon = await spawnDaemon(dir);
  let gen: ChildProcess | null = null;
  try {
    const rx = await connectPort('vale-s:rx', { dir });
    const u32 = u32Of(rx);
    // nothing to receive: it returns after its timeout, with its flag down again
    let t0 = performance.now();
    let r = rx.pollSync({ events: 'in', timeout: 100 });
    assert.equal(r.in, false);
    assert.ok(performance.now() - t0 >= 95, 'it waited its timeout');
    const ring = rx.rxRings[0] as unknown as { hdrW: number };
    assert.equal(Atomics.load(u32, ring.hdrW + (RING_USLEEP >>> 2)), 0);
    // a generator in another process starts after this thread blocks: only the daemon's futex wake ends the
    // wait (it runs until killed: its exit would interrupt the wait with SIGCHLD)
    const wakes = Atomics.load(u32, IF_WAKE >>> 2);
    gen = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-s:tx', '-f', 'tx', '--dir', dir], {
      stdio: 'ignore',
    });
    t0 = performance.now();
    r = rx.pollSync({ events: 'in', timeout: 20000 });
    const waited = performance.now() - t0;
    assert.equal(r.in, true);
    assert.ok(waited < 15000, `woken after ${Math.round(waited)} ms, not by the timeout`);
    assert.ok(Atomics.load(u32, IF_WAKE >>> 2) !== wakes, 'the daemon bumped IF_WAKE');
    assert.ok(drain(rx).length > 0);
    gen.kill('SIGINT');
    await exited(gen, 20000);
    rx.close();
  } finally {
    gen?.kill('SIGKILL');
    daemon.kill('SIGKILL');
  }
});

test('pollSync for room: the daemon forwards a full TX ring and the sender gets its slots back', async () => {
  const dir = runDir('syncout');
  const daemon = await spawnDaemon(dir);
  try {
    const tx = await connectPort('vale-so:tx', { dir, txSlots: 64 });
    const rx = await connectPort('vale-so:rx', { dir });
    const f = frame(macN(2), macN(1), { len: 60 });
    let sent = 0;
    const t0 = performance.now();
    while (sent < 2000 && performance.now() - t0 < 20000) {
      const ring = tx.txRings[0] as (typeof tx.txRings)[number];
      const n = ring.space();
      if (n === 0) {
        ring.cur = ring.tail;
        tx.pollSync({ events: 'out', timeout: 5000 });
        ring.cur = ring.head;
        continue;
      }
      put(
        tx,
        Array.from({ length: n }, () => f),
      );
      tx.txsync();
      sent += n;
      drain(rx); // rxsync: room for the next batch (frames the RX ring could not take are dropped, as on VALE)
    }
    assert.ok(sent >= 2000, `sent ${sent} in ${Math.round(performance.now() - t0)} ms`);
    const ring = tx.txRings[0] as unknown as { hdrW: number };
    assert.notEqual(Atomics.load(u32Of(tx), ring.hdrW + (RING_USLEEP >>> 2)), USLEEP_FUTEX);
    tx.close();
    rx.close();
  } finally {
    daemon.kill('SIGKILL');
  }
});

test('before it sleeps, pollSync watches the published tails: a move ends the spin at once, none ends it after SPIN_MS', async () => {
  const dir = runDir('spin');
  const daemon = await spawnDaemon(dir);
  try {
    const p = await connectPort('vale-sp:a', { dir });
    const spin = (p as unknown as { spin(e: string, deadline: number): boolean }).spin.bind(p);
    const u32 = u32Of(p);
    const rx = p.rxRings[0] as unknown as { hdrW: number };
    // nothing moves: it gives up after about SPIN_MS
    let t0 = performance.now();
    assert.equal(spin('in', Number.POSITIVE_INFINITY), false);
    assert.ok(performance.now() - t0 >= SPIN_MS * 0.9, 'it watched for SPIN_MS');
    // never past the caller's deadline
    t0 = performance.now();
    assert.equal(spin('in', t0), false);
    // the daemon's RX tail moves (written here, as the daemon would publish a chunk): seen at once
    const w = rx.hdrW + (RING_HWTAIL >>> 2);
    const old = Atomics.load(u32, w);
    Atomics.store(u32, w, old + 1);
    assert.equal(spin('in', Number.POSITIVE_INFINITY), true);
    assert.equal(spin('out', Number.POSITIVE_INFINITY), false, "'out' watches the TX rings only");
    Atomics.store(u32, w, old);
    p.close();
  } finally {
    daemon.kill('SIGKILL');
  }
});

test('uvale.shm_tx_chunk: off by default; set, the daemon hands TX slots back in chunks, a full ring arrives whole', async () => {
  for (const chunk of [0, 256]) {
    const dir = runDir(`chunk${chunk}`);
    const extra = chunk === 0 ? [] : ['--sysctl', `uvale.shm_tx_chunk=${chunk}`];
    const daemon = await spawnDaemon(dir, extra);
    try {
      const tx = await connectPort('vale-ck:tx', { dir });
      const rx = await connectPort('vale-ck:rx', { dir });
      assert.equal((tx as unknown as { spinning: boolean }).spinning, chunk > 0, 'the open reply tells the client');
      // one whole ring of numbered frames to rx's (learned) MAC: all arrive, once, in order
      send(rx, [frame(BROADCAST, macN(2), { seq: 0 })]);
      const ring = tx.txRings[0] as (typeof tx.txRings)[number];
      const n = ring.numSlots - 1;
      put(
        tx,
        Array.from({ length: n }, (_, i) => frame(macN(2), macN(1), { seq: i })),
      );
      tx.txsync();
      const got: number[] = [];
      const t0 = performance.now();
      while (got.length < n && performance.now() - t0 < 10000) {
        rx.pollSync({ events: 'in', timeout: 50 });
        for (const f of drain(rx)) got.push(seqOf(f));
      }
      assert.deepEqual(
        got,
        Array.from({ length: n }, (_, i) => i),
      );
      tx.close();
      rx.close();
    } finally {
      daemon.kill('SIGKILL');
    }
  }
});
