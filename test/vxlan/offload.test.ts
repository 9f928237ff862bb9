/*
 * UDP GSO and GRO in tunnel ports (uvale.vxlan_offload), between two uvale
 * switches in this process over loopback: a burst of equal frames leaves the
 * sender as GSO messages (runs joined per remote, a shorter frame ending a
 * run) and reaches the receiver as GRO buffers, which the port cuts back
 * into datagrams; every frame arrives once, in order, byte for byte. With
 * the offloads off, the same burst crosses with neither counter moving.
 * With `tso` on both ports, a 64 KB TCP frame (virtio-net header, as a TAP
 * with TSO hands it over) is cut by the sending port, crosses as GSO, and is
 * coalesced again by the receiving one: a port with a header gets TSO
 * frames that the switch cuts into the very segments the sender's switch
 * would have made, and a port without one gets those segments.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { layout, type NetmapPort, openPort, ValeHost } from '../../src/index.js';
import { buildIpv4, buildIpv6, TCP_ACK, TCP_PSH, tcpHeader } from '../../src/pkt/build.js';
import type { AttachContext } from '../../src/ports/adapter.js';
import { parseTunnelSpec } from '../../src/ports/vxlan/spec.js';
import { TunnelPort } from '../../src/ports/vxlan/tunnel-port.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6 } from '../../src/switch/offload.js';
import { drain, frame, macN, putChain, receive, send, split } from '../helpers/vale.js';

const NET = `127.${(process.pid >> 8) & 0xff}.${process.pid & 0xff}`;

function ctx(host: ValeHost): AttachContext {
  return { host, log: () => {}, onTraffic: () => {}, onGone: () => {} };
}

interface Site {
  tun: TunnelPort;
  nm: NetmapPort;
  host: ValeHost;
}

function site(offload: number, me: string, peer: string, port: number, tso = false, hdr = 0): Site {
  const host = new ValeHost();
  host.settings.set('uvale.vxlan_offload', offload);
  const tun = TunnelPort.attach(
    ctx(host),
    'valeof:tun',
    parseTunnelSpec(`vxlan:vni=7,local=${me}:${port},remote=${peer}:${port}${tso ? ',mtu=9000,tso' : ''}`),
  );
  return { tun, nm: openPort('valeof:nm', { host, vnetHdrLen: hdr, rxSlots: 1024, txSlots: 1024 }), host };
}

/** A TCP frame of `n` payload bytes behind a TSO header (gso_size `mss`), checksums as a kernel leaves them. */
function tsoFrame(v6: boolean, n: number, mss: number, seq: number): Uint8Array {
  const payload = new Uint8Array(n);
  for (let i = 0; i < n; i++) payload[i] = (i * 13 + seq) & 0xff;
  const options = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);
  const l4 = tcpHeader({ sport: 40000, dport: 5201, seq, ack: 9, flags: TCP_ACK | TCP_PSH, options, payload });
  const ip = { srcMac: macN(1), dstMac: macN(2), proto: 6, l4, pad: false };
  const e = v6
    ? buildIpv6({ ...ip, src: '2001:db8::a', dst: '2001:db8::b' })
    : buildIpv4({ ...ip, src: '10.0.0.1', dst: '10.0.0.2', id: 0xfff0 });
  const h = new Uint8Array(12);
  const v = new DataView(h.buffer);
  h[0] = VNET_HDR_F_NEEDS_CSUM;
  h[1] = v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4;
  v.setUint16(2, v6 ? 86 : 66, true);
  v.setUint16(4, mss, true);
  v.setUint16(6, v6 ? 54 : 34, true);
  v.setUint16(8, 16, true);
  e[(v6 ? 54 : 34) + 16] ^= 0x77; // not final (the receiver of NEEDS_CSUM computes it)
  return Buffer.concat([h, e]);
}

/** The segments a switch makes of `frames` (with 12-byte headers) for a port without a header. */
function cut(frames: readonly Uint8Array[]): Buffer[] {
  const host = new ValeHost();
  const t = openPort('valecut:t', { host, vnetHdrLen: 12, rxSlots: 1024 });
  const p = openPort('valecut:p', { host, rxSlots: 1024 });
  const out: Buffer[] = [];
  for (const f of frames) {
    putChain(t, split(f, layout.NM_BUF_SIZE));
    t.txsync();
    out.push(...drain(p).map((x) => Buffer.from(x)));
  }
  t.close();
  p.close();
  return out;
}

describe('tso', () => {
  for (const v6 of [false, true]) {
    test(`TCP${v6 ? 'v6' : 'v4'}: TSO frames cut, sent as GSO, coalesced again; segments byte for byte`, async () => {
      const port = 24000 + (process.pid % 20000) + (v6 ? 1 : 0);
      const a = site(3, `${NET}.71`, `${NET}.72`, port, true, 12);
      const b = site(3, `${NET}.72`, `${NET}.71`, port, true, 12);
      const bPlain = openPort('valeof:plain', { host: b.host, rxSlots: 1024 });
      try {
        const frames = [tsoFrame(v6, 60000, 1398, 1000), tsoFrame(v6, 30000, 1398, 61000)];
        const want = cut(frames);
        assert.equal(want.length, 43 + 22);
        for (const f of frames) {
          putChain(a.nm, split(f, layout.NM_BUF_SIZE));
          a.nm.txsync();
        }
        const got = await receive(b.nm, 2, 5000);
        const ea = a.tun.info().extra;
        const eb = b.tun.info().extra;
        assert.equal(ea.datagramsOut, 65, 'segments sent');
        assert.ok((ea.gsoMessages as number) >= 2, `GSO messages ${ea.gsoMessages}`);
        assert.equal(b.tun.info().counters.inFrames, 65);
        assert.ok((eb.tcpCoalesced as number) >= 1, `coalesced frames ${eb.tcpCoalesced}`);
        assert.equal(eb.tcpBadCsum, 0);
        assert.ok(got.length < 65, `${got.length} frames to the port with a header (fewer than the segments)`);
        for (const g of got) assert.ok(g.length - 12 <= 65535);
        assert.deepEqual(cut(got), want, 'cut again: the same segments');
        // the port without a header got them cut by B's switch
        const plain = await receive(bPlain, 65, 3000);
        assert.deepEqual(
          plain.map((x) => Buffer.from(x)),
          want,
          'the segments, to a port without a header',
        );
      } finally {
        bPlain.close();
        for (const s of [a, b]) {
          s.nm.close();
          s.tun.close();
        }
      }
    });
  }
});

for (const offload of [3, 0]) {
  describe(`uvale.vxlan_offload=${offload}`, () => {
    test('a burst of 300 frames (60 B, one of 59 in the middle) crosses once each, in order, byte for byte', async () => {
      const port = 20000 + (process.pid % 20000) + offload;
      const a = site(offload, `${NET}.61`, `${NET}.62`, port);
      const b = site(offload, `${NET}.62`, `${NET}.61`, port);
      try {
        // an unknown unicast MAC: flooded by a's switch to the tunnel, by the tunnel to its one remote
        const frames = Array.from({ length: 300 }, (_, i) =>
          frame(macN(2), macN(1), { seq: i, len: i === 150 ? 59 : 60 }),
        );
        for (let i = 0; i < 300; i += 100) send(a.nm, frames.slice(i, i + 100));
        const got = await receive(b.nm, 300, 5000);
        assert.equal(got.length, 300);
        for (const [i, g] of got.entries()) assert.ok(Buffer.from(g).equals(frames[i] as Uint8Array), `frame ${i}`);
        const ea = a.tun.info().extra;
        const eb = b.tun.info().extra;
        assert.equal(ea.datagramsOut, 300);
        assert.equal(b.tun.info().counters.inFrames, 300);
        assert.equal(b.tun.info().counters.inDrops, 0);
        if (offload === 3) {
          assert.equal(ea.gso, true);
          assert.ok((ea.gsoMessages as number) >= 3, `runs joined: ${ea.gsoMessages} messages`);
          assert.ok((ea.gsoDatagrams as number) > 200, `${ea.gsoDatagrams} datagrams in them`);
          assert.equal(eb.gro, true);
          assert.ok((eb.groBuffers as number) >= 1, `coalesced on receive: ${eb.groBuffers}`);
        } else {
          assert.deepEqual([ea.gso, ea.gsoMessages, eb.gro, eb.groBuffers], [false, 0, false, 0]);
        }
      } finally {
        for (const s of [a, b]) {
          s.nm.close();
          s.tun.close();
        }
      }
    });
  });
}

describe('tso left out of the spec', () => {
  test('parsed: tso and tso=on turn it on, tso=off off, nothing leaves it to the attach', () => {
    const base = `vxlan:vni=7,local=${NET}.1,remote=${NET}.2`;
    assert.equal(parseTunnelSpec(base).tso, null);
    assert.equal(parseTunnelSpec(`${base},tso`).tso, true);
    assert.equal(parseTunnelSpec(`${base},tso=on`).tso, true);
    assert.equal(parseTunnelSpec(`${base},tso=off`).tso, false);
    assert.throws(() => parseTunnelSpec(`${base},tso=yes`), /tso='yes': say tso, tso=on or tso=off/);
    assert.throws(() => parseTunnelSpec(`${base},tso,tso=off`), /twice/);
  });

  test('on when the switch has a port with a virtio-net header at attach, off otherwise or with tso=off', () => {
    const cases: Array<[string, number, boolean]> = [
      ['', 12, true],
      ['', 10, true],
      ['', 0, false],
      [',tso=off', 12, false],
      [',tso', 0, true],
    ];
    for (const [opt, hdr, want] of cases) {
      const host = new ValeHost();
      const first = openPort('valedf:tap', { host, vnetHdrLen: hdr });
      const tun = TunnelPort.attach(
        ctx(host),
        'valedf:tun',
        parseTunnelSpec(`vxlan:vni=7,local=${NET}.1:0,remote=${NET}.2${opt}`),
      );
      try {
        assert.equal(tun.info().extra.tso, want, `'${opt}' next to a port with a ${hdr}-byte header`);
        assert.equal(tun.vport.hdrLen, want ? 12 : 0);
      } finally {
        tun.close();
        first.close();
      }
    }
    // the switch's other ports count, not those of other switches
    const host = new ValeHost();
    const other = openPort('valedo:tap', { host, vnetHdrLen: 12 });
    const tun = TunnelPort.attach(
      ctx(host),
      'valedf:tun',
      parseTunnelSpec(`vxlan:vni=7,local=${NET}.1:0,remote=${NET}.2`),
    );
    try {
      assert.equal(tun.info().extra.tso, false);
    } finally {
      tun.close();
      other.close();
    }
  });
});
