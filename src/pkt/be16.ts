/*
 * Big-endian 16-bit fields in a frame, and the TCP flag bits: what the
 * header-rewriting modules (checksums, the offload path, TCP coalescing and
 * TSO cutting, pkt-gen's frames) share. Small functions on a Uint8Array, so
 * TurboFan inlines them at every call site.
 */

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_CWR = 0x80;

/** The big-endian u16 at b[o]. */
export function rd16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** Writes v's low 16 bits big-endian at b[o] (a Uint8Array keeps each byte's low 8 bits). */
export function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
