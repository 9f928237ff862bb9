/*
 * The few payload bytes pkt-gen's ping/pong and txseq/rxseq functions use.
 *
 *   txseq/rxseq: u32 big-endian sequence at the payload start (offset 42 for
 *                IPv4, 62 for IPv6), as txseq_body()/rxseq_body() do.
 *   ping/pong:   sequence at offset 42, then {sec, nsec} u32 at 46. pkt-gen
 *                copies them in host byte order (bcopy of a u64 counter, then a
 *                struct store), i.e. little-endian on the x86/arm hosts it runs
 *                on; we write little-endian so a real pkt-gen reads our values.
 *
 * Frames live at buf[base...] so callers can write into a ring buffer without
 * a subarray. Writers patch the UDP checksum incrementally when the frame is
 * IPv4/IPv6 + UDP and long enough (txseq does that too; pkt-gen's ping leaves
 * the checksum stale, we keep it right so captures verify).
 */

import { cksumUpdate16 } from './checksum.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_UDP } from './ether.js';

export const PING_SEQ_OFFSET = 42;
export const PING_STAMP_OFFSET = 46;
/** Bytes a ping frame needs: 42 + 4 (seq) + 8 (sec, nsec). */
export const PING_MIN_LEN = 54;

export interface PingStamp {
  seq: number;
  sec: number;
  nsec: number;
}

/** Payload offset of a pkt-gen frame at buf[base]: 42 (IPv4), 62 (IPv6), else 42. */
export function pktgenPayloadOffset(buf: Uint8Array, base = 0): number {
  const type = (buf[base + 12] << 8) | buf[base + 13];
  return type === ETHERTYPE_IPV6 ? 62 : 42;
}

/** Where the frame's UDP header starts and ends (from base), if it has a checksum in use. */
function udpCksumFor(buf: Uint8Array, base: number, len: number): { at: number; udp: number; end: number } | undefined {
  if (len < 42) return undefined;
  const type = (buf[base + 12] << 8) | buf[base + 13];
  if (type === ETHERTYPE_IPV4) {
    const hl = (buf[base + 14] & 0x0f) * 4;
    if (buf[base + 14] >> 4 !== 4 || buf[base + 23] !== IPPROTO_UDP) return undefined;
    const udp = 14 + hl;
    if (udp + 8 > len) return undefined;
    const at = udp + 6;
    if (buf[base + at] === 0 && buf[base + at + 1] === 0) return undefined; // no checksum in use
    return { at, udp, end: udp + ((buf[base + udp + 4] << 8) | buf[base + udp + 5]) };
  }
  if (type === ETHERTYPE_IPV6) {
    if (len < 62 || buf[base + 20] !== IPPROTO_UDP) return undefined;
    return { at: 60, udp: 54, end: 54 + ((buf[base + 58] << 8) | buf[base + 59]) };
  }
  return undefined;
}

/**
 * Writes `bytes` (even count) at frame offset `off`, keeping the UDP checksum
 * valid if the write is word-aligned inside the UDP datagram.
 */
function writeCovered(buf: Uint8Array, base: number, len: number, off: number, bytes: number[]): void {
  const u = udpCksumFor(buf, base, len);
  const end = off + bytes.length;
  const aligned = u !== undefined && off >= u.udp + 8 && (off - u.udp) % 2 === 0 && end <= len && end <= u.end;
  let c = aligned ? (buf[base + u.at] << 8) | buf[base + u.at + 1] : 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const p = base + off + i;
    const old = (buf[p] << 8) | buf[p + 1];
    buf[p] = bytes[i];
    buf[p + 1] = bytes[i + 1];
    if (aligned) c = cksumUpdate16(c, old, (bytes[i] << 8) | bytes[i + 1]);
  }
  if (aligned && u !== undefined) {
    if (c === 0) c = 0xffff;
    buf[base + u.at] = c >>> 8;
    buf[base + u.at + 1] = c;
  }
}

const be32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/**
 * txseq: stores `seq` (u32, big-endian) at the payload start of the frame of
 * `len` bytes at buf[base]; patches the UDP checksum.
 */
export function writeTxSeq(buf: Uint8Array, seq: number, len: number, base = 0): void {
  const off = pktgenPayloadOffset(buf, base);
  if (off + 4 > len) return;
  writeCovered(buf, base, len, off, be32(seq >>> 0));
}

/** rxseq: the big-endian sequence at the payload start, or undefined if the frame is too short. */
export function readRxSeq(buf: Uint8Array, len: number, base = 0): number | undefined {
  const off = pktgenPayloadOffset(buf, base);
  if (off + 4 > len) return undefined;
  const p = base + off;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** ping: stores seq at 42 and {sec, nsec} at 46 (little-endian u32s, see above). */
export function writePingStamp(buf: Uint8Array, stamp: PingStamp, len: number, base = 0): void {
  if (len < PING_MIN_LEN) return;
  writeCovered(buf, base, len, PING_SEQ_OFFSET, [
    ...le32(stamp.seq >>> 0),
    ...le32(stamp.sec >>> 0),
    ...le32(stamp.nsec >>> 0),
  ]);
}

/** pong/ping receive side: the stamp at 42..53, or undefined if the frame is too short. */
export function readPingStamp(buf: Uint8Array, len: number, base = 0): PingStamp | undefined {
  if (len < PING_MIN_LEN) return undefined;
  const u32 = (o: number) =>
    (buf[base + o] | (buf[base + o + 1] << 8) | (buf[base + o + 2] << 16) | (buf[base + o + 3] << 24)) >>> 0;
  return { seq: u32(PING_SEQ_OFFSET), sec: u32(PING_STAMP_OFFSET), nsec: u32(PING_STAMP_OFFSET + 4) };
}

/**
 * pong: turns a received frame around in place, swapping the MAC addresses and
 * the IPv4 (or IPv6) addresses; checksums stay valid (the sums do not change).
 */
export function swapForPong(buf: Uint8Array, len: number, base = 0): void {
  const swap = (a: number, b: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const t = buf[base + a + i];
      buf[base + a + i] = buf[base + b + i];
      buf[base + b + i] = t;
    }
  };
  if (len < 14) return;
  swap(0, 6, 6);
  const type = (buf[base + 12] << 8) | buf[base + 13];
  if (type === ETHERTYPE_IPV4 && len >= 34) swap(26, 30, 4);
  else if (type === ETHERTYPE_IPV6 && len >= 54) swap(22, 38, 16);
}
