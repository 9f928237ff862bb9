/*
 * The encapsulation headers of the two Ethernet-over-UDP tunnels uvale
 * speaks (docs/vxlan.md): VXLAN (RFC 7348, UDP port 4789) and Geneve
 * (RFC 8926, UDP port 6081). Both carry one whole Ethernet frame after a
 * header that names a 24-bit segment (the VNI).
 *
 *   VXLAN   flags(8: I = 0x08) reserved(24) | VNI(24) reserved(8)
 *   Geneve  ver(2) optlen(6) | O C rsvd(6) | protocol(16) | VNI(24) rsvd(8)
 *           then optlen * 4 bytes of options (TLVs: class 16, type 8,
 *           rsvd 3 + length 5 in words), then the frame; protocol 0x6558
 *           (Transparent Ethernet Bridging) for an Ethernet frame.
 *
 * Decoding never throws: it returns a status (TUN_OK or the reason the
 * datagram is refused) and leaves the VNI and the frame's offset in a
 * TunnelHeader the caller made once, so the data path allocates nothing.
 * Reserved bits are ignored on receipt, as both RFCs ask. A Geneve datagram
 * with the C bit (critical options, which uvale does not understand) or the
 * O bit (a control message, not a frame) is refused as the RFC says a
 * tunnel endpoint that does not process them must.
 */

/** Bytes of the VXLAN header, and of the Geneve header without options. */
export const VXLAN_HDR_LEN = 8;
export const GENEVE_HDR_LEN = 8;
/** IANA's UDP ports. */
export const VXLAN_PORT = 4789;
export const GENEVE_PORT = 6081;
/** Geneve's protocol type for an Ethernet frame (Transparent Ethernet Bridging). */
export const ETH_P_TEB = 0x6558;
/** The largest Geneve options area (6 bits of 4-byte words). */
export const GENEVE_MAX_OPT_LEN = 63 * 4;
export const MAX_VNI = 0xffffff;
/** The VXLAN I flag (a valid VNI follows). */
export const VXLAN_FLAG_I = 0x08;

/** Decode statuses. */
export const TUN_OK = 0;
/** Shorter than the header (with its options). */
export const TUN_TRUNCATED = 1;
/** VXLAN without the I flag. */
export const TUN_NO_VNI_FLAG = 2;
/** Geneve version other than 0. */
export const TUN_BAD_VERSION = 3;
/** Geneve options that do not add up to the option length. */
export const TUN_BAD_OPT_LEN = 4;
/** Geneve protocol type other than 0x6558. */
export const TUN_BAD_PROTO = 5;
/** An inner frame shorter than an Ethernet header (14 bytes). */
export const TUN_RUNT = 6;
/** Geneve with the C bit: critical options uvale cannot process. */
export const TUN_CRITICAL = 7;
/** Geneve with the O bit: a control message, not a frame to forward. */
export const TUN_OAM = 8;

/** The counter name of each status (index = status), as info() reports them. */
export const TUN_STATUS_NAMES: readonly string[] = [
  'ok',
  'dropTruncated',
  'dropFlags',
  'dropVersion',
  'dropOptLen',
  'dropProto',
  'dropRunt',
  'dropCritical',
  'dropOam',
];

const ETH_HLEN = 14;

/** Where decode puts what it found; made once by the caller. */
export class TunnelHeader {
  vni = 0;
  /** Offset of the inner frame from the start of the datagram. */
  offset = 0;
  /** Bytes of the inner frame. */
  len = 0;
}

/**
 * Decodes the VXLAN header at buf[off, off + len).
 * @returns TUN_OK (h filled), or TUN_TRUNCATED, TUN_NO_VNI_FLAG, TUN_RUNT.
 */
export function decodeVxlan(buf: Uint8Array, off: number, len: number, h: TunnelHeader): number {
  if (len < VXLAN_HDR_LEN) return TUN_TRUNCATED;
  if ((buf[off] & VXLAN_FLAG_I) === 0) return TUN_NO_VNI_FLAG;
  if (len - VXLAN_HDR_LEN < ETH_HLEN) return TUN_RUNT;
  h.vni = (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
  h.offset = VXLAN_HDR_LEN;
  h.len = len - VXLAN_HDR_LEN;
  return TUN_OK;
}

/** Writes a VXLAN header (I flag, `vni`, reserved bytes 0) at buf[off, off + 8). */
export function encodeVxlan(buf: Uint8Array, off: number, vni: number): void {
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
}

/**
 * Decodes the Geneve header and its options at buf[off, off + len). The
 * options are walked (each TLV's length must stay inside the option area and
 * they must fill it exactly) but not interpreted.
 * @returns TUN_OK (h filled), or the reason it is refused.
 */
export function decodeGeneve(buf: Uint8Array, off: number, len: number, h: TunnelHeader): number {
  if (len < GENEVE_HDR_LEN) return TUN_TRUNCATED;
  const b0 = buf[off];
  if (b0 >> 6 !== 0) return TUN_BAD_VERSION;
  const optLen = (b0 & 0x3f) * 4;
  const hdr = GENEVE_HDR_LEN + optLen;
  if (len < hdr) return TUN_TRUNCATED;
  const b1 = buf[off + 1];
  if ((b1 & 0x80) !== 0) return TUN_OAM;
  if ((b1 & 0x40) !== 0) return TUN_CRITICAL;
  if (((buf[off + 2] << 8) | buf[off + 3]) !== ETH_P_TEB) return TUN_BAD_PROTO;
  // options: class(16) type(8) rsvd(3) length(5, words after this 4-byte option header)
  let p = GENEVE_HDR_LEN;
  while (p < hdr) {
    if (hdr - p < 4) return TUN_BAD_OPT_LEN;
    const olen = 4 + (buf[off + p + 3] & 0x1f) * 4;
    if (olen > hdr - p) return TUN_BAD_OPT_LEN;
    p += olen;
  }
  if (len - hdr < ETH_HLEN) return TUN_RUNT;
  h.vni = (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
  h.offset = hdr;
  h.len = len - hdr;
  return TUN_OK;
}

/** Writes a Geneve header without options (version 0, protocol 0x6558, `vni`) at buf[off, off + 8). */
export function encodeGeneve(buf: Uint8Array, off: number, vni: number): void {
  buf[off] = 0;
  buf[off + 1] = 0;
  buf[off + 2] = ETH_P_TEB >> 8;
  buf[off + 3] = ETH_P_TEB & 0xff;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
}
