/*
 * Shared memory between the daemon and one client process, with no name in
 * any filesystem.
 *
 * The client makes an anonymous memfd (createMemfd): sized, then sealed so
 * that its size can never change. It tells the daemon its pid and the fd
 * number; the daemon opens `/proc/<pid>/fd/<fd>` (openProcFd), which gives it
 * its own descriptor for the same memory (the kernel allows it for the same
 * user and for root), checks the size and the seals (checkSealed) and maps it
 * (mapShared). Nothing ever appears in /dev/shm, and the memory is freed when
 * the last fd and the last mapping are gone, even if both processes crash.
 *
 * The shrink seal is what makes sharing safe: without it the peer could
 * ftruncate the file under us and the next access past the new end would kill
 * the process with SIGBUS.
 */

import { constants as bufferConstants } from 'node:buffer';
import { fstatSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { MAP_SHARED, PROT_RW } from './abi.js';
import {
  checkFd,
  EBADF,
  EINTR,
  EINVAL,
  errno,
  fromNodeError,
  koffi,
  libc,
  MAP_FAILED,
  O_CLOEXEC,
  O_NOCTTY,
  O_NONBLOCK,
  O_RDWR,
  sysError,
  throwErrno,
} from './libc.js';

/** memfd_create flags. */
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
/** Kernel >= 6.3: not executable, and sealed so. Tried first, dropped on EINVAL (older kernels). */
export const MFD_NOEXEC_SEAL = 0x8;

/** fcntl commands and seals (linux/fcntl.h). */
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;

/** The seals createMemfd adds by default: the size is fixed for good. */
export const DEFAULT_SEALS = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

/** The largest mapping: the largest ArrayBuffer Node makes (koffi aborts the process beyond it). */
export const MAX_MAPPING_SIZE: number = bufferConstants.MAX_LENGTH;

/** memfd names: 249 bytes at most (NAME_MAX minus the "memfd:" prefix). */
const MEMFD_NAME_MAX = 249;

function checkSize(size: unknown, what = 'size'): asserts size is number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_MAPPING_SIZE) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `${what} must be an integer from 1 to ${MAX_MAPPING_SIZE} bytes, got ${String(size)}`,
    );
  }
}

/** Options of createMemfd. */
export interface MemfdOptions {
  /**
   * Seals to add after sizing: a combination of F_SEAL_SHRINK, F_SEAL_GROW and
   * F_SEAL_SEAL. Default DEFAULT_SEALS; 0 leaves the memfd unsealed (tests only:
   * a daemon rejects it).
   */
  seals?: number;
}

/**
 * Create an anonymous shared memory file of `size` bytes (zero-filled) and
 * seal its size: memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING, plus
 * MFD_NOEXEC_SEAL where the kernel has it), ftruncate, fcntl(F_ADD_SEALS).
 *
 * @param name - shown in /proc/<pid>/fd and /proc/<pid>/maps as "/memfd:<name> (deleted)"; at most 249 bytes.
 * @param size - bytes, 1 to MAX_MAPPING_SIZE.
 * @returns the fd (close-on-exec). The caller owns it: closeFd() it.
 * @throws ValeError INVALID_ARG for a bad name, size or seal set; SYSTEM when a call fails (the fd is closed then).
 */
export function createMemfd(name: string, size: number, options: MemfdOptions = {}): number {
  if (typeof name !== 'string' || name.includes('\0') || Buffer.byteLength(name) > MEMFD_NAME_MAX) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `memfd name must be a string of at most ${MEMFD_NAME_MAX} bytes without NUL, got ${JSON.stringify(name)}`,
    );
  }
  checkSize(size);
  const seals = options.seals ?? DEFAULT_SEALS;
  if (!Number.isInteger(seals) || (seals & ~DEFAULT_SEALS) !== 0) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `seals must combine F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL, got ${String(seals)}`,
    );
  }
  const c = libc();
  let fd = c.memfdCreate(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno() === EINVAL) fd = c.memfdCreate(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throwErrno('memfd_create', JSON.stringify(name));
  try {
    if (c.ftruncate(fd, size) < 0) throwErrno('ftruncate', `memfd ${JSON.stringify(name)} to ${size} bytes`);
    if (seals !== 0 && c.fcntl(fd, F_ADD_SEALS, seals) < 0) throwErrno('fcntl', `F_ADD_SEALS ${seals}`);
  } catch (e) {
    closeFd(fd);
    throw e;
  }
  return fd;
}

/**
 * Open another process's fd through `/proc/<pid>/fd/<fd>`, getting our own
 * descriptor on the same file (O_RDWR | O_CLOEXEC, plus O_NOCTTY and O_NONBLOCK
 * so that a hostile fd number cannot make the open block or grab a terminal).
 * Allowed for a process of the same user (ptrace read access) and for root.
 * The file may be anything: call checkSealed() before mapping it.
 *
 * @returns the new fd; the caller owns it.
 * @throws ValeError INVALID_ARG for a bad pid or fd; SYSTEM when open fails (ENOENT: no such process or fd;
 *   EACCES: not allowed; ENXIO: a socket).
 */
export function openProcFd(pid: number, fd: number): number {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 1 || pid > 0x3fff_ffff) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `pid must be a positive integer, got ${String(pid)}`);
  }
  checkFd(fd);
  const path = `/proc/${pid}/fd/${fd}`;
  const ours = libc().open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (ours < 0) throwErrno('open', path);
  return ours;
}

/** The seals of `fd` (F_GET_SEALS), or -1 when its file does not support sealing (not a memfd/tmpfs file). */
export function getSeals(fd: number): number {
  checkFd(fd);
  const seals = libc().fcntl(fd, F_GET_SEALS, 0);
  if (seals >= 0) return seals;
  const err = errno();
  if (err === EINVAL) return -1;
  throw sysError('fcntl', err, `F_GET_SEALS fd ${fd}`);
}

/**
 * Check that `fd` is safe to map for `size` bytes: a regular file of exactly
 * `size` bytes that can never shrink (F_SEAL_SHRINK). Call it on every fd a
 * peer hands over, before mapShared().
 *
 * @returns the fd's seals.
 * @throws ValeError PROTOCOL when the file is not a regular file, has another size or lacks
 *   F_SEAL_SHRINK; INVALID_ARG for a bad fd or size; SYSTEM when fstat or fcntl fails (EBADF).
 */
export function checkSealed(fd: number, size: number): number {
  checkFd(fd);
  checkSize(size);
  let st: ReturnType<typeof fstatSync>;
  try {
    st = fstatSync(fd);
  } catch (e) {
    throw fromNodeError('fstat', e, `fd ${fd}`);
  }
  if (!st.isFile()) {
    throw new ValeError(ErrorCodes.PROTOCOL, `shared memory fd ${fd} is not a regular file (memfd)`);
  }
  if (st.size !== size) {
    throw new ValeError(ErrorCodes.PROTOCOL, `shared memory fd ${fd} has ${st.size} bytes, expected ${size}`);
  }
  const seals = getSeals(fd);
  if (seals < 0) {
    throw new ValeError(ErrorCodes.PROTOCOL, `shared memory fd ${fd} cannot be sealed (not a memfd)`);
  }
  if ((seals & F_SEAL_SHRINK) === 0) {
    throw new ValeError(ErrorCodes.PROTOCOL, `shared memory fd ${fd} is not sealed against shrinking (F_SEAL_SHRINK)`);
  }
  return seals;
}

/**
 * A shared read-write mapping of a file, seen from JavaScript as an ArrayBuffer.
 *
 * The buffer is a plain ArrayBuffer over the mapped pages (koffi.view), not a
 * SharedArrayBuffer: Atomics.load/store/add/compareExchange work on Int32Array
 * views of it, Atomics.wait does not (use futexWait).
 *
 * DANGER: after unmap() the pages are gone but any view made earlier still
 * points at them; touching one crashes the process (SIGSEGV) or, if the address
 * was reused, corrupts unrelated memory. Drop every view before unmap(). Not
 * unmapped by the garbage collector either: call unmap() when done.
 */
export interface SharedMapping {
  /** The mapped bytes. Throws ValeError CLOSED after unmap(), so no new view can be made. */
  readonly buffer: ArrayBuffer;
  /** Start address of the mapping. */
  readonly ptr: bigint;
  /** Length in bytes. */
  readonly size: number;
  /** False once unmap() ran. */
  readonly mapped: boolean;
  /** munmap. Idempotent: later calls do nothing. */
  unmap(): void;
}

/** Another name for SharedMapping. */
export type Mapping = SharedMapping;

class MappingImpl implements SharedMapping {
  #buffer: ArrayBuffer | null;
  readonly ptr: bigint;
  readonly size: number;

  constructor(buffer: ArrayBuffer, ptr: bigint, size: number) {
    this.#buffer = buffer;
    this.ptr = ptr;
    this.size = size;
  }

  get buffer(): ArrayBuffer {
    if (this.#buffer === null) throw new ValeError(ErrorCodes.CLOSED, 'shared memory mapping was unmapped');
    return this.#buffer;
  }

  get mapped(): boolean {
    return this.#buffer !== null;
  }

  unmap(): void {
    if (this.#buffer === null) return;
    this.#buffer = null;
    if (libc().munmap(this.ptr, this.size) < 0) throwErrno('munmap', `${this.size} bytes`);
  }
}

/**
 * Map `size` bytes of `fd` from offset 0, shared and read-write:
 * mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0). The fd may be
 * closed afterwards; the mapping keeps the memory alive. For a peer's fd, call
 * checkSealed(fd, size) first.
 *
 * @throws ValeError INVALID_ARG for a bad fd or size; SYSTEM when mmap fails (EBADF, EACCES, ENOMEM, ENODEV).
 */
export function mapShared(fd: number, size: number): SharedMapping {
  checkFd(fd);
  checkSize(size);
  const c = libc();
  const ptr = BigInt(c.mmap(null, size, PROT_RW, MAP_SHARED, fd, 0));
  if (ptr === MAP_FAILED) throwErrno('mmap', `fd ${fd} ${size} bytes`);
  let buffer: ArrayBuffer;
  try {
    buffer = koffi().view(ptr, size);
  } catch (e) {
    c.munmap(ptr, size);
    throw new ValeError(ErrorCodes.SYSTEM, `koffi.view of ${size} bytes failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return new MappingImpl(buffer, ptr, size);
}

/**
 * Close `fd`, ignoring a negative number and an fd that is already closed
 * (EBADF). Always returns -1, for the idiom `this.fd = closeFd(this.fd)`:
 * fd numbers are reused at once, so a stale copy must never be closed again.
 *
 * @throws ValeError SYSTEM for an error other than EBADF and EINTR (EIO on some files).
 */
export function closeFd(fd: number): -1 {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) return -1;
  if (libc().close(fd) < 0) {
    const err = errno();
    // Linux frees the fd even when close reports EINTR; never retry.
    if (err !== EINTR && err !== EBADF) throw sysError('close', err, `fd ${fd}`);
  }
  return -1;
}
