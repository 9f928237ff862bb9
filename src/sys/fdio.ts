/*
 * Data-path I/O on a non-blocking fd (a TAP's): one read(2) or write(2) that
 * returns -errno instead of throwing, and readiness of the fd from Node's own
 * event loop (koffi's libuv poll handle).
 *
 * Unlike tap.ts's readFrame/writeFrame, these take views made once by the
 * caller (no subarray per frame) and never throw on an errno: an adapter sorts
 * them itself (EIO on a down interface is a drop; EBADFD after the interface
 * was deleted ends the attachment).
 *
 * Readiness: libuv can watch any pollable fd with a uv_poll_t, and koffi 3.3
 * exposes exactly that (`koffi.node.poll(fd, opts, cb)`, level-triggered,
 * callback `(status, events)`). A status < 0 (UV_EBADF) means the fd reported
 * POLLERR: libuv has stopped the handle; for a tap this happens when its
 * interface is deleted. Close the handle before closing the fd.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { EBADF, EBADFD, EFAULT, ENODEV, ENXIO, errno, errnoName, koffi, libc } from './libc.js';

/** errnos after which a tap fd is of no further use: the interface was deleted, or the fd is bad. */
const FATAL_ERRNOS = new Set([EBADF, EBADFD, ENODEV, ENXIO, EFAULT]);

/** True when `err` (a positive errno) means the tap is gone rather than one frame failed. */
export function isFatalErrno(err: number): boolean {
  return FATAL_ERRNOS.has(err);
}

/** `EBADFD (77)` (Node's errno table lacks EBADFD, the one a deleted tap gives). */
export function describeErrno(err: number): string {
  return `${err === EBADFD ? 'EBADFD' : errnoName(err)} (${err})`;
}

/** read(fd, buf, n): the frame's length, or -errno (-EAGAIN when nothing is queued). */
export function fdRead(fd: number, buf: Uint8Array, n: number): number {
  const r = libc().read(fd, buf, n);
  return r >= 0 ? r : -errno();
}

/** write(fd, buf, n): n, or -errno (-EIO while the interface is down, -EINVAL for a malformed frame). */
export function fdWrite(fd: number, buf: Uint8Array, n: number): number {
  const r = libc().write(fd, buf, n);
  return r >= 0 ? r : -errno();
}

/** A readiness watch on an fd; close() it before closing the fd. */
export interface FdWatch {
  close(): void;
}

interface KoffiPollHandle {
  close(): void;
  unref(): void;
}

type KoffiPoll = (
  fd: number,
  opts: { readable?: boolean; writable?: boolean },
  cb: (status: number, events: { readable: boolean }) => void,
) => KoffiPollHandle | null;

/**
 * Calls `onReadable()` from the event loop whenever `fd` has data (level-
 * triggered: again on the next loop turn while data remains), and
 * `onError(status)` once if the fd reports an error (the watch is then dead).
 * The watch does not keep the process alive (unref'd).
 *
 * @throws ValeError NOT_SUPPORTED when koffi has no poll API; SYSTEM when libuv refuses the fd.
 */
export function watchReadable(fd: number, onReadable: () => void, onError: (status: number) => void): FdWatch {
  const node = (koffi() as unknown as { node?: { poll?: KoffiPoll } }).node;
  const poll = node?.poll;
  if (typeof poll !== 'function') {
    throw new ValeError(
      ErrorCodes.NOT_SUPPORTED,
      'this koffi has no node.poll (koffi >= 2.15 is needed; uvale pins 3.3.4)',
    );
  }
  let handle: KoffiPollHandle | null;
  try {
    handle = poll(fd, { readable: true }, (status, events) => {
      if (status < 0) onError(status);
      else if (events.readable) onReadable();
    });
  } catch (e) {
    throw new ValeError(ErrorCodes.SYSTEM, `cannot watch fd ${fd}: ${(e as Error).message}`, { cause: e });
  }
  if (handle === null) throw new ValeError(ErrorCodes.SYSTEM, `cannot watch fd ${fd}`);
  handle.unref();
  let h: KoffiPollHandle | null = handle;
  return {
    close: () => {
      h?.close();
      h = null;
    },
  };
}
