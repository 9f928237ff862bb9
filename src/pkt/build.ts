/*
 * Small frame builders for tools and tests: ARP, IPv4/IPv6 around a
 * transport header (UDP, TCP, ICMP, ICMPv6 echo and neighbor discovery), an
 * 802.1Q tag, and padding to Ethernet's 60-byte minimum.
 *
 * Transport builders return the header (+ payload) with a zero checksum; the
 * IP builders place it behind the network header and fill in every checksum
 * (IPv4 header, UDP/TCP/ICMPv6 with the pseudo-header, ICMP without). Not a hot
 * path: each call allocates its result.
 */

import { setIpv4HeaderChecksum, setL4Checksum4, setL4Checksum6 } from './checksum.js';
import {
  BROADCAST_MAC,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseIp4,
  parseIp6,
  writeIp4,
  writeMac,
} from './ether.js';

export type Mac = string | Uint8Array;

function be16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function be32(b: Uint8Array, o: number, v: number): void {
  be16(b, o, v >>> 16);
  be16(b, o + 2, v & 0xffff);
}

/** dst, src, type + payload. */
export function buildEthernet(dst: Mac, src: Mac, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  be16(f, 12, type);
  f.set(payload, 14);
  return f;
}

/** Inserts an 802.1Q tag (TPID 0x8100 unless given) after the MAC addresses. */
export function addVlanTag(frame: Uint8Array, vid: number, pcp = 0, dei = false, tpid = ETHERTYPE_VLAN): Uint8Array {
  const f = new Uint8Array(frame.length + 4);
  f.set(frame.subarray(0, 12), 0);
  be16(f, 12, tpid);
  be16(f, 14, ((pcp & 7) << 13) | (dei ? 0x1000 : 0) | (vid & 0xfff));
  f.set(frame.subarray(12), 16);
  return f;
}

/** Zero-pads to `min` bytes (60: the Ethernet minimum without FCS). */
export function padFrame(frame: Uint8Array, min = 60): Uint8Array {
  if (frame.length >= min) return frame;
  const f = new Uint8Array(min);
  f.set(frame);
  return f;
}

export interface ArpOptions {
  srcMac: Mac;
  srcIp: string;
  /** Target IP (who-has it, or whom the reply goes to). */
  dstIp: string;
  /** Reply: the requester's MAC; request: left zero unless given. */
  dstMac?: Mac;
  /** Pad to 60 bytes as a NIC would (default true). */
  pad?: boolean;
}

/** An ARP request (broadcast) or reply (unicast to dstMac) for IPv4 over Ethernet. */
export function buildArp(op: 'request' | 'reply', o: ArpOptions): Uint8Array {
  const a = new Uint8Array(28);
  be16(a, 0, 1); // Ethernet
  be16(a, 2, ETHERTYPE_IPV4);
  a[4] = 6;
  a[5] = 4;
  be16(a, 6, op === 'request' ? 1 : 2);
  writeMac(a, 8, o.srcMac);
  writeIp4(a, 14, parseIp4(o.srcIp));
  if (o.dstMac !== undefined) writeMac(a, 18, o.dstMac);
  writeIp4(a, 24, parseIp4(o.dstIp));
  const dst = op === 'request' ? BROADCAST_MAC : (o.dstMac ?? BROADCAST_MAC);
  const f = buildEthernet(dst, o.srcMac, ETHERTYPE_ARP, a);
  return o.pad === false ? f : padFrame(f);
}

export interface IpOptions {
  srcMac?: Mac;
  dstMac?: Mac;
  src: string;
  dst: string;
  /** Transport protocol / next header (6, 17, 1, 58, ...). */
  proto: number;
  /** Transport header + payload, checksum field zero. */
  l4: Uint8Array;
  ttl?: number;
  tos?: number;
  id?: number;
  /** Set DF (default true). */
  df?: boolean;
  /** Pad to 60 bytes (default true). */
  pad?: boolean;
}

const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
const DEFAULT_DST_MAC = '02:00:00:00:00:02';

/** Ethernet + IPv4 + the transport bytes, every checksum filled in. */
export function buildIpv4(o: IpOptions): Uint8Array {
  const ip = new Uint8Array(20 + o.l4.length);
  ip[0] = 0x45;
  ip[1] = o.tos ?? 0;
  be16(ip, 2, ip.length);
  be16(ip, 4, o.id ?? 0);
  be16(ip, 6, o.df === false ? 0 : 0x4000);
  ip[8] = o.ttl ?? 64;
  ip[9] = o.proto;
  writeIp4(ip, 12, parseIp4(o.src));
  writeIp4(ip, 16, parseIp4(o.dst));
  ip.set(o.l4, 20);
  const f = buildEthernet(o.dstMac ?? DEFAULT_DST_MAC, o.srcMac ?? DEFAULT_SRC_MAC, ETHERTYPE_IPV4, ip);
  setIpv4HeaderChecksum(f, 14);
  if (o.proto === IPPROTO_TCP || o.proto === IPPROTO_UDP || o.proto === IPPROTO_ICMP) {
    setL4Checksum4(f, 14, 34, o.l4.length, o.proto);
  }
  return o.pad === false ? f : padFrame(f);
}

/** Ethernet + IPv6 + the transport bytes, the transport checksum filled in. */
export function buildIpv6(o: Omit<IpOptions, 'tos' | 'id' | 'df'> & { trafficClass?: number; flowLabel?: number }) {
  const ip = new Uint8Array(40 + o.l4.length);
  be32(ip, 0, ((6 << 28) | ((o.trafficClass ?? 0) << 20) | ((o.flowLabel ?? 0) & 0xfffff)) >>> 0);
  be16(ip, 4, o.l4.length);
  ip[6] = o.proto;
  ip[7] = o.ttl ?? 64;
  ip.set(parseIp6(o.src), 8);
  ip.set(parseIp6(o.dst), 24);
  ip.set(o.l4, 40);
  const f = buildEthernet(o.dstMac ?? DEFAULT_DST_MAC, o.srcMac ?? DEFAULT_SRC_MAC, ETHERTYPE_IPV6, ip);
  if (o.proto === IPPROTO_TCP || o.proto === IPPROTO_UDP || o.proto === IPPROTO_ICMPV6) {
    setL4Checksum6(f, 14, 54, o.l4.length, o.proto);
  }
  return o.pad === false ? f : padFrame(f);
}

/** UDP header + payload (length filled, checksum 0). */
export function udpHeader(sport: number, dport: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  be16(u, 0, sport);
  be16(u, 2, dport);
  be16(u, 4, u.length);
  u.set(payload, 8);
  return u;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

export interface TcpOptions {
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  win?: number;
  urp?: number;
  /** Raw option bytes; padded with EOL to a multiple of 4. */
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** TCP header (+ options, payload), checksum 0. */
export function tcpHeader(o: TcpOptions): Uint8Array {
  const optLen = o.options === undefined ? 0 : (o.options.length + 3) & ~3;
  const payload = o.payload ?? new Uint8Array(0);
  const t = new Uint8Array(20 + optLen + payload.length);
  be16(t, 0, o.sport);
  be16(t, 2, o.dport);
  be32(t, 4, o.seq >>> 0);
  be32(t, 8, (o.ack ?? 0) >>> 0);
  t[12] = ((20 + optLen) / 4) << 4;
  t[13] = o.flags;
  be16(t, 14, o.win ?? 65535);
  be16(t, 18, o.urp ?? 0);
  if (o.options !== undefined) t.set(o.options, 20);
  t.set(payload, 20 + optLen);
  return t;
}

/** ICMP (type 8/0) or ICMPv6 (128/129) echo: type, code 0, id, seq, payload; checksum 0. */
export function icmpEcho(type: number, id: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const m = new Uint8Array(8 + payload.length);
  m[0] = type;
  be16(m, 4, id);
  be16(m, 6, seq);
  m.set(payload, 8);
  return m;
}

/**
 * ICMPv6 neighbor solicitation (135) or advertisement (136) for `target`, with
 * a source/target link-layer address option when `lladdr` is given.
 */
export function ndpMessage(type: 135 | 136, target: string, lladdr?: Mac, naFlags = 0): Uint8Array {
  const m = new Uint8Array(24 + (lladdr === undefined ? 0 : 8));
  m[0] = type;
  if (type === 136) m[4] = naFlags;
  m.set(parseIp6(target), 8);
  if (lladdr !== undefined) {
    m[24] = type === 135 ? 1 : 2;
    m[25] = 1;
    writeMac(m, 26, lladdr);
  }
  return m;
}
