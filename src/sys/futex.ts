/*
 * Sleeping and waking across processes on a 32-bit word of shared memory.
 *
 * A mapping from mapShared() is a plain ArrayBuffer, so Atomics.wait refuses
 * it, and V8's waiter list would not see another process anyway. The kernel's
 * futex does: FUTEX_WAIT sleeps while the word still holds the expected value,
 * FUTEX_WAKE wakes sleepers on the same word. The operations are the shared
 * (non-private) ones, keyed on the file page rather than on this process's
 * address, so waiter and waker may live in different processes and may each
 * have their own mapping of the memfd.
 *
 * The usual protocol: the waker changes the word (Atomics.store) and then
 * calls futexWake; the sleeper re-reads the word after every return, since a
 * wake-up can be spurious and 'mismatch' just means the word moved on.
 *
 * Costs measured here (test/sys/futex.test.ts, 2 vCPU KVM guest, 13 runs,
 * median (min–max)): futexWake with nobody waiting 0.68 (0.55–1.05) µs per
 * call, a whole syscall through koffi, so call it only when a sleeper may
 * exist (keep a "waiting" flag in the shared memory). A wait/wake round trip
 * between two processes that both sleep every time: 13.8 (9.8–17.2) µs. Waking
 * a thread that slept for a while costs more (~150–350 µs until it runs: the
 * idle vCPU has to wake). Spinning ~100 polls on Atomics.load before sleeping
 * brings a busy round trip down to ~1.6 µs (docs/performance-notes.md).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { EAGAIN, EINTR, ETIMEDOUT, errno, libc, sysError } from './libc.js';
import type { SharedMapping } from './shm.js';

const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;

/** How a futexWait ended. */
export type FutexWaitResult = 'woken' | 'timeout' | 'mismatch';

/** What futexWait/futexWake need from a mapping. */
export type FutexTarget = Pick<SharedMapping, 'ptr' | 'size' | 'mapped'>;

// One timespec per thread (each worker has its own module instance): { tv_sec, tv_nsec } as two int64.
const timespec = new BigInt64Array(2);

function wordAddress(mapping: FutexTarget, byteOffset: number, op: string): bigint {
  if (!mapping.mapped) throw new ValeError(ErrorCodes.CLOSED, `${op}: shared memory mapping was unmapped`);
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset > mapping.size - 4 || (byteOffset & 3) !== 0) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `${op}: byteOffset must be a multiple of 4 from 0 to ${mapping.size - 4}, got ${String(byteOffset)}`,
    );
  }
  return mapping.ptr + BigInt(byteOffset);
}

/**
 * Sleep while the 32-bit word at `byteOffset` of `mapping` equals `expected`
 * (FUTEX_WAIT, shared), for at most `timeoutMs` milliseconds.
 *
 * BLOCKS THE CALLING THREAD: call it from a worker thread, never from a main
 * thread that runs an event loop others depend on.
 *
 * @param expected - compared with the word as an int32 (a uint32 is accepted and wrapped).
 * @param timeoutMs - relative timeout; omitted or Infinity: no timeout; 0: check only.
 * @returns 'woken' after a FUTEX_WAKE, a signal (EINTR) or a spurious wake-up; 'mismatch' at once when the word
 *   differs from `expected` (EAGAIN); 'timeout' when the time ran out. Re-read the word in every case.
 * @throws ValeError INVALID_ARG for a bad offset, expected value or timeout; CLOSED after unmap(); SYSTEM otherwise.
 */
export function futexWait(
  mapping: FutexTarget,
  byteOffset: number,
  expected: number,
  timeoutMs = Number.POSITIVE_INFINITY,
): FutexWaitResult {
  const addr = wordAddress(mapping, byteOffset, 'futexWait');
  if (!Number.isInteger(expected) || expected < -0x8000_0000 || expected > 0xffff_ffff) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `futexWait: expected must be a 32-bit integer, got ${expected}`);
  }
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `futexWait: timeoutMs must be >= 0, got ${String(timeoutMs)}`);
  }
  let ts: BigInt64Array | null = null;
  if (timeoutMs !== Number.POSITIVE_INFINITY) {
    const ms = Math.floor(timeoutMs);
    timespec[0] = BigInt(Math.floor(ms / 1000));
    timespec[1] = BigInt((ms % 1000) * 1_000_000 + Math.floor((timeoutMs - ms) * 1_000_000));
    ts = timespec;
  }
  if (libc().futex(addr, FUTEX_WAIT, expected | 0, ts) === 0) return 'woken';
  const err = errno();
  if (err === EAGAIN) return 'mismatch';
  if (err === ETIMEDOUT) return 'timeout';
  if (err === EINTR) return 'woken';
  throw sysError('futex', err, 'FUTEX_WAIT');
}

/**
 * Wake up to `count` sleepers on the word at `byteOffset` of `mapping`
 * (FUTEX_WAKE, shared), in this or any other process. Never blocks; store the
 * new value of the word before calling it.
 *
 * @param count - how many to wake, 1 to 2^31-1 (default 1; use 0x7fffffff for all).
 * @returns how many were woken.
 * @throws ValeError INVALID_ARG for a bad offset or count; CLOSED after unmap(); SYSTEM when futex fails.
 */
export function futexWake(mapping: FutexTarget, byteOffset: number, count = 1): number {
  const addr = wordAddress(mapping, byteOffset, 'futexWake');
  if (!Number.isInteger(count) || count < 1 || count > 0x7fff_ffff) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `futexWake: count must be from 1 to 2^31-1, got ${count}`);
  }
  const n = libc().futex(addr, FUTEX_WAKE, count, null);
  if (n < 0) throw sysError('futex', errno(), 'FUTEX_WAKE');
  return n;
}
