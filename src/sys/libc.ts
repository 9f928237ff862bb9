/*
 * The one door to the C library.
 *
 * uvale reaches the kernel through koffi (a dynamic FFI: no compiler, no
 * node-gyp) and only from src/sys. This file loads koffi and libc.so.6 lazily,
 * on first use, once per thread: every worker thread has its own module
 * instance and so its own handle, which koffi supports. It declares every C
 * function src/sys calls, in one table, and turns a failed call into a
 * ValeError SYSTEM whose message reads like "mmap: ENOMEM (12)".
 *
 * Variadic C functions (open, fcntl, ioctl) are declared variadic and called
 * with explicit argument types: correct on every ABI, and their ~130 ns extra
 * only matters on control paths. The data-path calls (read, write, the futex
 * syscall) use fixed prototypes (docs/performance-notes.md, calls into the kernel).
 *
 * Only 64-bit little-endian Linux on x86-64 and arm64 is supported: the flag
 * values, ioctl numbers, syscall numbers and struct layouts below are theirs.
 */

import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { ErrorCodes, ValeError } from '../core/errors.js';

/** The koffi module (types only; the module itself is loaded on first use). */
type Koffi = typeof import('koffi').default;

/** The C functions src/sys uses. Each returns what C returns: -1 (or MAP_FAILED) and errno on failure. */
export interface Libc {
  /** `int open(const char *path, int flags)` (no O_CREAT, so no mode). */
  open(path: string, flags: number): number;
  /** `int close(int fd)`. */
  close(fd: number): number;
  /** `int memfd_create(const char *name, unsigned int flags)`. */
  memfdCreate(name: string, flags: number): number;
  /** `int ftruncate(int fd, off_t length)`. */
  ftruncate(fd: number, length: number): number;
  /** `int fcntl(int fd, int cmd, int arg)`. */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** `int ioctl(int fd, unsigned long req, void *arg)`: the argument is a buffer the kernel reads or fills. */
  ioctlPtr(fd: number, req: number, arg: Uint8Array): number;
  /** `int ioctl(int fd, unsigned long req, unsigned long arg)`: the argument is passed by value. */
  ioctlVal(fd: number, req: number, arg: number): number;
  /** `void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)`; the address as a bigint. */
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): bigint;
  /** `int munmap(void *addr, size_t len)`. */
  munmap(addr: bigint, len: number): number;
  /** `ssize_t read(int fd, void *buf, size_t n)`. */
  read(fd: number, buf: Uint8Array, n: number): number;
  /** `ssize_t write(int fd, const void *buf, size_t n)`. */
  write(fd: number, buf: Uint8Array, n: number): number;
  /** `syscall(SYS_futex, uaddr, op, val, timeout, NULL, 0)` through a fixed (non-variadic) prototype. */
  futex(uaddr: bigint, op: number, val: number, timeout: BigInt64Array | null): number;
}

/** `MAP_FAILED`, `(void *)-1`, as the bigint koffi returns for a `void *`. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** Open flags (x86-64 and arm64 values). */
export const O_RDWR = 0o2;
export const O_NOCTTY = 0o400;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

/** SYS_futex per supported architecture. */
const SYS_FUTEX: Readonly<Record<string, number>> = { x64: 202, arm64: 98 };

let koffiModule: Koffi | undefined;
let libcTable: Libc | undefined;

function checkPlatform(): void {
  if (process.platform !== 'linux' || SYS_FUTEX[process.arch] === undefined) {
    throw new ValeError(
      ErrorCodes.NOT_SUPPORTED,
      `src/sys supports Linux on x64 and arm64 only, not ${process.platform}/${process.arch}`,
    );
  }
}

/**
 * The koffi module, loaded on first call (in this thread).
 * @throws ValeError NOT_SUPPORTED when the platform is not supported or koffi cannot be loaded.
 */
export function koffi(): Koffi {
  if (koffiModule === undefined) {
    checkPlatform();
    try {
      koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
    } catch (e) {
      throw new ValeError(ErrorCodes.NOT_SUPPORTED, `cannot load koffi: ${(e as Error).message}`, { cause: e });
    }
  }
  return koffiModule;
}

/**
 * The libc function table, bound on first call (in this thread).
 * @throws ValeError NOT_SUPPORTED when koffi or libc.so.6 cannot be loaded.
 */
export function libc(): Libc {
  if (libcTable === undefined) libcTable = bindLibc();
  return libcTable;
}

let libcHandle: ReturnType<Koffi['load']> | undefined;

/** libc.so.6 through koffi, loaded once, for the modules of src/sys that bind their own functions. */
export function libcLib(): ReturnType<Koffi['load']> {
  if (libcHandle === undefined) {
    const k = koffi();
    try {
      libcHandle = k.load('libc.so.6');
    } catch (e) {
      throw new ValeError(ErrorCodes.NOT_SUPPORTED, `cannot load libc.so.6: ${(e as Error).message}`, { cause: e });
    }
  }
  return libcHandle;
}

function bindLibc(): Libc {
  const lib = libcLib();
  const open = lib.func('int open(const char *path, int flags, ...)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long req, ...)');
  const sysFutex = SYS_FUTEX[process.arch]!;
  const syscall = lib.func(
    'long syscall(long nr, uint64_t uaddr, int op, int val, void *timeout, void *uaddr2, int val3)',
  );
  return {
    open: (path, flags) => open(path, flags),
    close: lib.func('int close(int fd)'),
    memfdCreate: lib.func('int memfd_create(const char *name, unsigned int flags)'),
    ftruncate: lib.func('int ftruncate(int fd, int64_t length)'),
    fcntl: (fd, cmd, arg) => fcntl(fd, cmd, 'int', arg),
    ioctlPtr: (fd, req, arg) => ioctl(fd, req, 'void *', arg),
    ioctlVal: (fd, req, arg) => ioctl(fd, req, 'unsigned long', arg),
    mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
    munmap: lib.func('int munmap(void *addr, size_t len)'),
    read: lib.func('intptr_t read(int fd, void *buf, size_t n)'),
    write: lib.func('intptr_t write(int fd, const void *buf, size_t n)'),
    futex: (uaddr, op, val, timeout) => syscall(sysFutex, uaddr, op, val, timeout, null, 0),
  };
}

/**
 * errno of this thread, as left by the last C call. Read it right after the call
 * that failed: any later native call may overwrite it.
 */
export function errno(): number {
  return koffi().errno();
}

const ERRNO_NAMES: ReadonlyMap<number, string> = (() => {
  // Where two names share a number, keep the one Linux documents first.
  const preferred = new Set(['EAGAIN', 'EDEADLK', 'EOPNOTSUPP']);
  const m = new Map<number, string>();
  for (const [name, n] of Object.entries(osConstants.errno)) {
    if (!m.has(n) || preferred.has(name)) m.set(n, name);
  }
  return m;
})();

/** errno values src/sys tests for by name. */
export const EBADF = osConstants.errno.EBADF;
export const EINTR = osConstants.errno.EINTR;
export const EAGAIN = osConstants.errno.EAGAIN;
export const EINVAL = osConstants.errno.EINVAL;
export const ETIMEDOUT = osConstants.errno.ETIMEDOUT;
export const EWOULDBLOCK = osConstants.errno.EWOULDBLOCK;
export const ENOBUFS = osConstants.errno.ENOBUFS;
export const ENODEV = osConstants.errno.ENODEV;
export const ENXIO = osConstants.errno.ENXIO;
export const EFAULT = osConstants.errno.EFAULT;
/** Linux's EBADFD (77), which Node's errno table lacks: what a deleted tap's fd gives. */
export const EBADFD = 77;

/** The symbolic name of an errno value ("ENOMEM" for 12), or "E?" when unknown. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? 'E?';
}

/**
 * A ValeError SYSTEM for a failed call: message "op: NAME (n)", or
 * "op what: NAME (n)" with `what` (a path, a device name). Its `cause` is an
 * Error shaped like Node's own (code = "ENOMEM", errno = -12, syscall = op).
 */
export function sysError(op: string, err: number, what?: string): ValeError {
  const name = errnoName(err);
  const where = what === undefined ? op : `${op} ${what}`;
  const cause = Object.assign(new Error(`${where}: ${name} (${err})`), { code: name, errno: -err, syscall: op });
  return new ValeError(ErrorCodes.SYSTEM, cause.message, { cause });
}

/** Throw sysError(op, errno(), what). Call it right after the failed C call. */
export function throwErrno(op: string, what?: string): never {
  throw sysError(op, errno(), what);
}

/** Turn an error thrown by node:fs (which has `code` and `errno`) into a ValeError SYSTEM. */
export function fromNodeError(op: string, e: unknown, what?: string): ValeError {
  const n = (e as { errno?: unknown }).errno;
  if (typeof n === 'number') {
    const err = sysError(op, Math.abs(n), what);
    return new ValeError(err.code, err.message, { cause: e });
  }
  return new ValeError(ErrorCodes.SYSTEM, `${what === undefined ? op : `${op} ${what}`}: ${String(e)}`, { cause: e });
}

/** True when `n` is an integer fd number (>= 0, < 2^31). */
export function isFd(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0x7fff_ffff;
}

/** Throw ValeError INVALID_ARG unless `fd` looks like an fd number. */
export function checkFd(fd: unknown, what = 'fd'): asserts fd is number {
  if (!isFd(fd)) throw new ValeError(ErrorCodes.INVALID_ARG, `${what} must be an integer >= 0, got ${String(fd)}`);
}
