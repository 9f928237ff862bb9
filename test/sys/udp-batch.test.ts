/*
 * Batched UDP (src/sys/udp-batch.ts): recvmmsg and sendmmsg through koffi,
 * checked against node:dgram on IPv4 and IPv6 loopback: lengths, bytes,
 * source addresses, per-message destinations, truncation, EAGAIN, readiness.
 */

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { isValeError } from '../../src/core/errors.js';
import { decodeSockaddrIn, EAGAIN, GRO_RX_SIZE, UdpBatch, watchReadable } from '../../src/sys/index.js';
import { until } from '../helpers/daemon.js';

const LO4 = new Uint8Array([127, 0, 0, 1]);
const LO6 = new Uint8Array(16);
LO6[15] = 1;

function open(addr: Uint8Array, extra: { rxSize?: number } = {}): UdpBatch {
  return UdpBatch.open({
    bind: { addr, port: 0 },
    rxCount: 8,
    rxSize: 2048,
    txFrames: 8,
    txSize: 2048,
    txMsgs: 16,
    ...extra,
  });
}

async function dgramSock(type: 'udp4' | 'udp6'): Promise<{ s: Socket; got: Array<{ msg: Buffer; port: number }> }> {
  const s = createSocket(type);
  const got: Array<{ msg: Buffer; port: number }> = [];
  s.on('message', (msg, r) => got.push({ msg, port: r.port }));
  await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  return { s, got };
}

for (const [fam, addr, type] of [
  [4, LO4, 'udp4'],
  [6, LO6, 'udp6'],
] as const) {
  test(`IPv${fam}: sendmmsg to several destinations, one buffer shared; recvmmsg with lengths and sources`, async () => {
    const a = open(addr);
    const b = open(addr);
    const peer = await dgramSock(type);
    try {
      assert.equal(a.family, fam);
      const bPort = b.localPort();
      const aPort = a.localPort();
      assert.ok(bPort > 0 && aPort > 0 && aPort !== bPort);
      a.setHeader(new Uint8Array([0xaa, 0xbb, 0xcc]));
      const toB = a.addDest({ addr, port: bPort });
      const toPeer = a.addDest({ addr, port: peer.s.address().port });
      // three frames; frame 1 goes to both destinations from one buffer
      const lens = [60, 1400, 1];
      for (let f = 0; f < 3; f++) for (let i = 0; i < lens[f]!; i++) a.txData[f * a.txStride + i] = (f * 7 + i) & 0xff;
      a.setMsg(0, 0, lens[0]!, toB);
      a.setMsg(1, 1, lens[1]!, toB);
      a.setMsg(2, 1, lens[1]!, toPeer);
      a.setMsg(3, 2, lens[2]!, toB);
      assert.equal(a.send(0, 4), 4);
      await until(() => peer.got.length === 1, 2000, 'the node:dgram peer');
      const pm = peer.got[0]!;
      assert.equal(pm.port, aPort, 'sent from the bound port');
      assert.deepEqual([...pm.msg.subarray(0, 3)], [0xaa, 0xbb, 0xcc]);
      assert.equal(pm.msg.length, 3 + 1400);
      for (let i = 0; i < 1400; i++) assert.equal(pm.msg[3 + i], (7 + i) & 0xff);
      // b: three datagrams, in order
      let n = 0;
      const lensGot: number[] = [];
      await until(
        () => {
          const r = b.recv(8);
          if (r > 0) {
            for (let i = 0; i < r; i++) {
              const len = b.rxLen(i);
              lensGot.push(len);
              const f = [60, 1400, 1].indexOf(len - 3);
              const off = i * b.rxStride;
              assert.deepEqual([...b.rxData.subarray(off, off + 3)], [0xaa, 0xbb, 0xcc]);
              for (let k = 0; k < len - 3; k++) assert.equal(b.rxData[off + 3 + k], (f * 7 + k) & 0xff);
              const src = decodeSockaddrIn(b.rxNames, i * 32);
              assert.ok(src !== null);
              assert.deepEqual([...src.addr], [...addr]);
              assert.equal(src.port, aPort);
              assert.equal(b.rxTruncated(i), false);
            }
            n += r;
          }
          return n >= 3;
        },
        2000,
        'three datagrams',
      );
      assert.deepEqual(lensGot, [63, 1403, 4]);
      assert.equal(b.recv(8), -EAGAIN, 'nothing more: -EAGAIN, no throw');
    } finally {
      a.close();
      b.close();
      a.close();
      peer.s.close();
    }
  });
}

test('a datagram longer than the buffer comes back truncated; readiness through watchReadable', async () => {
  const b = open(LO4, { rxSize: 256 });
  const peer = await dgramSock('udp4');
  let wakes = 0;
  const w = watchReadable(
    b.fd,
    () => {
      wakes++;
      b.recv(8);
    },
    () => {},
  );
  try {
    // recv after the wake consumed it; resend and read by hand
    peer.s.send(Buffer.alloc(100, 1), b.localPort(), '127.0.0.1');
    await until(() => wakes > 0, 2000, 'a readable wake-up');
    w.close();
    peer.s.send(Buffer.alloc(1000, 2), b.localPort(), '127.0.0.1');
    let r = -EAGAIN;
    await until(() => (r = b.recv(8)) > 0, 2000, 'the long datagram');
    assert.equal(r, 1);
    assert.equal(b.rxTruncated(0), true);
    assert.equal(b.rxLen(0), b.rxStride);
  } finally {
    w.close();
    b.close();
    peer.s.close();
  }
});

test('bad options and a second bind of one port are ValeErrors; no fd leaks', () => {
  const before = readdirSync('/proc/self/fd').length;
  const a = open(LO4);
  assert.throws(
    () =>
      UdpBatch.open({
        bind: { addr: LO4, port: a.localPort() },
        rxCount: 1,
        rxSize: 64,
        txFrames: 1,
        txSize: 64,
        txMsgs: 1,
      }),
    (e: unknown) => isValeError(e) && /EADDRINUSE/.test((e as Error).message),
  );
  assert.throws(
    () => a.addDest({ addr: LO6, port: 1 }),
    (e: unknown) => isValeError(e),
  );
  assert.throws(
    () => UdpBatch.open({ bind: { addr: LO4, port: 0 }, rxCount: 0, rxSize: 64, txFrames: 1, txSize: 64, txMsgs: 1 }),
    (e: unknown) => isValeError(e),
  );
  a.close();
  assert.equal(readdirSync('/proc/self/fd').length, before);
});

for (const [fam, addr, type] of [
  [4, LO4, 'udp4'],
  [6, LO6, 'udp6'],
] as const) {
  test(`IPv${fam}: GSO joins runs to one destination (a shorter datagram ends a run); GRO hands them back coalesced, bit-exact`, async () => {
    const opts = { bind: { addr, port: 0 }, rxCount: 8, txFrames: 128, txSize: 2048, txMsgs: 256 };
    const a = UdpBatch.open({ ...opts, rxSize: 2048, gso: true });
    const b = UdpBatch.open({ ...opts, rxSize: GRO_RX_SIZE, gro: true });
    const peer = await dgramSock(type);
    try {
      assert.equal(b.gro, true, 'this kernel takes UDP_GRO');
      a.setHeader(new Uint8Array([8, 0, 0, 0, 0, 0, 42, 0]));
      const toB = a.addDest({ addr, port: b.localPort() });
      const toPeer = a.addDest({ addr, port: peer.s.address().port });
      // 100 frames of 60 B to b, one of 50 (ends the run), 20 of 60 to b, 3 of 60 to the peer, 10 of 60 to b
      const plan: Array<[number, number]> = [];
      for (let i = 0; i < 100; i++) plan.push([60, toB]);
      plan.push([50, toB]);
      for (let i = 0; i < 20; i++) plan.push([60, toB]);
      for (let i = 0; i < 3; i++) plan.push([60, toPeer]);
      for (let i = 0; i < 4; i++) plan.push([60, toB]);
      plan.forEach(([len, dest], m) => {
        for (let i = 0; i < len; i++) a.txData[m * a.txStride + i] = (m * 13 + i) & 0xff;
        a.setMsg(m, m, len, dest);
      });
      assert.equal(a.send(0, plan.length), plan.length);
      assert.equal(a.gso, true, 'GSO stayed on');
      assert.ok(a.gsoMsgs >= 3, `runs were joined (${a.gsoMsgs} GSO messages, ${a.gsoSegs} datagrams)`);
      // b gets its 125 datagrams, in order, however the kernel coalesced them
      const want = plan.map(([len, dest], m) => ({ len, dest, m })).filter((x) => x.dest === toB);
      const got: Uint8Array[] = [];
      let coalesced = 0;
      await until(
        () => {
          const n = b.recv(8);
          for (let i = 0; i < n; i++) {
            const total = b.rxLen(i);
            const seg = b.rxSegSize(i) || total;
            if (seg < total) coalesced++;
            for (let at = 0; at < total; at += seg) {
              got.push(b.rxData.slice(i * b.rxStride + at, i * b.rxStride + Math.min(total, at + seg)));
            }
          }
          return got.length >= want.length;
        },
        3000,
        'the datagrams to b',
      );
      assert.equal(got.length, want.length);
      assert.ok(coalesced > 0, 'GRO coalesced some');
      want.forEach((w, k) => {
        const d = got[k] as Uint8Array;
        assert.equal(d.length, 8 + w.len, `datagram ${k}`);
        assert.deepEqual([...d.subarray(0, 8)], [8, 0, 0, 0, 0, 0, 42, 0]);
        for (let i = 0; i < w.len; i++) assert.equal(d[8 + i], (w.m * 13 + i) & 0xff, `datagram ${k} byte ${i}`);
      });
      await until(() => peer.got.length === 3, 3000, 'the peer');
      assert.deepEqual(
        peer.got.map((g) => g.msg.length),
        [68, 68, 68],
      );
    } finally {
      a.close();
      b.close();
      peer.s.close();
    }
  });
}
