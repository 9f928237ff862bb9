/*
 * Mapping a peer's memory at an offset: vhost-user's SET_MEM_TABLE sends one
 * fd per guest RAM region with the region's offset in that fd. mmap needs a
 * page-aligned offset, so mapFdRange maps from the page below it and hands
 * out a view that starts at the asked offset, exactly `size` bytes long.
 *
 * Unlike shm.ts's mapShared, no seal is checked: a front-end's guest RAM is
 * not sealed, so a hostile front-end could truncate the file and make a later
 * access fault (SIGBUS). The caller checks the fd's size (fstat) covers the
 * range first, which stops a mistaken table; a front-end that shrinks the
 * file afterwards on purpose is outside what this can prevent (see the
 * vhost-user port's docs).
 */

import { fstatSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { MAP_SHARED, PROT_RW } from './abi.js';
import { checkFd, fromNodeError, koffi, libc, MAP_FAILED, throwErrno } from './libc.js';
import { MAX_MAPPING_SIZE } from './shm.js';

const PAGE = 4096;

/** A mapping of [offset, offset + size) of an fd. */
export interface FdRangeMapping {
  /** The asked bytes (a view into the mapping; do not use after unmap()). */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly offset: number;
  /** munmap (idempotent). Every view of `bytes` must be dropped first. */
  unmap(): void;
}

/**
 * mmap(NULL, size + (offset % 4096), RW, MAP_SHARED, fd, offset rounded down to a page).
 * @param fileSizeCheck when true (default), fstat(fd) must show the file covers offset + size (memfds, files).
 * @throws ValeError INVALID_ARG for a bad fd, size or offset, or a file too short; SYSTEM when mmap fails.
 */
export function mapFdRange(fd: number, size: number, offset: number, fileSizeCheck = true): FdRangeMapping {
  checkFd(fd);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `mmap offset must be an integer >= 0, got ${offset}`);
  }
  const lead = offset % PAGE;
  const len = size + lead;
  if (!Number.isSafeInteger(size) || size <= 0 || len > MAX_MAPPING_SIZE) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `mapping size must be 1 to ${MAX_MAPPING_SIZE} bytes, got ${size}`);
  }
  if (fileSizeCheck) {
    let st: { size: number; isFile(): boolean };
    try {
      st = fstatSync(fd);
    } catch (e) {
      throw fromNodeError('fstat', e, `fd ${fd}`);
    }
    if (st.isFile() && st.size < offset + size) {
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `fd ${fd} has ${st.size} bytes, fewer than offset ${offset} + size ${size}`,
      );
    }
  }
  const c = libc();
  const ptr = BigInt(c.mmap(null, len, PROT_RW, MAP_SHARED, fd, offset - lead));
  if (ptr === MAP_FAILED) throwErrno('mmap', `fd ${fd} ${size} bytes at ${offset}`);
  let buf: ArrayBuffer;
  try {
    buf = koffi().view(ptr, len);
  } catch (e) {
    c.munmap(ptr, len);
    throw new ValeError(ErrorCodes.SYSTEM, `koffi.view of ${len} bytes failed: ${(e as Error).message}`, { cause: e });
  }
  let mapped = true;
  return {
    bytes: new Uint8Array(buf, lead, size),
    size,
    offset,
    unmap() {
      if (!mapped) return;
      mapped = false;
      if (c.munmap(ptr, len) < 0) throwErrno('munmap', `${len} bytes`);
    },
  };
}
