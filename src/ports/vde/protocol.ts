/*
 * vde_switch's join request, as vdeplug4's libvdeplug_vde.c sends it and
 * vde-2's datasock.c reads it (docs/wire-formats.md, VDE join protocol).
 * Packed, in host byte order (little-endian on the platforms src/sys
 * supports):
 *
 *   0    u32  magic 0xfeedface
 *   4    u32  version 3
 *   8    u32  type: REQ_NEW_CONTROL (0) + requested port << 8 (0 = any);
 *             REQ_NEW_PORT0 (1) asks for the management port
 *   12   110  struct sockaddr_un of the client's data socket
 *   122  ≤128 description, not NUL-terminated ("vdeplug: user=…", "QEMU user=root pid=…")
 *
 * The switch answers with the raw 110-byte sockaddr_un of its own data socket
 * for this client; after that the stream carries nothing, and its EOF ends
 * the port. parseRequest is pure: every refusal is a reason string the server
 * logs before closing only that client.
 */

import { decodeSockaddrUn, SOCKADDR_UN_LEN } from '../../sys/index.js';

export const VDE_MAGIC = 0xfeedface;
export const VDE_VERSION = 3;
export const REQ_NEW_CONTROL = 0;
export const REQ_NEW_PORT0 = 1;
/** Bytes before the description. */
export const REQUEST_FIXED_LEN = 12 + SOCKADDR_UN_LEN;
/** vde_switch reads at most this much of a request. */
export const REQUEST_MAX_LEN = 256;
/** The description is cut to this many bytes. */
export const DESCRIPTION_MAX = 128;

export interface VdeRequest {
  /** The port asked for (type >> 8), 0 for any. */
  port: number;
  /** The client's data socket. */
  path: string;
  description: string;
}

/** The request in `buf` (REQUEST_FIXED_LEN bytes or more), or why it is refused. */
export function parseRequest(buf: Uint8Array): VdeRequest | { error: string } {
  if (buf.length < REQUEST_FIXED_LEN) {
    return { error: `short request: ${buf.length} bytes, a version 3 request has at least ${REQUEST_FIXED_LEN}` };
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const magic = dv.getUint32(0, true);
  if (magic !== VDE_MAGIC) {
    const swapped = dv.getUint32(0, false) === VDE_MAGIC;
    return {
      error: `bad magic 0x${magic.toString(16).padStart(8, '0')}${swapped ? ' (0xfeedface in the other byte order)' : ''}, not 0xfeedface`,
    };
  }
  const version = dv.getUint32(4, true);
  if (version !== VDE_VERSION) return { error: `protocol version ${version} is not supported (only 3)` };
  const type = dv.getUint32(8, true);
  const req = type & 0xff;
  if (req === REQ_NEW_PORT0) return { error: 'management port (REQ_NEW_PORT0) is not supported' };
  if (req !== REQ_NEW_CONTROL) return { error: `request type ${req} is not REQ_NEW_CONTROL (0)` };
  const addr = decodeSockaddrUn(buf, 12);
  if ('error' in addr) return { error: `bad data socket address: ${addr.error}` };
  const end = Math.min(buf.length, REQUEST_FIXED_LEN + DESCRIPTION_MAX);
  let description = Buffer.from(buf.buffer, buf.byteOffset + REQUEST_FIXED_LEN, end - REQUEST_FIXED_LEN).toString(
    'latin1',
  );
  const nul = description.indexOf('\0');
  if (nul >= 0) description = description.slice(0, nul);
  return { port: type >>> 8, path: addr.path, description };
}

/** A request as a client sends it (for tests and a future client adapter). */
export function encodeRequest(path: string, opts: { port?: number; description?: string } = {}): Buffer {
  const desc = Buffer.from(opts.description ?? '', 'latin1').subarray(0, DESCRIPTION_MAX);
  const b = Buffer.alloc(REQUEST_FIXED_LEN + desc.length);
  b.writeUInt32LE(VDE_MAGIC, 0);
  b.writeUInt32LE(VDE_VERSION, 4);
  b.writeUInt32LE((REQ_NEW_CONTROL + ((opts.port ?? 0) << 8)) >>> 0, 8);
  b.writeUInt16LE(1, 12);
  const p = Buffer.from(path, 'utf8');
  if (p.length >= 108) throw new RangeError(`path too long: ${p.length} bytes`);
  p.copy(b, 14);
  desc.copy(b, REQUEST_FIXED_LEN);
  return b;
}
