/*
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * sum16() returns an *unfolded* partial sum of big-endian 16-bit words, so
 * pieces (pseudo-header, header, payload) can be chained through `initial`
 * and folded once at the end; every piece but the last must have even length,
 * because each call starts a new word alignment. The accumulator is folded
 * every 32768 words, so it stays an exact integer for any length.
 *
 * Stored checksums are the complement of the folded sum. A correct packet sums
 * (checksum field included) to 0xffff, which is how verify*() test it. UDP
 * sends a computed 0 as 0xffff (0 means "no checksum", RFC 768); TCP, ICMP and
 * IPv4 headers store 0 as is.
 */

import { rd16, wr16 } from './be16.js';
import { IPPROTO_UDP } from './ether.js';

/** Partial ones'-complement sum of buf[off, off+len), added to `initial`; not folded. */
export function sum16(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  const end = off + len;
  let i = off;
  while (i + 1 < end) {
    let chunkEnd = i + 65536; // 32768 words: at most 2^31 added before the next fold
    if (chunkEnd > end - 1) chunkEnd = end - 1;
    for (; i < chunkEnd; i += 2) s += (buf[i] << 8) | buf[i + 1];
    s = (s & 0xffff) + Math.floor(s / 65536);
  }
  if (i < end) s += buf[i] << 8; // odd byte is the high half of a zero-padded word
  return s;
}

/** Folds a partial sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** The checksum to store: complement of the folded sum of buf[off, off+len) (+ initial). */
export function inetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~fold(sum16(buf, off, len, initial)) & 0xffff;
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data
 * changes from `oldWord` to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function cksumUpdate16(cksum: number, oldWord: number, newWord: number): number {
  const s = fold((~cksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff));
  return ~s & 0xffff;
}

/** Same for an aligned 32-bit field (an IPv4 address, a sequence number). */
export function cksumUpdate32(cksum: number, oldValue: number, newValue: number): number {
  const c = cksumUpdate16(cksum, oldValue >>> 16, newValue >>> 16);
  return cksumUpdate16(c, oldValue & 0xffff, newValue & 0xffff);
}

/** UDP variant of the update: keeps 0 ("no checksum") as is and never produces 0. */
export function udpCksumUpdate16(cksum: number, oldWord: number, newWord: number): number {
  if (cksum === 0) return 0;
  const c = cksumUpdate16(cksum, oldWord, newWord);
  return c === 0 ? 0xffff : c;
}

export function udpCksumUpdate32(cksum: number, oldValue: number, newValue: number): number {
  if (cksum === 0) return 0;
  const c = cksumUpdate32(cksum, oldValue, newValue);
  return c === 0 ? 0xffff : c;
}

/** Header length in bytes of the IPv4 header at buf[ipOff] (IHL*4). */
export function ipv4HeaderLength(buf: Uint8Array, ipOff: number): number {
  return (buf[ipOff] & 0x0f) * 4;
}

/** Checksum the IPv4 header at buf[ipOff] should carry (its own field counted as 0). */
export function ipv4HeaderChecksum(buf: Uint8Array, ipOff: number): number {
  const hl = ipv4HeaderLength(buf, ipOff);
  return ~fold(sumSkipping(buf, ipOff, hl, 10, 0)) & 0xffff;
}

/** Computes and stores the IPv4 header checksum; returns it. */
export function setIpv4HeaderChecksum(buf: Uint8Array, ipOff: number): number {
  const c = ipv4HeaderChecksum(buf, ipOff);
  wr16(buf, ipOff + 10, c);
  return c;
}

/** True if the IPv4 header at buf[ipOff] carries a correct checksum. */
export function verifyIpv4HeaderChecksum(buf: Uint8Array, ipOff: number): boolean {
  const hl = ipv4HeaderLength(buf, ipOff);
  return hl >= 20 && ipOff + hl <= buf.length && fold(sum16(buf, ipOff, hl)) === 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header for the datagram whose IPv4 header is at buf[ipOff]. */
export function pseudoSum4(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return sum16(buf, ipOff + 12, 8) + proto + l4Len;
}

/** Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1) for the header at buf[ip6Off]. */
export function pseudoSum6(buf: Uint8Array, ip6Off: number, nextHeader: number, l4Len: number): number {
  return sum16(buf, ip6Off + 8, 32) + Math.floor(l4Len / 65536) + (l4Len & 0xffff) + nextHeader;
}

/** Offset of the checksum field inside a transport header, or -1 if unknown. */
export function l4ChecksumOffset(proto: number): number {
  switch (proto) {
    case 6:
      return 16; // TCP
    case 17:
      return 6; // UDP
    case 1:
    case 58:
      return 2; // ICMP, ICMPv6
    default:
      return -1;
  }
}

/** Sum of buf[off, off+len) with the 16-bit word at off+skipAt (an even offset) counted as 0. */
function sumSkipping(buf: Uint8Array, off: number, len: number, skipAt: number, initial: number): number {
  if (skipAt < 0 || skipAt + 2 > len) return sum16(buf, off, len, initial);
  const head = sum16(buf, off, skipAt, initial);
  return sum16(buf, off + skipAt + 2, len - skipAt - 2, head);
}

function l4Checksum(buf: Uint8Array, l4Off: number, l4Len: number, proto: number, pseudo: number): number {
  const c = ~fold(sumSkipping(buf, l4Off, l4Len, l4ChecksumOffset(proto), pseudo)) & 0xffff;
  return proto === IPPROTO_UDP && c === 0 ? 0xffff : c;
}

/**
 * Checksum a TCP/UDP segment (proto 6/17) at buf[l4Off, l4Off+l4Len) behind the
 * IPv4 header at buf[ipOff] should carry. proto 1 (ICMP) has no pseudo-header.
 */
export function l4Checksum4(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number, proto: number): number {
  return l4Checksum(buf, l4Off, l4Len, proto, proto === 1 ? 0 : pseudoSum4(buf, ipOff, proto, l4Len));
}

/** Same over IPv6 (TCP, UDP, ICMPv6 all use the pseudo-header). */
export function l4Checksum6(buf: Uint8Array, ip6Off: number, l4Off: number, l4Len: number, proto: number): number {
  return l4Checksum(buf, l4Off, l4Len, proto, pseudoSum6(buf, ip6Off, proto, l4Len));
}

/** Computes and stores the transport checksum over IPv4; returns it. */
export function setL4Checksum4(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number, proto: number): number {
  const c = l4Checksum4(buf, ipOff, l4Off, l4Len, proto);
  wr16(buf, l4Off + l4ChecksumOffset(proto), c);
  return c;
}

/** Computes and stores the transport checksum over IPv6; returns it. */
export function setL4Checksum6(buf: Uint8Array, ip6Off: number, l4Off: number, l4Len: number, proto: number): number {
  const c = l4Checksum6(buf, ip6Off, l4Off, l4Len, proto);
  wr16(buf, l4Off + l4ChecksumOffset(proto), c);
  return c;
}

/** True if the segment's stored checksum is right (a UDP-over-IPv4 zero means "none" and passes). */
export function verifyL4Checksum4(
  buf: Uint8Array,
  ipOff: number,
  l4Off: number,
  l4Len: number,
  proto: number,
): boolean {
  if (proto === IPPROTO_UDP && rd16(buf, l4Off + 6) === 0) return true;
  const pseudo = proto === 1 ? 0 : pseudoSum4(buf, ipOff, proto, l4Len);
  return fold(sum16(buf, l4Off, l4Len, pseudo)) === 0xffff;
}

export function verifyL4Checksum6(
  buf: Uint8Array,
  ip6Off: number,
  l4Off: number,
  l4Len: number,
  proto: number,
): boolean {
  return fold(sum16(buf, l4Off, l4Len, pseudoSum6(buf, ip6Off, proto, l4Len))) === 0xffff;
}
