/*
 * The control protocol between clients and the daemon, on a unix stream socket.
 *
 * Every message is a 4-byte big-endian header followed by a payload:
 *
 *   header = type << 24 | length        (length = payload bytes, < 2^24)
 *
 *   type 1  MSG_JSON  UTF-8 JSON object: a request {id, op, ...}, a reply
 *                     {id, ok: true, result} / {id, ok: false, error}, or an
 *                     event {event, ...} from the daemon.
 *   type 2  MSG_KICK  client → daemon, payload u32 BE port handle: "my TX rings
 *                     moved" (sent only when the daemon said it sleeps).
 *   type 3  MSG_WAKE  daemon → client, payload u32 BE port handle: "your rings
 *                     changed" (sent only when the client said it sleeps).
 *
 * The first request on a connection is {op: "hello", version: PROTOCOL_VERSION}.
 * A peer that sends a bad header, an unknown type, an oversized or malformed
 * message gets one error reply (VALE_ERR_PROTOCOL) and is disconnected; nothing
 * else in the daemon is affected. Requests are limited to MAX_REQUEST bytes,
 * replies to MAX_REPLY.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';

export const PROTOCOL_VERSION = 1;
export const MSG_JSON = 1;
export const MSG_KICK = 2;
export const MSG_WAKE = 3;
export const MAX_REQUEST = 64 * 1024;
export const MAX_REPLY = 16 * 1024 * 1024;

export function encodeJson(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  if (body.length >= 1 << 24) throw new ValeError(ErrorCodes.PROTOCOL, 'message too large');
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(((MSG_JSON << 24) | body.length) >>> 0, 0);
  body.copy(out, 4);
  return out;
}

/** A KICK or WAKE message for `handle`, 8 bytes; callers may keep and resend it. */
export function encodeSignal(type: number, handle: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32BE(((type << 24) | 4) >>> 0, 0);
  out.writeUInt32BE(handle >>> 0, 4);
  return out;
}

export interface MessageSink {
  json(obj: Record<string, unknown>): void;
  signal(type: number, handle: number): void;
}

/**
 * Incremental parser: feed() it socket chunks; it calls the sink for every
 * complete message and throws a ValeError(PROTOCOL) on the first malformed one
 * (the caller then replies and disconnects). It never buffers more than one
 * message of at most `maxLen` bytes.
 */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly maxLen: number;
  private readonly sink: MessageSink;

  constructor(maxLen: number, sink: MessageSink) {
    this.maxLen = maxLen;
    this.sink = sink;
  }

  /** Bytes of an incomplete message held (0 between messages). */
  get pending(): number {
    return this.buf.length;
  }

  feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    const b = this.buf;
    while (b.length - off >= 4) {
      const hdr = b.readUInt32BE(off);
      const type = hdr >>> 24;
      const len = hdr & 0xffffff;
      if (type !== MSG_JSON && type !== MSG_KICK && type !== MSG_WAKE) {
        throw new ValeError(ErrorCodes.PROTOCOL, `unknown message type ${type}`);
      }
      if (len > this.maxLen) {
        throw new ValeError(ErrorCodes.PROTOCOL, `message of ${len} bytes exceeds the limit of ${this.maxLen}`);
      }
      if (type !== MSG_JSON && len !== 4) throw new ValeError(ErrorCodes.PROTOCOL, `signal with ${len}-byte payload`);
      if (b.length - off - 4 < len) break;
      const start = off + 4;
      off = start + len;
      if (type === MSG_JSON) {
        let obj: unknown;
        try {
          obj = JSON.parse(b.toString('utf8', start, start + len));
        } catch {
          throw new ValeError(ErrorCodes.PROTOCOL, 'message is not valid JSON');
        }
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
          throw new ValeError(ErrorCodes.PROTOCOL, 'message is not a JSON object');
        }
        this.sink.json(obj as Record<string, unknown>);
      } else {
        this.sink.signal(type, b.readUInt32BE(start));
      }
    }
    this.buf = off === b.length ? Buffer.alloc(0) : b.subarray(off);
  }
}
