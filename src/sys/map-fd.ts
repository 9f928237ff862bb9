/*
 * Mapping a peer's memory at an offset: vhost-user's SET_MEM_TABLE sends one
 * fd per guest RAM region with the region's offset in that fd. mmap needs a
 * page-aligned offset, so mapFdRange maps from the page below it and hands
 * out a view that starts at the asked offset, exactly `size` bytes long.
 *
 * A peer that truncates the file under a mapping makes the next access to a
 * page past the new end fault with SIGBUS, which kills the whole process: a
 * stranger's memory may only be mapped when its file can never shrink.
 * mapGuestRegion makes sure of that first (sealShrink): the file already has
 * F_SEAL_SHRINK (QEMU's memory-backend-memfd, seal=on by default), or we add
 * it (a memfd made with MFD_ALLOW_SEALING whose seals are not sealed). A
 * file that can be neither (a memfd made without MFD_ALLOW_SEALING, whose
 * only seal is F_SEAL_SEAL, as DPDK's --no-huge memory; hugetlbfs and disk
 * files) is refused, unless the caller trusts the peer (allowUnsealed). The
 * seal comes before the fstat size check, so the checked size holds.
 */

import { fstatSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { MAP_SHARED, PROT_RW } from './abi.js';
import { checkFd, errno, fromNodeError, koffi, libc, MAP_FAILED, throwErrno } from './libc.js';
import { F_ADD_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, getSeals, MAX_MAPPING_SIZE } from './shm.js';

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

/** What sealShrink found: the file could not shrink already, we sealed it now, or it cannot be sealed (why). */
export type ShrinkSeal = { ok: true; added: boolean } | { ok: false; why: string };

/**
 * Makes sure the file behind `fd` can never shrink: F_SEAL_SHRINK is there, or is added now
 * (fcntl F_ADD_SEALS, possible on a memfd made with MFD_ALLOW_SEALING and not F_SEAL_SEAL'ed).
 * @throws ValeError INVALID_ARG for a bad fd; SYSTEM when F_GET_SEALS fails otherwise than EINVAL.
 */
export function sealShrink(fd: number): ShrinkSeal {
  const seals = getSeals(fd);
  if (seals < 0) return { ok: false, why: 'its file cannot be sealed (not a memfd or tmpfs file)' };
  if ((seals & F_SEAL_SHRINK) !== 0) return { ok: true, added: false };
  if ((seals & F_SEAL_SEAL) !== 0) {
    return {
      ok: false,
      why: 'it is a memfd without F_SEAL_SHRINK whose seals are sealed (made without MFD_ALLOW_SEALING, as DPDK does)',
    };
  }
  if (libc().fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
    return { ok: false, why: `adding F_SEAL_SHRINK failed (errno ${errno()})` };
  }
  return { ok: true, added: true };
}

/** A mapping of a peer's region, with how its file was kept from shrinking. */
export interface GuestRegionMapping extends FdRangeMapping {
  /** 'sealed': it was; 'sealed-now': we added F_SEAL_SHRINK; 'trusted': it can shrink, mapped as allowed. */
  readonly shrink: 'sealed' | 'sealed-now' | 'trusted';
}

/**
 * Maps [offset, offset + size) of a peer's fd (mapFdRange, size checked) once its file cannot shrink
 * (sealShrink); with `allowUnsealed` a file that cannot be sealed is mapped all the same (the peer is
 * trusted not to truncate it: if it does, this process dies of SIGBUS).
 * @throws ValeError PERMISSION when the file can shrink and allowUnsealed is false; as mapFdRange otherwise.
 */
export function mapGuestRegion(fd: number, size: number, offset: number, allowUnsealed: boolean): GuestRegionMapping {
  checkFd(fd);
  const seal = sealShrink(fd);
  if (!seal.ok && !allowUnsealed) {
    throw new ValeError(ErrorCodes.PERMISSION, `memory fd ${fd} could be truncated under the mapping: ${seal.why}`);
  }
  const m = mapFdRange(fd, size, offset);
  return {
    bytes: m.bytes,
    size: m.size,
    offset: m.offset,
    unmap: m.unmap,
    shrink: seal.ok ? (seal.added ? 'sealed-now' : 'sealed') : 'trusted',
  };
}
