/*
 * AF_UNIX SOCK_STREAM sockets that carry file descriptors (SCM_RIGHTS),
 * which Node's net module cannot receive. vhost-user needs them: QEMU and
 * DPDK send guest memory and eventfds as ancillary data on a stream socket.
 *
 * streamListen binds and listens (non-blocking, close-on-exec, owner and mode
 * set before listen() so no peer can connect while it is wider); streamAccept
 * takes one connection (accept4, non-blocking, close-on-exec) or returns
 * -errno; streamConnect dials. streamRecv reads bytes with recvmsg and
 * collects the fds that came with them into a caller's Int32Array (count in
 * [0], fds from [1]); a control message cut short (MSG_CTRUNC, more fds than
 * room) closes what arrived and returns -EMSGSIZE. streamSend and
 * streamSendFds (send, sendmsg) write bytes, the latter with fds.
 *
 * recvmsg and sendmsg take a struct msghdr whose fields are pointers. They
 * are laid out, once per thread, in a page of anonymous memory mapped for
 * the purpose (its address is known, so the structs can point into it); the
 * bytes pass through it with one copy each way. The prototypes take that
 * page's addresses as uint64_t (a pointer's register on x86-64 and arm64).
 * Layouts are Linux's on those two: msghdr 56 bytes (name @0, namelen @8,
 * iov @16, iovlen @24, control @32, controllen @40, flags @48), iovec 16,
 * cmsghdr 16 (len @0, level @8, type @12, data @16).
 * Readiness comes from fdio.ts's watchReadable.
 */

import { chmodSync, lchownSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../core/errors.js';
import {
  AF_UNIX,
  MAP_PRIVATE_ANON,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  PROT_RW,
  SCM_RIGHTS,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from './abi.js';
import { checkFd, errno, fromNodeError, koffi, libc, libcLib, MAP_FAILED, sysError, throwErrno } from './libc.js';
import { closeFd } from './shm.js';
import { encodeSockaddrUn, SOCKADDR_UN_LEN } from './unix-dgram.js';

const EMSGSIZE = 90;

/** Most fds one streamRecv or streamSendFds call carries. */
export const MAX_FDS = 16;
/** Most bytes one streamRecv or streamSend(Fds) call moves. */
export const MAX_IO = 8192;

const SCRATCH = 16384;
/** Offsets in the scratch page. */
const MSGHDR = 0;
const IOVEC = 64;
const CONTROL = 128;
const CONTROL_LEN = 16 + MAX_FDS * 4;
const DATA = 512;

interface StreamLib {
  socket(domain: number, type: number, proto: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  accept4(fd: number, addr: null, len: null, flags: number): number;
  recvmsg(fd: number, msg: bigint, flags: number): number;
  sendmsg(fd: number, msg: bigint, flags: number): number;
  send(fd: number, buf: Uint8Array, n: number, flags: number): number;
}

let lib: StreamLib | undefined;
let scratchPtr = 0n;
let scratch: Uint8Array | undefined;
let scratchDv: DataView | undefined;

function sl(): StreamLib {
  if (lib === undefined) {
    const l = libcLib();
    lib = {
      socket: l.func('int socket(int domain, int type, int protocol)'),
      bind: l.func('int bind(int fd, const void *addr, uint32_t len)'),
      listen: l.func('int listen(int fd, int backlog)'),
      connect: l.func('int connect(int fd, const void *addr, uint32_t len)'),
      accept4: l.func('int accept4(int fd, void *addr, void *len, int flags)'),
      recvmsg: l.func('intptr_t recvmsg(int fd, uint64_t msg, int flags)'),
      sendmsg: l.func('intptr_t sendmsg(int fd, uint64_t msg, int flags)'),
      send: l.func('intptr_t send(int fd, const void *buf, size_t n, int flags)'),
    };
  }
  return lib;
}

function page(): Uint8Array {
  if (scratch === undefined) {
    const p = BigInt(libc().mmap(null, SCRATCH, PROT_RW, MAP_PRIVATE_ANON, -1, 0));
    if (p === MAP_FAILED) throwErrno('mmap', 'scratch page');
    scratchPtr = p;
    scratch = new Uint8Array(koffi().view(p, SCRATCH));
    scratchDv = new DataView(scratch.buffer);
  }
  return scratch;
}

/** Lays out msghdr + one iovec of `n` bytes at DATA; control buffer of `ctl` bytes (0: none). */
function setMsg(n: number, ctl: number): DataView {
  page();
  const dv = scratchDv!;
  const p = scratchPtr;
  dv.setBigUint64(MSGHDR, 0n, true);
  dv.setUint32(MSGHDR + 8, 0, true);
  dv.setBigUint64(MSGHDR + 16, p + BigInt(IOVEC), true);
  dv.setBigUint64(MSGHDR + 24, 1n, true);
  dv.setBigUint64(MSGHDR + 32, ctl === 0 ? 0n : p + BigInt(CONTROL), true);
  dv.setBigUint64(MSGHDR + 40, BigInt(ctl), true);
  dv.setInt32(MSGHDR + 48, 0, true);
  dv.setBigUint64(IOVEC, p + BigInt(DATA), true);
  dv.setBigUint64(IOVEC + 8, BigInt(n), true);
  return dv;
}

function newSocket(): number {
  const fd = sl().socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throwErrno('socket', 'AF_UNIX SOCK_STREAM');
  return fd;
}

/**
 * A listening stream socket at `path` (which must not exist), mode `mode` (default 0600) set before listen().
 * @throws ValeError INVALID_ARG for a bad path; SYSTEM when a call fails (EADDRINUSE). No fd leaks.
 */
export function streamListen(path: string, mode = 0o600, backlog = 16, owner?: { uid: number; gid: number }): number {
  const addr = encodeSockaddrUn(path);
  const fd = newSocket();
  try {
    if (sl().bind(fd, addr, SOCKADDR_UN_LEN) < 0) throwErrno('bind', path);
    try {
      if (owner !== undefined) lchownSync(path, owner.uid, owner.gid);
      chmodSync(path, mode);
    } catch (e) {
      throw fromNodeError('chmod', e, path);
    }
    if (sl().listen(fd, backlog) < 0) throwErrno('listen', path);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** accept4 on a listening socket: a non-blocking, close-on-exec connection fd, or -errno (-EAGAIN: none waiting). */
export function streamAccept(fd: number): number {
  const r = sl().accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return r >= 0 ? r : -errno();
}

/**
 * A non-blocking stream socket connected to `path`.
 * @throws ValeError SYSTEM (ENOENT, ECONNREFUSED, EAGAIN when the listener's backlog is full). No fd leaks.
 */
export function streamConnect(path: string): number {
  const addr = encodeSockaddrUn(path);
  const fd = newSocket();
  if (sl().connect(fd, addr, SOCKADDR_UN_LEN) < 0) {
    const err = sysError('connect', errno(), path);
    closeFd(fd);
    throw err;
  }
  return fd;
}

/**
 * recvmsg(fd, ..., MSG_DONTWAIT | MSG_CMSG_CLOEXEC): up to min(n, MAX_IO) bytes into buf, and the fds that
 * came with them into fds ([0] = count, then the fds; fds.length - 1 is the room, at most MAX_FDS).
 * @returns bytes read (0: the peer closed), or -errno (-EAGAIN: nothing queued; -EMSGSIZE: more fds than room,
 *   those that arrived are closed and fds[0] is 0).
 */
export function streamRecv(fd: number, buf: Uint8Array, n: number, fds: Int32Array): number {
  const room = Math.min(fds.length - 1, MAX_FDS);
  const want = Math.min(n, MAX_IO, buf.length);
  const dv = setMsg(want, CONTROL_LEN);
  fds[0] = 0;
  const r = sl().recvmsg(fd, scratchPtr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (r < 0) return -errno();
  const flags = dv.getInt32(MSGHDR + 48, true);
  const ctlLen = Number(dv.getBigUint64(MSGHDR + 40, true));
  // Walk the control messages (each CMSG_ALIGN'd to 8).
  let off = 0;
  let count = 0;
  let over = (flags & MSG_CTRUNC) !== 0;
  while (off + 16 <= ctlLen) {
    const len = Number(dv.getBigUint64(CONTROL + off, true));
    if (len < 16 || off + len > ctlLen) break;
    const level = dv.getInt32(CONTROL + off + 8, true);
    const type = dv.getInt32(CONTROL + off + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = 16; p + 4 <= len; p += 4) {
        const f = dv.getInt32(CONTROL + off + p, true);
        if (count < room) fds[1 + count++] = f;
        else {
          closeFd(f);
          over = true;
        }
      }
    }
    off += (len + 7) & ~7;
  }
  if (over) {
    for (let i = 1; i <= count; i++) closeFd(fds[i]!);
    fds[0] = 0;
    return -EMSGSIZE;
  }
  fds[0] = count;
  buf.set(scratch!.subarray(DATA, DATA + r), 0);
  return r;
}

/** send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL): bytes written (maybe fewer than n), or -errno. */
export function streamSend(fd: number, buf: Uint8Array, n: number): number {
  const r = sl().send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  return r >= 0 ? r : -errno();
}

/**
 * sendmsg with `fds` as SCM_RIGHTS and buf[0 .. n) (n in 1..MAX_IO), MSG_DONTWAIT | MSG_NOSIGNAL.
 * @returns bytes written, or -errno.
 * @throws ValeError INVALID_ARG for more than MAX_FDS fds, a bad fd number, or n out of range.
 */
export function streamSendFds(fd: number, buf: Uint8Array, n: number, fds: readonly number[]): number {
  if (fds.length > MAX_FDS) throw new ValeError(ErrorCodes.INVALID_ARG, `at most ${MAX_FDS} fds per message`);
  if (!Number.isInteger(n) || n < 1 || n > MAX_IO || n > buf.length) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `message length must be 1 to ${MAX_IO}, got ${n}`);
  }
  for (const f of fds) checkFd(f);
  const ctl = fds.length === 0 ? 0 : 16 + ((fds.length * 4 + 7) & ~7);
  const dv = setMsg(n, ctl);
  if (ctl > 0) {
    dv.setBigUint64(CONTROL, BigInt(16 + fds.length * 4), true);
    dv.setInt32(CONTROL + 8, SOL_SOCKET, true);
    dv.setInt32(CONTROL + 12, SCM_RIGHTS, true);
    for (let i = 0; i < fds.length; i++) dv.setInt32(CONTROL + 16 + 4 * i, fds[i]!, true);
  }
  scratch!.set(buf.subarray(0, n), DATA);
  const r = sl().sendmsg(fd, scratchPtr, MSG_DONTWAIT | MSG_NOSIGNAL);
  return r >= 0 ? r : -errno();
}
