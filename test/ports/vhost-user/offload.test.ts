/*
 * Offloads of the vhost-user port: a hand-made front-end that negotiates
 * CSUM and TSO sends a 60 KB TSO frame, which must reach a netmap port with
 * a 12-byte header whole and byte for byte, and a port without a header as
 * MSS segments whose checksums are right; a GSO frame from the header port
 * reaches the guest whole with its header. The header rules themselves
 * (./vnet-hdr.ts) are checked byte by byte, including the frames a guest
 * cannot take.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bit, Feature } from '../../../src/ports/vhost-user/protocol.js';
import type { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import {
  checkTxHeader,
  fitRxHeader,
  OFF_CSUM,
  OFF_GUEST_CSUM,
  OFF_GUEST_TSO4,
  OFF_HOST_TSO4,
} from '../../../src/ports/vhost-user/vnet-hdr.js';
import { eventfdSignal } from '../../../src/sys/index.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../../src/virtio/index.js';
import { putChain, receive, send, split } from '../../helpers/vale.js';
import { FE, inetSum, le, setDesc, tcpFrame, withGuest } from '../../helpers/vhost.js';

const R = FE.rings;
const RXBUF = 0x10000;
const RXBUF_LEN = 4096;
const TXBUF = 0x80000;
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

function vnetHdr(flags: number, gso: number, hdrLen: number, gsoSize: number, cs: number, co: number): Uint8Array {
  return le([2, flags | (gso << 8)], [2, hdrLen], [2, gsoSize], [2, cs], [2, co], [2, 0]);
}

test('vnet-hdr rules: what a guest sends is checked, what it receives is fitted to its offloads', () => {
  // TX: NEEDS_CSUM needs CSUM; TCPV4 GSO needs HOST_TSO4; UDP GSO and out-of-frame offsets never pass.
  const h = vnetHdr(1, 1, 54, 1448, 34, 16);
  h[10] = 9;
  assert.equal(checkTxHeader(h.slice(), OFF_CSUM, 1000), false, 'TSO without HOST_TSO4');
  assert.equal(checkTxHeader(h.slice(), OFF_HOST_TSO4, 1000), false, 'NEEDS_CSUM without CSUM');
  const ok = h.slice();
  assert.equal(checkTxHeader(ok, OFF_CSUM | OFF_HOST_TSO4, 1000), true);
  assert.deepEqual([...ok], [...vnetHdr(1, 1, 54, 1448, 34, 16)], 'num_buffers zeroed, the rest kept');
  assert.equal(checkTxHeader(vnetHdr(1, 0, 0, 0, 34, 16), OFF_CSUM, 51), false, 'checksum field past the end');
  assert.equal(checkTxHeader(vnetHdr(1, 0, 0, 0, 34, 16), OFF_CSUM, 52), true);
  assert.equal(checkTxHeader(vnetHdr(0, 3, 0, 1000, 0, 0), 0xff, 2000), false, 'UDP GSO');
  assert.equal(checkTxHeader(vnetHdr(0, 1, 0, 0, 0, 0), 0xff, 2000), false, 'gso_size 0');
  const dv = vnetHdr(2, 0, 0, 0, 0, 0);
  assert.equal(checkTxHeader(dv, 0, 100), true);
  assert.equal(dv[0], 0, 'DATA_VALID cleared on TX');

  // RX: a NEEDS_CSUM frame for a guest without GUEST_CSUM gets its checksum here.
  const f = tcpFrame(301, 77);
  const buf = new Uint8Array(12 + f.length);
  buf.set(vnetHdr(1, 0, 0, 0, 34, 16), 0);
  buf.set(f, 12);
  assert.equal(fitRxHeader(buf, buf.length, 0), true);
  assert.equal(buf[0], 0, 'nothing left to do');
  const out = buf.subarray(12);
  assert.equal(inetSum(out, 34, out.length, inetSum(out, 26, 34, 6 + 20 + 301)), 0xffff, 'TCP checksum valid');
  assert.deepEqual([...out.subarray(0, 50)], [...f.subarray(0, 50)], 'only the checksum changed');
  assert.deepEqual([...out.subarray(52)], [...f.subarray(52)]);
  // ... and the same frame for a guest with GUEST_CSUM keeps its header as it is.
  buf.set(vnetHdr(1, 0, 0, 0, 34, 16), 0);
  buf.set(f, 12);
  assert.equal(fitRxHeader(buf, buf.length, OFF_GUEST_CSUM), true);
  assert.deepEqual([...buf.subarray(0, 12)], [...vnetHdr(1, 0, 0, 0, 34, 16)]);
  assert.deepEqual([...buf.subarray(12)], [...f]);
  // GSO only for a guest with GUEST_TSO4; DATA_VALID only with GUEST_CSUM; offsets checked.
  buf.set(vnetHdr(1, 1, 54, 100, 34, 16), 0);
  assert.equal(fitRxHeader(buf, buf.length, OFF_GUEST_CSUM), false, 'GSO without GUEST_TSO4');
  assert.equal(fitRxHeader(buf, buf.length, OFF_GUEST_CSUM | OFF_GUEST_TSO4), true);
  buf.set(vnetHdr(1, 4, 54, 100, 34, 16), 0);
  assert.equal(fitRxHeader(buf, buf.length, OFF_GUEST_CSUM | OFF_GUEST_TSO4), false, 'TCPV6 without GUEST_TSO6');
  buf.set(vnetHdr(2, 0, 0, 0, 0, 0), 0);
  assert.equal(fitRxHeader(buf, buf.length, 0), true);
  assert.equal(buf[0], 0, 'DATA_VALID hidden from a guest without GUEST_CSUM');
  buf.set(vnetHdr(1, 0, 0, 0, 0xfff0, 16), 0);
  assert.equal(fitRxHeader(buf, buf.length, OFF_GUEST_CSUM), false, 'csum_start outside the frame');
});

test('a guest with TSO: a 60 KB frame crosses whole to a header port and in MSS segments to a plain one', {
  timeout: 20_000,
}, async () => {
  const features =
    bit(Feature.F_VERSION_1) |
    bit(Feature.NET_F_MRG_RXBUF) |
    bit(Feature.NET_F_CSUM) |
    bit(Feature.NET_F_GUEST_CSUM) |
    bit(Feature.NET_F_HOST_TSO4) |
    bit(Feature.NET_F_GUEST_TSO4);
  const before = (port: VhostUserPort) =>
    assert.equal(port.info().extra?.vnetHdrLen, 0, 'no header before a front-end asks for offloads');
  await withGuest('vof', { handshake: { features }, before }, async ({ port, logs, mem, dv, fe, open }) => {
    const n0 = open('n0');
    const n12 = open('n12', { vnetHdrLen: 12 });
    assert.equal(port.info().extra?.vnetHdrLen, 12, 'offloads negotiated: the port carries the header');

    // guest → switch: one TSO frame, header in its own descriptor, the frame in two.
    const PAY = 60_000;
    const MSS = 1448;
    const big = tcpFrame(PAY, 1_000_000);
    const hdr = vnetHdr(1, 1, 54, MSS, 34, 16);
    mem.set(hdr, TXBUF);
    mem.set(big, TXBUF + 0x100);
    setDesc(dv, 1, 0, TXBUF, 12, VIRTQ_DESC_F_NEXT, 1);
    setDesc(dv, 1, 1, TXBUF + 0x100, 30_000, VIRTQ_DESC_F_NEXT, 2);
    setDesc(dv, 1, 2, TXBUF + 0x100 + 30_000, big.length - 30_000, 0, 0);
    dv.setUint16(R[1]!.avail + 4, 0, true);
    dv.setUint16(R[1]!.avail + 2, 1, true);
    eventfdSignal(fe.kicks[1]!);
    const whole = await receive(n12, 1, 2000);
    assert.equal(whole.length, 1, `one frame to the header port; logs: ${logs.join(' | ')}`);
    assert.deepEqual(Buffer.from(whole[0]!), Buffer.concat([hdr, big]), 'header and frame, byte for byte');
    const nseg = Math.ceil(PAY / MSS);
    const segs = await receive(n0, nseg, 2000);
    assert.equal(segs.length, nseg, 'segmented by the switch for the plain port');
    let payload = Buffer.alloc(0);
    segs.forEach((s, k) => {
      const plen = k === nseg - 1 ? PAY - k * MSS : MSS;
      assert.equal(s.length, 54 + plen);
      assert.deepEqual([...s.subarray(0, 14)], [...big.subarray(0, 14)], 'Ethernet header');
      assert.equal((s[16]! << 8) | s[17]!, 40 + plen, 'IP total length');
      assert.equal((s[18]! << 8) | s[19]!, (0x1234 + k) & 0xffff, 'IP ID');
      assert.equal(inetSum(s, 14, 34), 0xffff, 'IP header checksum');
      const seq = ((s[38]! << 24) | (s[39]! << 16) | (s[40]! << 8) | s[41]!) >>> 0;
      assert.equal(seq, 1_000_000 + k * MSS, 'TCP sequence');
      assert.equal(s[47], k === nseg - 1 ? 0x18 : 0x10, 'PSH on the last segment only');
      assert.equal(inetSum(s, 34, s.length, inetSum(s, 26, 34, 6 + 20 + plen)), 0xffff, 'TCP checksum');
      payload = Buffer.concat([payload, s.subarray(54)]);
    });
    assert.deepEqual(payload, Buffer.from(big.subarray(54)), 'the payload, byte for byte');
    const ci = port.info().counters;
    assert.deepEqual([ci.inFrames, ci.inBytes], [1, big.length]);

    // switch → guest: a GSO frame from the header port reaches the guest whole, header kept, num_buffers set.
    for (let i = 0; i < 32; i++) {
      setDesc(dv, 0, i, RXBUF + RXBUF_LEN * i, RXBUF_LEN, VIRTQ_DESC_F_WRITE, 0);
      dv.setUint16(R[0]!.avail + 4 + 2 * i, i, true);
    }
    dv.setUint16(R[0]!.avail + 2, 32, true);
    eventfdSignal(fe.kicks[0]!);
    await tick();
    const back = tcpFrame(20_000, 5);
    back.set([2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xc], 0); // to the guest's MAC (learned from its TSO frame)
    const bhdr = vnetHdr(1, 1, 54, 1000, 34, 16);
    putChain(n12, split(Buffer.concat([bhdr, back]), 2048));
    n12.txsync();
    await tick(50);
    const total = 12 + back.length;
    const nbuf = Math.ceil(total / RXBUF_LEN);
    assert.equal(dv.getUint16(R[0]!.used + 2, true), nbuf, `used entries (logs: ${logs.join(' | ')})`);
    const got = Buffer.from(mem.subarray(RXBUF, RXBUF + total));
    const want = Buffer.concat([bhdr, back]);
    want[10] = nbuf;
    assert.deepEqual(got, want, 'header (num_buffers set) and frame, byte for byte');
    // A plain frame from the port without a header reaches the guest with a zero header.
    send(n0, [back.subarray(0, 200)]);
    await tick(50);
    assert.equal(dv.getUint16(R[0]!.used + 2, true), nbuf + 1);
    const at = RXBUF + RXBUF_LEN * nbuf;
    assert.deepEqual([...mem.subarray(at, at + 12)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    assert.equal(port.info().extra?.offloadDrops, 0);
  });
});

test('a guest without GUEST_TSO4 gets a TSO frame as checked segments, cut by the port', {
  timeout: 20_000,
}, async () => {
  // checksums and TSO towards the switch, checksums only from it: no GUEST_TSO4
  const features =
    bit(Feature.F_VERSION_1) |
    bit(Feature.NET_F_MRG_RXBUF) |
    bit(Feature.NET_F_CSUM) |
    bit(Feature.NET_F_GUEST_CSUM) |
    bit(Feature.NET_F_HOST_TSO4);
  await withGuest('vsg', { handshake: { features } }, async ({ port, logs, mem, dv, fe, open }) => {
    const n12 = open('n12', { vnetHdrLen: 12 });
    assert.equal(port.info().extra?.vnetHdrLen, 12, logs.join('\n'));
    for (let i = 0; i < 64; i++) {
      setDesc(dv, 0, i, RXBUF + RXBUF_LEN * i, RXBUF_LEN, VIRTQ_DESC_F_WRITE, 0);
      dv.setUint16(R[0]!.avail + 4 + 2 * i, i, true);
    }
    dv.setUint16(R[0]!.avail + 2, 64, true);
    eventfdSignal(fe.kicks[0]!);
    await tick();
    const PAY = 20_000;
    const MSS = 1000;
    const big = tcpFrame(PAY, 7_000);
    big.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0); // flooded to the guest
    putChain(n12, split(Buffer.concat([vnetHdr(1, 1, 54, MSS, 34, 16), big]), 2048));
    n12.txsync();
    const nseg = PAY / MSS;
    for (let i = 0; i < 100 && dv.getUint16(R[0]!.used + 2, true) < nseg; i++) await tick(20);
    assert.equal(dv.getUint16(R[0]!.used + 2, true), nseg, `used entries (logs: ${logs.join(' | ')})`);
    let payload = Buffer.alloc(0);
    for (let k = 0; k < nseg; k++) {
      const id = dv.getUint32(R[0]!.used + 4 + 8 * k, true);
      const len = dv.getUint32(R[0]!.used + 8 + 8 * k, true);
      const at = RXBUF + RXBUF_LEN * id;
      assert.deepEqual([...mem.subarray(at, at + 12)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], 'a plain frame');
      const s = mem.subarray(at + 12, at + len);
      assert.equal(s.length, 54 + MSS);
      assert.equal(inetSum(s, 14, 34), 0xffff, 'IP header checksum');
      assert.equal(((s[38]! << 24) | (s[39]! << 16) | (s[40]! << 8) | s[41]!) >>> 0, 7_000 + k * MSS, 'TCP sequence');
      assert.equal(inetSum(s, 34, s.length, inetSum(s, 26, 34, 6 + 20 + MSS)), 0xffff, 'TCP checksum');
      payload = Buffer.concat([payload, s.subarray(54)]);
    }
    assert.deepEqual(payload, Buffer.from(big.subarray(54)), 'the payload, byte for byte');
    const info = port.info();
    assert.deepEqual([info.extra?.gsoFrames, info.extra?.gsoSegments, info.extra?.offloadDrops], [1, nseg, 0]);
    assert.deepEqual([info.counters.outFrames, info.counters.outBytes], [1, big.length]);
  });
});
