/*
 * What the daemon needs to know about and keep from other processes:
 *
 *   peerCred(socket)  the pid/uid/gid of the process at the other end of a
 *                     unix socket (SO_PEERCRED), so a client cannot claim to be
 *                     another process when it hands the daemon an fd number.
 *   peerGroups(socket) its supplementary groups (SO_PEERGROUPS), as they were
 *                     when it connected.
 *   lockFile(path)    an exclusive flock on a file, released by the kernel
 *                     when the holder dies however it dies; null if held.
 *   releaseMapping(m) replaces a shared mapping with private zero pages at the
 *                     same address, so views made of it stay safe to touch
 *                     while the shared memory itself is let go.
 */

import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ErrorCodes, ValeError } from '../core/errors.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_RW,
  SO_PEERCRED,
  SO_PEERGROUPS,
  SOL_SOCKET,
  socketFd,
} from './abi.js';
import { EWOULDBLOCK, errno, fromNodeError, libcLib, MAP_FAILED, sysError, throwErrno } from './libc.js';
import type { SharedMapping } from './shm.js';

interface Extra {
  getsockopt(fd: number, level: number, name: number, val: Uint8Array, len: Uint32Array): number;
  flock(fd: number, op: number): number;
  mmapAt(addr: bigint, len: number, prot: number, flags: number, fd: number, off: number): bigint;
}

let extra: Extra | undefined;

function fns(): Extra {
  if (extra === undefined) {
    const lib = libcLib();
    extra = {
      getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)'),
      flock: lib.func('int flock(int fd, int op)'),
      mmapAt: lib.func('void *mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)'),
    };
  }
  return extra;
}

/** NGROUPS_MAX on Linux. */
const MAX_GROUPS = 65536;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials of the peer of a connected unix socket (SO_PEERCRED). */
export function peerCred(socket: Socket): PeerCred {
  const fd = socketFd(socket);
  if (fd < 0) throw new ValeError(ErrorCodes.SYSTEM, 'socket has no file descriptor');
  return peerCredFd(fd);
}

/** SO_PEERCRED of a connected unix socket's fd (one uvale opened itself, src/sys/unix-stream.ts). */
export function peerCredFd(fd: number): PeerCred {
  const val = new Uint8Array(12);
  const len = new Uint32Array([12]);
  if (fns().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, val, len) < 0) throwErrno('getsockopt', 'SO_PEERCRED');
  const dv = new DataView(val.buffer);
  return { pid: dv.getInt32(0, true), uid: dv.getUint32(4, true), gid: dv.getUint32(8, true) };
}

/** The supplementary group ids of the peer of a connected unix socket (SO_PEERGROUPS, Linux 4.13). */
export function peerGroups(socket: Socket): number[] {
  const fd = socketFd(socket);
  if (fd < 0) throw new ValeError(ErrorCodes.SYSTEM, 'socket has no file descriptor');
  let size = 64 * 4;
  for (;;) {
    const val = new Uint8Array(size);
    const len = new Uint32Array([size]);
    if (fns().getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, val, len) === 0) {
      const n = Math.min(len[0] as number, size) >>> 2;
      const dv = new DataView(val.buffer);
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(dv.getUint32(i * 4, true));
      return out;
    }
    // ERANGE: len holds the size needed
    const need = len[0] as number;
    if (need <= size || need > MAX_GROUPS * 4) throwErrno('getsockopt', 'SO_PEERGROUPS');
    size = need;
  }
}

export function peerPid(socket: Socket): number {
  return peerCred(socket).pid;
}

export interface FileLock {
  readonly path: string;
  release(): void;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

/** Takes an exclusive lock on `path` (created 0600), writing our pid in it; null if another process holds it. */
export function lockFile(path: string): FileLock | null {
  let fd: number;
  try {
    // never through a link someone planted: O_NOFOLLOW refuses it (ELOOP) instead of truncating its target
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new ValeError(
        ErrorCodes.PERMISSION,
        `${path} is a symbolic link; uvale never follows one there (remove it)`,
      );
    }
    throw fromNodeError('open', e, path);
  }
  if (fns().flock(fd, LOCK_EX | LOCK_NB) < 0) {
    const e = errno();
    closeSync(fd);
    if (e === EWOULDBLOCK) return null;
    throw sysError('flock', e, path);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`);
  let held = true;
  return {
    path,
    release(): void {
      if (!held) return;
      held = false;
      fns().flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

const MAP_NORESERVE = 0x4000;

/**
 * Drops the shared memory behind `m` but keeps its addresses valid (as private
 * zero pages, which cost nothing until touched). Use it when views of the
 * mapping may outlive it; the address range stays reserved until exit.
 */
export function releaseMapping(m: SharedMapping): void {
  if (!m.mapped) return;
  const r = fns().mmapAt(m.ptr, m.size, PROT_RW, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (BigInt(r) === MAP_FAILED) throwErrno('mmap', `MAP_FIXED ${m.size} bytes`);
}
