/*
 * AF_UNIX SOCK_DGRAM sockets, which Node cannot open (node:dgram has udp4 and
 * udp6 only). VDE (vde_switch, vdeplug4, QEMU's -netdev vde) carries one
 * Ethernet frame per unix datagram, so a uvale VDE port needs them.
 *
 * openUnixDgram makes a non-blocking, close-on-exec socket with the buffer
 * sizes asked for, optionally bound to a path and connected to another. The
 * data-path calls, dgramRecv and dgramSend, take a view made once by the
 * caller and return the length or -errno, never throw (EAGAIN: nothing queued
 * or the peer's queue is full; ECONNREFUSED: the peer socket is gone).
 * dgramRecv passes MSG_TRUNC, so a datagram longer than the buffer returns
 * its real length (> n): the caller sees it was oversized and drops it.
 * Readiness comes from fdio.ts's watchReadable (a libuv poll on the fd).
 * There is no writable watch: libuv allows one poll handle per fd, and
 * koffi 3.3.4 aborts the process when a second is made on an fd it already
 * watches, so a sender whose peer's queue is full retries on a timer.
 *
 * The functions are bound from libc.so.6 on first use, per thread, with fixed
 * prototypes (none of these is variadic).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import {
  AF_UNIX,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from './abi.js';
import { checkFd, errno, libcLib, throwErrno } from './libc.js';
import { closeFd } from './shm.js';

/** sizeof(struct sockaddr_un) on Linux: a 2-byte family and a 108-byte path. */
export const SOCKADDR_UN_LEN = 110;
/** Bytes of sun_path, its NUL included. */
export const SUN_PATH_LEN = 108;

interface DgramLib {
  socket(domain: number, type: number, proto: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Int32Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, val: Int32Array, len: Uint32Array): number;
  recv(fd: number, buf: Uint8Array, n: number, flags: number): number;
  send(fd: number, buf: Uint8Array, n: number, flags: number): number;
  sendto(fd: number, buf: Uint8Array, n: number, flags: number, addr: Uint8Array, len: number): number;
}

let lib: DgramLib | undefined;

function dl(): DgramLib {
  if (lib === undefined) {
    const l = libcLib();
    lib = {
      socket: l.func('int socket(int domain, int type, int protocol)'),
      bind: l.func('int bind(int fd, const void *addr, uint32_t len)'),
      connect: l.func('int connect(int fd, const void *addr, uint32_t len)'),
      setsockopt: l.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
      getsockopt: l.func('int getsockopt(int fd, int level, int name, void *val, void *len)'),
      recv: l.func('intptr_t recv(int fd, void *buf, size_t n, int flags)'),
      send: l.func('intptr_t send(int fd, const void *buf, size_t n, int flags)'),
      sendto: l.func('intptr_t sendto(int fd, const void *buf, size_t n, int flags, const void *addr, uint32_t len)'),
    };
  }
  return lib;
}

/**
 * A 110-byte struct sockaddr_un for `path` (family AF_UNIX, path NUL-padded).
 * @throws ValeError INVALID_ARG when the path is empty, has a NUL, or is 108 bytes or longer.
 */
export function encodeSockaddrUn(path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length === 0 || bytes.length >= SUN_PATH_LEN || bytes.includes(0)) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `unix socket path ${JSON.stringify(path)} must be 1 to ${SUN_PATH_LEN - 1} bytes without NUL, got ${bytes.length}`,
    );
  }
  const a = Buffer.alloc(SOCKADDR_UN_LEN);
  a.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(a, 2);
  return a;
}

/**
 * The path in a struct sockaddr_un at `buf[off ..]`, or a reason it is not a usable one: family not AF_UNIX,
 * an empty or abstract path (sun_path[0] = 0), no NUL within 108 bytes, not UTF-8.
 */
export function decodeSockaddrUn(buf: Uint8Array, off = 0): { path: string } | { error: string } {
  if (buf.length - off < SOCKADDR_UN_LEN) return { error: `sockaddr_un needs ${SOCKADDR_UN_LEN} bytes` };
  const family = buf[off] | (buf[off + 1] << 8);
  if (family !== AF_UNIX) return { error: `address family ${family}, not AF_UNIX (1)` };
  const p = buf.subarray(off + 2, off + SOCKADDR_UN_LEN);
  if (p[0] === 0) return { error: 'empty or abstract socket path' };
  const end = p.indexOf(0);
  if (end < 0) return { error: 'socket path has no terminating NUL within 108 bytes' };
  const path = Buffer.from(p.buffer, p.byteOffset, end).toString('utf8');
  if (path.includes('\ufffd')) return { error: 'socket path is not UTF-8' };
  return { path };
}

/** Options of openUnixDgram. */
export interface UnixDgramOptions {
  /** Bind to this path (it must not exist). */
  bind?: string;
  /** Connect to this path: send() goes there, and only datagrams from it are received. */
  connect?: string;
  /** SO_SNDBUF / SO_RCVBUF in bytes (the kernel doubles them and caps them at wmem_max / rmem_max). */
  sndbuf?: number;
  rcvbuf?: number;
}

/**
 * socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC), then the buffer sizes, connect and bind asked for
 * (connect first, as vde_switch does: the peer may unlink its path as soon as it learns ours).
 *
 * @returns the fd; close it with closeFd.
 * @throws ValeError INVALID_ARG for a bad path or size; SYSTEM when a call fails (ENOENT, ECONNREFUSED for
 *   connect; EADDRINUSE for bind). No fd leaks on failure.
 */
export function openUnixDgram(opts: UnixDgramOptions = {}): number {
  const bindAddr = opts.bind === undefined ? null : encodeSockaddrUn(opts.bind);
  const connAddr = opts.connect === undefined ? null : encodeSockaddrUn(opts.connect);
  for (const [what, v] of [
    ['sndbuf', opts.sndbuf],
    ['rcvbuf', opts.rcvbuf],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1024 || v > 0x3fff_ffff)) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `${what} must be an integer from 1024 to 2^30 - 1, got ${v}`);
    }
  }
  const l = dl();
  const fd = l.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throwErrno('socket', 'AF_UNIX SOCK_DGRAM');
  try {
    const v = new Int32Array(1);
    if (opts.sndbuf !== undefined) {
      v[0] = opts.sndbuf;
      if (l.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, v, 4) < 0) throwErrno('setsockopt', 'SO_SNDBUF');
    }
    if (opts.rcvbuf !== undefined) {
      v[0] = opts.rcvbuf;
      if (l.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, v, 4) < 0) throwErrno('setsockopt', 'SO_RCVBUF');
    }
    if (connAddr !== null && l.connect(fd, connAddr, SOCKADDR_UN_LEN) < 0) throwErrno('connect', opts.connect);
    if (bindAddr !== null && l.bind(fd, bindAddr, SOCKADDR_UN_LEN) < 0) throwErrno('bind', opts.bind);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** connect(fd, path) on a datagram socket. @throws ValeError SYSTEM (ENOENT, ECONNREFUSED, EACCES). */
export function dgramConnect(fd: number, path: string): void {
  checkFd(fd);
  const a = encodeSockaddrUn(path);
  if (dl().connect(fd, a, SOCKADDR_UN_LEN) < 0) throwErrno('connect', path);
}

/** The socket's SO_SNDBUF and SO_RCVBUF as the kernel set them (doubled). */
export function dgramBufferSizes(fd: number): { sndbuf: number; rcvbuf: number } {
  checkFd(fd);
  const l = dl();
  const v = new Int32Array(1);
  const len = new Uint32Array(1);
  const get = (name: number, what: string): number => {
    len[0] = 4;
    if (l.getsockopt(fd, SOL_SOCKET, name, v, len) < 0) throwErrno('getsockopt', what);
    return v[0];
  };
  return { sndbuf: get(SO_SNDBUF, 'SO_SNDBUF'), rcvbuf: get(SO_RCVBUF, 'SO_RCVBUF') };
}

/**
 * recv(fd, buf, n, MSG_DONTWAIT | MSG_TRUNC): one datagram into `buf[0 .. n)`.
 * @returns its real length (more than n if it was cut: the caller drops it), or -errno (-EAGAIN when none).
 */
export function dgramRecv(fd: number, buf: Uint8Array, n: number): number {
  const r = dl().recv(fd, buf, n, MSG_DONTWAIT | MSG_TRUNC);
  return r >= 0 ? r : -errno();
}

/**
 * send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) on a connected socket: one datagram of `buf[0 .. n)`.
 * @returns n, or -errno (-EAGAIN when the peer's queue is full, -ECONNREFUSED when the peer socket is closed).
 */
export function dgramSend(fd: number, buf: Uint8Array, n: number): number {
  const r = dl().send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  return r >= 0 ? r : -errno();
}

/**
 * sendto(fd, buf, n, ..., addr): one datagram to the socket whose 110-byte sockaddr_un (encodeSockaddrUn) is `addr`.
 * @returns n, or -errno.
 */
export function dgramSendTo(fd: number, buf: Uint8Array, n: number, addr: Uint8Array): number {
  const r = dl().sendto(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL, addr, SOCKADDR_UN_LEN);
  return r >= 0 ? r : -errno();
}
