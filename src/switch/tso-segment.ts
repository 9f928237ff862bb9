/*
 * TSO segmentation into a caller's buffers: a TCP frame of up to 64 KB with
 * a virtio-net header (gso_type TCPV4/TCPV6, gso_size) cut into gso_size
 * segments, each written whole (headers and payload) at dst[dstOff + k *
 * stride], for an adapter that sends them itself (a tunnel port sends them
 * as one UDP GSO message). The segments are those ./offload.ts gives a port
 * without a header, byte for byte: IP total or payload length, IPv4 ID + k,
 * TCP sequence, FIN and PSH on the last segment only, CWR on the first only,
 * IPv4 and TCP checksums computed anew (each payload summed in the frame
 * given, which may be memory sum16Wide reads fastest). finishCsum() completes the checksum
 * of a NEEDS_CSUM frame that is not segmented. Nothing allocates or throws;
 * a frame that cannot be cut (not TCP, offsets outside it, more segments
 * than the caller has buffers) gives -1.
 */

import { rd16, TCP_CWR, TCP_FIN, TCP_PSH, wr16 } from '../pkt/be16.js';
import { fold, sum16 } from '../pkt/checksum.js';
import { IPPROTO_TCP } from '../pkt/ether.js';
import { sum16Wide } from '../pkt/sum16-wide.js';
import { tsoHeaders, VNET_HDR_GSO_TCPV4 } from './offload.js';

export class TsoSegmenter {
  /** Per segment of the last segment() call: its length. */
  readonly lens: Int32Array;
  /** l3, l4 and payload start of the frame being cut (tsoHeaders in ./offload.ts). */
  private readonly hdrs: Int32Array;

  constructor(maxSegs: number) {
    this.lens = new Int32Array(maxSegs);
    this.hdrs = new Int32Array(3);
  }

  /**
   * Cuts the frame f[eth, end) (gso_type `gso`, gso_size `mss`; csumStart from eth, or -1) into segments at
   * dst[dstOff + k * stride] (each at most stride bytes); returns how many (lengths in `lens`), or -1.
   */
  segment(
    f: Uint8Array,
    eth: number,
    end: number,
    gso: number,
    mss: number,
    csumStart: number,
    dst: Uint8Array,
    dstOff: number,
    stride: number,
    maxSegs: number,
  ): number {
    if (mss === 0 || !tsoHeaders(f, eth, end, gso, csumStart, this.hdrs)) return -1;
    const l3 = this.hdrs[0] as number;
    const l4 = this.hdrs[1] as number;
    const hdrEnd = this.hdrs[2] as number;
    const thl = hdrEnd - l4;
    const v4 = gso === VNET_HDR_GSO_TCPV4;
    const hlen = hdrEnd - eth;
    const payload = end - hdrEnd;
    const nseg = payload === 0 ? 1 : Math.ceil(payload / mss);
    if (nseg > maxSegs || nseg > this.lens.length || hlen + Math.min(mss, payload) > stride) return -1;
    const ip = l3 - eth;
    const tcp = l4 - eth;
    const seq0 = (f[l4 + 4] * 0x1000000 + (f[l4 + 5] << 16) + rd16(f, l4 + 6)) >>> 0;
    const flags0 = f[l4 + 13];
    const id0 = v4 ? rd16(f, l3 + 4) : 0;
    const hdr = f.subarray(eth, hdrEnd);
    // the headers' sums without the fields each segment rewrites (IPv4 total length, ID and checksum; TCP
    // sequence, offset+flags word and checksum), and the pseudo-header's addresses: each segment adds its own.
    // A word is taken out by subtracting it, plus 0xffff (= 0 in ones' complement) so that the sum stays
    // positive, which fold() needs.
    const addrSum = v4 ? sum16(f, l3 + 12, 8) : sum16(f, l3 + 8, 32);
    const ipBase = v4 ? sum16(f, l3, l4 - l3) + 3 * 0xffff - rd16(f, l3 + 2) - rd16(f, l3 + 4) - rd16(f, l3 + 10) : 0;
    const offByte = f[l4 + 12] << 8;
    const tcpBase =
      sum16(f, l4, thl) + 4 * 0xffff - rd16(f, l4 + 4) - rd16(f, l4 + 6) - rd16(f, l4 + 12) - rd16(f, l4 + 16);
    for (let k = 0, po = hdrEnd; k < nseg; k++, po += mss) {
      const o = dstOff + k * stride;
      const plen = k === nseg - 1 ? payload - k * mss : mss;
      dst.set(hdr, o);
      dst.set(f.subarray(po, po + plen), o + hlen);
      const l4Len = thl + plen;
      const seq = (seq0 + k * mss) >>> 0;
      dst[o + tcp + 4] = seq >>> 24;
      dst[o + tcp + 5] = (seq >>> 16) & 0xff;
      wr16(dst, o + tcp + 6, seq & 0xffff);
      let fl = flags0;
      if (k !== nseg - 1) fl &= ~(TCP_FIN | TCP_PSH);
      if (k !== 0) fl &= ~TCP_CWR;
      dst[o + tcp + 13] = fl;
      if (v4) {
        const total = tcp - ip + l4Len;
        const id = (id0 + k) & 0xffff;
        wr16(dst, o + ip + 2, total);
        wr16(dst, o + ip + 4, id);
        wr16(dst, o + ip + 10, ~fold(ipBase + total + id) & 0xffff);
      } else wr16(dst, o + ip + 4, tcp - ip - 40 + l4Len);
      // the TCP header's sum, then the payload's where it came from (f: a wasm scratch is fastest;
      // TCP headers are whole 32-bit words, so the payload's words line up)
      const hs = tcpBase + (seq >>> 16) + (seq & 0xffff) + (offByte | fl) + addrSum + IPPROTO_TCP + l4Len;
      wr16(dst, o + tcp + 16, ~fold(sum16Wide(f, po, plen, hs)) & 0xffff);
      this.lens[k] = hlen + plen;
    }
    return nseg;
  }

  /**
   * NEEDS_CSUM: the checksum over f[eth + start, end), whose field at eth + start + offset holds the
   * pseudo-header sum, completed in place. False if the offsets lie outside the frame.
   */
  finishCsum(f: Uint8Array, eth: number, end: number, start: number, offset: number): boolean {
    const s = eth + start;
    const at = s + offset;
    if (at + 2 > end) return false;
    wr16(f, at, ~fold(sum16Wide(f, s, end - s)) & 0xffff);
    return true;
  }
}
