/*
 * Link and network addresses: ethertype constants, MAC and IPv4/IPv6 text
 * forms, read straight from (bytes, offset) so decoders need no copies.
 *
 * MAC text parsing and formatting live here, the project's one MAC syntax;
 * the learning table (switch/hash.ts) uses them for its (a, b) word pairs.
 * IPv4 addresses are unsigned 32-bit numbers in host order (10.0.0.1 =
 * 0x0a000001); IPv6 addresses are 16-byte arrays. formatIp6 prints what
 * tcpdump prints (RFC 5952 shape: longest zero run of two or more words
 * becomes "::", the first one on ties; ::a.b.c.d and ::ffff:a.b.c.d keep the
 * dotted tail).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';

export const ETHER_ADDR_LEN = 6;
export const ETHER_HDR_LEN = 14;
export const VLAN_HDR_LEN = 4;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_REVARP = 0x8035;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const IPV4_HDR_LEN = 20;
export const IPV6_HDR_LEN = 40;
export const UDP_HDR_LEN = 8;
export const TCP_HDR_LEN = 20;

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

const MAC_RE =
  /^([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})$/;

/** "aa:bb:cc:dd:ee:ff" (also '-' separated, 1-2 hex digits a byte) as 6 bytes, or undefined. */
export function tryParseMac(text: string): Uint8Array | undefined {
  const m = MAC_RE.exec(text);
  if (m === null) return undefined;
  return Uint8Array.from(m.slice(1, 7).map((h) => Number.parseInt(h, 16)));
}

/** Parses "aa:bb:cc:dd:ee:ff" (also '-' separated, 1-2 hex digits a byte; spaces around ignored) into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const mac = tryParseMac(text.trim());
  if (mac === undefined) throw new ValeError(ErrorCodes.INVALID_ARG, `invalid MAC address '${text}'`);
  return mac;
}

/** "aa:bb:cc:dd:ee:ff" of a MAC held as two little-endian words: a = bytes 0..3, b = bytes 4..5. */
export function formatMacWords(a: number, b: number): string {
  const bytes = [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, (a >>> 24) & 0xff, b & 0xff, (b >>> 8) & 0xff];
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** "aa:bb:cc:dd:ee:ff" of the 6 bytes at buf[off]; lower case, as tcpdump -n prints. */
export function formatMac(buf: Uint8Array, off = 0): string {
  const a = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
  const b = buf[off + 4] | (buf[off + 5] << 8);
  return formatMacWords(a, b);
}

/** Writes the MAC (text or 6 bytes) at buf[off]. */
export function writeMac(buf: Uint8Array, off: number, mac: string | Uint8Array): void {
  const bytes = typeof mac === 'string' ? parseMac(mac) : mac;
  if (bytes.length !== ETHER_ADDR_LEN) throw new ValeError(ErrorCodes.INVALID_ARG, 'a MAC address has 6 bytes');
  buf.set(bytes, off);
}

const DEC_OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** Returns the IPv4 address as an unsigned number, or undefined if `text` is not a dotted quad. */
export function tryParseIp4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!DEC_OCTET.test(p)) return undefined;
    v = v * 256 + Number(p);
  }
  return v >>> 0;
}

/** Parses "a.b.c.d" (decimal, no leading zeros) into an unsigned 32-bit number. */
export function parseIp4(text: string): number {
  const v = tryParseIp4(text.trim());
  if (v === undefined) throw new ValeError(ErrorCodes.INVALID_ARG, `invalid IPv4 address '${text}'`);
  return v;
}

/** "a.b.c.d" of a 32-bit address number. */
export function formatIp4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** "a.b.c.d" of the 4 bytes at buf[off]. */
export function formatIp4At(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Reads a big-endian IPv4 address at buf[off] as an unsigned number. */
export function readIp4(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Writes a 32-bit IPv4 address big-endian at buf[off]. */
export function writeIp4(buf: Uint8Array, off: number, addr: number): void {
  buf[off] = addr >>> 24;
  buf[off + 1] = addr >>> 16;
  buf[off + 2] = addr >>> 8;
  buf[off + 3] = addr;
}

const HEX4 = /^[0-9a-fA-F]{1,4}$/;

/** Returns the 16 bytes of an IPv6 address in RFC 4291 text form, or undefined. */
export function tryParseIp6(text: string): Uint8Array | undefined {
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct); // a zone index names a link, not part of the address
  if (s.length === 0 || s.length > 45) return undefined;
  const words: number[] = [];
  const dc = s.indexOf('::');
  if (dc !== s.lastIndexOf('::')) return undefined;
  const parseSide = (side: string, allowV4: boolean): number[] | undefined => {
    if (side === '') return [];
    const parts = side.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as string;
      if (allowV4 && i === parts.length - 1 && p.includes('.')) {
        const v4 = tryParseIp4(p);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!HEX4.test(p)) return undefined;
        out.push(Number.parseInt(p, 16));
      }
    }
    return out;
  };
  if (dc >= 0) {
    const head = parseSide(s.slice(0, dc), false);
    const rest = parseSide(s.slice(dc + 2), true);
    if (head === undefined || rest === undefined) return undefined;
    if (head.length + rest.length > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest);
  } else {
    const all = parseSide(s, true);
    if (all === undefined || all.length !== 8) return undefined;
    words.push(...all);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >>> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

/** Parses an IPv6 address ("2001:db8::1", "::ffff:10.0.0.1") into 16 bytes. */
export function parseIp6(text: string): Uint8Array {
  const v = tryParseIp6(text.trim());
  if (v === undefined) throw new ValeError(ErrorCodes.INVALID_ARG, `invalid IPv6 address '${text}'`);
  return v;
}

/** Text form of the 16-byte IPv6 address at buf[off], as tcpdump's addrtostr6 prints it. */
export function formatIp6(buf: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += formatIp4At(buf, off + 12);
      return s;
    }
    s += w[i].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ':';
  return s;
}
