/*
 * The virtio-net header path (src/switch/offload.ts) with hostile headers:
 * any flags, gso_type, gso_size, csum_start and csum_offset, on TCP and UDP
 * over IPv4 and IPv6 (VLAN-tagged or not), bytes flipped, sent as chains.
 * One sender (header length 0, 10 or 12) floods to three receivers with
 * lengths 0, 10 and 12. Per receiver, the frame arrives as the documented
 * rule says or is counted (dropOffload on the sender, dropRxFull on it):
 *
 *   same length          the bytes as sent;
 *   to a header          the sender's 10 header fields (zeros without one),
 *                        zeros to the length, the frame;
 *   to no header         TSO (gso TCPV4/TCPV6): segments of at most gso_size
 *                        payload whose payloads are the original's, with
 *                        valid IPv4 and TCP checksums and consecutive
 *                        sequence numbers; other gso types: dropped;
 *                        NEEDS_CSUM: the complement of the sum from
 *                        csum_start to the end stored at csum_start +
 *                        csum_offset (dropped if that is outside the frame);
 *                        else the frame without the header.
 *
 * Nothing throws, and nothing is written outside the receivers' new slots.
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { type LocalPort, layout, type NetmapRing, openPort, ValeHost } from '../../src/index.js';
import { addVlanTag, buildIpv4, buildIpv6, tcpHeader, udpHeader } from '../../src/pkt/build.js';
import { verifyIpv4HeaderChecksum, verifyL4Checksum4, verifyL4Checksum6 } from '../../src/pkt/checksum.js';
import { C_DROP_OFFLOAD, C_DROP_RX_FULL, C_RX_PACKETS, C_TX_PACKETS } from '../../src/switch/counters.js';
import type { FuzzProp } from './registry.js';

const { NM_BUF_SIZE, NS_MOREFRAG, NS_RFRAGS_SHIFT } = layout;
const LENS = [0, 10, 12] as const;

const caseArb = fc.record({
  srcHl: fc.constantFrom(...LENS),
  v6: fc.boolean(),
  vlan: fc.boolean(),
  tcp: fc.boolean(),
  payloadLen: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 9000 })),
  flags: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 255 })),
  gso: fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x84), fc.integer({ min: 0, max: 255 })),
  gsoSize: fc.oneof(fc.constantFrom(0, 1, 7, 536, 1448, 8960), fc.integer({ min: 0, max: 0xffff })),
  csumStart: fc.option(fc.integer({ min: 0, max: 0xffff })),
  csumOffset: fc.option(fc.integer({ min: 0, max: 0xffff })),
  tcpFlags: fc.integer({ min: 0, max: 255 }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
  frag: fc.constantFrom(NM_BUF_SIZE, 1000),
});
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

/** The Ethernet frame and the virtio-net header fields of a case. */
function build(c: Case): { frame: Uint8Array; hdr: Uint8Array; l4: number } {
  const payload = new Uint8Array(c.payloadLen);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + c.seq) & 0xff;
  const l4bytes = c.tcp
    ? tcpHeader({ sport: 1000, dport: 2000, seq: c.seq, flags: c.tcpFlags, payload })
    : udpHeader(1000, 2000, payload);
  const proto = c.tcp ? 6 : 17;
  const ip = { dstMac: 'ff:ff:ff:ff:ff:ff', srcMac: '02:00:00:00:00:01', proto, l4: l4bytes, pad: false };
  let frame = c.v6
    ? buildIpv6({ ...ip, src: 'fd00::1', dst: 'fd00::2' })
    : buildIpv4({ ...ip, src: '10.0.0.1', dst: '10.0.0.2' });
  if (c.vlan) frame = addVlanTag(frame, 5);
  const l4 = (c.vlan ? 18 : 14) + (c.v6 ? 40 : 20);
  for (const [at, v] of c.flips) frame[at % frame.length] = v;
  const hdr = new Uint8Array(c.srcHl);
  if (c.srcHl !== 0) {
    const dv = new DataView(hdr.buffer);
    hdr[0] = c.flags;
    hdr[1] = c.gso;
    dv.setUint16(2, l4 + (c.tcp ? 20 : 8), true);
    dv.setUint16(4, c.gsoSize, true);
    dv.setUint16(6, c.csumStart ?? l4, true);
    dv.setUint16(8, c.csumOffset ?? (c.tcp ? 16 : 6), true);
    if (c.srcHl === 12) hdr[10] = 1;
  }
  return { frame, hdr, l4 };
}

/** One's-complement sum of 16-bit big-endian words (a model, independent of src/pkt/checksum.ts). */
function onesSum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += ((b[off + i] as number) << 8) | (b[off + i + 1] as number);
  if (len & 1) s += (b[off + len - 1] as number) << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

function le16(b: Uint8Array, o: number): number {
  return (b[o] as number) | ((b[o + 1] as number) << 8);
}

/** Frames received on `port`, checking RX flags; releases the slots. */
function drain(port: LocalPort): Uint8Array[] {
  port.rxsync();
  const rx = port.rxRings[0] as NetmapRing;
  const out: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  while (!rx.empty()) {
    const s = rx.cur;
    const fl = rx.flags(s);
    parts.push(rx.frame(s).slice());
    if ((fl & NS_MOREFRAG) === 0) {
      assert.equal(fl >>> NS_RFRAGS_SHIFT, parts.length, 'RX fragment count');
      out.push(Buffer.concat(parts));
      parts = [];
    }
    rx.head = rx.cur = rx.next(s);
  }
  assert.equal(parts.length, 0, 'unterminated chain in an RX ring');
  port.rxsync();
  return out;
}

/** Checks TSO segments against the frame they came from (TCP, no header). */
function checkSegments(c: Case, csumStart: number, frame: Uint8Array, segs: Uint8Array[]): void {
  const mss = c.gsoSize;
  const eth0 = frame;
  let l3 = 14;
  while (l3 + 4 <= eth0.length) {
    const t = ((eth0[l3 - 2] as number) << 8) | (eth0[l3 - 1] as number);
    if (t !== 0x8100 && t !== 0x88a8) break;
    l3 += 4;
  }
  const v4 = (c.gso & 0x7f) === 1;
  let l4: number;
  if (v4) l4 = l3 + ((eth0[l3] as number) & 15) * 4;
  else if ((c.flags & 1) !== 0 && csumStart > l3 + 40) l4 = csumStart;
  else l4 = l3 + 40;
  const thl = ((eth0[l4 + 12] as number) >>> 4) * 4;
  const hlen = l4 + thl;
  const payload = frame.subarray(hlen);
  const nseg = payload.length === 0 ? 1 : Math.ceil(payload.length / mss);
  assert.equal(segs.length, nseg, `TSO: ${nseg} segments of ${mss} expected`);
  const seq0 = new DataView(frame.buffer, frame.byteOffset).getUint32(l4 + 4, false);
  const parts: Uint8Array[] = [];
  segs.forEach((s, k) => {
    assert.ok(s.length - hlen <= mss || (nseg === 1 && payload.length === 0), 'a segment larger than gso_size');
    const dv = new DataView(s.buffer, s.byteOffset);
    assert.equal(dv.getUint32(l4 + 4, false), (seq0 + k * mss) >>> 0, `segment ${k}: sequence number`);
    const l4Len = s.length - l4;
    if (v4) {
      assert.ok(verifyIpv4HeaderChecksum(s, l3), `segment ${k}: IPv4 header checksum`);
      assert.equal(dv.getUint16(l3 + 2, false), s.length - l3, `segment ${k}: IPv4 total length`);
      assert.ok(verifyL4Checksum4(s, l3, l4, l4Len, 6), `segment ${k}: TCP checksum`);
    } else {
      assert.ok(verifyL4Checksum6(s, l3, l4, l4Len, 6), `segment ${k}: TCP checksum`);
    }
    parts.push(s.subarray(hlen));
  });
  assert.ok(Buffer.concat(parts).equals(Buffer.from(payload)), 'TSO: the payloads put together are the original');
}

const offload: FuzzProp = {
  name: 'offload/vnet-header',
  runs: 300,
  property: () =>
    fc.property(caseArb, (c) => {
      const host = new ValeHost({ 'dev.netmap.max_ports': 4, 'dev.netmap.max_buffers': 512 });
      const sender = openPort('vale-v:s', { host, vnetHdrLen: c.srcHl, txSlots: 64, rxSlots: 8 });
      const rcv = LENS.map((l) => openPort(`vale-v:r${l}`, { host, vnetHdrLen: l, txSlots: 8, rxSlots: 256 }));
      try {
        const { frame, hdr } = build(c);
        const sent = Buffer.concat([hdr, frame]);
        const tx = sender.txRings[0] as NetmapRing;
        for (let o = 0; o < sent.length; o += c.frag) {
          const part = sent.subarray(o, Math.min(sent.length, o + c.frag));
          const s = tx.cur;
          tx.bufView(s).set(part);
          tx.setLen(s, part.length);
          tx.setFlags(s, o + c.frag < sent.length ? NS_MOREFRAG : 0);
          tx.head = tx.cur = tx.next(s);
        }
        try {
          sender.txsync();
        } catch (e) {
          assert.fail(`txsync threw: ${String(e)}`);
        }
        const sc = sender.vport.counters;
        assert.equal(sc[C_TX_PACKETS], 1);
        let unexplained = 0;
        for (let i = 0; i < LENS.length; i++) {
          const hl = LENS[i] as number;
          const port = rcv[i] as LocalPort;
          const got = drain(port);
          const rc = port.vport.counters;
          assert.equal(rc[C_RX_PACKETS], got.length, 'rxPackets counts what arrived');
          const full = rc[C_DROP_RX_FULL] as number;
          if (hl === c.srcHl) {
            assert.equal(got.length, 1);
            assert.ok(Buffer.from(got[0] as Uint8Array).equals(sent), 'same header length: the bytes as sent');
            continue;
          }
          if (hl !== 0) {
            const want = new Uint8Array(hl + frame.length);
            want.set(hdr.subarray(0, 10), 0);
            want.set(frame, hl);
            assert.equal(got.length, 1, `to a ${hl}-byte header`);
            assert.ok(
              Buffer.from(got[0] as Uint8Array).equals(Buffer.from(want)),
              `to a ${hl}-byte header: header, then the frame`,
            );
            continue;
          }
          // to a port without a header, from one with it
          const gso = c.gso & 0x7f;
          if (got.length === 0) {
            // dropped: either no room (counted on the receiver) or a header it cannot act on
            if (full === 0) unexplained++;
            else assert.equal(full, 1);
            continue;
          }
          assert.equal(full, 0);
          if (gso === 1 || gso === 4) {
            checkSegments(c, le16(hdr, 6), frame, got);
            continue;
          }
          assert.equal(gso, 0, `gso_type ${c.gso} cannot be acted on, yet frames arrived`);
          const want = Uint8Array.from(frame);
          if ((c.flags & 1) !== 0) {
            const start = le16(hdr, 6);
            const at = start + le16(hdr, 8);
            assert.ok(at + 2 <= frame.length, 'NEEDS_CSUM with the field outside the frame, yet delivered');
            const sum = onesSum(frame, start, frame.length - start);
            const v = ~sum & 0xffff;
            want[at] = v >>> 8;
            want[at + 1] = v & 0xff;
          }
          assert.ok(
            Buffer.from(got[0] as Uint8Array).equals(Buffer.from(want)),
            'header stripped, checksum as documented',
          );
        }
        assert.equal(sc[C_DROP_OFFLOAD], unexplained, 'every frame not delivered is counted (dropOffload)');
      } finally {
        sender.close();
        for (const p of rcv) p.close();
      }
    }) as unknown as fc.IRawProperty<unknown, false>,
};

export const OFFLOAD_PROPS: FuzzProp[] = [offload];
