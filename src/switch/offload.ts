/*
 * Frames between ports whose virtio-net header lengths differ: netmap's
 * bdg_mismatch_datapath.
 *
 * A port may carry a virtio-net header (struct virtio_net_hdr, 10 bytes, or
 * virtio_net_hdr_mrg_rxbuf, 12) in front of every frame, as netmap's
 * NETMAP_REQ_PORT_HDR_SET gives a VALE port: a TAP opened with IFF_VNET_HDR,
 * or a program that asks for one. The header says what the sender left to do:
 *
 *   flags & NEEDS_CSUM   the checksum from csum_start to the end is still to
 *                        be computed and stored at csum_start + csum_offset
 *                        (the field holds the pseudo-header sum, as Linux's
 *                        CHECKSUM_PARTIAL leaves it);
 *   gso_type TCPV4/TCPV6 the frame is a TCP segment of up to 64 KB to be cut
 *                        into gso_size payloads (TSO).
 *
 * Between ports with the same header length the forwarder copies frames as
 * they are (the receiver does the work, or its kernel does). Otherwise this
 * path handles each frame alone, off the hot path: it gathers the chain into
 * a scratch buffer, then
 *
 *   to a port with a header   writes the destination's header (the sender's
 *                             fields, or zeros for a sender without one: a
 *                             frame with nothing left to do), then the frame;
 *   to a port without one     strips the header after doing its work: TSO
 *                             frames become gso_size segments (IP total or
 *                             payload length, IPv4 ID + k, TCP sequence, FIN
 *                             and PSH on the last segment only, CWR on the
 *                             first only, IPv4 and TCP checksums computed
 *                             anew); a NEEDS_CSUM frame gets its checksum.
 *
 * A frame and everything it becomes go into the RX ring whole or not at all;
 * the first frame that does not fit is dropped with every later one for that
 * ring, as on the fast path. A header this path cannot act on (UDP
 * fragmentation or segmentation, which no port here offers; offsets outside
 * the frame; a GSO frame that is not TCP), or a frame that a longer header
 * would push past MAX_FRAGS slots, drops the frame, counted in the sender's
 * dropOffload.
 */

import { rd16, TCP_CWR, TCP_FIN, TCP_PSH, wr16 } from '../pkt/be16.js';
import { fold, setIpv4HeaderChecksum, setL4Checksum4, setL4Checksum6, sum16 } from '../pkt/checksum.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_TCP } from '../pkt/ether.js';
import type { KRing } from '../ring/kring.js';
import {
  MAX_FRAGS,
  NM_BUF_SIZE,
  NS_MOREFRAG,
  NS_RFRAGS_SHIFT,
  SLOT_FLAGS_H,
  SLOT_LEN_H,
  SLOT_SHIFT_W,
} from '../ring/layout.js';

/** virtio_net_hdr.flags */
export const VNET_HDR_F_NEEDS_CSUM = 1;
export const VNET_HDR_F_DATA_VALID = 2;
/** virtio_net_hdr.gso_type */
export const VNET_HDR_GSO_NONE = 0;
export const VNET_HDR_GSO_TCPV4 = 1;
export const VNET_HDR_GSO_UDP = 3;
export const VNET_HDR_GSO_TCPV6 = 4;
export const VNET_HDR_GSO_UDP_L4 = 5;
export const VNET_HDR_GSO_ECN = 0x80;
/** The header lengths a port may have: none, virtio_net_hdr, virtio_net_hdr_mrg_rxbuf. */
export const VNET_HDR_LENS: readonly number[] = [0, 10, 12];
/** Bytes of virtio_net_hdr proper (the 12-byte form adds num_buffers). */
const HDR_FIELDS = 10;

/** put() results. */
export const PUT_OK = 0;
export const PUT_NO_ROOM = 1;
export const PUT_BAD = 2;

/**
 * Finds the headers of a TSO frame at f[eth, end): past VLAN tags, IPv4 (no
 * options check beyond IHL) or IPv6 (csumStart, from eth, locates TCP behind
 * extension headers), then TCP. Writes l3, l4 and the payload's start into
 * `out[0..2]`; false for a frame that is not TCP of the family `gso` says.
 * Shared by the switch's segmentation and tso-segment.ts; no allocation.
 */
export function tsoHeaders(
  f: Uint8Array,
  eth: number,
  end: number,
  gso: number,
  csumStart: number,
  out: Int32Array,
): boolean {
  if (end - eth < 14) return false;
  let l3 = eth + 14;
  let type = rd16(f, eth + 12);
  while ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && l3 + 4 <= end) {
    type = rd16(f, l3 + 2);
    l3 += 4;
  }
  let l4: number;
  if (gso === VNET_HDR_GSO_TCPV4) {
    if (type !== ETHERTYPE_IPV4 || l3 + 20 > end || f[l3] >>> 4 !== 4) return false;
    const ihl = (f[l3] & 15) * 4;
    if (ihl < 20 || f[l3 + 9] !== IPPROTO_TCP) return false;
    l4 = l3 + ihl;
  } else {
    if (type !== ETHERTYPE_IPV6 || l3 + 40 > end || f[l3] >>> 4 !== 6) return false;
    // extension headers: trust csum_start where it points past the fixed header
    if (csumStart >= 0 && eth + csumStart > l3 + 40) l4 = eth + csumStart;
    else if (f[l3 + 6] === IPPROTO_TCP) l4 = l3 + 40;
    else return false;
  }
  if (l4 + 20 > end) return false;
  const thl = (f[l4 + 12] >>> 4) * 4;
  if (thl < 20 || l4 + thl > end) return false;
  out[0] = l3;
  out[1] = l4;
  out[2] = l4 + thl;
  return true;
}

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/** Slots a frame of `len` bytes takes. */
function slotsFor(len: number): number {
  return len <= NM_BUF_SIZE ? 1 : Math.ceil(len / NM_BUF_SIZE);
}

/** One switch's scratch space for the mismatch path; one destination ring at a time. */
export class OffloadPath {
  /** The source frame, header included, gathered from its chain. */
  private readonly frame = new Uint8Array(MAX_FRAGS * NM_BUF_SIZE);
  /** l3, l4 and payload start of the frame being segmented (tsoHeaders). */
  private readonly hdrs = new Int32Array(3);
  /** One frame being built for the destination (a header may make it longer than its source). */
  private readonly out = new Uint8Array((MAX_FRAGS + 1) * NM_BUF_SIZE);
  private kr: KRing | null = null;
  /** Next RX slot to fill and the slots still free. */
  j = 0;
  room = 0;
  /** Frames and bytes written since begin(). */
  pkts = 0;
  bytes = 0;

  /** Starts filling RX ring `kr` at its hwtail with `room` free slots. */
  begin(kr: KRing, room: number): void {
    this.kr = kr;
    this.j = kr.hwtail;
    this.room = room;
    this.pkts = 0;
    this.bytes = 0;
  }

  /**
   * Delivers the frame in source slots ftOff/ftLen[p .. p+cnt) of `sU8`, which
   * carries `srcHl` header bytes, to the ring of begin(), whose port takes
   * `dstHl` (!= srcHl). Returns PUT_OK, PUT_NO_ROOM (nothing written) or
   * PUT_BAD (a header this path cannot act on; nothing written).
   */
  put(
    sU8: Uint8Array,
    ftOff: Int32Array,
    ftLen: Int32Array,
    p: number,
    cnt: number,
    srcHl: number,
    dstHl: number,
  ): number {
    const f = this.frame;
    let total = 0;
    for (let k = p; k < p + cnt; k++) {
      const o = ftOff[k];
      const l = ftLen[k];
      f.set(sU8.subarray(o, o + l), total);
      total += l;
    }
    const flags = srcHl === 0 ? 0 : f[0];
    const gso = srcHl === 0 ? VNET_HDR_GSO_NONE : f[1] & ~VNET_HDR_GSO_ECN;
    if (dstHl !== 0) {
      // the destination's kernel or program finishes the frame: hand the header over
      const len = dstHl + total - srcHl;
      if (slotsFor(len) > MAX_FRAGS) return PUT_BAD;
      if (slotsFor(len) > this.room) return PUT_NO_ROOM;
      const out = this.out;
      out.fill(0, 0, dstHl);
      if (srcHl !== 0) out.set(f.subarray(0, HDR_FIELDS), 0);
      out.set(f.subarray(srcHl, total), dstHl);
      this.emit(out, 0, len);
      return PUT_OK;
    }
    if (gso === VNET_HDR_GSO_TCPV4 || gso === VNET_HDR_GSO_TCPV6) {
      return this.segment(srcHl, total, gso, le16(f, 4), (flags & VNET_HDR_F_NEEDS_CSUM) !== 0 ? le16(f, 6) : -1);
    }
    if (gso !== VNET_HDR_GSO_NONE) return PUT_BAD;
    if ((flags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
      const start = srcHl + le16(f, 6);
      const at = start + le16(f, 8);
      if (at + 2 > total) return PUT_BAD;
      // the field holds the pseudo-header sum: sum it with the rest and store the complement
      wr16(f, at, ~fold(sum16(f, start, total - start)) & 0xffff);
    }
    if (slotsFor(total - srcHl) > this.room) return PUT_NO_ROOM;
    this.emit(f, srcHl, total - srcHl);
    return PUT_OK;
  }

  /** TSO: the TCP frame at frame[eth, end) into mss-byte segments. csumStart (from eth) locates TCP over IPv6. */
  private segment(eth: number, end: number, gso: number, mss: number, csumStart: number): number {
    const f = this.frame;
    if (mss === 0 || !tsoHeaders(f, eth, end, gso, csumStart, this.hdrs)) return PUT_BAD;
    const l3 = this.hdrs[0] as number;
    const l4 = this.hdrs[1] as number;
    const hdrEnd = this.hdrs[2] as number;
    const thl = hdrEnd - l4;
    const v4 = gso === VNET_HDR_GSO_TCPV4;
    const hlen = hdrEnd - eth;
    const payload = end - hdrEnd;
    const nseg = payload === 0 ? 1 : Math.ceil(payload / mss);
    // room for every segment, or none is sent
    const full = slotsFor(hlen + mss);
    const last = slotsFor(hlen + payload - (nseg - 1) * mss);
    if ((nseg - 1) * full + last > this.room) return PUT_NO_ROOM;

    const out = this.out;
    const ip = l3 - eth;
    const tcp = l4 - eth;
    out.set(f.subarray(eth, hdrEnd), 0);
    const seq0 = (f[l4 + 4] * 0x1000000 + (f[l4 + 5] << 16) + rd16(f, l4 + 6)) >>> 0;
    const flags0 = f[l4 + 13];
    const id0 = v4 ? rd16(f, l3 + 4) : 0;
    for (let k = 0, po = hdrEnd; k < nseg; k++, po += mss) {
      const plen = k === nseg - 1 ? payload - k * mss : mss;
      out.set(f.subarray(po, po + plen), hlen);
      const l4Len = thl + plen;
      const seq = (seq0 + k * mss) >>> 0;
      out[tcp + 4] = seq >>> 24;
      out[tcp + 5] = (seq >>> 16) & 0xff;
      wr16(out, tcp + 6, seq & 0xffff);
      let fl = flags0;
      if (k !== nseg - 1) fl &= ~(TCP_FIN | TCP_PSH);
      if (k !== 0) fl &= ~TCP_CWR;
      out[tcp + 13] = fl;
      if (v4) {
        wr16(out, ip + 2, tcp - ip + l4Len);
        wr16(out, ip + 4, (id0 + k) & 0xffff);
        setIpv4HeaderChecksum(out, ip);
        setL4Checksum4(out, ip, tcp, l4Len, IPPROTO_TCP);
      } else {
        wr16(out, ip + 4, tcp - ip - 40 + l4Len);
        setL4Checksum6(out, ip, tcp, l4Len, IPPROTO_TCP);
      }
      this.emit(out, 0, hlen + plen);
    }
    return PUT_OK;
  }

  /** Writes buf[off, off+len) into the ring at j as one slot or a NS_MOREFRAG chain; room was checked. */
  private emit(buf: Uint8Array, off: number, len: number): void {
    const kr = this.kr as KRing;
    const u32 = kr.u32;
    const u16 = kr.u16;
    const u8 = kr.arena.u8;
    const cnt = slotsFor(len);
    let j = this.j;
    let left = len;
    for (let k = 0; k < cnt; k++) {
      const w = kr.slotsW + (j << SLOT_SHIFT_W);
      let bi = u32[w];
      if (bi >= kr.numBufs) bi = 0;
      const l = Math.min(left, NM_BUF_SIZE);
      u8.set(buf.subarray(off, off + l), kr.bufsBase + bi * NM_BUF_SIZE);
      u16[(w << 1) + SLOT_LEN_H] = l;
      u16[(w << 1) + SLOT_FLAGS_H] = (cnt << NS_RFRAGS_SHIFT) | (k === cnt - 1 ? 0 : NS_MOREFRAG);
      off += l;
      left -= l;
      j = j === kr.lim ? 0 : j + 1;
    }
    this.j = j;
    this.room -= cnt;
    this.pkts++;
    this.bytes += len;
  }
}
