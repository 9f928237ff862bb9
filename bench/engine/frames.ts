/*
 * The frames the bench generator pre-fills, byte for byte the same as
 * fill_frame() in bench/c/engine.c, so both engines copy identical data.
 *
 *   0..5    destination: ff:ff:ff:ff:ff:ff (broadcast4) or the other port's
 *           MAC (unicast: port 0 <-> port 1)
 *   6..11   source: 02:00:00:00:00:(port + 1), a locally administered unicast
 *   12..13  ethertype 0x88b5 (IEEE local experimental)
 *   14..    a pattern of (byte offset, slot, port); bytes 16..23 hold a
 *           signalling NaN (the switch copies small frames as Float64 words,
 *           which must keep every bit pattern)
 *   last 8  slot number, port and a quiet-NaN-like tail, so the first and last
 *           8 bytes of a received frame identify the TX slot it came from
 */

export type Topology = 'unicast' | 'broadcast4';

const SNAN = [1, 0, 0, 0, 0, 0, 0xf0, 0x7f];

/** Writes the frame of TX slot `slot` of sender `port` into `u8` at `off`. */
export function fillFrame(u8: Uint8Array, off: number, port: number, topo: Topology, slot: number, size: number): void {
  for (let k = 0; k < 6; k++) {
    u8[off + k] = topo === 'broadcast4' ? 0xff : k === 0 ? 0x02 : k === 5 ? 2 - port : 0;
    u8[off + 6 + k] = k === 0 ? 0x02 : k === 5 ? port + 1 : 0;
  }
  u8[off + 12] = 0x88;
  u8[off + 13] = 0xb5;
  for (let i = 14; i < size; i++) u8[off + i] = (i * 31 + slot * 7 + port * 13) & 0xff;
  if (size >= 24) for (let i = 0; i < 8; i++) u8[off + 16 + i] = SNAN[i] as number;
  const tail = [slot & 0xff, (slot >>> 8) & 0xff, port, 0xa5, 0, 0, 0xf8, 0xff];
  for (let i = 0; i < 8; i++) u8[off + size - 8 + i] = tail[i] as number;
}
