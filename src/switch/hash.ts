/*
 * The learning table's hash: Bob Jenkins' lookup2 96-bit mix, as FreeBSD's
 * if_bridge and netmap's VALE use it (nm_bridge_rthash), so bucket collisions
 * match VALE's exactly. Golden vectors from a C build of the same mix live in
 * test/fixtures/rthash-vectors.txt (made by test/fixtures/rthash.c).
 *
 * A MAC address is passed as two integers read little-endian from the frame:
 *   a = b0 | b1<<8 | b2<<16 | b3<<24     (the first four bytes)
 *   b = b4 | b5<<8                        (the last two)
 * which is how the data path loads it (one i32 and one u16 read).
 */

import { formatMacWords, tryParseMac } from '../pkt/ether.js';

/** Number of buckets in the learning table (NM_BDG_HASH). */
export const HASH_SIZE = 1024;
export const HASH_MASK = HASH_SIZE - 1;
const GOLDEN = 0x9e3779b9 | 0;
/** HASH_MASK as this module's own const: TurboFan folds it where rthash is inlined (an exported binding is a cell it loads). */
const MASK = HASH_SIZE - 1;

/** Bucket of the MAC whose bytes are `a` (0..3) and `b` (4..5); 32-bit unsigned math. */
export function rthash(a0: number, b0: number): number {
  let a = (GOLDEN + a0) | 0;
  let b = (GOLDEN + b0) | 0;
  let c = 0;
  a = (a - b - c) | 0;
  a ^= c >>> 13;
  b = (b - c - a) | 0;
  b ^= a << 8;
  c = (c - a - b) | 0;
  c ^= b >>> 13;
  a = (a - b - c) | 0;
  a ^= c >>> 12;
  b = (b - c - a) | 0;
  b ^= a << 16;
  c = (c - a - b) | 0;
  c ^= b >>> 5;
  a = (a - b - c) | 0;
  a ^= c >>> 3;
  b = (b - c - a) | 0;
  b ^= a << 10;
  c = (c - a - b) | 0;
  c ^= b >>> 15;
  return c & MASK;
}

/** Splits "aa:bb:cc:dd:ee:ff" (or 6 bytes) into the (a, b) pair used above. */
export function macWords(mac: string | Uint8Array): { a: number; b: number } {
  const bytes = typeof mac === 'string' ? parseMac(mac) : mac;
  const a = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24) | 0;
  const b = bytes[4] | (bytes[5] << 8);
  return { a, b };
}

/** Parses a MAC's text (pkt/ether.ts's syntax, nothing trimmed); throws TypeError when it is not one. */
export function parseMac(text: string): Uint8Array {
  const mac = tryParseMac(text);
  if (mac === undefined) throw new TypeError(`invalid MAC address '${text}'`);
  return mac;
}

/** The text of the MAC (a, b), as the table's dumps and logs show it. */
export const formatMac = formatMacWords;
