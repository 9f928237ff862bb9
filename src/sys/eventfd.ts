/*
 * eventfds: the kick and call doorbells of virtio rings shared over
 * vhost-user. An eventfd holds a 64-bit counter: write(8 bytes) adds to it
 * and makes the fd readable; read(8 bytes) returns it and resets it to 0.
 * The data-path calls take no allocation (one 8-byte buffer per thread) and
 * return -errno instead of throwing. Readiness: fdio.ts's watchReadable.
 */

import { EAGAIN, errno, libc, libcLib, throwErrno } from './libc.js';

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

let create: ((initval: number, flags: number) => number) | undefined;
const word = new BigUint64Array(1);
const wordU8 = new Uint8Array(word.buffer);

/**
 * eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC).
 * @returns the fd (close it with closeFd). @throws ValeError SYSTEM (EMFILE).
 */
export function createEventfd(initval = 0): number {
  if (create === undefined) create = libcLib().func('int eventfd(unsigned int initval, int flags)');
  const fd = create(initval, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throwErrno('eventfd');
  return fd;
}

/** Adds 1 to the counter (wakes the reader). @returns 8, or -errno (-EAGAIN if the counter would overflow). */
export function eventfdSignal(fd: number): number {
  word[0] = 1n;
  const r = libc().write(fd, wordU8, 8);
  return r >= 0 ? r : -errno();
}

/**
 * Reads and clears the counter. @returns the count (capped at 2^31 - 1), 0 when it was already 0 (EAGAIN), or
 * -errno for another error. A short read (a pipe used as a doorbell) counts as 1.
 */
export function eventfdDrain(fd: number): number {
  const r = libc().read(fd, wordU8, 8);
  if (r < 0) {
    const e = errno();
    return e === EAGAIN ? 0 : -e;
  }
  if (r !== 8) return 1;
  const v = word[0]!;
  return v > 0x7fff_ffffn ? 0x7fff_ffff : Number(v);
}
