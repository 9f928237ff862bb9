/*
 * The vhost-user port against a front-end written here, byte by byte, so
 * the paths testpmd does not take are exercised: VIRTIO_RING_F_EVENT_IDX,
 * mergeable RX buffers smaller than a frame (num_buffers in the header), and
 * a TX frame of 3000 bytes in three descriptors that becomes an NS_MOREFRAG
 * chain on the switch.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../../src/index.js';
import { bit, encodeRequest, Feature, ProtocolFeature, Req } from '../../../src/ports/vhost-user/protocol.js';
import { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import {
  closeFd,
  createMemfd,
  eventfdDrain,
  eventfdSignal,
  mapFdRange,
  streamConnect,
  streamRecv,
  streamSend,
  streamSendFds,
} from '../../../src/sys/index.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../../src/virtio/index.js';
import { frame, receive, send } from '../../helpers/vale.js';
import { FE, le, MB, setDesc, withGuest } from '../../helpers/vhost.js';

const { uva: UVA, num: NUM, rings: R } = FE;
const RXBUF = 0x10000;
const RXBUF_LEN = 256;
const TXBUF = 0x40000;
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

test('a hand-made front-end: EVENT_IDX, mergeable RX into 256-byte buffers, a 3000-byte TX chain', {
  timeout: 20_000,
}, async () => {
  const features =
    bit(Feature.F_VERSION_1) |
    bit(Feature.NET_F_MRG_RXBUF) |
    bit(Feature.RING_F_EVENT_IDX) |
    bit(Feature.USER_F_PROTOCOL_FEATURES);
  const handshake = { features, protocolFeatures: bit(ProtocolFeature.REPLY_ACK), enable: true };
  await withGuest('vfe', { handshake }, async ({ port, logs, mem, dv, fe, open }) => {
    const np = open('np');
    const { conn: c, kicks, calls } = fe;
    assert.equal(port.connected, true, logs.join('\n'));
    assert.equal(port.info().extra?.queueSizes, '64,64', logs.join('\n'));
    // RX: 64 buffers of 256 bytes; ask for an interrupt at every used entry (used_event = 0).
    for (let i = 0; i < NUM; i++) {
      setDesc(dv, 0, i, RXBUF + RXBUF_LEN * i, RXBUF_LEN, VIRTQ_DESC_F_WRITE, 0);
      dv.setUint16(R[0]!.avail + 4 + 2 * i, i, true);
    }
    dv.setUint16(R[0]!.avail + 4 + 2 * NUM, 0, true);
    dv.setUint16(R[0]!.avail + 2, NUM, true);
    eventfdSignal(kicks[0]!);
    await tick();
    const f = frame('02:00:00:00:00:0a', '02:00:00:00:00:0b', { len: 1514, seq: 7 });
    send(np, [f]); // unknown destination: flooded to the vhost-user port
    await tick(50);
    const usedIdx = dv.getUint16(R[0]!.used + 2, true);
    const nbuf = Math.ceil((12 + 1514) / RXBUF_LEN);
    assert.equal(usedIdx, nbuf, `used entries for one frame (logs: ${logs.join(' | ')})`);
    let got = new Uint8Array(0);
    for (let k = 0; k < nbuf; k++) {
      const id = dv.getUint32(R[0]!.used + 4 + 8 * k, true);
      const len = dv.getUint32(R[0]!.used + 8 + 8 * k, true);
      assert.equal(id, k);
      got = Buffer.concat([got, mem.subarray(RXBUF + RXBUF_LEN * id, RXBUF + RXBUF_LEN * id + len)]);
    }
    assert.equal(dv.getUint16(RXBUF + 10, true), nbuf, 'num_buffers');
    assert.deepEqual([...got.subarray(0, 10)], new Array(10).fill(0), 'a zeroed virtio-net header');
    assert.deepEqual(Buffer.from(got.subarray(12)), Buffer.from(f), 'the frame, byte for byte');
    assert.ok(eventfdDrain(calls[0]!) >= 1, 'called (used_event 0 was crossed)');
    assert.equal(dv.getUint16(R[0]!.used + 4 + 8 * NUM, true) <= NUM, true);
    // TX: a 3000-byte frame in three descriptors (header, 1000, 2000), kicked.
    const big = frame('02:00:00:00:00:0b', '02:00:00:00:00:0a', { len: 3000, seq: 9 });
    mem.fill(0, TXBUF, TXBUF + 12);
    mem.set(big, TXBUF + 0x100);
    setDesc(dv, 1, 5, TXBUF, 12, VIRTQ_DESC_F_NEXT, 6);
    setDesc(dv, 1, 6, TXBUF + 0x100, 1000, VIRTQ_DESC_F_NEXT, 7);
    setDesc(dv, 1, 7, TXBUF + 0x100 + 1000, 2000, 0, 0);
    dv.setUint16(R[1]!.avail + 4, 5, true);
    dv.setUint16(R[1]!.avail + 4 + 2 * NUM, 0, true); // used_event 0: call us for the first used entry
    dv.setUint16(R[1]!.avail + 2, 1, true);
    eventfdSignal(kicks[1]!);
    const back = await receive(np, 1, 2000);
    assert.equal(back.length, 1);
    assert.deepEqual(Buffer.from(back[0]!), Buffer.from(big), 'the TX chain, byte for byte');
    await tick();
    assert.equal(dv.getUint16(R[1]!.used + 2, true), 1);
    assert.equal(dv.getUint32(R[1]!.used + 4, true), 5, 'the chain returned by its head id');
    assert.ok(eventfdDrain(calls[1]!) >= 1, 'called');
    assert.equal(dv.getUint16(R[1]!.used + 4 + 8 * NUM, true), 1, 'avail_event re-armed past the last chain');
    const ci = port.info().counters;
    assert.deepEqual([ci.inFrames, ci.inBytes, ci.outFrames, ci.outBytes], [1, 3000, 1, 1514]);
    const buf = new Uint8Array(16);
    assert.ok(streamRecv(c, buf, 16, new Int32Array(2)) < 0, 'no reply was asked for');
  });
});

test('a ring set up without a kick fd (polling) is driven by the port itself', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-fe-'));
  const sock = join(dir, 'vm.sock');
  const host = new ValeHost();
  const port = VhostUserPort.attach(host, 'vale-vpl:vm', sock);
  const np = openPort('vale-vpl:np', { host });
  const memfd = createMemfd('uvale-test-guest', MB, { seals: 0 });
  const mem = mapFdRange(memfd, MB, 0);
  const dv = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, MB);
  const c = streamConnect(sock);
  const req = (r: number, payload: Uint8Array, fds: number[] = []) => {
    const m = encodeRequest(r, payload);
    assert.equal(fds.length > 0 ? streamSendFds(c, m, m.length, fds) : streamSend(c, m, m.length), m.length);
  };
  try {
    req(Req.SET_FEATURES, le([8, bit(Feature.F_VERSION_1)]));
    req(Req.SET_MEM_TABLE, le([4, 1], [4, 0], [8, 0], [8, MB], [8, UVA], [8, 0]), [memfd]);
    const i = 1;
    req(Req.SET_VRING_NUM, le([4, i], [4, NUM]));
    req(
      Req.SET_VRING_ADDR,
      le([4, i], [4, 0], [8, UVA + R[i]!.desc], [8, UVA + R[i]!.used], [8, UVA + R[i]!.avail], [8, 0]),
    );
    req(Req.SET_VRING_KICK, le([8, i | 0x100]));
    await tick(50);
    const f = frame('02:00:00:00:00:0b', '02:00:00:00:00:0a', { len: 200, seq: 3 });
    mem.bytes.fill(0, TXBUF, TXBUF + 12);
    mem.bytes.set(f, TXBUF + 12);
    const o = R[i]!.desc;
    dv.setBigUint64(o, BigInt(TXBUF), true);
    dv.setUint32(o + 8, 12 + f.length, true);
    dv.setUint16(R[i]!.avail + 4, 0, true);
    dv.setUint16(R[i]!.avail + 2, 1, true); // no kick: the port must find it
    const back = await receive(np, 1, 2000);
    assert.deepEqual(
      back.map((x) => Buffer.from(x)),
      [Buffer.from(f)],
    );
  } finally {
    closeFd(c);
    await tick();
    port.close();
    np.close();
    mem.unmap();
    closeFd(memfd);
    rmSync(dir, { recursive: true, force: true });
  }
});
