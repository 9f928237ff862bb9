/*
 * One-line packet summaries in the words of `tcpdump -n` (4.99), for the
 * capture tool and for tests.
 *
 * decode() returns exactly what tcpdump prints after the time stamp and its
 * space: e.g. "IP 10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18", or with
 * `link` (tcpdump -e) "00:00:00:00:00:00 > ff:ff:ff:ff:ff:ff, ethertype IPv4
 * (0x0800), length 60: 10.0.0.1.1234 > ...". Where tcpdump dumps an
 * undecodable payload in hex (unknown ethertype, ARP opcode, ICMPv6 type) the
 * text carries those lines too, each "\n\t0x0000:  ...", as tcpdump prints.
 *
 * The printers read through a Cursor (decode-cursor.ts) that bounds every read
 * by the captured length; a short capture ends the line with " [|proto]" as
 * tcpdump does. Nothing here throws: any unexpected error is caught and shown
 * as " [|decode error]". This file holds the entry point and the link layer
 * (Ethernet, 802.1Q/802.1ad tags, ARP); decode-llc.ts, decode-ip.ts,
 * decode-udp.ts, decode-tcp.ts and decode-icmp.ts the rest.
 */

import { Cursor, isTrunc, type TcpSeqTable } from './decode-cursor.js';
import { ip6Print, ipPrint } from './decode-ip.js';
import { llcPrint } from './decode-llc.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_REVARP,
  ETHERTYPE_VLAN,
} from './ether.js';

export { formatTimestamp, type HexDumpOptions, hexDump, type TimestampOptions } from './hexdump.js';

/** tcpdump's MAXIMUM_SNAPLEN: larger caplen/len values mark the record header invalid. */
export const MAXIMUM_SNAPLEN = 262144;

export interface DecodeOptions {
  /** tcpdump -e: print the link-level header. */
  link?: boolean;
  /** tcpdump -S: absolute TCP sequence numbers (a Decoder is relative by default, like tcpdump). */
  absoluteTcpSeq?: boolean;
  /**
   * The caller prints its own hex dump (tcpdump -x/-X/-q): leave out the hex
   * lines the link layer prints for an unknown ethertype or LLC payload.
   */
  suppressDefaultPrint?: boolean;
}

export interface DecodeResult {
  /** What tcpdump prints after the time stamp (may hold "\n\t0x..." hex lines). */
  text: string;
  /** Bytes of link-level header (14, 18 with a VLAN tag; 0 after a truncation): tcpdump -x skips them. */
  linkHeaderLength: number;
}

const ETHERTYPE_NAMES = new Map<number, string>();
for (const [t, n] of [
  [ETHERTYPE_IPV4, 'IPv4'],
  [0x8847, 'MPLS unicast'],
  [0x8848, 'MPLS multicast'],
  [ETHERTYPE_IPV6, 'IPv6'],
  [ETHERTYPE_VLAN, '802.1Q'],
  [0x9100, '802.1Q-9100'],
  [ETHERTYPE_QINQ, '802.1Q-QinQ'],
  [0x9200, '802.1Q-9200'],
  [0x88e5, '802.1AE MACsec'],
  [0x0200, 'PUP'],
  [ETHERTYPE_ARP, 'ARP'],
  [ETHERTYPE_REVARP, 'Reverse ARP'],
  [0x0600, 'NS'],
  [0x0500, 'Sprite'],
  [0x1000, 'Trail'],
  [0x6001, 'MOP DL'],
  [0x6002, 'MOP RC'],
  [0x6003, 'DN'],
  [0x6004, 'LAT'],
  [0x6007, 'SCA'],
  [0x6558, 'TEB'],
  [0x8038, 'Lanbridge'],
  [0x803c, 'DEC DNS'],
  [0x803e, 'DEC DTS'],
  [0x805b, 'VEXP'],
  [0x805c, 'VPROD'],
  [0x809b, 'Appletalk'],
  [0x80f3, 'Appletalk ARP'],
  [0x8137, 'IPX'],
  [0x880b, 'PPP'],
  [0x8808, 'MPCP'],
  [0x8809, 'Slow Protocols'],
  [0x8863, 'PPPoE D'],
  [0x8864, 'PPPoE S'],
  [0x888e, 'EAPOL'],
  [0x8899, 'Realtek protocols'],
  [0x886f, 'MS NLB heartbeat'],
  [0x8870, 'Jumbo'],
  [0x894f, 'NSH'],
  [0x9000, 'Loopback'],
  [0xfefe, 'OSI'],
  [0x00fe, 'GRE-OSI'],
  [0xabcd, 'CFM (old)'],
  [0x8902, 'CFM'],
  [0x893a, 'IEEE1905.1'],
  [0x88cc, 'LLDP'],
  [0x88ca, 'TIPC'],
  [0x0707, 'GeoNet (old)'],
  [0x8947, 'GeoNet'],
  [0x1111, 'CALM FAST'],
  [0x88a2, 'AoE'],
  [0x88f7, 'PTP'],
  [0xd28b, 'Arista Vendor Specific Protocol'],
] as const) {
  ETHERTYPE_NAMES.set(t, n);
}

/** tcpdump's name of an ethertype ("IPv4", "802.1Q", ...), or "Unknown". */
export function ethertypeName(type: number): string {
  return ETHERTYPE_NAMES.get(type) ?? 'Unknown';
}

function typeText(type: number): string {
  return `ethertype ${ethertypeName(type)} (0x${type.toString(16).padStart(4, '0')})`;
}

const VLAN_TYPES = new Set([ETHERTYPE_VLAN, 0x9100, 0x9200, ETHERTYPE_QINQ]);

/** ether_common_print(): returns the link header length. */
function etherPrint(c: Cursor, p: number, length: number, caplen: number): number {
  c.proto = 'ether';
  if (length < caplen) {
    c.print(`[length ${length} < caplen ${caplen}] (invalid)`);
    return length;
  }
  if (caplen < 14) {
    c.printTrunc();
    return caplen;
  }
  const origLength = length;
  const src = c.mac(p + 6);
  const dst = c.mac(p);
  length -= 12;
  caplen -= 12;
  p += 12;
  let hdrlen = 12;
  if (c.eflag) c.print(`${src} > ${dst}, `);
  let type = c.u16(p);
  length -= 2;
  caplen -= 2;
  p += 2;
  hdrlen += 2;
  let printedLength = false;
  while (VLAN_TYPES.has(type)) {
    if (caplen < 4 || length < 4) {
      c.proto = 'vlan';
      c.printTrunc();
      return hdrlen + Math.min(caplen, length);
    }
    if (c.eflag) {
      const tci = c.u16(p);
      c.print(typeText(type));
      if (!printedLength) {
        c.print(`, length ${origLength}: `);
        printedLength = true;
      } else c.print(', ');
      c.print(`vlan ${tci & 0xfff}, p ${tci >> 13}${(tci & 0x1000) !== 0 ? ', DEI' : ''}, `);
    }
    type = c.u16(p + 2);
    p += 4;
    length -= 4;
    caplen -= 4;
    hdrlen += 4;
  }
  if (type <= 1500) {
    // An 802.3 length field: an LLC header follows.
    if (type < length) {
      length = type;
      if (caplen > length) caplen = length;
    }
    const saved = c.pushSnap(p, length);
    if (c.eflag) {
      c.print('802.3');
      if (!printedLength) c.print(`, length ${length}: `);
    }
    let llc = llcPrint(c, p, length, caplen, src, dst);
    if (llc < 0) {
      if (!c.suppressDefault) c.defaultPrint(p, caplen);
      llc = -llc;
    }
    c.snapend = saved;
    return hdrlen + llc;
  }
  if (c.eflag) {
    c.print(typeText(type));
    c.print(printedLength ? ', ' : `, length ${origLength}: `);
  }
  if (!ethertypePrint(c, type, p, length, caplen)) {
    if (!c.eflag) c.print(`${src} > ${dst}, ${typeText(type)}, length ${origLength}: `);
    if (!c.suppressDefault) c.defaultPrint(p, caplen);
  }
  return hdrlen;
}

function ethertypePrint(c: Cursor, type: number, p: number, length: number, caplen: number): boolean {
  switch (type) {
    case ETHERTYPE_IPV4:
      ipPrint(c, p, length);
      return true;
    case ETHERTYPE_IPV6:
      ip6Print(c, p, length);
      return true;
    case ETHERTYPE_ARP:
    case ETHERTYPE_REVARP:
      arpPrint(c, p, length, caplen);
      return true;
    default:
      return false;
  }
}

const ARP_OPS: Record<number, string> = {
  1: 'Request',
  2: 'Reply',
  3: 'Reverse Request',
  4: 'Reverse Reply',
  8: 'Inverse Request',
  9: 'Inverse Reply',
  10: 'NACK Reply',
};

const ARP_HRD: Record<number, string> = {
  1: 'Ethernet',
  6: 'TokenRing',
  7: 'ArcNet',
  15: 'FrameRelay',
  23: 'Strip',
  24: 'IEEE 1394',
  19: 'ATM',
  32: 'InfiniBand',
};

/** linkaddr_string() for Ethernet-style hardware addresses. */
function linkAddr(c: Cursor, p: number, len: number): string {
  if (len === 0) return '<empty>';
  if (len === 6) return c.mac(p);
  c.check(p, len);
  return Array.from(c.buf.subarray(p, p + len), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** arp_print() (print-arp.c); ATM ARP and Frame Relay addresses are not special-cased. */
function arpPrint(c: Cursor, bp: number, length: number, caplen: number): void {
  c.proto = 'arp';
  if (!c.has(bp, 8)) {
    c.printTrunc();
    return;
  }
  const hrd = c.u16(bp);
  const pro = c.u16(bp + 2);
  const hln = c.u8(bp + 4);
  const pln = c.u8(bp + 5);
  const op = c.u16(bp + 6);
  const sha = bp + 8;
  const spa = sha + hln;
  const tha = spa + pln;
  const tpa = tha + hln;
  if (!c.has(tpa, pln)) {
    c.printTrunc();
    return;
  }
  if (!c.eflag) c.print('ARP, ');
  const ipProto = pro === 0x0800 || pro === 0x1000;
  if (!ipProto || pln !== 4 || hln === 0) {
    const pname = ETHERTYPE_NAMES.get(pro) ?? `Unknown Protocol (0x${pro.toString(16).padStart(4, '0')})`;
    c.print(`${ARP_HRD[hrd] ?? `Unknown Hardware (${hrd})`} (len ${hln}), ${pname} (len ${pln})`);
    c.print(`, length ${length}`);
    return;
  }
  c.print(`${ARP_OPS[op] ?? `Unknown (${op})`} `);
  const ipAt = (at: number) => c.ip4(at);
  switch (op) {
    case 1: {
      c.print(`who-has ${ipAt(tpa)}`);
      let nonzero = false;
      for (let i = 0; i < hln; i++) if (c.u8(tha + i) !== 0) nonzero = true;
      if (nonzero) c.print(` (${linkAddr(c, tha, hln)})`);
      c.print(` tell ${ipAt(spa)}`);
      break;
    }
    case 2:
      c.print(`${ipAt(spa)} is-at ${linkAddr(c, sha, hln)}`);
      break;
    case 3:
    case 8:
      c.print(`who-is ${linkAddr(c, tha, hln)}`);
      c.print(` tell ${linkAddr(c, sha, hln)}`);
      break;
    case 4:
      c.print(`${linkAddr(c, tha, hln)} at ${ipAt(tpa)}`);
      break;
    case 9:
      c.print(`${linkAddr(c, sha, hln)} at ${ipAt(spa)}`);
      break;
    default:
      c.defaultPrint(bp, caplen);
      return;
  }
  c.print(`, length ${length}`);
}

function clampInt(v: number, lo: number, hi: number): number {
  if (!Number.isFinite(v)) return lo;
  return Math.min(hi, Math.max(lo, Math.trunc(v)));
}

function run(
  buf: Uint8Array,
  off: number,
  caplen: number,
  origLen: number,
  opts: DecodeOptions,
  table: TcpSeqTable | undefined,
): DecodeResult {
  const start = clampInt(off, 0, buf.length);
  const cap = clampInt(caplen, 0, buf.length - start);
  const len = clampInt(origLen, 0, 0xffffffff);
  let bad = '';
  if (len === 0) bad += ' len==0';
  else if (len < cap) bad += ` len(${len}) < caplen(${cap})`;
  if (cap > MAXIMUM_SNAPLEN) bad += `${bad === '' ? '' : ','} caplen(${cap}) > ${MAXIMUM_SNAPLEN}`;
  if (len > MAXIMUM_SNAPLEN) bad += `${bad === '' ? '' : ','} len(${len}) > ${MAXIMUM_SNAPLEN}`;
  if (bad !== '') return { text: `[Invalid header:${bad}]`, linkHeaderLength: 0 };
  const c = new Cursor(buf, start + cap, opts.link === true, table, opts.suppressDefaultPrint === true);
  let ll = 0;
  try {
    ll = etherPrint(c, start, len, cap);
  } catch (e) {
    if (isTrunc(e)) c.printTrunc();
    else c.print(' [|decode error]');
    ll = 0;
  }
  return { text: c.out, linkHeaderLength: ll };
}

/**
 * A stateful decoder: like one tcpdump run, it remembers TCP connections so
 * sequence numbers print relative to the first packet seen (unless absoluteTcpSeq).
 */
export class Decoder {
  readonly options: Readonly<DecodeOptions>;
  readonly #table: TcpSeqTable | undefined;

  constructor(opts: DecodeOptions = {}) {
    this.options = { ...opts };
    this.#table = opts.absoluteTcpSeq === true ? undefined : new Map();
  }

  /** The summary of the frame at buf[off, off+caplen) that was origLen bytes on the wire. */
  decode(buf: Uint8Array, off = 0, caplen = buf.length - off, origLen = caplen): string {
    return run(buf, off, caplen, origLen, this.options, this.#table).text;
  }

  /** decode() plus the link header length (for tcpdump -x, which dumps past it). */
  decodeFull(buf: Uint8Array, off = 0, caplen = buf.length - off, origLen = caplen): DecodeResult {
    return run(buf, off, caplen, origLen, this.options, this.#table);
  }

  /** Forgets TCP connections. */
  reset(): void {
    this.#table?.clear();
  }
}

/** Stateless summary of one frame (TCP sequence numbers absolute, as with tcpdump -S). */
export function summarize(
  buf: Uint8Array,
  off = 0,
  caplen = buf.length - off,
  origLen = caplen,
  opts: Omit<DecodeOptions, 'absoluteTcpSeq'> = {},
): string {
  return run(buf, off, caplen, origLen, opts, undefined).text;
}
