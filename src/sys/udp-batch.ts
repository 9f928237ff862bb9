/*
 * A UDP socket (IPv4 or IPv6) that moves datagrams in batches: recvmmsg into
 * a preallocated set of buffers, sendmmsg of a batch to per-message
 * destinations. node:dgram makes one system call and one Buffer per
 * datagram; a tunnel port (src/ports/vxlan) needs neither.
 *
 * Everything the two calls touch lives in one anonymous mapping made at open
 * (its address is known, so the structs can point into it), laid out once:
 *
 *   rx mmsghdr[rxCount]  each: one iovec → its buffer, name → its sockaddr
 *   rx iovec[rxCount], rx sockaddr[rxCount] (32 bytes: a sockaddr_in6 fits)
 *   tx mmsghdr[txMsgs]   each: two iovecs (the shared header, then a frame)
 *   tx iovec[2 * txMsgs], destinations[MAX_DESTS] (sockaddr, 32 bytes each)
 *   header (64 bytes: what every datagram sent starts with)
 *   rx buffers[rxCount] (rxStride each), tx buffers[txFrames] (txStride each)
 *
 * The caller fills tx buffers through `txData`, and names each message with
 * setMsg(m, buffer, len, dest): a frame replicated to several destinations is
 * one buffer that several messages point at. Pointers are written as two
 * 32-bit words (addresses are below 2^53), so no BigInt is made per message;
 * the mmsghdr addresses handed to the calls are BigInts made once.
 * recv() and send() return a count or -errno and never throw.
 *
 * UDP offloads (opt-in, `gso` / `gro`):
 *   GSO  send() joins consecutive messages to one destination with equal
 *        lengths (the last of a run may be shorter) into one message with a
 *        UDP_SEGMENT control message: their iovecs are adjacent already
 *        (header, frame, header, frame, ...), so the joined message points at
 *        the first one's and counts 2k of them. Up to GSO_SEGS segments and
 *        GSO_BYTES bytes per message; the kernel cuts them (or hands the lot
 *        across a veth, or to a NIC, whole). A kernel or route that refuses
 *        it (EIO, EINVAL on the first message) turns GSO off for the socket
 *        and the batch goes out plainly.
 *   GRO  UDP_GRO on the socket: the kernel may hand several datagrams of one
 *        flow as one buffer plus a UDP_GRO control message with their size
 *        (rxSegSize); rx buffers are then 64 KB each.
 * Readiness:
 * fdio.ts's watchReadable on `fd`. Layouts are Linux's on x86-64 and arm64:
 * mmsghdr 64 bytes (msghdr 56: name @0, namelen @8, iov @16, iovlen @24,
 * control @32, controllen @40, flags @48; then msg_len @56), iovec 16,
 * sockaddr_in 16 (family @0, port @2 big-endian, addr @4), sockaddr_in6 28
 * (addr @8).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import {
  AF_INET,
  AF_INET6,
  MAP_PRIVATE_ANON,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  PROT_RW,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from './abi.js';
import { errno, koffi, libc, libcLib, MAP_FAILED, throwErrno } from './libc.js';
import { closeFd } from './shm.js';

const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const IPPROTO_IP = 0;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const UDP_GRO = 104;
const EIO = 5;
const EINVAL = 22;
/** Segments and payload bytes per GSO message (the kernel takes at most 64 segments on older kernels). */
export const GSO_SEGS = 64;
const GSO_BYTES = 65000;
/** Bytes per control buffer: CMSG_SPACE(4) = 24, rounded. */
const CTL = 32;
/** An rx buffer when GRO may coalesce: the largest UDP payload. */
export const GRO_RX_SIZE = 65536;

const MMSG = 64;
const IOV = 16;
/** Bytes per sockaddr slot (sockaddr_in6 is 28). */
export const NAME_LEN = 32;
const HEADER_MAX = 64;
/** Most distinct destinations one socket can name. */
export const MAX_DESTS = 256;

/** Sockaddr sizes: what bind and the kernel use per family. */
const SOCKADDR_IN_LEN = 16;
const SOCKADDR_IN6_LEN = 28;

interface UdpLib {
  socket(domain: number, type: number, proto: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number;
  setsockopt(fd: number, level: number, name: number, val: Int32Array | Uint8Array, len: number): number;
  if_nametoindex(name: string): number;
  recvmmsg(fd: number, vec: bigint, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, vec: bigint, vlen: number, flags: number): number;
}

let lib: UdpLib | undefined;

function ul(): UdpLib {
  if (lib === undefined) {
    const l = libcLib();
    lib = {
      socket: l.func('int socket(int domain, int type, int protocol)'),
      bind: l.func('int bind(int fd, const void *addr, uint32_t len)'),
      getsockname: l.func('int getsockname(int fd, void *addr, void *len)'),
      setsockopt: l.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
      if_nametoindex: l.func('unsigned int if_nametoindex(const char *name)'),
      recvmmsg: l.func('int recvmmsg(int fd, uint64_t vec, unsigned int vlen, int flags, void *timeout)'),
      sendmmsg: l.func('int sendmmsg(int fd, uint64_t vec, unsigned int vlen, int flags)'),
    };
  }
  return lib;
}

/** An IP address and UDP port as the kernel takes them. */
export interface UdpEndpoint {
  /** 4 or 16 bytes, network order. */
  addr: Uint8Array;
  port: number;
}

/** The sockaddr_in or sockaddr_in6 of `e` into out[off, off + 32) (the rest zeroed); returns its length. */
export function encodeSockaddrIn(e: UdpEndpoint, out: Uint8Array, off = 0): number {
  if ((e.addr.length !== 4 && e.addr.length !== 16) || !Number.isInteger(e.port) || e.port < 0 || e.port > 65535) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `bad UDP endpoint: ${e.addr.length}-byte address, port ${e.port}`);
  }
  out.fill(0, off, off + NAME_LEN);
  const v6 = e.addr.length === 16;
  out[off] = v6 ? AF_INET6 : AF_INET;
  out[off + 1] = 0;
  out[off + 2] = e.port >> 8;
  out[off + 3] = e.port & 0xff;
  out.set(e.addr, off + (v6 ? 8 : 4));
  return v6 ? SOCKADDR_IN6_LEN : SOCKADDR_IN_LEN;
}

/** The endpoint in the sockaddr at buf[off ..], or null for another family. */
export function decodeSockaddrIn(buf: Uint8Array, off = 0): UdpEndpoint | null {
  const family = buf[off] | (buf[off + 1] << 8);
  const port = (buf[off + 2] << 8) | buf[off + 3];
  if (family === AF_INET) return { addr: buf.slice(off + 4, off + 8), port };
  if (family === AF_INET6) return { addr: buf.slice(off + 8, off + 24), port };
  return null;
}

export interface UdpBatchOptions {
  /** Where to bind (port 0: the kernel picks one; see localPort). The family follows the address. */
  bind: UdpEndpoint;
  /** Datagrams one recv() takes at most, and bytes each may have (longer ones come back truncated). */
  rxCount: number;
  rxSize: number;
  /** Frame buffers to send from, bytes each, and messages one send() batch may hold. */
  txFrames: number;
  txSize: number;
  txMsgs: number;
  /** SO_RCVBUF / SO_SNDBUF asked for (as root beyond rmem_max / wmem_max). */
  sockBuf?: number;
  /** Join runs of equal datagrams to one destination with UDP_SEGMENT (see above). */
  gso?: boolean;
  /** Ask for UDP_GRO (rxSize should then be GRO_RX_SIZE). */
  gro?: boolean;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class UdpBatch {
  /** The socket (-1 once closed). */
  fd: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  readonly rxCount: number;
  /** Bytes between rx buffers in rxData. */
  readonly rxStride: number;
  /** Every rx buffer: datagram i is rxData[i * rxStride, + rxLen(i)). */
  readonly rxData: Uint8Array;
  /** Every rx sockaddr: the source of datagram i is at i * NAME_LEN (see decodeSockaddrIn). */
  readonly rxNames: Uint8Array;
  readonly txFrames: number;
  readonly txStride: number;
  readonly txMsgs: number;
  /** Every tx buffer: buffer b is txData[b * txStride, + txStride); txStride bytes of slack follow the last. */
  readonly txData: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly base: number;
  private readonly len: number;
  private readonly ptr: bigint;
  private readonly rxHdr: number;
  private readonly rxHdrAddr: bigint;
  private readonly txHdr: number;
  private readonly txIov: number;
  private readonly dests: number;
  private readonly header: number;
  private readonly rxBuf: number;
  private readonly txBuf: number;
  /** Address of tx mmsghdr m, made once. */
  private readonly txAddrs: bigint[];
  private readonly nameLen: number;
  private destCount = 0;
  /** GSO: on (may turn off at the first refusal), the joined mmsghdrs, their control buffers. */
  gso: boolean;
  /** GRO: the socket accepted UDP_GRO. */
  readonly gro: boolean;
  private readonly gsoHdr: number;
  private readonly gsoHdrAddr: bigint;
  private readonly gsoCtl: number;
  private readonly rxCtl: number;
  /** Per message (setMsg): destination and frame length; per joined message: how many it joined. */
  private readonly msgDest: Int32Array;
  private readonly msgLen: Int32Array;
  private readonly joined: Int32Array;
  private headerLen = 0;
  /** GSO messages sent and segments they carried (for the port's counters). */
  gsoMsgs = 0;
  gsoSegs = 0;

  private constructor(fd: number, o: UdpBatchOptions, gro: boolean) {
    this.fd = fd;
    this.gso = o.gso === true;
    this.gro = gro;
    this.msgDest = new Int32Array(o.txMsgs);
    this.msgLen = new Int32Array(o.txMsgs);
    this.joined = new Int32Array(o.txMsgs);
    const v6 = o.bind.addr.length === 16;
    this.family = v6 ? 6 : 4;
    this.nameLen = v6 ? SOCKADDR_IN6_LEN : SOCKADDR_IN_LEN;
    this.rxCount = o.rxCount;
    this.rxStride = roundUp(o.rxSize, 64);
    this.txFrames = o.txFrames;
    this.txStride = roundUp(o.txSize, 64);
    this.txMsgs = o.txMsgs;
    let at = 0;
    const take = (n: number): number => {
      const r = at;
      at += roundUp(n, 64);
      return r;
    };
    this.rxHdr = take(o.rxCount * MMSG);
    const rxIov = take(o.rxCount * IOV);
    const rxNames = take(o.rxCount * NAME_LEN);
    this.txHdr = take(o.txMsgs * MMSG);
    this.txIov = take(o.txMsgs * 2 * IOV);
    this.dests = take(MAX_DESTS * NAME_LEN);
    this.header = take(HEADER_MAX);
    this.gsoHdr = take(o.txMsgs * MMSG);
    this.gsoCtl = take(o.txMsgs * CTL);
    this.rxCtl = take(o.rxCount * CTL);
    this.rxBuf = take(o.rxCount * this.rxStride);
    this.txBuf = take((o.txFrames + 1) * this.txStride);
    this.len = roundUp(at, 4096);
    const ptr = BigInt(libc().mmap(null, this.len, PROT_RW, MAP_PRIVATE_ANON, -1, 0));
    if (ptr === MAP_FAILED) throwErrno('mmap', `${this.len} bytes for UDP batches`);
    this.ptr = ptr;
    const ab = koffi().view(ptr, this.len);
    this.base = Number(ptr);
    this.u32 = new Uint32Array(ab);
    this.rxData = new Uint8Array(ab, this.rxBuf, o.rxCount * this.rxStride);
    this.rxNames = new Uint8Array(ab, rxNames, o.rxCount * NAME_LEN);
    this.txData = new Uint8Array(ab, this.txBuf, (o.txFrames + 1) * this.txStride);
    this.rxHdrAddr = ptr + BigInt(this.rxHdr);
    this.gsoHdrAddr = ptr + BigInt(this.gsoHdr);
    this.txAddrs = [];
    for (let m = 0; m < o.txMsgs; m++) this.txAddrs.push(ptr + BigInt(this.txHdr + m * MMSG));
    for (let i = 0; i < o.rxCount; i++) {
      const h = this.rxHdr + i * MMSG;
      this.putPtr(h, rxNames + i * NAME_LEN);
      this.putPtr(h + 16, rxIov + i * IOV);
      this.u32[(h + 24) >> 2] = 1;
      this.putPtr(rxIov + i * IOV, this.rxBuf + i * this.rxStride);
      this.u32[(rxIov + i * IOV + 8) >> 2] = this.rxStride;
      if (gro) this.putPtr(h + 32, this.rxCtl + i * CTL);
    }
    for (let g = 0; g < o.txMsgs; g++) {
      // cmsghdr: len (8 bytes) = CMSG_LEN(2) = 18, level, type; the u16 segment size follows at 16
      const c = this.gsoCtl + g * CTL;
      this.u32[c >> 2] = 18;
      this.u32[(c + 8) >> 2] = SOL_UDP;
      this.u32[(c + 12) >> 2] = UDP_SEGMENT;
      this.u32[(this.gsoHdr + g * MMSG + 8) >> 2] = this.nameLen;
    }
    for (let m = 0; m < o.txMsgs; m++) {
      const h = this.txHdr + m * MMSG;
      const iov = this.txIov + m * 2 * IOV;
      this.u32[(h + 8) >> 2] = this.nameLen;
      this.putPtr(h + 16, iov);
      this.u32[(h + 24) >> 2] = 2;
      this.putPtr(iov, this.header);
    }
  }

  /**
   * Opens a non-blocking, close-on-exec UDP socket bound to `o.bind`, and its
   * batch memory. IPv6 sockets are IPv6 only (no v4-mapped peers).
   * @throws ValeError INVALID_ARG for bad sizes; SYSTEM when a call fails (EADDRINUSE, EADDRNOTAVAIL).
   */
  static open(o: UdpBatchOptions): UdpBatch {
    const ok = (n: number, max: number): boolean => Number.isInteger(n) && n >= 1 && n <= max;
    if (!ok(o.rxCount, 1024) || !ok(o.txMsgs, 1024) || !ok(o.txFrames, 1024)) {
      throw new ValeError(ErrorCodes.INVALID_ARG, 'UDP batch counts must be integers from 1 to 1024');
    }
    if (!ok(o.rxSize, 65536) || !ok(o.txSize, 65536)) {
      throw new ValeError(ErrorCodes.INVALID_ARG, 'UDP batch buffer sizes must be integers from 1 to 65536');
    }
    const name = new Uint8Array(NAME_LEN);
    const nameLen = encodeSockaddrIn(o.bind, name);
    const v6 = o.bind.addr.length === 16;
    const l = ul();
    const fd = l.socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throwErrno('socket', v6 ? 'AF_INET6' : 'AF_INET');
    try {
      const v = new Int32Array(1);
      if (v6) {
        v[0] = 1;
        if (l.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v, 4) < 0) throwErrno('setsockopt', 'IPV6_V6ONLY');
      }
      if (o.sockBuf !== undefined) {
        v[0] = o.sockBuf;
        if (l.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, v, 4) < 0) l.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, v, 4);
        if (l.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, v, 4) < 0) l.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, v, 4);
      }
      let gro = false;
      if (o.gro === true) {
        v[0] = 1;
        gro = l.setsockopt(fd, SOL_UDP, UDP_GRO, v, 4) === 0;
      }
      if (l.bind(fd, name, nameLen) < 0) throwErrno('bind', describeEndpoint(o.bind));
      return new UdpBatch(fd, o, gro);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  /** The port the socket is bound to. */
  localPort(): number {
    const a = new Uint8Array(NAME_LEN);
    const n = new Uint32Array([NAME_LEN]);
    if (ul().getsockname(this.fd, a, n) < 0) throwErrno('getsockname');
    return (a[2] << 8) | a[3];
  }

  /**
   * A multicast underlay: joins `group` (4 or 16 bytes) on interface `dev`, sends multicast out of
   * it, and does not loop our own multicast back to us.
   * @throws ValeError NOT_FOUND for an unknown interface; SYSTEM when the kernel refuses.
   */
  joinGroup(group: Uint8Array, dev: string): void {
    const l = ul();
    const ifindex = l.if_nametoindex(dev);
    if (ifindex === 0) throw new ValeError(ErrorCodes.NOT_FOUND, `no interface '${dev}' to join the group on`);
    const v = new Int32Array(1);
    if (this.family === 4) {
      // struct ip_mreqn: multiaddr, address (any), ifindex
      const m = new Uint8Array(12);
      m.set(group, 0);
      new DataView(m.buffer).setInt32(8, ifindex, true);
      if (l.setsockopt(this.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, m, 12) < 0)
        throwErrno('setsockopt', 'IP_ADD_MEMBERSHIP');
      if (l.setsockopt(this.fd, IPPROTO_IP, IP_MULTICAST_IF, m, 12) < 0) throwErrno('setsockopt', 'IP_MULTICAST_IF');
      if (l.setsockopt(this.fd, IPPROTO_IP, IP_MULTICAST_LOOP, v, 4) < 0) throwErrno('setsockopt', 'IP_MULTICAST_LOOP');
    } else {
      // struct ipv6_mreq: multiaddr, ifindex
      const m = new Uint8Array(20);
      m.set(group, 0);
      new DataView(m.buffer).setInt32(16, ifindex, true);
      if (l.setsockopt(this.fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, m, 20) < 0) {
        throwErrno('setsockopt', 'IPV6_ADD_MEMBERSHIP');
      }
      v[0] = ifindex;
      if (l.setsockopt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, v, 4) < 0)
        throwErrno('setsockopt', 'IPV6_MULTICAST_IF');
      v[0] = 0;
      if (l.setsockopt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, v, 4) < 0) {
        throwErrno('setsockopt', 'IPV6_MULTICAST_LOOP');
      }
    }
  }

  /** Sets the bytes every datagram sent starts with (a tunnel header; at most 64). */
  setHeader(bytes: Uint8Array): void {
    if (bytes.length > HEADER_MAX) throw new ValeError(ErrorCodes.INVALID_ARG, `header over ${HEADER_MAX} bytes`);
    new Uint8Array(this.u32.buffer, this.header, HEADER_MAX).set(bytes);
    this.headerLen = bytes.length;
    for (let m = 0; m < this.txMsgs; m++) this.u32[(this.txIov + m * 2 * IOV + 8) >> 2] = bytes.length;
  }

  /**
   * Adds a destination (sockaddr of the socket's family); returns its number for setMsg.
   * @throws ValeError INVALID_ARG for another family; LIMIT beyond MAX_DESTS.
   */
  addDest(e: UdpEndpoint): number {
    if ((e.addr.length === 16) !== (this.family === 6)) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `${describeEndpoint(e)} is not an IPv${this.family} address`);
    }
    if (this.destCount >= MAX_DESTS) throw new ValeError(ErrorCodes.LIMIT, `more than ${MAX_DESTS} destinations`);
    const d = this.destCount++;
    encodeSockaddrIn(e, new Uint8Array(this.u32.buffer, this.dests + d * NAME_LEN, NAME_LEN));
    return d;
  }

  /** Message m of the next send(): the header, then txData[buf * txStride, + len), to destination `dest`. */
  setMsg(m: number, buf: number, len: number, dest: number): void {
    const h = this.txHdr + m * MMSG;
    this.putPtr(h, this.dests + dest * NAME_LEN);
    const iov = this.txIov + m * 2 * IOV + IOV;
    this.putPtr(iov, this.txBuf + buf * this.txStride);
    this.u32[(iov + 8) >> 2] = len;
    this.msgDest[m] = dest;
    this.msgLen[m] = len;
  }

  /**
   * Receives up to `max` (<= rxCount) datagrams without waiting.
   * @returns how many (then rxLen, rxTruncated and rxNames describe each), or -errno (-EAGAIN: none).
   */
  recv(max: number): number {
    const u32 = this.u32;
    const nl = this.nameLen;
    const ctl = this.gro ? CTL : 0;
    for (let i = 0, h = this.rxHdr >> 2; i < max; i++, h += MMSG >> 2) {
      u32[h + 2] = nl;
      u32[h + 10] = ctl;
    }
    const r = ul().recvmmsg(this.fd, this.rxHdrAddr, max, MSG_DONTWAIT, null);
    return r >= 0 ? r : -errno();
  }

  /** Bytes of datagram i of the last recv() (at most rxStride). */
  rxLen(i: number): number {
    return this.u32[(this.rxHdr + i * MMSG + 56) >> 2];
  }

  /** GRO: the size of each datagram coalesced into buffer i (the last may be shorter), or 0: one datagram. */
  rxSegSize(i: number): number {
    if (!this.gro) return 0;
    const u32 = this.u32;
    if (u32[(this.rxHdr + i * MMSG + 40) >> 2] < 20) return 0;
    const c = (this.rxCtl + i * CTL) >> 2;
    return u32[c + 2] === SOL_UDP && u32[c + 3] === UDP_GRO ? u32[c + 4] : 0;
  }

  /** Datagram i was longer than its buffer (its rest was lost). */
  rxTruncated(i: number): boolean {
    return (this.u32[(this.rxHdr + i * MMSG + 48) >> 2] & MSG_TRUNC) !== 0;
  }

  /**
   * Sends messages [first, first + count) as set by setMsg, without waiting.
   * @returns how many went (fewer when the socket's queue filled), or -errno for the first one (-EAGAIN: full).
   */
  send(first: number, count: number): number {
    if (this.gso) {
      const r = this.sendJoined(first, count);
      if (r !== 0) return r;
    }
    const r = ul().sendmmsg(this.fd, this.txAddrs[first] as bigint, count, MSG_DONTWAIT | MSG_NOSIGNAL);
    return r >= 0 ? r : -errno();
  }

  /** GSO send (see above): messages sent (joined ones count each of theirs), -errno, or 0 when GSO was just turned off. */
  private sendJoined(first: number, count: number): number {
    const u32 = this.u32;
    const dest = this.msgDest;
    const lens = this.msgLen;
    const joined = this.joined;
    const hl = this.headerLen;
    const end = first + count;
    let g = 0;
    let m = first;
    while (m < end) {
      const d = dest[m] as number;
      const l = lens[m] as number;
      const seg = l + hl;
      let k = 1;
      while (m + k < end && k < GSO_SEGS && dest[m + k] === d && (k + 1) * seg <= GSO_BYTES) {
        const l2 = lens[m + k] as number;
        if (l2 > l) break;
        k++;
        if (l2 < l) break; // a shorter datagram ends the run
      }
      const h = (this.gsoHdr + g * MMSG) >> 2;
      const src = (this.txHdr + m * MMSG) >> 2;
      u32[h] = u32[src] as number; // name
      u32[h + 1] = u32[src + 1] as number;
      const iov = this.base + this.txIov + m * 2 * IOV;
      u32[h + 4] = iov % 0x1_0000_0000;
      u32[h + 5] = Math.floor(iov / 0x1_0000_0000);
      u32[h + 6] = 2 * k;
      u32[h + 7] = 0;
      if (k > 1) {
        const c = this.gsoCtl + g * CTL;
        const ca = this.base + c;
        u32[h + 8] = ca % 0x1_0000_0000;
        u32[h + 9] = Math.floor(ca / 0x1_0000_0000);
        u32[h + 10] = 24;
        u32[(c + 16) >> 2] = seg;
      } else {
        u32[h + 8] = 0;
        u32[h + 9] = 0;
        u32[h + 10] = 0;
      }
      u32[h + 11] = 0;
      joined[g++] = k;
      m += k;
    }
    const r = ul().sendmmsg(this.fd, this.gsoHdrAddr, g, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0) {
      const e = errno();
      if ((e === EIO || e === EINVAL) && (joined[0] as number) > 1) {
        this.gso = false; // no UDP GSO on this kernel or route: plain sendmmsg from now on
        return 0;
      }
      return -e;
    }
    let sent = 0;
    for (let i = 0; i < r; i++) {
      const k = joined[i] as number;
      sent += k;
      if (k > 1) {
        this.gsoMsgs++;
        this.gsoSegs += k;
      }
    }
    return sent;
  }

  /** Closes the socket and unmaps the batch memory; views made of it must not be used after. Safe twice. */
  close(): void {
    if (this.fd < 0) return;
    this.fd = closeFd(this.fd);
    libc().munmap(this.ptr, this.len);
  }

  private putPtr(at: number, off: number): void {
    const a = this.base + off;
    this.u32[at >> 2] = a % 0x1_0000_0000;
    this.u32[(at >> 2) + 1] = Math.floor(a / 0x1_0000_0000);
  }
}

/** "1.2.3.4:5" or "[::1]:5". */
export function describeEndpoint(e: UdpEndpoint): string {
  if (e.addr.length === 4) return `${[...e.addr].join('.')}:${e.port}`;
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((e.addr[i] << 8) | e.addr[i + 1]).toString(16));
  return `[${w.join(':')}]:${e.port}`;
}
