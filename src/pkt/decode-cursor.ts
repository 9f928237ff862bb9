/*
 * The decoder's reading head, modelled on tcpdump's netdissect_options.
 *
 * `snapend` is the first byte that was not captured (or that lies past the
 * current protocol's length, once a printer narrows it with pushSnap()). Every
 * read checks it and throws the TRUNC sentinel on failure; the entry point
 * (decode.ts) catches it and appends " [|proto]", the marker tcpdump's
 * GET_* macros print through their longjmp. Text accumulates in `out`.
 * TRUNC is a preallocated plain object, so truncation costs no stack capture.
 */

import { formatIp4At, formatIp6, formatMac } from './ether.js';
import { hexAsciiLines, hexLines } from './hexdump.js';

/** The one value thrown for "read past the captured bytes". */
export const TRUNC: { readonly trunc: true } = Object.freeze({ trunc: true as const });

export function isTrunc(e: unknown): boolean {
  return e === TRUNC;
}

/** Relative TCP sequence state (tcpdump's tcp_seq_hash), kept across packets by a Decoder. */
export type TcpSeqTable = Map<string, { seq: number; ack: number }>;

export class Cursor {
  readonly buf: Uint8Array;
  snapend: number;
  out = '';
  /** Name used in the " [|name]" truncation marker. */
  proto = '';
  /** tcpdump -e: print the link-level header. */
  readonly eflag: boolean;
  /** Undefined = absolute TCP sequence numbers (tcpdump -S). */
  readonly tcpSeq: TcpSeqTable | undefined;
  /** tcpdump -x/-X: the link layer skips its hex dump of unknown payloads. */
  readonly suppressDefault: boolean;

  constructor(
    buf: Uint8Array,
    snapend: number,
    eflag: boolean,
    tcpSeq: TcpSeqTable | undefined,
    suppressDefault = false,
  ) {
    this.buf = buf;
    this.snapend = snapend;
    this.eflag = eflag;
    this.tcpSeq = tcpSeq;
    this.suppressDefault = suppressDefault;
  }

  print(s: string): void {
    this.out += s;
  }

  /** tcpdump's nd_print_trunc(). */
  printTrunc(): void {
    this.out += ` [|${this.proto}]`;
  }

  /** ND_TTEST_LEN: were `n` bytes at `p` captured? */
  has(p: number, n: number): boolean {
    return n >= 0 && p >= 0 && p + n <= this.snapend;
  }

  /** ND_BYTES_AVAILABLE_AFTER. */
  avail(p: number): number {
    return p >= this.snapend ? 0 : this.snapend - p;
  }

  check(p: number, n: number): void {
    if (!this.has(p, n)) throw TRUNC;
  }

  u8(p: number): number {
    this.check(p, 1);
    return this.buf[p];
  }

  u16(p: number): number {
    this.check(p, 2);
    return (this.buf[p] << 8) | this.buf[p + 1];
  }

  u32(p: number): number {
    this.check(p, 4);
    return ((this.buf[p] << 24) | (this.buf[p + 1] << 16) | (this.buf[p + 2] << 8) | this.buf[p + 3]) >>> 0;
  }

  /** Little-endian 16 bits (LLC control field). */
  u16le(p: number): number {
    this.check(p, 2);
    return this.buf[p] | (this.buf[p + 1] << 8);
  }

  ip4(p: number): string {
    this.check(p, 4);
    return formatIp4At(this.buf, p);
  }

  ip6(p: number): string {
    this.check(p, 16);
    return formatIp6(this.buf, p);
  }

  mac(p: number): string {
    this.check(p, 6);
    return formatMac(this.buf, p);
  }

  /** nd_push_snaplen: narrow the captured end to p+len; returns the value to restore. */
  pushSnap(p: number, len: number): number {
    const saved = this.snapend;
    if (p + len < this.snapend) this.snapend = p + len;
    return saved;
  }

  /** hex_and_ascii_print(ndo, "\n\t", p, len): prints what was captured, then TRUNC if short. */
  defaultPrint(p: number, len: number): void {
    const n = Math.min(len, this.avail(p));
    this.out += hexAsciiLines(this.buf, p, n, { indent: '\n\t' });
    if (n < len) throw TRUNC;
  }

  /** print_unknown_data(ndo, p, "\n\t", len): hex only, clipped to the captured bytes. */
  unknownData(p: number, len: number): void {
    if (p > this.snapend) {
      this.out += '\n\tDissector error: print_unknown_data called with pointer past end of packet';
      return;
    }
    this.out += hexLines(this.buf, p, Math.min(len, this.avail(p)), { indent: '\n\t' });
  }
}

/** Source and destination address text of the IPv4 (ver 4) or IPv6 header at `ip`. */
export function addrPair(c: Cursor, ip: number, ver: 4 | 6): [string, string] {
  return ver === 4 ? [c.ip4(ip + 12), c.ip4(ip + 16)] : [c.ip6(ip + 8), c.ip6(ip + 24)];
}

/** Protocol / next-header field of the IP header at `ip`. */
export function nextHeader(c: Cursor, ip: number, ver: 4 | 6): number {
  return c.u8(ver === 4 ? ip + 9 : ip + 6);
}
