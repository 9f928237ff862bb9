/*
 * Unix stream sockets with SCM_RIGHTS, eventfds and fd-range mappings: the
 * system calls a vhost-user back-end needs, exercised end to end in one
 * process (a listener, a dialer, fds passed across, memory shared through
 * them, doorbells rung and watched from the event loop).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isValeError } from '../../src/core/errors.js';
import {
  closeFd,
  createEventfd,
  createMemfd,
  EAGAIN,
  eventfdDrain,
  eventfdSignal,
  mapFdRange,
  streamAccept,
  streamConnect,
  streamListen,
  streamRecv,
  streamSend,
  streamSendFds,
  watchReadable,
} from '../../src/sys/index.js';

const openFds = () => readdirSync('/proc/self/fd').length;

function pair() {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-us-'));
  const path = join(dir, 's.sock');
  const lfd = streamListen(path, 0o600);
  const cfd = streamConnect(path);
  const sfd = streamAccept(lfd);
  assert.ok(sfd >= 0, `accept ${sfd}`);
  return {
    path,
    lfd,
    cfd,
    sfd,
    close() {
      closeFd(cfd);
      closeFd(sfd);
      closeFd(lfd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('listen sets the mode, accept gives -EAGAIN when nobody waits, bytes cross both ways', () => {
  const p = pair();
  try {
    assert.equal(statSync(p.path).mode & 0o777, 0o600);
    assert.equal(streamAccept(p.lfd), -EAGAIN);
    const buf = new Uint8Array(64);
    const fds = new Int32Array(5);
    assert.equal(streamRecv(p.sfd, buf, 64, fds), -EAGAIN);
    assert.equal(streamSend(p.cfd, Buffer.from('hello'), 5), 5);
    assert.equal(streamRecv(p.sfd, buf, 64, fds), 5);
    assert.equal(fds[0], 0);
    assert.equal(Buffer.from(buf.subarray(0, 5)).toString(), 'hello');
    assert.equal(streamSend(p.sfd, Buffer.from('ok'), 2), 2);
    assert.equal(streamRecv(p.cfd, buf, 64, fds), 2);
    closeFd(p.cfd);
    assert.equal(streamRecv(p.sfd, buf, 64, fds), 0, 'peer closed');
  } finally {
    p.close();
  }
});

test('fds cross with SCM_RIGHTS: shared memory at an offset and an eventfd', () => {
  const p = pair();
  const mem = createMemfd('uvale-test-guest', 3 * 4096 + 100, { seals: 0 });
  const ev = createEventfd();
  try {
    const msg = Buffer.from([1, 2, 3, 4]);
    assert.equal(streamSendFds(p.cfd, msg, 4, [mem, ev]), 4);
    const buf = new Uint8Array(16);
    const fds = new Int32Array(9);
    assert.equal(streamRecv(p.sfd, buf, 16, fds), 4);
    assert.deepEqual([...buf.subarray(0, 4)], [1, 2, 3, 4]);
    assert.equal(fds[0], 2);
    const [gm, ge] = [fds[1]!, fds[2]!];
    assert.notEqual(gm, mem);
    // Two views of the same memory: ours at offset 0, the received fd's at offset 4096 + 10 (not page-aligned).
    const whole = mapFdRange(mem, 3 * 4096 + 100, 0);
    const part = mapFdRange(gm, 2 * 4096, 4096 + 10);
    whole.bytes[4096 + 10] = 0x5a;
    whole.bytes[4096 + 10 + 2 * 4096 - 1] = 0xa5;
    assert.equal(part.bytes.length, 2 * 4096);
    assert.equal(part.bytes[0], 0x5a);
    assert.equal(part.bytes[2 * 4096 - 1], 0xa5);
    part.unmap();
    part.unmap();
    whole.unmap();
    assert.throws(() => mapFdRange(gm, 4096, 3 * 4096), isValeError, 'past the end of the file');
    // The received eventfd rings ours.
    assert.equal(eventfdDrain(ev), 0);
    assert.equal(eventfdSignal(ge), 8);
    assert.equal(eventfdSignal(ge), 8);
    assert.equal(eventfdDrain(ev), 2);
    assert.equal(eventfdDrain(ev), 0);
    closeFd(gm);
    closeFd(ge);
  } finally {
    closeFd(mem);
    closeFd(ev);
    p.close();
  }
});

test('more fds than room: -EMSGSIZE and every received fd closed', () => {
  const p = pair();
  const evs = [createEventfd(), createEventfd(), createEventfd()];
  try {
    const before = openFds();
    assert.equal(streamSendFds(p.cfd, Buffer.from([9]), 1, evs), 1);
    const fds = new Int32Array(3); // room for 2
    assert.equal(streamRecv(p.sfd, new Uint8Array(4), 4, fds), -90);
    assert.equal(fds[0], 0);
    assert.equal(openFds(), before, 'no fd leaked');
  } finally {
    for (const e of evs) closeFd(e);
    p.close();
  }
});

test('an eventfd wakes watchReadable from the event loop', async () => {
  const ev = createEventfd();
  try {
    let got = 0;
    const done = new Promise<void>((resolve, reject) => {
      const w = watchReadable(
        ev,
        () => {
          got += eventfdDrain(ev);
          w.close();
          resolve();
        },
        (s) => reject(new Error(`poll error ${s}`)),
      );
    });
    setTimeout(() => eventfdSignal(ev), 5);
    const t = setTimeout(() => {}, 2000);
    await done;
    clearTimeout(t);
    assert.equal(got, 1);
  } finally {
    closeFd(ev);
  }
});

test('connect to a missing path or a plain file fails without leaking', () => {
  const before = openFds();
  assert.throws(() => streamConnect('/nonexistent/uvale.sock'), /ENOENT/);
  const dir = mkdtempSync(join(tmpdir(), 'uvale-us-'));
  try {
    const f = join(dir, 'f');
    writeFileSync(f, 'x');
    assert.throws(() => streamConnect(f), /ECONNREFUSED/);
    assert.throws(() => streamListen(f), /EADDRINUSE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(openFds(), before);
});
