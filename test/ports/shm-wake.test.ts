/*
 * When the daemon wakes a sleeping receiver (src/ports/shm/shm-server.ts): a
 * forwarding pass that leaves fewer than a quarter of the receiver's RX slots
 * waiting puts the wake-up off to the end of the current callback (a
 * microtask), so several passes in one callback wake it once; a fuller ring,
 * or an RX head out of range, wakes it at once; and a lone frame is never
 * left behind: its wake-up comes before anything else the event loop runs.
 *
 * The server side runs in this process over a memfd made here (as a client
 * would make it); the "client" only raises its sleep flag and syncs its head
 * in the shared memory, so IF_WAKE (bumped before every FUTEX_WAKE) and the
 * WAKE messages count the wake-ups without anyone blocking.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../src/index.js';
import { flushDeferredWakes, ShmPortServer } from '../../src/ports/shm/shm-server.js';
import {
  DEFAULT_RING_CONFIG,
  IF_WAKE,
  RING_SYNC_HEAD,
  RING_USLEEP,
  regionGeometry,
  USLEEP_FUTEX,
  USLEEP_MSG,
} from '../../src/ring/layout.js';
import { closeFd, createMemfd } from '../../src/sys/index.js';
import { frame, put } from '../helpers/vale.js';

function setup(tag: string) {
  const host = new ValeHost();
  const size = regionGeometry(DEFAULT_RING_CONFIG).size;
  const fd = createMemfd(`shm-wake-${tag}`, size);
  let msgs = 0;
  const server = ShmPortServer.open(
    host,
    `vale-${tag}:rx`,
    DEFAULT_RING_CONFIG,
    1,
    { wake: () => msgs++ },
    { pid: process.pid, fd },
    () => {},
  );
  closeFd(fd); // the server holds its own reference
  const tx = openPort(`vale-${tag}:tx`, { host });
  const u32 = server.vp.region.arena.u32;
  const base = server.vp.region.base;
  const kr = server.vp.rx[0]!;
  const usleepW = kr.hdrW + (RING_USLEEP >>> 2);
  return {
    server,
    tx,
    wakes: () => Atomics.load(u32, (base + IF_WAKE) >>> 2),
    msgs: () => msgs,
    /** The client goes to sleep having released every frame so far (its synced head = the switch's hwtail). */
    sleep: (how: number) => {
      Atomics.store(u32, kr.hdrW + (RING_SYNC_HEAD >>> 2), kr.hwtail);
      Atomics.store(u32, usleepW, how);
    },
    setSyncHead: (h: number) => Atomics.store(u32, kr.hdrW + (RING_SYNC_HEAD >>> 2), h),
    sleeping: () => Atomics.load(u32, usleepW),
    /** One forwarding pass of `n` frames from tx to rx (broadcast: rx has learnt nothing). */
    send: (n: number) => {
      const frames = Array.from({ length: n }, (_, i) =>
        frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a', { len: 60, seq: i }),
      );
      put(tx, frames);
      tx.txsync();
    },
    close: () => {
      tx.close();
      server.close(host);
    },
  };
}

test('a lone frame: the wake-up waits for the end of the callback, then comes before anything else', async () => {
  const s = setup('shw1');
  try {
    s.sleep(USLEEP_FUTEX);
    const w0 = s.wakes();
    s.send(1);
    assert.equal(s.wakes(), w0, 'not woken inside the pass');
    assert.equal(s.sleeping(), USLEEP_FUTEX, 'still flagged asleep');
    await Promise.resolve(); // the server's microtask was queued first: it has run
    assert.equal(s.wakes(), w0 + 1, 'woken once at the end of the callback');
    assert.equal(s.sleeping(), 0, 'its flag cleared');
    assert.equal(s.server.deferredWakes, 1);
    // the daemon's scheduler does not wait for the end of its round: it flushes after each client's pass
    s.sleep(USLEEP_FUTEX);
    s.send(1);
    assert.equal(s.wakes(), w0 + 1);
    flushDeferredWakes();
    assert.equal(s.wakes(), w0 + 2, 'woken by the flush');
    await Promise.resolve();
    assert.equal(s.wakes(), w0 + 2, 'and only once');
  } finally {
    s.close();
  }
});

test('several passes in one callback wake a sleeping receiver once', async () => {
  const s = setup('shw2');
  try {
    s.sleep(USLEEP_FUTEX);
    const w0 = s.wakes();
    for (let i = 0; i < 5; i++) s.send(10);
    assert.equal(s.wakes(), w0);
    await Promise.resolve();
    assert.equal(s.wakes(), w0 + 1, 'one wake-up for 5 passes');
    // asleep again with the ring released: the same with a WAKE message
    s.sleep(USLEEP_MSG);
    for (let i = 0; i < 3; i++) s.send(10);
    assert.equal(s.msgs(), 0);
    await Promise.resolve();
    assert.equal(s.msgs(), 1, 'one WAKE message for 3 passes');
    assert.equal(s.wakes(), w0 + 1, 'and no futex wake for it');
  } finally {
    s.close();
  }
});

test('a quarter of the ring waiting, or a head out of range, wakes at once', async () => {
  const s = setup('shw3');
  try {
    const quarter = DEFAULT_RING_CONFIG.rxSlots / 4;
    s.sleep(USLEEP_FUTEX);
    const w0 = s.wakes();
    s.send(quarter - 1);
    assert.equal(s.wakes(), w0, 'one short of a quarter: put off');
    s.send(1);
    assert.equal(s.wakes(), w0 + 1, 'a quarter waiting: woken inside the pass');
    await Promise.resolve();
    assert.equal(s.wakes(), w0 + 1, 'and not again at the end of the callback');
    s.sleep(USLEEP_FUTEX);
    s.setSyncHead(0xffff_ffff); // whatever the client wrote: out of range counts as a full ring
    s.send(1);
    assert.equal(s.wakes(), w0 + 2, 'woken at once');
  } finally {
    s.close();
  }
});
