/*
 * Receive-side coalescing of TCP segments (as Linux's GRO): consecutive
 * segments of one TCP flow become one TSO frame behind a virtio-net header
 * (gso_type TCPV4/TCPV6, gso_size = the MSS, NEEDS_CSUM), which a port with
 * a header (a TAP with offloads) hands to its kernel as one skb. It is the
 * inverse of the TSO segmentation in ./offload.ts: cutting the frame again at
 * gso_size gives back the segments byte for byte, so only what that
 * segmentation rebuilds may differ between them:
 *
 *   - every byte of the Ethernet, IP and TCP headers equal (TCP options
 *     included) except the IP length, the IPv4 ID (the first one's + k), the
 *     checksums, the TCP sequence (each segment's follows the previous one's
 *     payload) and PSH (on the last segment only);
 *   - flags ACK, or ACK|PSH (PSH ends the frame); no CWR, FIN, SYN, RST,
 *     URG, ECE; IPv4 without options or fragments and with a right header
 *     checksum (finish() rewrites it), IPv6 with TCP as its next header; no
 *     Ethernet padding; a payload of 1 byte or more;
 *   - every payload gso_size bytes but the last, which may be shorter (and
 *     then ends the frame);
 *   - each segment's TCP checksum correct (checked here: the frame goes on
 *     with NEEDS_CSUM, which a kernel does not check again, so a corrupted
 *     segment must not join one; it goes on alone and its kernel drops it).
 *
 * The caller gives the output room (begin()) and feeds frames (add()); a
 * frame that cannot join is refused and the caller finish()es the frame
 * being built and starts again. The frame is built in place: the first
 * segment is copied whole behind a zeroed header, later ones add their
 * payload only, and each segment's checksum is summed over that copy
 * (sum16Wide is fastest there when the room is wasm memory, as the tunnel
 * port's scratch is). finish() writes the lengths, the IPv4 header checksum, the
 * pseudo-header sum in the TCP checksum field (as NEEDS_CSUM asks) and the
 * header. A frame of one segment stays as it came, behind a zeroed header.
 * Frames are bounded by MAX_FRAME bytes and by the room given. Nothing here
 * allocates or throws.
 */

import { rd16, TCP_ACK, TCP_PSH, wr16 } from '../pkt/be16.js';
import { fold, sum16 } from '../pkt/checksum.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP } from '../pkt/ether.js';
import { sum16Wide } from '../pkt/sum16-wide.js';
import { MAX_FRAME } from '../ring/layout.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6 } from './offload.js';

const ETH_HLEN = 14;

function wrLe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** bytes a[ao, ao+n) equal to b[bo, bo+n) */
function same(a: Uint8Array, ao: number, b: Uint8Array, bo: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

export class TcpCoalescer {
  /** Bytes of the virtio-net header in front of each frame built (10 or 12). */
  readonly hdrLen: number;
  /** Frames built with more than one segment, and the segments in them (for counters). */
  frames = 0;
  segments = 0;
  /** Segments refused for a bad TCP checksum (when offered to start a frame). */
  badCsum = 0;

  private out: Uint8Array = new Uint8Array(0);
  private base = 0;
  private cap = 0;
  /** Segments in the frame being built (0: none), and its bytes after the header. */
  segs = 0;
  private len = 0;
  private v4 = true;
  /** Offsets from the frame's start: TCP header, payload (the IP header is at 14). */
  private l4 = 0;
  private hlen = 0;
  private mss = 0;
  private nextSeq = 0;
  private nextId = 0;
  /** The frame takes no more segments (a short one or PSH came). */
  private closed = false;
  // parse() results for the frame offered
  private pL4 = 0;
  private pHlen = 0;
  private pPay = 0;
  private pV4 = true;
  /** The pseudo-header's sum (unfolded). */
  private pPseudo = 0;

  constructor(hdrLen: number) {
    this.hdrLen = hdrLen;
  }

  /** The room for the next frame: out[base, base+cap) (header included). Forgets any frame not finished. */
  begin(out: Uint8Array, base: number, cap: number): void {
    this.out = out;
    this.base = base;
    this.cap = Math.min(cap, this.hdrLen + MAX_FRAME);
    this.segs = 0;
    this.len = 0;
  }

  /**
   * Offers the frame src[off, off+len): true if it was taken (the first segment of a frame, or one more),
   * false if not (not a segment that may join, or no room): then finish() what is held, if anything.
   */
  add(src: Uint8Array, off: number, len: number): boolean {
    if (this.segs === 0) {
      if (this.hdrLen + len > this.cap || !this.parse(src, off, len)) return false;
      const out = this.out;
      const f = this.base + this.hdrLen;
      out.set(src.subarray(off, off + len), f);
      // the checksum over the copy (where sum16Wide is fastest); a bad segment leaves nothing behind
      if (fold(sum16Wide(out, f + this.pL4, len - this.pL4, this.pPseudo)) !== 0xffff) {
        this.badCsum++;
        return false;
      }
      out.fill(0, this.base, f);
      this.v4 = this.pV4;
      this.l4 = this.pL4;
      this.hlen = this.pHlen;
      this.mss = this.pPay;
      this.len = len;
      this.segs = 1;
      const t = off + this.pL4;
      this.nextSeq = (rd32(src, t + 4) + this.pPay) >>> 0;
      this.nextId = this.pV4 ? (rd16(src, off + ETH_HLEN + 4) + 1) & 0xffff : 0;
      this.closed = (src[t + 13] & TCP_PSH) !== 0;
      return true;
    }
    if (this.closed || !this.parse(src, off, len)) return false;
    const pay = this.pPay;
    if (this.pHlen !== this.hlen || this.pV4 !== this.v4 || pay > this.mss) return false;
    if (this.hdrLen + this.len + pay > this.cap) return false;
    const out = this.out;
    const f = this.base + this.hdrLen;
    const t = off + this.l4;
    if (rd32(src, t + 4) !== this.nextSeq) return false;
    const ip = off + ETH_HLEN;
    const fip = f + ETH_HLEN;
    if (!same(src, off, out, f, ETH_HLEN)) return false;
    if (this.v4) {
      // version..TOS; then flags/fragment .. protocol; addresses
      if (rd16(src, ip + 4) !== this.nextId) return false;
      if (!same(src, ip, out, fip, 2) || !same(src, ip + 6, out, fip + 6, 4) || !same(src, ip + 12, out, fip + 12, 8)) {
        return false;
      }
    } else if (!same(src, ip, out, fip, 4) || !same(src, ip + 6, out, fip + 6, 34)) return false;
    // ports; ack .. window (flags compared below); urgent pointer and options
    const ft = f + this.l4;
    if (!same(src, t, out, ft, 4) || !same(src, t + 8, out, ft + 8, 5) || !same(src, t + 14, out, ft + 14, 2)) {
      return false;
    }
    if (!same(src, t + 18, out, ft + 18, this.hlen - this.l4 - 18)) return false;
    // the payload goes after the frame's, then its checksum: its header from src (TCP headers are
    // whole 32-bit words, so the payload's words line up), its payload from the copy
    out.set(src.subarray(off + this.hlen, off + len), f + this.len);
    const hs = sum16(src, t, this.hlen - this.l4, this.pPseudo);
    if (fold(sum16Wide(out, f + this.len, pay, hs)) !== 0xffff) return false; // offered again alone: counted then
    this.len += pay;
    this.segs++;
    this.nextSeq = (this.nextSeq + pay) >>> 0;
    this.nextId = (this.nextId + 1) & 0xffff;
    if ((src[t + 13] & TCP_PSH) !== 0) {
      out[ft + 13] |= TCP_PSH;
      this.closed = true;
    }
    if (pay < this.mss) this.closed = true;
    return true;
  }

  /** Ends the frame being built; returns its bytes in out from base (header included), 0 if none. */
  finish(): number {
    const segs = this.segs;
    if (segs === 0) return 0;
    this.segs = 0;
    const total = this.hdrLen + this.len;
    if (segs === 1) return total;
    const out = this.out;
    const h = this.base;
    const f = h + this.hdrLen;
    const ip = f + ETH_HLEN;
    const tcp = f + this.l4;
    const l4Len = this.len - this.l4;
    let pseudo: number;
    if (this.v4) {
      wr16(out, ip + 2, this.len - ETH_HLEN);
      wr16(out, ip + 10, 0);
      wr16(out, ip + 10, ~fold(sum16(out, ip, 20)) & 0xffff);
      pseudo = sum16(out, ip + 12, 8) + IPPROTO_TCP + l4Len;
    } else {
      wr16(out, ip + 4, l4Len);
      pseudo = sum16(out, ip + 8, 32) + IPPROTO_TCP + l4Len;
    }
    wr16(out, tcp + 16, fold(pseudo));
    out[h] = VNET_HDR_F_NEEDS_CSUM;
    out[h + 1] = this.v4 ? VNET_HDR_GSO_TCPV4 : VNET_HDR_GSO_TCPV6;
    wrLe16(out, h + 2, this.hlen);
    wrLe16(out, h + 4, this.mss);
    wrLe16(out, h + 6, this.l4);
    wrLe16(out, h + 8, 16);
    this.frames++;
    this.segments += segs;
    return total;
  }

  /** A TCP segment that may join a frame (its checksum aside)? Sets pL4, pHlen, pPay, pV4, pPseudo. */
  private parse(b: Uint8Array, off: number, len: number): boolean {
    if (len < ETH_HLEN + 40) return false;
    const type = rd16(b, off + 12);
    const ip = off + ETH_HLEN;
    let l4: number;
    let ipEnd: number;
    let pseudo: number;
    if (type === ETHERTYPE_IPV4) {
      if (b[ip] !== 0x45 || b[ip + 9] !== IPPROTO_TCP) return false;
      if ((rd16(b, ip + 6) & 0x3fff) !== 0) return false; // MF or an offset: a fragment
      if (fold(sum16(b, ip, 20)) !== 0xffff) return false; // finish() rewrites it: a bad one must not join
      ipEnd = ip + rd16(b, ip + 2);
      l4 = ip + 20;
      this.pV4 = true;
    } else if (type === ETHERTYPE_IPV6) {
      if (b[ip] >>> 4 !== 6 || b[ip + 6] !== IPPROTO_TCP) return false;
      ipEnd = ip + 40 + rd16(b, ip + 4);
      l4 = ip + 40;
      this.pV4 = false;
    } else return false;
    if (ipEnd !== off + len) return false; // padding, or a length that lies
    if (l4 + 20 > ipEnd) return false;
    const fl = b[l4 + 13];
    if (fl !== TCP_ACK && fl !== (TCP_ACK | TCP_PSH)) return false;
    const thl = (b[l4 + 12] >>> 4) * 4;
    const end = l4 + thl;
    if (thl < 20 || end >= ipEnd) return false; // no payload
    const l4Len = ipEnd - l4;
    if (this.pV4) pseudo = sum16(b, ip + 12, 8) + IPPROTO_TCP + l4Len;
    else pseudo = sum16(b, ip + 8, 32) + IPPROTO_TCP + l4Len;
    this.pPseudo = pseudo;
    this.pL4 = l4 - off;
    this.pHlen = end - off;
    this.pPay = ipEnd - end;
    return true;
  }
}
