import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { closeFd, createMemfd, futexWait, futexWake, mapShared } from '../../src/sys/index.js';

const SYS_URL = new URL('../../src/sys/index.js', import.meta.url).href;
const SIZE = 4096;
const SYS_FUTEX: Record<string, string> = { x64: '202', arm64: '98' };

/**
 * Wait until the thread or process behind `syscallFile` (/proc/.../syscall) sleeps in
 * FUTEX_WAIT (op 0: shared, as futexWait uses; glibc's own locks use private futexes).
 */
async function untilInSharedFutexWait(syscallFile: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [nr, , op] = readFileSync(syscallFile, 'utf8').trim().split(' ');
    if (nr === SYS_FUTEX[process.arch] && op === '0x0') return;
    assert.ok(Date.now() < deadline, `never reached FUTEX_WAIT (${syscallFile})`);
    await sleep(5);
  }
}

test('futex: a worker thread sleeping on a word is woken by the main thread', async (t) => {
  const fd = createMemfd('uvale-test-futex-worker', SIZE);
  const m = mapShared(fd, SIZE);
  const i32 = new Int32Array(m.buffer);
  // The worker maps the same memfd itself (fds belong to the process) and sleeps on word 0.
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then((sys) => {
      const m = sys.mapShared(workerData.fd, workerData.size);
      const tid = require('node:fs').readlinkSync('/proc/thread-self').split('/').pop();
      parentPort.postMessage({ ready: true, tid });
      const r = sys.futexWait(m, 0, 0, 5000);
      const at = process.hrtime.bigint();
      const word = new Int32Array(m.buffer)[0];
      m.unmap();
      parentPort.postMessage({ r, at, word });
    });
    `,
    { eval: true, workerData: { url: SYS_URL, fd, size: SIZE } },
  );
  try {
    const msgs: Array<{ ready?: boolean; tid?: string; r?: string; at?: bigint; word?: number }> = [];
    let notify: () => void = () => {};
    worker.on('message', (msg) => {
      msgs.push(msg);
      notify();
    });
    const next = async () => {
      while (msgs.length === 0) await new Promise<void>((resolve) => (notify = resolve));
      return msgs.shift()!;
    };
    const ready = await next();
    assert.equal(ready.ready, true);
    await untilInSharedFutexWait(`/proc/self/task/${ready.tid}/syscall`);
    const t0 = process.hrtime.bigint();
    Atomics.store(i32, 0, 1);
    const woken = futexWake(m, 0, 1);
    const done = await next();
    assert.equal(woken, 1, 'the worker was asleep on the word');
    assert.equal(done.r, 'woken');
    assert.equal(done.word, 1);
    const latencyUs = Number(done.at! - t0) / 1000;
    t.diagnostic(`main thread wake -> worker running again: ${latencyUs.toFixed(1)} µs`);
    assert.ok(latencyUs < 500_000, `woken within 500 ms (took ${latencyUs} µs)`);
  } finally {
    await worker.terminate();
    m.unmap();
    closeFd(fd);
  }
});

test('futex: mismatch returns at once, a 20 ms timeout returns timeout', () => {
  const fd = createMemfd('uvale-test-futex-timeout', SIZE);
  const m = mapShared(fd, SIZE);
  try {
    new Int32Array(m.buffer)[1] = 7;
    let t0 = process.hrtime.bigint();
    assert.equal(futexWait(m, 4, 8, 1000), 'mismatch');
    assert.ok(Number(process.hrtime.bigint() - t0) < 200e6, 'mismatch is immediate');
    t0 = process.hrtime.bigint();
    assert.equal(futexWait(m, 4, 7, 20), 'timeout');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms >= 19 && ms < 1000, `timed out after ${ms} ms`);
    assert.equal(futexWait(m, 4, 7, 0), 'timeout', 'timeout 0 only checks');
    assert.equal(futexWake(m, 4, 1), 0, 'nobody to wake');
  } finally {
    m.unmap();
    closeFd(fd);
  }
});

test('futex: cost of futexWake with no waiter', (t) => {
  const fd = createMemfd('uvale-test-futex-cost', SIZE);
  const m = mapShared(fd, SIZE);
  try {
    const N = 100_000;
    for (let i = 0; i < 10_000; i++) futexWake(m, 0, 1);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) futexWake(m, 0, 1);
    const ns = Number(process.hrtime.bigint() - t0) / N;
    t.diagnostic(`futexWake without waiter: ${ns.toFixed(0)} ns per call`);
    assert.ok(ns < 100_000);
  } finally {
    m.unmap();
    closeFd(fd);
  }
});

test('futex: cross-process wake and a ping-pong round trip', async (t) => {
  const fd = createMemfd('uvale-test-futex-xproc', SIZE);
  const m = mapShared(fd, SIZE);
  const i32 = new Int32Array(m.buffer);
  const ROUNDS = 2000;
  // Word 0: turn counter (parent makes it odd, child makes it even). Word 1: child ready.
  const child = `
    const sys = await import(${JSON.stringify(SYS_URL)});
    const [pid, fd, size, rounds] = process.argv.slice(1).map(Number);
    const ours = sys.openProcFd(pid, fd);
    sys.checkSealed(ours, size);
    const m = sys.mapShared(ours, size);
    sys.closeFd(ours);
    const w = new Int32Array(m.buffer);
    Atomics.store(w, 1, 1);
    sys.futexWake(m, 4, 1);
    // First: one plain wait for the parent's wake-up.
    let r = sys.futexWait(m, 0, 0, 5000);
    while (r === 'woken' && Atomics.load(w, 0) === 0) r = sys.futexWait(m, 0, 0, 5000);
    const first = r;
    for (let i = 0; i < rounds; i++) {
      const odd = 2 * i + 1;
      while (Atomics.load(w, 0) !== odd) {
        if (sys.futexWait(m, 0, 2 * i, 2000) === 'timeout') { console.log('child timeout ' + i); process.exit(1); }
      }
      Atomics.store(w, 0, odd + 1);
      sys.futexWake(m, 0, 1);
    }
    m.unmap();
    console.log(first);
  `;
  const proc = spawn(
    process.execPath,
    ['--input-type=module', '-e', child, `${process.pid}`, `${fd}`, `${SIZE}`, `${ROUNDS}`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  try {
    const deadline = Date.now() + 10_000;
    while (Atomics.load(i32, 1) !== 1) {
      assert.ok(Date.now() < deadline, 'child came up');
      await sleep(10);
    }
    await untilInSharedFutexWait(`/proc/${proc.pid}/syscall`);
    // Warm-up wake: the turn goes 0 -> 1 (odd: the child's move).
    const t0 = process.hrtime.bigint();
    Atomics.store(i32, 0, 1);
    const woken = futexWake(m, 0, 1);
    // Ping-pong: the parent waits for each even turn, then makes the next odd one.
    for (let i = 0; i < ROUNDS; i++) {
      const even = 2 * i + 2;
      while (Atomics.load(i32, 0) !== even) {
        assert.notEqual(futexWait(m, 0, 2 * i + 1, 2000), 'timeout', `round ${i}`);
      }
      if (i + 1 < ROUNDS) {
        Atomics.store(i32, 0, even + 1);
        futexWake(m, 0, 1);
      }
    }
    const us = Number(process.hrtime.bigint() - t0) / 1000 / ROUNDS;
    t.diagnostic(`cross-process futex round trip: ${us.toFixed(1)} µs (${ROUNDS} rounds, no spinning)`);
    assert.equal(await exited, 0);
    assert.equal(woken, 1, 'the child was asleep');
    assert.equal(out.trim(), 'woken');
  } finally {
    proc.kill();
    m.unmap();
    closeFd(fd);
  }
});
