/*
 * What the firewall looks at in a frame, decoded once per frame into a
 * reusable FrameInfo (no allocation per frame): the MAC addresses, the
 * EtherType behind any VLAN tags, the IPv4/IPv6 addresses, the transport
 * protocol (IPv6: after the extension headers) and the TCP/UDP/SCTP ports.
 *
 * Only the first slot of a frame is decoded: every header this firewall reads
 * sits in its first 2048 bytes. Fields the frame does not have are -1 (and
 * `family` 0), so a rule that needs them does not match. Ports are read only
 * from a first fragment (a later IPv4/IPv6 fragment has no transport header).
 */

import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../../src/pkt/ether.js';

export const IPPROTO_SCTP = 132;
/** IPv6 extension headers walked to find the transport protocol. */
const IP6_HOPOPTS = 0;
const IP6_ROUTING = 43;
const IP6_FRAGMENT = 44;
const IP6_AH = 51;
const IP6_DSTOPTS = 60;
const MAX_IP6_EXT = 8;

/** The decoded fields of one frame; one instance is reused for every frame. */
export class FrameInfo {
  /** The bytes the offsets below index (the ring's buffer memory). */
  buf: Uint8Array = new Uint8Array(0);
  /** Destination and source MAC as (a, b) words, as macWords() computes them. */
  dstA = 0;
  dstB = 0;
  srcA = 0;
  srcB = 0;
  /** The EtherType after any 802.1Q/802.1ad tags; -1 for a runt. */
  ethertype = -1;
  /** 4 or 6 for an IP packet, else 0. */
  family = 0;
  /** IPv4 addresses (unsigned 32-bit), when family is 4. */
  src4 = 0;
  dst4 = 0;
  /** Offsets in `buf` of the 16-byte IPv6 addresses, when family is 6. */
  src6 = 0;
  dst6 = 0;
  /** Transport protocol (IPv4 protocol / IPv6 last next-header), or -1. */
  proto = -1;
  /** Transport ports, or -1 (not TCP/UDP/SCTP, a later fragment, or truncated). */
  sport = -1;
  dport = -1;
}

function be16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP;
}

/** Decodes the frame at buf[off, off+len) into `f`. */
export function decodeFrame(buf: Uint8Array, off: number, len: number, f: FrameInfo): void {
  f.buf = buf;
  f.family = 0;
  f.proto = -1;
  f.sport = -1;
  f.dport = -1;
  if (len < 14) {
    f.ethertype = -1;
    f.dstA = f.dstB = f.srcA = f.srcB = 0;
    return;
  }
  f.dstA = (buf[off] as number) | ((buf[off + 1] as number) << 8) | ((buf[off + 2] as number) << 16);
  f.dstA |= (buf[off + 3] as number) << 24;
  f.dstB = (buf[off + 4] as number) | ((buf[off + 5] as number) << 8);
  f.srcA = (buf[off + 6] as number) | ((buf[off + 7] as number) << 8) | ((buf[off + 8] as number) << 16);
  f.srcA |= (buf[off + 9] as number) << 24;
  f.srcB = (buf[off + 10] as number) | ((buf[off + 11] as number) << 8);
  const end = off + len;
  let p = off + 12;
  let type = be16(buf, p);
  // look through up to two VLAN tags (802.1ad outer, 802.1Q inner)
  for (let tags = 0; tags < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && p + 6 <= end; tags++) {
    p += 4;
    type = be16(buf, p);
  }
  f.ethertype = type;
  p += 2; // the network header
  let l4 = -1;
  if (type === ETHERTYPE_IPV4) {
    if (p + 20 > end || (buf[p] as number) >>> 4 !== 4) return;
    const ihl = ((buf[p] as number) & 0x0f) * 4;
    if (ihl < 20 || p + ihl > end) return;
    f.family = 4;
    f.proto = buf[p + 9] as number;
    f.src4 = ((be16(buf, p + 12) << 16) | be16(buf, p + 14)) >>> 0;
    f.dst4 = ((be16(buf, p + 16) << 16) | be16(buf, p + 18)) >>> 0;
    if ((be16(buf, p + 6) & 0x1fff) === 0) l4 = p + ihl; // first (or only) fragment
  } else if (type === ETHERTYPE_IPV6) {
    if (p + 40 > end || (buf[p] as number) >>> 4 !== 6) return;
    f.family = 6;
    f.src6 = p + 8;
    f.dst6 = p + 24;
    let nh = buf[p + 6] as number;
    let q = p + 40;
    let first = true;
    for (let i = 0; i < MAX_IP6_EXT; i++) {
      if (nh === IP6_HOPOPTS || nh === IP6_ROUTING || nh === IP6_DSTOPTS) {
        if (q + 8 > end) break;
        nh = buf[q] as number;
        q += ((buf[q + 1] as number) + 1) * 8;
      } else if (nh === IP6_FRAGMENT) {
        if (q + 8 > end) break;
        if ((be16(buf, q + 2) & 0xfff8) !== 0) first = false;
        nh = buf[q] as number;
        q += 8;
      } else if (nh === IP6_AH) {
        if (q + 8 > end) break;
        nh = buf[q] as number;
        q += ((buf[q + 1] as number) + 2) * 4;
      } else {
        break;
      }
    }
    f.proto = nh;
    if (first) l4 = q;
  }
  if (l4 >= 0 && l4 + 4 <= end && hasPorts(f.proto)) {
    f.sport = be16(buf, l4);
    f.dport = be16(buf, l4 + 2);
  }
}
