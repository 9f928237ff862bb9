/*
 * Offloads of a vhost-user port: the virtio-net header a front-end writes
 * and reads, mapped onto the 12-byte header a uvale port may carry
 * (VPort.hdrLen; docs/vhost-user.md, src/switch/offload.ts).
 *
 * The port carries the header only when the front-end negotiated an offload
 * (VIRTIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6); otherwise it
 * carries none and frames take the switch's fast path as before. With the
 * header:
 *
 *   guest → switch  the guest's header goes in front of the frame after a
 *                   check against what it negotiated: NEEDS_CSUM only with
 *                   CSUM, a TCPV4/TCPV6 GSO type only with HOST_TSO4/6, no
 *                   ECN or UDP GSO (not offered); num_buffers is zeroed. A
 *                   64 KB TSO frame crosses the switch whole to ports with a
 *                   header and is segmented by the switch for the others.
 *   switch → guest  the header in the RX ring (the sender's, or the switch's
 *                   zeros) is handed over if the guest can take it: a GSO
 *                   frame needs GUEST_TSO4/6 (without it the port cuts it
 *                   into segments with their checksums: rxSegmentGso), a
 *                   NEEDS_CSUM frame for a guest without GUEST_CSUM gets its
 *                   checksum here; DATA_VALID only with GUEST_CSUM.
 *
 * Header fields are read from bytes any peer can write: every offset is
 * checked against the frame before use.
 */

import { fold, sum16 } from '../../pkt/checksum.js';
import {
  VNET_HDR_F_DATA_VALID,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_TCPV6,
} from '../../switch/offload.js';
import { Feature } from './protocol.js';

/** Bytes of virtio_net_hdr_mrg_rxbuf: the only header a vhost-user port carries (VERSION_1 or MRG_RXBUF). */
export const VNET_HDR = 12;

/** Negotiated offloads as plain bits (the hot path tests numbers, not bigints). */
export const OFF_CSUM = 1;
export const OFF_GUEST_CSUM = 2;
export const OFF_HOST_TSO4 = 4;
export const OFF_HOST_TSO6 = 8;
export const OFF_GUEST_TSO4 = 16;
export const OFF_GUEST_TSO6 = 32;

/** The offload feature bits this port offers. */
export const OFFLOAD_FEATURES: readonly number[] = [
  Feature.NET_F_CSUM,
  Feature.NET_F_GUEST_CSUM,
  Feature.NET_F_HOST_TSO4,
  Feature.NET_F_HOST_TSO6,
  Feature.NET_F_GUEST_TSO4,
  Feature.NET_F_GUEST_TSO6,
];
const OFF_BITS = [OFF_CSUM, OFF_GUEST_CSUM, OFF_HOST_TSO4, OFF_HOST_TSO6, OFF_GUEST_TSO4, OFF_GUEST_TSO6];

/** The OFF_* bits of a negotiated feature set. */
export function offloadsOf(has: (feature: number) => boolean): number {
  let o = 0;
  for (let i = 0; i < OFFLOAD_FEATURES.length; i++) if (has(OFFLOAD_FEATURES[i]!)) o |= OFF_BITS[i]!;
  return o;
}

/**
 * Checks the guest's TX header in h[0, 12) against its offloads `off` and the frame length, and zeroes
 * num_buffers. @returns false when the header asks for what was not negotiated or points outside the frame.
 */
export function checkTxHeader(h: Uint8Array, off: number, frameLen: number): boolean {
  const flags = h[0]!;
  const gso = h[1]!;
  h[10] = 0;
  h[11] = 0;
  if ((flags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
    if ((off & OFF_CSUM) === 0) return false;
    if (csumAt(h, frameLen) < 0) return false;
  }
  h[0] = flags & VNET_HDR_F_NEEDS_CSUM; // DATA_VALID means nothing on TX
  if (gso === VNET_HDR_GSO_NONE) return true;
  if (gso === VNET_HDR_GSO_TCPV4) return (off & OFF_HOST_TSO4) !== 0 && gsoSize(h) !== 0;
  if (gso === VNET_HDR_GSO_TCPV6) return (off & OFF_HOST_TSO6) !== 0 && gsoSize(h) !== 0;
  return false;
}

/**
 * Makes the header at f[0, 12) (frame after it, `total` bytes in all) fit a guest with offloads `off`:
 * finishes a checksum the guest cannot, clears what it may not see. @returns false: drop the frame.
 */
export function fitRxHeader(f: Uint8Array, total: number, off: number): boolean {
  const flags = f[0]!;
  const gso = f[1]!;
  const frameLen = total - VNET_HDR;
  if (gso !== VNET_HDR_GSO_NONE) {
    const ok =
      (gso === VNET_HDR_GSO_TCPV4 && (off & OFF_GUEST_TSO4) !== 0) ||
      (gso === VNET_HDR_GSO_TCPV6 && (off & OFF_GUEST_TSO6) !== 0);
    if (!ok || gsoSize(f) === 0) return false;
  }
  if ((flags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
    const at = csumAt(f, frameLen);
    if (at < 0) return false;
    if ((off & OFF_GUEST_CSUM) === 0) {
      if (gso !== VNET_HDR_GSO_NONE) return false; // GUEST_TSO without GUEST_CSUM: not a valid negotiation
      // the field holds the pseudo-header sum: add the rest and store the complement
      const start = VNET_HDR + (f[6]! | (f[7]! << 8));
      const a = VNET_HDR + at;
      const s = ~fold(sum16(f, start, total - start)) & 0xffff;
      f[a] = s >>> 8;
      f[a + 1] = s & 0xff;
      f[0] = 0;
      return true;
    }
  }
  f[0] = (off & OFF_GUEST_CSUM) === 0 ? 0 : flags & (VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID);
  return true;
}

/**
 * The GSO type (TCPV4 or TCPV6) of a header at f[0, 12) that a guest with offloads `off` cannot take whole but
 * the port can cut for it, or 0.
 */
export function rxSegmentGso(f: Uint8Array, off: number): number {
  const gso = f[1]!;
  if (gsoSize(f) === 0) return 0;
  if (gso === VNET_HDR_GSO_TCPV4 && (off & OFF_GUEST_TSO4) === 0) return gso;
  if (gso === VNET_HDR_GSO_TCPV6 && (off & OFF_GUEST_TSO6) === 0) return gso;
  return 0;
}

/** gso_size of a header at h[0, 12). */
export function gsoSize(h: Uint8Array): number {
  return h[4]! | (h[5]! << 8);
}

/** The frame offset of the checksum field a NEEDS_CSUM header names, or -1 if it is not inside the frame. */
function csumAt(h: Uint8Array, frameLen: number): number {
  const start = h[6]! | (h[7]! << 8);
  const at = start + (h[8]! | (h[9]! << 8));
  return at + 2 <= frameLen ? at : -1;
}
