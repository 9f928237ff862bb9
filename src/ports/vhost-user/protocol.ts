/*
 * vhost-user messages (QEMU's docs/interop/vhost-user.rst), the back-end's
 * side: numbers, the 12-byte header, each request's payload decoded into a
 * plain object after its size is checked, and replies encoded.
 *
 *   header   request u32, flags u32 (bits 0-1 version = 1, bit 2 REPLY,
 *            bit 3 NEED_REPLY), size u32 (payload bytes); native order,
 *            which is little-endian on every platform uvale runs on
 *   payload  u64 | vring state {index u32, num u32} | vring address
 *            {index u32, flags u32, desc u64, used u64, avail u64, log u64}
 *            | memory table {nregions u32, padding u32, region[n] {guest
 *            address u64, size u64, user address u64, mmap offset u64}}
 *
 * Decoding never trusts the peer: the version must be 1, REPLY must be clear
 * on a request, the payload no longer than MAX_PAYLOAD (a bigger size is a
 * protocol error: it could only make us buffer without bound), each request
 * carries exactly the payload its type needs (a memory table: 8 + 32 × n bytes
 * or more, n ≤ 8), and u64 values that must be addresses fit in 2^53. The
 * result is a ValeError PROTOCOL with a message, never a partial object.
 * MessageReader reassembles messages from stream reads and attaches the fds
 * that arrived with their bytes.
 */

import { ErrorCodes, ValeError } from '../../core/errors.js';

/** Requests from the front-end (the ones this back-end knows by name). */
export const Req = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  GET_MAX_MEM_SLOTS: 36,
} as const;

const REQ_NAMES = new Map<number, string>(Object.entries(Req).map(([k, v]) => [v, k]));

/** "SET_MEM_TABLE" for 5, "request 99" for an unknown number. */
export function requestName(r: number): string {
  return REQ_NAMES.get(r) ?? `request ${r}`;
}

/** Header size and flags. */
export const HEADER_SIZE = 12;
export const VERSION = 0x1;
export const VERSION_MASK = 0x3;
export const FLAG_REPLY = 0x4;
export const FLAG_NEED_REPLY = 0x8;
/** The largest payload accepted (the largest defined one, SET_CONFIG, is 12 + 256). */
export const MAX_PAYLOAD = 4096;
/** Regions in one SET_MEM_TABLE. */
export const MAX_MEM_REGIONS = 8;
/** SET_VRING_KICK/CALL/ERR u64: bits 0-7 the ring, bit 8 "no fd" (polling). */
export const VRING_IDX_MASK = 0xff;
export const VRING_NOFD_MASK = 0x100;

/** Feature bits (virtio and vhost-user). */
export const Feature = {
  NET_F_CSUM: 0,
  NET_F_GUEST_CSUM: 1,
  NET_F_GUEST_TSO4: 7,
  NET_F_GUEST_TSO6: 8,
  NET_F_HOST_TSO4: 11,
  NET_F_HOST_TSO6: 12,
  NET_F_MRG_RXBUF: 15,
  NET_F_STATUS: 16,
  NET_F_MQ: 22,
  F_NOTIFY_ON_EMPTY: 24,
  F_LOG_ALL: 26,
  F_ANY_LAYOUT: 27,
  RING_F_INDIRECT_DESC: 28,
  RING_F_EVENT_IDX: 29,
  USER_F_PROTOCOL_FEATURES: 30,
  F_VERSION_1: 32,
  F_IOMMU_PLATFORM: 33,
  F_RING_PACKED: 34,
} as const;

/** Protocol feature bits. */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  BACKEND_REQ: 5,
  CONFIG: 9,
} as const;

/** 1n << bit. */
export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

/** A decoded header. */
export interface Header {
  request: number;
  flags: number;
  size: number;
}

/** One region of a memory table. */
export interface WireRegion {
  guestAddr: number;
  size: number;
  userAddr: number;
  mmapOffset: number;
}

/** A decoded request: the header's fields, the payload's, and the fds that came with it. */
export type Message =
  | { kind: 'none'; request: number; needReply: boolean; fds: number[] }
  | { kind: 'u64'; request: number; needReply: boolean; fds: number[]; value: bigint }
  | { kind: 'state'; request: number; needReply: boolean; fds: number[]; index: number; num: number }
  | {
      kind: 'addr';
      request: number;
      needReply: boolean;
      fds: number[];
      index: number;
      flags: number;
      desc: number;
      used: number;
      avail: number;
      log: bigint;
    }
  | { kind: 'mem'; request: number; needReply: boolean; fds: number[]; regions: WireRegion[] }
  | { kind: 'raw'; request: number; needReply: boolean; fds: number[]; payload: Uint8Array };

function proto(msg: string): ValeError {
  return new ValeError(ErrorCodes.PROTOCOL, `vhost-user: ${msg}`);
}

/**
 * The header at buf[0 .. 12). @throws ValeError PROTOCOL for a wrong version, a REPLY flag on a request, or a
 * size above MAX_PAYLOAD.
 */
export function decodeHeader(buf: Uint8Array): Header {
  if (buf.length < HEADER_SIZE) throw proto('short header');
  const dv = new DataView(buf.buffer, buf.byteOffset, HEADER_SIZE);
  const request = dv.getUint32(0, true);
  const flags = dv.getUint32(4, true);
  const size = dv.getUint32(8, true);
  if ((flags & VERSION_MASK) !== VERSION)
    throw proto(`version ${flags & VERSION_MASK} in ${requestName(request)}, not 1`);
  if ((flags & FLAG_REPLY) !== 0) throw proto(`${requestName(request)} has the REPLY flag set`);
  if (size > MAX_PAYLOAD) throw proto(`${requestName(request)} payload of ${size} bytes (at most ${MAX_PAYLOAD})`);
  return { request, flags, size };
}

function u53(dv: DataView, off: number, what: string, req: number): number {
  const v = dv.getBigUint64(off, true);
  if (v >= 1n << 53n) throw proto(`${requestName(req)}: ${what} 0x${v.toString(16)} beyond 2^53`);
  return Number(v);
}

/** What each known request carries. */
const SHAPE: Readonly<Record<number, 'none' | 'u64' | 'state' | 'addr' | 'mem'>> = {
  [Req.GET_FEATURES]: 'none',
  [Req.SET_FEATURES]: 'u64',
  [Req.SET_OWNER]: 'none',
  [Req.RESET_OWNER]: 'none',
  [Req.SET_MEM_TABLE]: 'mem',
  [Req.SET_LOG_BASE]: 'u64',
  [Req.SET_LOG_FD]: 'none',
  [Req.SET_VRING_NUM]: 'state',
  [Req.SET_VRING_ADDR]: 'addr',
  [Req.SET_VRING_BASE]: 'state',
  [Req.GET_VRING_BASE]: 'state',
  [Req.SET_VRING_KICK]: 'u64',
  [Req.SET_VRING_CALL]: 'u64',
  [Req.SET_VRING_ERR]: 'u64',
  [Req.GET_PROTOCOL_FEATURES]: 'none',
  [Req.SET_PROTOCOL_FEATURES]: 'u64',
  [Req.GET_QUEUE_NUM]: 'none',
  [Req.SET_VRING_ENABLE]: 'state',
  [Req.SEND_RARP]: 'u64',
  [Req.NET_SET_MTU]: 'u64',
  [Req.GET_MAX_MEM_SLOTS]: 'none',
};

/**
 * A request from its header and payload (exactly header.size bytes), with its fds (taken over by the message).
 * Unknown requests decode as 'raw'. @throws ValeError PROTOCOL for a payload whose size does not fit its type.
 */
export function decodeMessage(h: Header, payload: Uint8Array, fds: number[]): Message {
  if (payload.length !== h.size)
    throw proto(`${requestName(h.request)}: payload ${payload.length} bytes, header says ${h.size}`);
  const needReply = (h.flags & FLAG_NEED_REPLY) !== 0;
  const request = h.request;
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const shape = SHAPE[request];
  const need = (n: number, exact = true): void => {
    if (exact ? h.size !== n : h.size < n) {
      throw proto(`${requestName(request)} needs ${exact ? '' : 'at least '}${n} payload bytes, got ${h.size}`);
    }
  };
  switch (shape) {
    case 'none':
      // QEMU sends some of these with a u64 payload it does not use; accept 0 or 8 bytes.
      if (h.size !== 0 && h.size !== 8) need(0);
      return { kind: 'none', request, needReply, fds };
    case 'u64':
      need(8, request !== Req.SET_LOG_BASE); // SET_LOG_BASE carries {size u64, offset u64}
      return { kind: 'u64', request, needReply, fds, value: dv.getBigUint64(0, true) };
    case 'state':
      need(8);
      return { kind: 'state', request, needReply, fds, index: dv.getUint32(0, true), num: dv.getUint32(4, true) };
    case 'addr':
      need(40);
      return {
        kind: 'addr',
        request,
        needReply,
        fds,
        index: dv.getUint32(0, true),
        flags: dv.getUint32(4, true),
        desc: u53(dv, 8, 'descriptor address', request),
        used: u53(dv, 16, 'used address', request),
        avail: u53(dv, 24, 'avail address', request),
        log: dv.getBigUint64(32, true),
      };
    case 'mem': {
      need(8, false);
      const n = dv.getUint32(0, true);
      if (n > MAX_MEM_REGIONS) throw proto(`SET_MEM_TABLE with ${n} regions (at most ${MAX_MEM_REGIONS})`);
      need(8 + 32 * n, false);
      const regions: WireRegion[] = [];
      for (let i = 0; i < n; i++) {
        const o = 8 + 32 * i;
        regions.push({
          guestAddr: u53(dv, o, 'guest address', request),
          size: u53(dv, o + 8, 'region size', request),
          userAddr: u53(dv, o + 16, 'user address', request),
          mmapOffset: u53(dv, o + 24, 'mmap offset', request),
        });
      }
      return { kind: 'mem', request, needReply, fds, regions };
    }
    default:
      return { kind: 'raw', request, needReply, fds, payload: payload.slice() };
  }
}

/** A reply: header with REPLY and version 1, then `payload`. */
export function encodeReply(request: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, request, true);
  dv.setUint32(4, VERSION | FLAG_REPLY, true);
  dv.setUint32(8, payload.length, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** A u64 reply (GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, REPLY_ACK). */
export function replyU64(request: number, v: bigint): Uint8Array {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setBigUint64(0, v, true);
  return encodeReply(request, p);
}

/** A vring state reply (GET_VRING_BASE). */
export function replyState(request: number, index: number, num: number): Uint8Array {
  const p = new Uint8Array(8);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, index, true);
  dv.setUint32(4, num, true);
  return encodeReply(request, p);
}

/** A request as a front-end sends it (tests, and a future front-end): header + payload. */
export function encodeRequest(request: number, payload: Uint8Array, needReply = false): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, request, true);
  dv.setUint32(4, VERSION | (needReply ? FLAG_NEED_REPLY : 0), true);
  dv.setUint32(8, payload.length, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/**
 * Reassembles requests from stream reads. The caller reads at most `want` bytes at a time (the rest of the
 * current header, then of its payload), so no read crosses a message boundary: the kernel hands fds out with
 * the bytes of the sendmsg that carried them, so fds received with a message's bytes are that message's.
 * push(bytes, fds) as they arrive; next() returns a whole message or null. A header error is thrown by next()
 * (the connection is then beyond repair; takeFds() gives back the fds held).
 */
export class MessageReader {
  private buf = new Uint8Array(HEADER_SIZE + MAX_PAYLOAD);
  private have = 0;
  private fds: number[] = [];

  /** Bytes held (a partial message). */
  get pending(): number {
    return this.have;
  }

  /** Appends bytes (at most what fits: a caller reads at most `room` bytes) and fds. */
  push(bytes: Uint8Array, fds: ArrayLike<number> = []): void {
    if (bytes.length > this.room) throw proto('reader overflow');
    this.buf.set(bytes, this.have);
    this.have += bytes.length;
    for (let i = 0; i < fds.length; i++) this.fds.push(fds[i]!);
  }

  /** Bytes the reader can take now. */
  get room(): number {
    return this.buf.length - this.have;
  }

  /** Bytes to read next: the rest of the header, or of the message it announces (checked by decodeHeader). */
  get want(): number {
    if (this.have < HEADER_SIZE) return HEADER_SIZE - this.have;
    return HEADER_SIZE + decodeHeader(this.buf).size - this.have;
  }

  /** The next whole message, or null. @throws ValeError PROTOCOL for a bad header or payload. */
  next(): Message | null {
    if (this.have < HEADER_SIZE) return null;
    const h = decodeHeader(this.buf);
    const total = HEADER_SIZE + h.size;
    if (this.have < total) return null;
    const fds = this.fds;
    this.fds = [];
    let msg: Message;
    try {
      msg = decodeMessage(h, this.buf.subarray(HEADER_SIZE, total), fds);
    } catch (e) {
      this.fds = fds; // still ours: takeFds() hands them to the caller to close
      throw e;
    }
    // decodeMessage copied what it keeps; shift the rest down.
    this.buf.copyWithin(0, total, this.have);
    this.have -= total;
    return msg;
  }

  /** Fds held for a message not yet complete (the caller closes them when the connection ends). */
  takeFds(): number[] {
    const f = this.fds;
    this.fds = [];
    return f;
  }
}
