/*
 * io_uring on the real kernel (src/sys/uring.ts): plain reads and writes on an
 * eventfd, a multishot read into provided buffers on a unix stream socket,
 * the eventfd the kernel rings per batch, CQ overflow, and the refusals.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isValeError } from '../../src/core/errors.js';
import {
  addressOf,
  BufRing,
  closeFd,
  createEventfd,
  eventfdDrain,
  eventfdSignal,
  IORING_CQE_F_BUFFER,
  IORING_CQE_F_MORE,
  IORING_OP_NOP,
  IORING_OP_READ,
  IORING_OP_READ_MULTISHOT,
  IORING_OP_WRITE,
  IoUring,
  mapAnonymous,
  streamAccept,
  streamConnect,
  streamListen,
  streamSend,
} from '../../src/sys/index.js';

const openFds = () => readdirSync('/proc/self/fd').length;

/** Reaps every ready CQE as [user_data, res, flags]. */
function reap(r: IoUring): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  while (r.peek()) {
    out.push([r.cqeData, r.cqeRes, r.cqeFlags]);
    r.advance();
  }
  return out;
}

test('setup maps the rings; a write then a read on an eventfd complete with their user_data and lengths', () => {
  const before = openFds();
  const r = IoUring.setup({ sqEntries: 4, cqEntries: 16 });
  const efd = createEventfd();
  try {
    assert.equal(r.sqEntries, 4);
    assert.equal(r.cqEntries, 16);
    assert.equal(r.sqArray.length, 4);
    assert.equal(r.ready(), 0);
    const src = new Uint8Array(64);
    new BigUint64Array(src.buffer, 0, 1)[0] = 5n;
    const dst = new Uint8Array(64);
    let i = r.getSqe();
    r.prep(i, IORING_OP_WRITE, efd, addressOf(src), 8, 0, 101);
    assert.equal(r.submit(1), 1);
    i = r.getSqe();
    r.prep(i, IORING_OP_READ, efd, addressOf(dst), 8, 0, 102);
    assert.equal(r.submit(1), 1);
    assert.deepEqual(reap(r), [
      [101, 8, 0],
      [102, 8, 0],
    ]);
    assert.equal(new BigUint64Array(dst.buffer, 0, 1)[0], 5n);
    assert.equal(r.bad, 0);
  } finally {
    r.close();
    r.close();
    closeFd(efd);
  }
  assert.equal(openFds(), before, 'no fd left behind');
});

test('the SQ refuses a fifth SQE until submitted; the registered eventfd is rung once CQEs are posted', () => {
  const r = IoUring.setup({ sqEntries: 4 });
  const efd = createEventfd();
  try {
    r.registerEventfd(efd);
    assert.equal(eventfdDrain(efd), 0);
    for (let k = 0; k < 4; k++) r.prep(r.getSqe(), IORING_OP_NOP, -1, 0, 0, 0, k + 1);
    assert.equal(r.getSqe(), -1, 'SQ full');
    assert.equal(r.pending, 4);
    assert.equal(r.submit(4), 4);
    assert.equal(r.pending, 0);
    assert.ok(eventfdDrain(efd) >= 1, 'eventfd rung');
    assert.deepEqual(
      reap(r).map((c) => c[0]),
      [1, 2, 3, 4],
    );
    assert.ok(r.getSqe() >= 0);
  } finally {
    r.close();
    closeFd(efd);
  }
});

test('CQ overflow: completions beyond the CQ wait in the kernel and come back after flushOverflow', () => {
  const r = IoUring.setup({ sqEntries: 8, cqEntries: 8 });
  try {
    let sent = 0;
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 8; k++) r.prep(r.getSqe(), IORING_OP_NOP, -1, 0, 0, 0, ++sent);
      assert.equal(r.submit(0), 8);
    }
    assert.equal(r.ready(), 8, 'the CQ holds 8');
    assert.ok(r.overflowed, 'the kernel says it kept the rest');
    const got: number[] = [];
    for (let pass = 0; pass < 10 && got.length < sent; pass++) {
      for (const c of reap(r)) got.push(c[0]);
      if (r.overflowed) assert.ok(r.flushOverflow() >= 0);
    }
    assert.deepEqual(
      got,
      Array.from({ length: sent }, (_, k) => k + 1),
      'every completion, in order, none lost',
    );
    assert.ok(!r.overflowed);
  } finally {
    r.close();
  }
});

test('multishot read: one SQE, one CQE per chunk into provided buffers, bit-exact; ENOBUFS ends it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ur-sys-'));
  const lfd = streamListen(join(dir, 's'), 0o600);
  const cfd = streamConnect(join(dir, 's'));
  const sfd = streamAccept(lfd);
  const r = IoUring.setup({ sqEntries: 4, cqEntries: 16 });
  const mem = mapAnonymous(4 * 256);
  const ring = new BufRing(4, 7);
  try {
    r.registerBufRing(ring);
    for (let b = 0; b < 4; b++) ring.add(mem.addr + b * 256, 256, b, b);
    ring.publish(4);
    const i = r.getSqe();
    r.prep(i, IORING_OP_READ_MULTISHOT, sfd, 0, 0, 0, 9);
    r.selectBuffer(i, 7);
    assert.equal(r.submit(0), 1);
    const first = reap(r);
    if (first.length === 1 && first[0]?.[1] === -22) {
      t.skip('this kernel has no IORING_OP_READ_MULTISHOT');
      return;
    }
    assert.deepEqual(first, [], 'nothing to read yet: armed, no CQE');
    const frames: Uint8Array[] = [];
    for (let k = 0; k < 5; k++) {
      const f = new Uint8Array(100 + k).map((_, j) => (j * 7 + k) & 0xff);
      frames.push(f);
      assert.equal(streamSend(cfd, f, f.length), f.length);
      // one chunk at a time: let the kernel read it before the next send
      for (let spin = 0; spin < 1000 && r.ready() <= k; spin++) r.flushOverflow();
    }
    const cqes = reap(r);
    assert.equal(cqes.length, 5, JSON.stringify(cqes));
    for (let k = 0; k < 4; k++) {
      const [data, res, flags] = cqes[k] as [number, number, number];
      assert.equal(data, 9);
      assert.equal(res, 100 + k);
      assert.ok(flags & IORING_CQE_F_BUFFER);
      assert.ok(flags & IORING_CQE_F_MORE);
      const bid = flags >>> 16;
      assert.deepEqual(mem.bytes.subarray(bid * 256, bid * 256 + res), frames[k]);
    }
    const last = cqes[4] as [number, number, number];
    assert.equal(last[1], -105, 'ENOBUFS: out of provided buffers');
    assert.equal(last[2] & IORING_CQE_F_MORE, 0, 'the multishot read ended');
  } finally {
    r.close();
    ring.unmap();
    mem.unmap();
    closeFd(sfd);
    closeFd(cfd);
    closeFd(lfd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refusals: bad sizes are SYSTEM EINVAL from the kernel or INVALID_ARG before it; a bad buffer ring', () => {
  for (const sqEntries of [0, 1 << 20]) {
    assert.throws(
      () => IoUring.setup({ sqEntries }),
      (e: unknown) => isValeError(e) && e.code === 'VALE_ERR_SYSTEM' && /io_uring_setup: EINVAL/.test(e.message),
    );
  }
  assert.throws(
    () => IoUring.setup({ sqEntries: 1.5 }),
    (e: unknown) => isValeError(e) && e.code === 'VALE_ERR_INVALID_ARG',
  );
  assert.throws(
    () => new BufRing(3, 0),
    (e: unknown) => isValeError(e) && e.code === 'VALE_ERR_INVALID_ARG',
  );
  const r = IoUring.setup({ sqEntries: 2 });
  const efd = createEventfd();
  try {
    const ring = new BufRing(2, 1);
    r.registerBufRing(ring);
    assert.throws(() => r.registerBufRing(ring), /PBUF_RING\): EEXIST/, 'the same group twice');
    ring.unmap();
    assert.equal(eventfdSignal(efd), 8);
    assert.equal(eventfdDrain(efd), 1);
    assert.equal(eventfdDrain(efd), 0);
  } finally {
    r.close();
    closeFd(efd);
  }
});
