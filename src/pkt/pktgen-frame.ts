/*
 * pkt-gen's frame, byte for byte (initialize_packet() in apps/pkt-gen/pkt-gen.c),
 * and its per-packet address odometer (update_ip()/update_ip6()).
 *
 *   0  Ethernet  dst ff:ff:ff:ff:ff:ff, src 00:00:00:00:00:00, type 0x0800
 *  14  IPv4      45 10 len | id 0 | DF | ttl 64 | udp | cksum | 10.0.0.1 | 10.1.0.1
 *  34  UDP       1234 > 1234, len, cksum
 *  42  payload   "netmap pkt-gen DIRECT payload\nhttp://info.iet.unipi.it/~luigi/netmap/ " repeated
 *
 * With `-6` the network header is IPv6 (version 6, flow 0, next header UDP,
 * hop limit 64) and the payload starts at 62. A PktGenFrame owns a template
 * buffer of `capacity` bytes; `bytes` is the current frame (the first `length`
 * bytes). Frames shorter than the headers (pkt-gen accepts -l 16..) are the
 * minimal frame cut short: the length fields describe the full headers.
 *
 * advance() moves the 4-tuple to the next packet like an odometer (src port,
 * then src address, then dst port, then dst address, each wrapping to its
 * start) and patches the IPv4 header and UDP checksums incrementally (RFC 1624),
 * so a range costs a few word updates per packet, as in pkt-gen. IPv6 ranges
 * walk one 16-bit word of the address (pkt-gen's `group@`). Unlike pkt-gen, a
 * computed UDP checksum of 0 is sent as 0xffff (RFC 768).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { MAX_FRAME } from '../core/limits.js';
import { rd16, wr16 } from './be16.js';
import { cksumUpdate16, cksumUpdate32, setIpv4HeaderChecksum, setL4Checksum4, setL4Checksum6 } from './checksum.js';
import {
  ETHER_HDR_LEN,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_UDP,
  IPV4_HDR_LEN,
  IPV6_HDR_LEN,
  UDP_HDR_LEN,
  writeIp4,
  writeMac,
} from './ether.js';
import {
  type Ip4Range,
  type Ip6Range,
  type IpRange,
  isMultiRange,
  PKTGEN_DEFAULT_DST,
  PKTGEN_DEFAULT_DST_MAC,
  PKTGEN_DEFAULT_SRC,
  PKTGEN_DEFAULT_SRC_MAC,
  parseIpRange,
} from './pktgen-range.js';

export {
  formatIpRange,
  type Ip4Range,
  type Ip6Range,
  type IpRange,
  isMultiRange,
  parseIpRange,
  parseMacArg,
  parsePort,
} from './pktgen-range.js';

export const PKTGEN_PAYLOAD = 'netmap pkt-gen DIRECT payload\nhttp://info.iet.unipi.it/~luigi/netmap/ ';
export const PKTGEN_INDIRECT_PAYLOAD = 'netmap pkt-gen indirect payload\nhttp://info.iet.unipi.it/~luigi/netmap/ ';
export const PKTGEN_DEFAULT_LEN = 60;
export const PKTGEN_MIN_LEN = 16;
/** The longest frame a chain carries (layout.ts's MAX_FRAME). */
export const PKTGEN_MAX_LEN = MAX_FRAME;
/** IPTOS_LOWDELAY */
export const PKTGEN_TOS = 0x10;
export const PKTGEN_TTL = 64;
/** Payload offsets: 14+20+8 and 14+40+8. */
export const PKTGEN_PAYLOAD_OFFSET4 = ETHER_HDR_LEN + IPV4_HDR_LEN + UDP_HDR_LEN;
export const PKTGEN_PAYLOAD_OFFSET6 = ETHER_HDR_LEN + IPV6_HDR_LEN + UDP_HDR_LEN;

const IP_OFF = ETHER_HDR_LEN;
const UDP4_OFF = IP_OFF + IPV4_HDR_LEN;
const UDP6_OFF = IP_OFF + IPV6_HDR_LEN;

export interface PktGenOptions {
  /** Frame length without CRC, 16..65535 (pkt-gen `-l`, default 60). */
  length?: number;
  /** Bytes to allocate (>= length), so setLength() can grow the frame later (random sizes). */
  capacity?: number;
  /** 4 (default) or 6 (`-6`). */
  family?: 4 | 6;
  /** `-S`, default 00:00:00:00:00:00. */
  srcMac?: string | Uint8Array;
  /** `-D`, default ff:ff:ff:ff:ff:ff. */
  dstMac?: string | Uint8Array;
  /** `-s`: text in pkt-gen syntax or a parsed range; default 10.0.0.1:1234 (IPv6: ::, port 1234). */
  src?: string | IpRange;
  /** `-d`: default 10.1.0.1:1234 (IPv6: ::, port 1234). */
  dst?: string | IpRange;
  /** `-I`: the "indirect" payload text. */
  indirect?: boolean;
  /** `-z` / `-Z`: random source / destination address and port on each advance(). */
  randomSrc?: boolean;
  randomDst?: boolean;
  /** Random source for -z/-Z, returning [0, 1); default Math.random. */
  random?: () => number;
}

/** The current 4-tuple; IPv4 addresses as unsigned numbers, IPv6 as the walked 16-bit word. */
export interface PktGenTuple {
  srcAddr: number;
  srcPort: number;
  dstAddr: number;
  dstPort: number;
}

/**
 * pkt-gen with IPv6 falls back to "::" when its IPv4 defaults do not parse
 * (inet_pton fails and the address stays zero); so do we.
 */
function defaultRange(text: string, family: 4 | 6): IpRange {
  return family === 4 ? parseIpRange(text, 4) : parseIpRange(`[::]:${text.split(':')[1] ?? '1234'}`, 6);
}

function toRange(v: string | IpRange | undefined, def: string, family: 4 | 6): IpRange {
  const r = v === undefined ? defaultRange(def, family) : typeof v === 'string' ? parseIpRange(v, family) : v;
  if (r.family !== family)
    throw new ValeError(ErrorCodes.INVALID_ARG, `an IPv${r.family} range in an IPv${family} frame`);
  return r;
}

function fillPayload(buf: Uint8Array, from: number, text: string): void {
  const src = new TextEncoder().encode(text);
  for (let i = from, j = 0; i < buf.length; i++, j = j + 1 === src.length ? 0 : j + 1) buf[i] = src[j];
}

function rd32(b: Uint8Array, o: number): number {
  return ((rd16(b, o) << 16) | rd16(b, o + 2)) >>> 0;
}

export class PktGenFrame {
  readonly family: 4 | 6;
  readonly src: IpRange;
  readonly dst: IpRange;
  /** The template: capacity bytes, of which the first `length` are the frame. */
  readonly buffer: Uint8Array;
  /** True if advance() changes anything (a range, -z or -Z). */
  readonly varies: boolean;
  #length = 0;
  #bytes: Uint8Array;
  readonly #randomSrc: boolean;
  readonly #randomDst: boolean;
  readonly #random: () => number;

  constructor(opts: PktGenOptions = {}) {
    const family = opts.family ?? 4;
    if (family !== 4 && family !== 6) throw new ValeError(ErrorCodes.INVALID_ARG, `family must be 4 or 6`);
    const length = opts.length ?? PKTGEN_DEFAULT_LEN;
    checkLength(length);
    const capacity = Math.max(opts.capacity ?? length, length);
    checkLength(capacity);
    this.family = family;
    this.src = toRange(opts.src, PKTGEN_DEFAULT_SRC, family);
    this.dst = toRange(opts.dst, PKTGEN_DEFAULT_DST, family);
    this.#randomSrc = opts.randomSrc === true;
    this.#randomDst = opts.randomDst === true;
    this.#random = opts.random ?? Math.random;
    this.varies = isMultiRange(this.src) || isMultiRange(this.dst) || this.#randomSrc || this.#randomDst;

    const hdr = family === 4 ? PKTGEN_PAYLOAD_OFFSET4 : PKTGEN_PAYLOAD_OFFSET6;
    this.buffer = new Uint8Array(Math.max(capacity, hdr));
    const b = this.buffer;
    fillPayload(b, hdr, opts.indirect === true ? PKTGEN_INDIRECT_PAYLOAD : PKTGEN_PAYLOAD);
    writeMac(b, 0, opts.dstMac ?? PKTGEN_DEFAULT_DST_MAC);
    writeMac(b, 6, opts.srcMac ?? PKTGEN_DEFAULT_SRC_MAC);
    if (family === 4) {
      const s = this.src as Ip4Range;
      const d = this.dst as Ip4Range;
      wr16(b, 12, ETHERTYPE_IPV4);
      b[IP_OFF] = 0x45;
      b[IP_OFF + 1] = PKTGEN_TOS;
      wr16(b, IP_OFF + 4, 0); // id
      wr16(b, IP_OFF + 6, 0x4000); // DF
      b[IP_OFF + 8] = PKTGEN_TTL;
      b[IP_OFF + 9] = IPPROTO_UDP;
      writeIp4(b, IP_OFF + 12, s.start);
      writeIp4(b, IP_OFF + 16, d.start);
      wr16(b, UDP4_OFF, s.port0);
      wr16(b, UDP4_OFF + 2, d.port0);
    } else {
      const s = this.src as Ip6Range;
      const d = this.dst as Ip6Range;
      wr16(b, 12, ETHERTYPE_IPV6);
      b[IP_OFF] = 0x60; // version 6, class 0, flow 0
      b[IP_OFF + 6] = IPPROTO_UDP;
      b[IP_OFF + 7] = PKTGEN_TTL; // IPV6_DEFHLIM
      b.set(s.start, IP_OFF + 8);
      b.set(d.start, IP_OFF + 24);
      wr16(b, UDP6_OFF, s.port0);
      wr16(b, UDP6_OFF + 2, d.port0);
    }
    this.#bytes = b.subarray(0, length);
    this.setLength(length);
  }

  /** The current frame (a view of `buffer`, valid until setLength()). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  get length(): number {
    return this.#length;
  }

  /** Offset of the UDP payload (42 or 62). */
  get payloadOffset(): number {
    return this.family === 4 ? PKTGEN_PAYLOAD_OFFSET4 : PKTGEN_PAYLOAD_OFFSET6;
  }

  /**
   * Sets the frame length (16..capacity), rewriting the IP and UDP length
   * fields and recomputing both checksums (pkt-gen's update_size()).
   */
  setLength(length: number): void {
    checkLength(length);
    if (length > this.buffer.length) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `length ${length} exceeds the frame capacity ${this.buffer.length}`);
    }
    const b = this.buffer;
    const full = Math.max(length, this.payloadOffset); // short frames: headers of the minimal frame
    if (this.family === 4) {
      wr16(b, IP_OFF + 2, full - ETHER_HDR_LEN);
      wr16(b, UDP4_OFF + 4, full - UDP4_OFF);
      setIpv4HeaderChecksum(b, IP_OFF);
      setL4Checksum4(b, IP_OFF, UDP4_OFF, full - UDP4_OFF, IPPROTO_UDP);
    } else {
      wr16(b, IP_OFF + 4, full - UDP6_OFF);
      wr16(b, UDP6_OFF + 4, full - UDP6_OFF);
      setL4Checksum6(b, IP_OFF, UDP6_OFF, full - UDP6_OFF, IPPROTO_UDP);
    }
    this.#length = length;
    this.#bytes = b.subarray(0, length);
  }

  /** The current 4-tuple. */
  tuple(): PktGenTuple {
    const b = this.buffer;
    if (this.family === 4) {
      return {
        srcAddr: rd32(b, IP_OFF + 12),
        srcPort: rd16(b, UDP4_OFF),
        dstAddr: rd32(b, IP_OFF + 16),
        dstPort: rd16(b, UDP4_OFF + 2),
      };
    }
    return {
      srcAddr: rd16(b, IP_OFF + 8 + 2 * (this.src as Ip6Range).group),
      srcPort: rd16(b, UDP6_OFF),
      dstAddr: rd16(b, IP_OFF + 24 + 2 * (this.dst as Ip6Range).group),
      dstPort: rd16(b, UDP6_OFF + 2),
    };
  }

  /** Moves to the next packet's 4-tuple; checksums stay valid. No-op without ranges. */
  advance(): void {
    if (!this.varies) return;
    const udpOff = this.family === 4 ? UDP4_OFF : UDP6_OFF;
    const srcAddrOff = this.family === 4 ? IP_OFF + 12 : IP_OFF + 8 + 2 * (this.src as Ip6Range).group;
    const dstAddrOff = this.family === 4 ? IP_OFF + 16 : IP_OFF + 24 + 2 * (this.dst as Ip6Range).group;
    if (this.#randomSrc) this.#randomize(srcAddrOff, udpOff);
    else if (this.#step(this.src, srcAddrOff, udpOff)) return;
    if (this.#randomDst) this.#randomize(dstAddrOff, udpOff + 2);
    else this.#step(this.dst, dstAddrOff, udpOff + 2);
  }

  /** One odometer wheel pair (port, then address); true if it did not wrap (stop carrying). */
  #step(r: IpRange, addrOff: number, portOff: number): boolean {
    const port = rd16(this.buffer, portOff);
    if (port < r.port1) {
      this.#setPort(portOff, port + 1);
      return true;
    }
    this.#setPort(portOff, r.port0);
    if (r.family === 4) {
      const a = rd32(this.buffer, addrOff);
      if (a < r.end) {
        this.#setAddr4(addrOff, a + 1);
        return true;
      }
      this.#setAddr4(addrOff, r.start);
      return false;
    }
    const w = rd16(this.buffer, addrOff);
    const end = rd16(r.end, 2 * r.group);
    if (w < end) {
      this.#setWord(addrOff, w + 1);
      return true;
    }
    this.#setWord(addrOff, rd16(r.start, 2 * r.group));
    return false;
  }

  #randomize(addrOff: number, portOff: number): void {
    const rnd16 = () => Math.floor(this.#random() * 65536) & 0xffff;
    if (this.family === 4) this.#setAddr4(addrOff, ((rnd16() << 16) | rnd16()) >>> 0);
    else this.#setWord(addrOff, rnd16());
    this.#setPort(portOff, rnd16());
  }

  #udpCksumOff(): number {
    return (this.family === 4 ? UDP4_OFF : UDP6_OFF) + 6;
  }

  #patchUdp(oldWord: number, newWord: number): void {
    const at = this.#udpCksumOff();
    const c = cksumUpdate16(rd16(this.buffer, at), oldWord, newWord);
    wr16(this.buffer, at, c === 0 ? 0xffff : c);
  }

  #setPort(off: number, v: number): void {
    const old = rd16(this.buffer, off);
    if (old === v) return;
    wr16(this.buffer, off, v);
    this.#patchUdp(old, v);
  }

  /** A 16-bit word of an IPv6 address: only the UDP checksum covers it (pseudo-header). */
  #setWord(off: number, v: number): void {
    this.#setPort(off, v);
  }

  #setAddr4(off: number, v: number): void {
    const b = this.buffer;
    const old = rd32(b, off);
    if (old === v) return;
    writeIp4(b, off, v);
    wr16(b, IP_OFF + 10, cksumUpdate32(rd16(b, IP_OFF + 10), old, v));
    const at = this.#udpCksumOff();
    const c = cksumUpdate32(rd16(b, at), old, v);
    wr16(b, at, c === 0 ? 0xffff : c);
  }
}

function checkLength(n: number): void {
  if (!Number.isInteger(n) || n < PKTGEN_MIN_LEN || n > PKTGEN_MAX_LEN) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `bad pktsize ${n} [${PKTGEN_MIN_LEN}..${PKTGEN_MAX_LEN}]`);
  }
}

/** pkt-gen's default frame (or one built with `opts`), as a fresh array of `length` bytes. */
export function buildPktGenFrame(opts: PktGenOptions = {}): Uint8Array {
  return new PktGenFrame(opts).bytes.slice();
}
