/*
 * io_uring, the kernel's submission/completion rings, for batched I/O on an fd
 * from one thread (docs/io-uring.md).
 *
 * IoUring.setup() makes a ring with io_uring_setup(2) (glibc has no wrapper:
 * syscall(2), numbers 425/426/427 on x86-64 and arm64 alike), maps the SQ
 * ring, the CQ ring and the SQE array, and keeps typed-array views on them:
 * head, tail, mask, flags and the index array of the SQ; head, tail and the
 * CQEs of the CQ. The kernel writes the SQ head and the CQ tail: those are
 * read with Atomics.load, and ours (SQ tail, CQ head) published with
 * Atomics.store, the release/acquire pairs the ring protocol asks for.
 *
 * Nothing read back from the mapped rings is trusted: a CQ tail more than
 * cqEntries ahead of our head, a user_data we did not set (the high word must
 * be 0) or a buffer id out of range is reported as such (peek() fails, the
 * caller counts it), never used as an index unchecked. Callers bound `res`
 * against the length they asked for.
 *
 * Also here: a provided-buffer ring (BufRing, IORING_REGISTER_PBUF_RING) the
 * kernel picks buffers from for multishot reads, anonymous memory for such
 * buffers (mapAnonymous), the address of a typed array's memory (addressOf,
 * for SQEs that point into memory Node allocated: wasm memories and
 * ArrayBuffers do not move), and eventfd registration (one readable eventfd
 * per batch of completions, for libuv to poll). No port logic: see
 * src/ports/tap/tap-uring.ts for the TAP adapter's use.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_RW } from './abi.js';
import { checkFd, EINTR, errno, koffi, libc, libcLib, MAP_FAILED, sysError } from './libc.js';
import { closeFd } from './shm.js';

const SYS_IO_URING_SETUP = 425;
const SYS_IO_URING_ENTER = 426;
const SYS_IO_URING_REGISTER = 427;

/** Opcodes (linux/io_uring.h). */
export const IORING_OP_NOP = 0;
export const IORING_OP_ASYNC_CANCEL = 14;
export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;
/** Kernel >= 6.7: a read that posts one CQE per chunk of data, each into a provided buffer. */
export const IORING_OP_READ_MULTISHOT = 49;

const IORING_SETUP_CQSIZE = 1 << 3;
const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
const IORING_SETUP_DEFER_TASKRUN = 1 << 13;
const IORING_FEAT_SINGLE_MMAP = 1 << 0;
const IORING_ENTER_GETEVENTS = 1 << 0;
const IORING_SQ_CQ_OVERFLOW = 1 << 1;
const IOSQE_BUFFER_SELECT = 1 << 5;
const IORING_REGISTER_EVENTFD = 4;
const IORING_REGISTER_PBUF_RING = 22;

/** CQE flags: the upper 16 bits hold a provided buffer's id; more CQEs follow from the same SQE. */
export const IORING_CQE_F_BUFFER = 1 << 0;
export const IORING_CQE_F_MORE = 1 << 1;

const IORING_OFF_SQ_RING = 0;
const IORING_OFF_CQ_RING = 0x8000000;
const IORING_OFF_SQES = 0x10000000;

const SQE_SIZE = 64;
const CQE_SIZE = 16;
const PARAMS_SIZE = 120;
const MAP_POPULATE = 0x8000;
const TWO32 = 0x1_0000_0000;

interface UringCalls {
  setup(entries: number, params: Uint8Array): number;
  enter(fd: number, toSubmit: number, minComplete: number, flags: number, sig: null, sz: number): number;
  register(fd: number, op: number, arg: Uint8Array, nr: number): number;
  memset(s: Uint8Array, c: number, n: number): number;
}

let calls: UringCalls | undefined;

function fns(): UringCalls {
  if (calls === undefined) {
    const lib = libcLib();
    calls = {
      setup: lib.func('syscall', 'long', ['long', 'uint32_t', 'void *']).bind(null, SYS_IO_URING_SETUP),
      enter: lib
        .func('syscall', 'long', ['long', 'int', 'uint32_t', 'uint32_t', 'uint32_t', 'void *', 'size_t'])
        .bind(null, SYS_IO_URING_ENTER),
      register: lib
        .func('syscall', 'long', ['long', 'int', 'uint32_t', 'void *', 'uint32_t'])
        .bind(null, SYS_IO_URING_REGISTER),
      memset: lib.func('uint64_t memset(void *s, int c, size_t n)'),
    } as UringCalls;
  }
  return calls;
}

/**
 * The address of `view`'s first byte (memset(view, 0, 0) returns its argument).
 * Valid while the memory lives and does not move: wasm memories and ArrayBuffer
 * backing stores of Node's never move; small on-heap typed arrays might, so
 * callers pass views of buffers of 64 bytes or more.
 */
export function addressOf(view: Uint8Array): number {
  return Number(fns().memset(view, 0, 0));
}

/** A private anonymous mapping (zeroed); unmap() once every view is dropped. */
export interface AnonMapping {
  readonly addr: number;
  readonly bytes: Uint8Array;
  unmap(): void;
}

/** mmap(NULL, size, RW, MAP_PRIVATE | MAP_ANONYMOUS [| MAP_POPULATE]). @throws ValeError SYSTEM. */
export function mapAnonymous(size: number, populate = false): AnonMapping {
  if (!Number.isSafeInteger(size) || size <= 0 || size > 1 << 30) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `anonymous mapping size must be 1 B to 1 GiB, got ${size}`);
  }
  const c = libc();
  const ptr = BigInt(c.mmap(null, size, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0));
  if (ptr === MAP_FAILED) throw sysError('mmap', errno(), `anonymous ${size} bytes`);
  const bytes = new Uint8Array(koffi().view(ptr, size));
  let mapped = true;
  return {
    addr: Number(ptr),
    bytes,
    unmap() {
      if (!mapped) return;
      mapped = false;
      c.munmap(ptr, size);
    },
  };
}

interface SharedMap {
  ptr: bigint;
  len: number;
  buf: ArrayBuffer;
}

function mapRing(fd: number, len: number, off: number, what: string): SharedMap {
  const c = libc();
  const ptr = BigInt(c.mmap(null, len, PROT_RW, MAP_SHARED | MAP_POPULATE, fd, off));
  if (ptr === MAP_FAILED) throw sysError('mmap', errno(), `io_uring ${what} ${len} bytes`);
  return { ptr, len, buf: koffi().view(ptr, len) };
}

/** Settings of a new ring. */
export interface UringOptions {
  /** SQ entries (1..4096, rounded up to a power of two by the kernel). */
  sqEntries: number;
  /** CQ entries (default twice the SQ's; at least sqEntries). */
  cqEntries?: number;
  /**
   * IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (kernel >= 6.1): completions
   * that need this thread (a multishot read's) wait until it calls
   * getEvents(), instead of interrupting whatever system call it sleeps in
   * (libuv's epoll_wait returns EINTR and is entered again); a registered
   * eventfd still rings when such work is queued. Only the creating thread may
   * submit. A kernel that refuses it: EINVAL from setup (the caller retries
   * without it).
   */
  deferTaskrun?: boolean;
}

export class IoUring {
  readonly fd: number;
  readonly sqEntries: number;
  readonly cqEntries: number;
  readonly features: number;
  /** SQ ring: head (kernel's), tail (ours), flags (kernel's: IORING_SQ_CQ_OVERFLOW), index array. */
  readonly sqHead: Uint32Array;
  readonly sqTail: Uint32Array;
  readonly sqFlags: Uint32Array;
  readonly sqArray: Uint32Array;
  /** SQEs as 32-bit words (16 per SQE) and bytes. */
  readonly sqes: Uint32Array;
  readonly sqeBytes: Uint8Array;
  /** CQ ring: head (ours), tail (kernel's), overflow count (kernel's), CQEs as 32-bit words (4 per CQE). */
  readonly cqHead: Uint32Array;
  readonly cqTail: Uint32Array;
  readonly cqOverflow: Uint32Array;
  readonly cqes: Uint32Array;
  /** The CQE peek() found: its user_data (low word), res and flags. */
  cqeData = 0;
  cqeRes = 0;
  cqeFlags = 0;
  /** CQEs refused by peek() (a user_data with a high word, a tail out of range). */
  bad = 0;
  private readonly sqMask: number;
  private readonly cqMask: number;
  private readonly maps: SharedMap[];
  /** SQEs filled and not yet submitted; our SQ tail. */
  private queued = 0;
  private tail = 0;
  private closed = false;

  private constructor(fd: number, p: Uint32Array, maps: SharedMap[], sqRing: SharedMap, cqRing: SharedMap) {
    this.fd = fd;
    this.maps = maps;
    this.sqEntries = p[0] as number;
    this.cqEntries = p[1] as number;
    this.features = p[5] as number;
    // io_sqring_offsets at word 10, io_cqring_offsets at word 20
    const sq = new Uint32Array(sqRing.buf);
    const cq = new Uint32Array(cqRing.buf);
    const w = (o: number): number => (p[o] as number) / 4;
    this.sqHead = sq.subarray(w(10), w(10) + 1);
    this.sqTail = sq.subarray(w(11), w(11) + 1);
    this.sqMask = sq[w(12)] as number;
    this.sqFlags = sq.subarray(w(14), w(14) + 1);
    this.sqArray = sq.subarray(w(16), w(16) + this.sqEntries);
    this.cqHead = cq.subarray(w(20), w(20) + 1);
    this.cqTail = cq.subarray(w(21), w(21) + 1);
    this.cqMask = cq[w(22)] as number;
    this.cqOverflow = cq.subarray(w(24), w(24) + 1);
    this.cqes = cq.subarray(w(25), w(25) + this.cqEntries * (CQE_SIZE / 4));
    const sqes = maps[maps.length - 1] as SharedMap;
    this.sqes = new Uint32Array(sqes.buf);
    this.sqeBytes = new Uint8Array(sqes.buf);
    if (this.sqMask !== this.sqEntries - 1 || this.cqMask !== this.cqEntries - 1) {
      throw new ValeError(ErrorCodes.SYSTEM, 'io_uring: ring masks do not match the entries');
    }
    this.tail = Atomics.load(this.sqTail, 0);
    for (let i = 0; i < this.sqEntries; i++) this.sqArray[i] = i;
  }

  /**
   * io_uring_setup + the three mappings.
   * @throws ValeError NOT_SUPPORTED when the kernel refuses io_uring (ENOSYS, EPERM: kernel.io_uring_disabled);
   *   SYSTEM for any other failure (EINVAL for bad sizes, ENOMEM); INVALID_ARG for bad options.
   */
  static setup(opts: UringOptions): IoUring {
    const sqEntries = opts.sqEntries;
    const cqEntries = opts.cqEntries ?? 0;
    if (!Number.isInteger(sqEntries) || !Number.isInteger(cqEntries) || cqEntries < 0 || cqEntries > 65536) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `io_uring sizes must be integers, got ${sqEntries}/${cqEntries}`);
    }
    const params = new Uint8Array(PARAMS_SIZE);
    const p = new Uint32Array(params.buffer);
    if (cqEntries > 0) {
      p[1] = cqEntries;
      p[2] = IORING_SETUP_CQSIZE;
    }
    if (opts.deferTaskrun === true) p[2] = (p[2] as number) | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    const c = fns();
    const fd = c.setup(sqEntries, params);
    if (fd < 0) {
      const err = errno();
      const e = sysError('io_uring_setup', err);
      if (err === 38 || err === 1) {
        throw new ValeError(ErrorCodes.NOT_SUPPORTED, `${e.message}: io_uring is disabled here`, { cause: e });
      }
      throw e;
    }
    const maps: SharedMap[] = [];
    try {
      const sqLen = (p[16] as number) + (p[0] as number) * 4; // sq_off.array + sq_entries * 4
      const cqLen = (p[25] as number) + (p[1] as number) * CQE_SIZE; // cq_off.cqes + cq_entries * 16
      let sqRing: SharedMap;
      let cqRing: SharedMap;
      if (((p[5] as number) & IORING_FEAT_SINGLE_MMAP) !== 0) {
        sqRing = cqRing = mapRing(fd, Math.max(sqLen, cqLen), IORING_OFF_SQ_RING, 'rings');
        maps.push(sqRing);
      } else {
        sqRing = mapRing(fd, sqLen, IORING_OFF_SQ_RING, 'SQ ring');
        maps.push(sqRing);
        cqRing = mapRing(fd, cqLen, IORING_OFF_CQ_RING, 'CQ ring');
        maps.push(cqRing);
      }
      maps.push(mapRing(fd, (p[0] as number) * SQE_SIZE, IORING_OFF_SQES, 'SQEs'));
      return new IoUring(fd, p, maps, sqRing, cqRing);
    } catch (e) {
      for (const m of maps) libc().munmap(m.ptr, m.len);
      closeFd(fd);
      throw e;
    }
  }

  /** IORING_REGISTER_EVENTFD: the kernel signals `efd` when it posts CQEs. @throws ValeError SYSTEM. */
  registerEventfd(efd: number): void {
    checkFd(efd, 'eventfd');
    const arg = new Int32Array([efd]);
    if (fns().register(this.fd, IORING_REGISTER_EVENTFD, new Uint8Array(arg.buffer), 1) < 0) {
      throw sysError('io_uring_register(EVENTFD)', errno());
    }
  }

  /** IORING_REGISTER_PBUF_RING for `ring` as buffer group `ring.group`. @throws ValeError SYSTEM (EINVAL: too old). */
  registerBufRing(ring: BufRing): void {
    const reg = new Uint8Array(40);
    const w = new Uint32Array(reg.buffer);
    w[0] = ring.addr % TWO32;
    w[1] = Math.floor(ring.addr / TWO32);
    w[2] = ring.entries;
    w[3] = ring.group; // bgid (u16) | flags (u16) << 16: no flags
    if (fns().register(this.fd, IORING_REGISTER_PBUF_RING, reg, 1) < 0) {
      throw sysError('io_uring_register(PBUF_RING)', errno());
    }
  }

  /** The next free SQE's index (its fields zeroed), or -1 when the SQ is full: submit() first. */
  getSqe(): number {
    const head = Atomics.load(this.sqHead, 0);
    if ((this.tail - head) >>> 0 >= this.sqEntries) return -1;
    const i = this.tail & this.sqMask;
    this.tail = (this.tail + 1) >>> 0;
    this.queued++;
    this.sqes.fill(0, i * 16, i * 16 + 16);
    return i;
  }

  /** Fills SQE `i`: opcode, fd, buffer address and length, file offset (-1: the file's position), user_data. */
  prep(i: number, op: number, fd: number, addr: number, len: number, off: number, data: number): void {
    const s = this.sqes;
    const b = i * 16;
    this.sqeBytes[i * SQE_SIZE] = op;
    s[b + 1] = fd >>> 0;
    if (off < 0) {
      s[b + 2] = 0xffff_ffff;
      s[b + 3] = 0xffff_ffff;
    } else {
      s[b + 2] = off % TWO32;
      s[b + 3] = Math.floor(off / TWO32);
    }
    s[b + 4] = addr % TWO32;
    s[b + 5] = Math.floor(addr / TWO32);
    s[b + 6] = len >>> 0;
    s[b + 8] = data >>> 0;
  }

  /** Makes SQE `i` pick its buffer from provided-buffer group `group` (IOSQE_BUFFER_SELECT). */
  selectBuffer(i: number, group: number): void {
    this.sqeBytes[i * SQE_SIZE + 1] |= IOSQE_BUFFER_SELECT;
    this.sqes[i * 16 + 10] = group & 0xffff;
  }

  /** SQEs filled and not submitted yet. */
  get pending(): number {
    return this.queued;
  }

  /**
   * Publishes the filled SQEs and calls io_uring_enter once, waiting for
   * `waitFor` completions (0: none). @returns SQEs the kernel consumed, or -errno
   * (-EINTR, -EAGAIN, -EBUSY: call again; the SQEs stay queued).
   */
  submit(waitFor = 0): number {
    Atomics.store(this.sqTail, 0, this.tail);
    const n = this.queued;
    const r = fns().enter(this.fd, n, waitFor, waitFor > 0 ? IORING_ENTER_GETEVENTS : 0, null, 0);
    if (r < 0) return -errno();
    this.queued = Math.max(n - r, 0);
    return r;
  }

  /**
   * io_uring_enter(GETEVENTS) with nothing to submit: moves CQEs the kernel
   * kept on overflow into the CQ, and runs deferred completions (deferTaskrun).
   */
  flushOverflow(): number {
    const r = fns().enter(this.fd, 0, 0, IORING_ENTER_GETEVENTS, null, 0);
    return r < 0 ? -errno() : r;
  }

  /** True when the kernel holds CQEs that did not fit the CQ (IORING_SQ_CQ_OVERFLOW): call flushOverflow(). */
  get overflowed(): boolean {
    return (Atomics.load(this.sqFlags, 0) & IORING_SQ_CQ_OVERFLOW) !== 0;
  }

  /** CQEs ready (0 also when the kernel's tail is out of range: counted in `bad`). */
  ready(): number {
    const n = (Atomics.load(this.cqTail, 0) - (this.cqHead[0] as number)) >>> 0;
    if (n > this.cqEntries) {
      this.bad++;
      return 0;
    }
    return n;
  }

  /**
   * The CQE at our head into cqeData/cqeRes/cqeFlags, without consuming it:
   * false when there is none. A CQE whose user_data has a high word (none of
   * ours) is consumed, counted in `bad`, and skipped.
   */
  peek(): boolean {
    for (;;) {
      if (this.ready() === 0) return false;
      const head = this.cqHead[0] as number;
      const b = (head & this.cqMask) * 4;
      const c = this.cqes;
      if (c[b + 1] !== 0) {
        this.bad++;
        Atomics.store(this.cqHead, 0, (head + 1) >>> 0);
        continue;
      }
      this.cqeData = c[b] as number;
      this.cqeRes = (c[b + 2] as number) | 0;
      this.cqeFlags = c[b + 3] as number;
      return true;
    }
  }

  /** Consumes the CQE peek() found. */
  advance(): void {
    Atomics.store(this.cqHead, 0, ((this.cqHead[0] as number) + 1) >>> 0);
  }

  /** Unmaps the rings and closes the ring's fd (the kernel cancels what is in flight). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.maps) libc().munmap(m.ptr, m.len);
    closeFd(this.fd);
  }
}

/**
 * A provided-buffer ring: `entries` (a power of two, at most 32768) struct
 * io_uring_buf {u64 addr; u32 len; u16 bid; u16 resv} in page-aligned
 * anonymous memory; the ring's tail is the resv field of entry 0. add() fills
 * entries after our tail, publish() hands them to the kernel.
 */
export class BufRing {
  readonly entries: number;
  readonly group: number;
  readonly addr: number;
  private readonly mem: AnonMapping;
  private readonly w32: Uint32Array;
  private readonly w16: Uint16Array;
  private tail = 0;

  constructor(entries: number, group: number) {
    if (!Number.isInteger(entries) || entries < 1 || entries > 32768 || (entries & (entries - 1)) !== 0) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `a buffer ring needs a power of two of entries, got ${entries}`);
    }
    if (!Number.isInteger(group) || group < 0 || group > 0xffff) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `buffer group must be 0..65535, got ${group}`);
    }
    this.entries = entries;
    this.group = group;
    this.mem = mapAnonymous(Math.max(4096, entries * 16));
    this.addr = this.mem.addr;
    this.w32 = new Uint32Array(this.mem.bytes.buffer);
    this.w16 = new Uint16Array(this.mem.bytes.buffer);
  }

  /** Puts buffer `bid` (`len` bytes at `addr`) at the `k`-th entry after the tail (publish() makes it visible). */
  add(addr: number, len: number, bid: number, k = 0): void {
    const e = ((this.tail + k) & (this.entries - 1)) * 4;
    const w = this.w32;
    w[e] = addr % TWO32;
    w[e + 1] = Math.floor(addr / TWO32);
    w[e + 2] = len >>> 0;
    this.w16[e * 2 + 6] = bid; // bid, at byte 12 of the entry; resv (byte 14) of entry 0 is the tail
  }

  /** Makes `count` entries added after the tail visible to the kernel. */
  publish(count: number): void {
    this.tail = (this.tail + count) & 0xffff;
    Atomics.store(this.w16, 7, this.tail);
  }

  /** Frees the ring's memory; the io_uring it was registered with must be closed first. */
  unmap(): void {
    this.mem.unmap();
  }
}

/** True for the errno values io_uring_enter asks to call again for (EINTR, EAGAIN, EBUSY). */
export function uringRetry(err: number): boolean {
  return err === EINTR || err === 11 || err === 16;
}
