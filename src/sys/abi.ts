/*
 * Linux ABI numbers the src/sys modules share (x86_64 and arm64 agree on
 * every one here): socket families and types, SOL_SOCKET options, send/recv
 * flags, mmap protections and flags. One place, so that a module reads
 * `SOL_SOCKET` rather than a second copy of `1`. Numbers only one module uses
 * stay in that module, next to the call they belong to.
 */

import type { Socket } from 'node:net';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_PEERCRED = 17;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_PEERGROUPS = 59;
export const SO_PEERPIDFD = 77;

export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;

export const PROT_RW = 0x3;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_PRIVATE_ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** The fd under a connected node:net socket (libuv's handle), or -1 when it has none. */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
