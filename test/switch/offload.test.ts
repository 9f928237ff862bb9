/*
 * Ports with virtio-net headers (netmap's virt_hdr_len) and the conversion
 * between ports whose header lengths differ: header in front of the frame,
 * lookups past it, TSO segmentation and checksum completion toward ports
 * without one, drops counted. The segments are checked field by field here
 * and by tshark's own checksum validation.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCodes, type LocalPort, layout, openPort, ValeHost } from '../../src/index.js';
import { buildIpv4, buildIpv6, TCP_ACK, TCP_FIN, TCP_PSH, tcpHeader, udpHeader } from '../../src/pkt/build.js';
import { verifyIpv4HeaderChecksum, verifyL4Checksum4, verifyL4Checksum6 } from '../../src/pkt/checksum.js';
import { PcapWriter } from '../../src/pkt/pcap.js';
import {
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP,
} from '../../src/switch/offload.js';
import { assertCode, BROADCAST, drain, frame, macN, putChain, Rng, split } from '../helpers/vale.js';
import { which } from '../pkt/corpus.js';

const tmp = mkdtempSync(join(tmpdir(), 'uvale-offload-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';

/** A switch with ports of the given header lengths, named p0, p1, ... */
function ports(lens: number[], rxSlots = 1024): LocalPort[] {
  const host = new ValeHost();
  return lens.map((l, i) => openPort(`vale-o:p${i}`, { host, vnetHdrLen: l, rxSlots }));
}

/** A virtio-net header of `len` bytes. */
function vhdr(
  len: number,
  o: { flags?: number; gso?: number; hdrLen?: number; gsoSize?: number; start?: number; offset?: number } = {},
): Uint8Array {
  const h = new Uint8Array(len);
  if (len === 0) return h;
  const v = new DataView(h.buffer);
  h[0] = o.flags ?? 0;
  h[1] = o.gso ?? 0;
  v.setUint16(2, o.hdrLen ?? 0, true);
  v.setUint16(4, o.gsoSize ?? 0, true);
  v.setUint16(6, o.start ?? 0, true);
  v.setUint16(8, o.offset ?? 0, true);
  return h;
}

/** The bytes of `parts`, one after the other (a Buffer, as drain() returns). */
function cat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** Sends `bytes` from port `p` as one frame (a chain when longer than a buffer). */
function sendOne(p: LocalPort, bytes: Uint8Array): void {
  putChain(p, split(bytes, layout.NM_BUF_SIZE));
  p.txsync();
}

/** A TCP/IPv4 or IPv6 frame with `n` payload bytes from a seeded PRNG; checksums as a kernel with TSO leaves them. */
function tcpFrame(v6: boolean, n: number, flags: number, seed: number, seq = 0xfffff000): Uint8Array {
  const rng = new Rng(seed);
  const payload = new Uint8Array(n);
  for (let i = 0; i < n; i++) payload[i] = rng.u32() & 0xff;
  // a timestamp option, as Linux sends: the header is 32 bytes
  const options = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);
  const l4 = tcpHeader({ sport: 40000, dport: 5201, seq, ack: 77, flags, options, payload });
  const ip = { srcMac: MAC_A, dstMac: MAC_B, proto: 6, l4, pad: false };
  return v6
    ? buildIpv6({ ...ip, src: '2001:db8::a', dst: '2001:db8::b' })
    : buildIpv4({ ...ip, src: '10.0.0.1', dst: '10.0.0.2', id: 0xfffe });
}

test('learning past a 10- or 12-byte header: addresses read at offsets 10 (u16 loads) and 12 (u32 loads)', () => {
  for (const l of [10, 12]) {
    const [a, b, c] = ports([l, l, l]);
    const h = vhdr(l);
    // every byte of the addresses distinct, so a load from the wrong offset gives another key
    const mac = (k: number): string => `0${k * 2}:a1:b2:c3:d4:e${k}`;
    for (const [p, k] of [
      [b, 2],
      [c, 3],
    ] as const) {
      sendOne(p, cat(h, frame(BROADCAST, mac(k))));
    }
    for (const p of [a, b, c] as LocalPort[]) drain(p);
    const f = cat(h, frame(mac(3), mac(1), { len: 60 }));
    sendOne(a as LocalPort, f);
    assert.deepEqual(drain(b as LocalPort), [], `header ${l}: learned, not flooded`);
    assert.deepEqual(drain(c as LocalPort), [f], `header ${l}`);
    // and a's source was learnt from bytes 6..11 past the header
    sendOne(b as LocalPort, cat(h, frame(mac(1), mac(2))));
    assert.equal(drain(a as LocalPort).length, 1, `header ${l}`);
    assert.deepEqual(drain(c as LocalPort), [], `header ${l}`);
  }
});

test('vnetHdrLen: 0, 10 or 12; a port is shared only with its own length', () => {
  const host = new ValeHost();
  for (const bad of [1, 11, 14, -12, 12.5]) {
    assertCode(() => openPort(`vale-h:${bad}`, { host, vnetHdrLen: bad }), ErrorCodes.INVALID_ARG, /0, 10 or 12/);
  }
  const p = openPort('vale-h:x', { host, vnetHdrLen: 12 });
  assertCode(() => openPort('vale-h:x', { host }), ErrorCodes.INVALID_ARG, /12-byte virtio-net header/);
  const q = openPort('vale-h:x', { host, vnetHdrLen: 12 });
  q.close();
  p.close();
  assert.equal(host.listSwitches().length, 0, 'the refused openers left nothing behind');
});

test('equal header lengths: frames cross as they are, header and all; addresses are read past the header', () => {
  for (const hl of [10, 12]) {
    const [a, b, c] = ports([hl, hl, hl]) as [LocalPort, LocalPort, LocalPort];
    const h = vhdr(hl, { flags: VNET_HDR_F_NEEDS_CSUM, gso: VNET_HDR_GSO_TCPV4, gsoSize: 1448, start: 34, offset: 16 });
    const big = cat(h, tcpFrame(false, 20000, TCP_ACK, 1));
    sendOne(a, big); // unknown destination: flooded, to b and c untouched
    assert.deepEqual(drain(b), [big]);
    assert.deepEqual(drain(c), [big]);
    // c answers a: a learnt MAC_A from past the header, so only a gets it
    const back = cat(vhdr(hl), frame(MAC_A, MAC_B, { len: 60 }));
    sendOne(c, back);
    assert.deepEqual(drain(a), [back]);
    assert.equal(drain(b).length, 0, `hl ${hl}: unicast went only where MAC_A was learnt`);
    // a frame too short for the header and an Ethernet header is a runt
    sendOne(a, new Uint8Array(hl + 13));
    assert.equal(a.counters().dropRunt, 1);
  }
});

test("to a port with a header: a zero header in front (from a port without), or the sender's fields (10 <-> 12)", () => {
  const [p0, p10, p12] = ports([0, 10, 12]) as [LocalPort, LocalPort, LocalPort];
  const plain = frame(BROADCAST, macN(1), { len: 3000, seq: 5 }); // a chain, to check gathering
  sendOne(p0, plain);
  assert.deepEqual(drain(p10), [cat(new Uint8Array(10), plain)]);
  assert.deepEqual(drain(p12), [cat(new Uint8Array(12), plain)]);
  const h12 = vhdr(12, { flags: VNET_HDR_F_NEEDS_CSUM, gso: VNET_HDR_GSO_TCPV6, gsoSize: 1400, start: 54, offset: 16 });
  h12[10] = 0xaa; // num_buffers: not part of the 10-byte header
  h12[11] = 0xbb;
  const tso = tcpFrame(true, 9000, TCP_ACK, 2);
  sendOne(p12, cat(h12, tso));
  assert.deepEqual(drain(p10), [cat(h12.subarray(0, 10), tso)], 'the 10 header bytes carried, GSO kept');
  checkSegments(tso, drain(p0), 1400, true);
  sendOne(p10, cat(h12.subarray(0, 10), tso));
  assert.deepEqual(drain(p12), [cat(h12.subarray(0, 10), new Uint8Array(2), tso)], 'num_buffers zero');
  checkSegments(tso, drain(p0), 1400, true);
});

/** Checks that `segs` are the TSO segmentation of `orig` (an Ethernet frame) at `mss`. */
function checkSegments(orig: Uint8Array, segs: Uint8Array[], mss: number, v6: boolean): void {
  const l4 = v6 ? 54 : 34;
  const thl = (orig[l4 + 12]! >>> 4) * 4;
  const hlen = l4 + thl;
  const payload = orig.subarray(hlen);
  assert.equal(segs.length, Math.ceil(payload.length / mss), 'segment count');
  const ov = new DataView(orig.buffer, orig.byteOffset);
  const seq0 = ov.getUint32(l4 + 4);
  const flags0 = orig[l4 + 13]!;
  const got: Uint8Array[] = [];
  segs.forEach((s, k) => {
    const v = new DataView(s.buffer, s.byteOffset);
    const plen = Math.min(mss, payload.length - k * mss);
    assert.equal(s.length, hlen + plen, `segment ${k} length`);
    assert.deepEqual(Buffer.from(s.subarray(0, 14)), Buffer.from(orig.subarray(0, 14)), 'Ethernet header');
    if (v6) {
      assert.equal(v.getUint16(18), thl + plen, `segment ${k} IPv6 payload length`);
      assert.ok(verifyL4Checksum6(s, 14, l4, thl + plen, 6), `segment ${k} TCP checksum`);
    } else {
      assert.equal(v.getUint16(16), 20 + thl + plen, `segment ${k} IPv4 total length`);
      assert.equal(v.getUint16(18), (ov.getUint16(18) + k) & 0xffff, `segment ${k} IPv4 ID (wraps)`);
      assert.ok(verifyIpv4HeaderChecksum(s, 14), `segment ${k} IPv4 header checksum`);
      assert.ok(verifyL4Checksum4(s, 14, l4, thl + plen, 6), `segment ${k} TCP checksum`);
    }
    assert.equal(v.getUint32(l4 + 4), (seq0 + k * mss) >>> 0, `segment ${k} sequence number (wraps)`);
    const last = k === segs.length - 1;
    let want = flags0;
    if (!last) want &= ~(TCP_FIN | TCP_PSH);
    if (k !== 0) want &= ~0x80;
    assert.equal(s[l4 + 13], want, `segment ${k} flags`);
    assert.deepEqual(Buffer.from(s.subarray(l4 + 20, hlen)), Buffer.from(orig.subarray(l4 + 20, hlen)), 'TCP options');
    got.push(s.subarray(hlen));
  });
  assert.deepEqual(Buffer.concat(got), Buffer.from(payload), 'the payloads in order, bit-exact');
}

test('TSO toward a port without a header: TCPv4 and TCPv6 segments with lengths, IDs, sequence, flags and checksums', () => {
  for (const hl of [10, 12]) {
    for (const v6 of [false, true]) {
      const [t, plain] = ports([hl, 0]) as [LocalPort, LocalPort];
      for (const [n, mss] of [
        [65000, 1448],
        [3000, 1448],
        [1448, 1448],
        [100, 1448],
        [20000, 8948],
      ] as const) {
        const orig = tcpFrame(v6, n, TCP_ACK | TCP_PSH | TCP_FIN | 0x80, n + mss);
        const gso = v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4;
        const h = vhdr(hl, {
          flags: VNET_HDR_F_NEEDS_CSUM,
          gso: gso | VNET_HDR_GSO_ECN,
          hdrLen: v6 ? 86 : 66,
          gsoSize: mss,
          start: v6 ? 54 : 34,
          offset: 16,
        });
        // as Linux leaves a TSO frame: checksum fields not final
        orig[(v6 ? 54 : 34) + 16] ^= 0x5a;
        if (!v6) orig[24] ^= 0x33;
        sendOne(t, cat(h, orig));
        const segs = drain(plain);
        checkSegments(orig, segs, mss, v6);
      }
      assert.equal(t.counters().dropOffload, 0);
    }
  }
});

test('checksum completion (NEEDS_CSUM) toward a port without a header; frames with nothing to do pass as they are', () => {
  const [t, plain] = ports([12, 0]) as [LocalPort, LocalPort];
  const udp = buildIpv4({
    srcMac: MAC_A,
    dstMac: MAC_B,
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 17,
    l4: udpHeader(1, 2, new Uint8Array(501).fill(7)),
    pad: false,
  });
  const good = udp.slice();
  // as CHECKSUM_PARTIAL leaves it: the field holds the folded pseudo-header sum, not inverted
  const v = new DataView(udp.buffer);
  v.setUint16(40, 0);
  let s = 0;
  for (let i = 26; i < 34; i += 2) s += v.getUint16(i);
  s += 17 + udp.length - 34;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  v.setUint16(40, s);
  sendOne(t, cat(vhdr(12, { flags: VNET_HDR_F_NEEDS_CSUM, start: 34, offset: 6 }), udp));
  assert.deepEqual(drain(plain), [Buffer.from(good)]);
  const arp = frame(BROADCAST, MAC_A, { len: 60 });
  sendOne(t, cat(vhdr(12), arp));
  assert.deepEqual(drain(plain), [Buffer.from(arp)]);
});

test('a header the switch cannot act on drops only that frame, counted in dropOffload; the next frames go on', () => {
  const [t, plain, other] = ports([12, 0, 12]) as [LocalPort, LocalPort, LocalPort];
  const orig = tcpFrame(false, 5000, TCP_ACK, 9);
  const bad = [
    vhdr(12, { gso: VNET_HDR_GSO_UDP, gsoSize: 1000, flags: VNET_HDR_F_NEEDS_CSUM, start: 34, offset: 6 }),
    vhdr(12, { gso: 9, gsoSize: 1448 }),
    vhdr(12, { gso: VNET_HDR_GSO_TCPV4, gsoSize: 0 }),
    vhdr(12, { gso: VNET_HDR_GSO_TCPV6, gsoSize: 1448 }), // an IPv4 frame
    vhdr(12, { flags: VNET_HDR_F_NEEDS_CSUM, start: 6000, offset: 16 }),
    vhdr(12, { flags: VNET_HDR_F_NEEDS_CSUM, start: 34, offset: 0xffff }),
  ];
  for (const h of bad) sendOne(t, cat(h, orig));
  const ok = frame(MAC_B, MAC_A, { len: 60 });
  sendOne(t, cat(vhdr(12), ok));
  assert.deepEqual(drain(plain), [Buffer.from(ok)]);
  assert.equal(t.counters().dropOffload, bad.length);
  // the port with the same header length got every frame as it was sent
  assert.equal(drain(other).length, bad.length + 1);
  // a truncated IP header inside a GSO frame
  sendOne(t, cat(vhdr(12, { gso: VNET_HDR_GSO_TCPV4, gsoSize: 100 }), orig.subarray(0, 40)));
  assert.equal(drain(plain).length, 0);
  assert.equal(t.counters().dropOffload, bad.length + 1);
});

test('a TSO frame whose segments do not all fit is dropped whole (dropRxFull), never cut', () => {
  const [t, plain] = ports([12, 0], 32) as [LocalPort, LocalPort];
  const orig = tcpFrame(false, 64000, TCP_ACK, 3);
  const h = vhdr(12, { flags: VNET_HDR_F_NEEDS_CSUM, gso: VNET_HDR_GSO_TCPV4, gsoSize: 1448, start: 34, offset: 16 });
  sendOne(t, cat(h, orig)); // 45 segments, 31 free slots
  assert.equal(drain(plain).length, 0);
  assert.equal(plain.counters().dropRxFull, 1);
  const small = tcpFrame(false, 20 * 1448, TCP_ACK, 4);
  sendOne(t, cat(h, small)); // 20 segments fit
  checkSegments(small, drain(plain), 1448, false);
});

test('tshark finds every segment the switch made well-formed, with good IPv4 and TCP checksums', async (t) => {
  const tshark = which('tshark');
  if (tshark === undefined) return t.skip('tshark not installed (apt-get install tshark)');
  const [src, plain] = ports([12, 0]) as [LocalPort, LocalPort];
  const segs: Uint8Array[] = [];
  for (const v6 of [false, true]) {
    const orig = tcpFrame(v6, 30000, TCP_ACK | TCP_PSH, 11);
    const h = vhdr(12, {
      flags: VNET_HDR_F_NEEDS_CSUM,
      gso: v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4,
      gsoSize: 1448,
      start: v6 ? 54 : 34,
      offset: 16,
    });
    sendOne(src, cat(h, orig));
    segs.push(...drain(plain));
  }
  const file = join(tmp, 'segments.pcap');
  const w = PcapWriter.open(file);
  for (const s of segs) w.write(s);
  await w.close();
  const r = spawnSync(
    tshark,
    [
      '-r',
      file,
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'tcp.check_checksum:TRUE',
      '-T',
      'fields',
      '-E',
      'separator=,',
    ].concat(['-e', '_ws.malformed', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'tcp.len']),
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n');
  assert.equal(rows.length, segs.length);
  rows.forEach((row, i) => {
    const [malformed, ip, tcp, len] = row.split(',');
    assert.equal(malformed, '', `segment ${i}: malformed`);
    if (ip !== '') assert.equal(ip, '1', `segment ${i}: IPv4 checksum (${row})`);
    assert.equal(tcp, '1', `segment ${i}: TCP checksum (${row})`);
    assert.ok(Number(len) <= 1448 && Number(len) > 0, `segment ${i}: TCP length ${len}`);
  });
});

test('random virtio-net headers on random and TCP frames never break the switch; every frame is accounted for', () => {
  const rng = new Rng(2026);
  const [src, plain, p10, peer] = ports([12, 0, 10, 12]) as [LocalPort, LocalPort, LocalPort, LocalPort];
  const sent = 3000;
  for (let i = 0; i < sent; i++) {
    const h = vhdr(12, {
      flags: rng.u32() & 3,
      gso: [0, 1, 3, 4, 5, 0x81, 0x84, rng.u32() & 0xff][rng.u32() & 7],
      hdrLen: rng.u32() & 0xffff,
      gsoSize: [0, 1, 536, 1448, 9000, rng.u32() & 0xffff][rng.u32() % 6],
      start: [34, 54, 14, rng.u32() & 0xffff][rng.u32() & 3],
      offset: [6, 16, rng.u32() & 0xffff][rng.u32() % 3],
    });
    let body: Uint8Array;
    if ((rng.u32() & 1) === 0) {
      body = tcpFrame((rng.u32() & 1) === 0, rng.u32() % 20000, TCP_ACK, i);
      // corrupt a byte of the headers now and then
      if ((rng.u32() & 3) === 0) body[14 + (rng.u32() % 60)] = rng.u32() & 0xff;
    } else {
      body = rng.bytes(1 + (rng.u32() % 5000));
      body[0] = 0x02; // unicast destinations, flooded (never learnt)
    }
    sendOne(src, cat(h, body));
    // drain as we go so rings never fill
    for (const p of [plain, p10, peer]) drain(p);
  }
  const c = src.counters();
  assert.equal(c.txPackets, sent, 'every frame entered the switch');
  assert.equal(
    peer.counters().rxPackets + c.dropRunt,
    sent,
    'the port with the same header got every non-runt frame as sent',
  );
  assert.equal(p10.counters().rxPackets + c.dropRunt, sent, 'the 10-byte port got every frame, header converted');
  assert.ok(
    c.dropOffload > 0 && plain.counters().rxPackets > 0,
    `some frames were refused, some segmented: ${JSON.stringify(c)}`,
  );
  // and the switch still forwards normally afterwards
  const ok = frame(BROADCAST, MAC_A, { len: 60 });
  sendOne(src, cat(vhdr(12), ok));
  assert.deepEqual(drain(plain), [Buffer.from(ok)]);
});
