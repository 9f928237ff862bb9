/*
 * Taking a file descriptor from a client process without trusting its pid.
 *
 * A pid read at connect time (SO_PEERCRED) may name another process by the
 * time the daemon opens /proc/<pid>/fd/N: the client exits, its pid is reused.
 * A pidfd names one process for its whole life, so the daemon takes one for
 * its peer when the client connects (SO_PEERPIDFD, Linux 6.5) and later copies
 * the client's fd through it (pidfd_getfd, Linux 5.6): a dead client gives
 * ESRCH, never another process's file. The kernel allows pidfd_getfd for the
 * same user and for root (ptrace's access rule), as /proc/<pid>/fd.
 */

import type { Socket } from 'node:net';
import { SO_PEERPIDFD, SOL_SOCKET, socketFd } from './abi.js';
import { libcLib, throwErrno } from './libc.js';

interface Fns {
  getsockopt(fd: number, level: number, name: number, val: Int32Array, len: Uint32Array): number;
  pidfdGetfd(nr: number, pidfd: number, fd: number, flags: number): number;
}

let fns: Fns | undefined;

function lib(): Fns {
  if (fns === undefined) {
    const l = libcLib();
    fns = {
      getsockopt: l.func('int getsockopt(int fd, int level, int name, _Out_ int32_t *val, _Inout_ uint32_t *len)'),
      pidfdGetfd: l.func('long syscall(long nr, int pidfd, int fd, unsigned int flags)'),
    };
  }
  return fns;
}

const SYS_PIDFD_GETFD = 438;

/** A pidfd for the peer of a connected unix socket, or -1 when the kernel has no SO_PEERPIDFD. */
export function peerPidfd(socket: Socket): number {
  const fd = socketFd(socket);
  if (fd < 0) return -1;
  const val = new Int32Array(1);
  const len = new Uint32Array([4]);
  if (lib().getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, val, len) < 0) return -1;
  return val[0] as number;
}

/** A copy of file descriptor `fd` of the process `pidfd` names (close-on-exec). */
export function takeFd(pidfd: number, fd: number): number {
  const ours = lib().pidfdGetfd(SYS_PIDFD_GETFD, pidfd, fd, 0);
  if (ours < 0) throwErrno('pidfd_getfd', `fd ${fd} of the client`);
  return ours;
}
