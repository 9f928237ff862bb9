/*
 * Guest memory as a table of regions, and the one place that turns an
 * address a guest (or its front-end) gave us into bytes we may touch.
 *
 * A region is what a vhost-user SET_MEM_TABLE describes: a range of guest
 * physical addresses (guestAddr, size), the same range in the front-end's
 * own address space (userAddr: vring addresses come in that space), the
 * offset of the range in the fd it was shared through (mmapOffset, kept for
 * the record), and the mapped bytes themselves (a Uint8Array of exactly
 * `size` bytes, starting at the region's first byte).
 *
 * Every access goes through translate() or translateUser(): the whole range
 * [addr, addr + len) must fall inside one region, else the answer is -1 and
 * nothing is read. A range that straddles two regions is refused too (guest
 * RAM split by QEMU is not physically contiguous across its regions; a
 * driver that places one buffer across such a split is treated as hostile).
 * On success the answer is the byte offset in `hit`, the matched region's
 * bytes: no object is made per call, so the data path may use it per frame.
 *
 * Addresses are JS numbers: the table refuses regions whose end does not fit
 * in 2^53, so every sum below is exact. Regions may not overlap, neither in
 * guest physical space nor in user space. A one-entry cache (the last region
 * hit) makes the common case one comparison pair.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';

/** The largest number of regions a table holds (vhost-user's VHOST_MEMORY_BASELINE_NREGIONS is 8). */
export const MAX_REGIONS = 8;

/** One region of guest memory. */
export interface MemRegion {
  /** First guest physical address. */
  guestAddr: number;
  /** Bytes in the region (> 0). */
  size: number;
  /** The same first byte's address in the front-end process. */
  userAddr: number;
  /** Offset of the region in the fd it was shared through. */
  mmapOffset: number;
  /** The region's bytes: exactly `size` of them. */
  bytes: Uint8Array;
}

function bad(msg: string): ValeError {
  return new ValeError(ErrorCodes.INVALID_ARG, msg);
}

function checkU53(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw bad(`${what} must be an integer in [0, 2^53), got ${v}`);
}

/** A table of guest memory regions with bounds-checked translation. */
export class GuestMemory {
  private readonly gpa: number[] = [];
  private readonly uva: number[] = [];
  private readonly sizes: number[] = [];
  private readonly arrays: Uint8Array[] = [];
  private readonly records: MemRegion[] = [];
  private last = 0;
  /** The bytes of the region the last successful translate* matched. */
  hit: Uint8Array = new Uint8Array(0);
  /** Index of that region. */
  hitIndex = -1;

  /**
   * A table of `regions` (checked: sizes, 2^53 bounds, byte counts, no overlap).
   * @throws ValeError INVALID_ARG on any inconsistency; nothing is kept then.
   */
  constructor(regions: readonly MemRegion[] = []) {
    if (regions.length > MAX_REGIONS) throw bad(`at most ${MAX_REGIONS} memory regions, got ${regions.length}`);
    for (const r of regions) {
      checkU53(r.guestAddr, 'guest address');
      checkU53(r.userAddr, 'user address');
      checkU53(r.mmapOffset, 'mmap offset');
      if (!Number.isSafeInteger(r.size) || r.size <= 0) throw bad(`region size must be > 0, got ${r.size}`);
      checkU53(r.guestAddr + r.size, 'region end (guest)');
      checkU53(r.userAddr + r.size, 'region end (user)');
      if (r.bytes.length !== r.size) throw bad(`region of ${r.size} bytes given ${r.bytes.length} mapped bytes`);
      for (const o of this.records) {
        if (r.guestAddr < o.guestAddr + o.size && o.guestAddr < r.guestAddr + r.size) {
          throw bad(`regions overlap in guest memory at 0x${r.guestAddr.toString(16)}`);
        }
        if (r.userAddr < o.userAddr + o.size && o.userAddr < r.userAddr + r.size) {
          throw bad(`regions overlap in user addresses at 0x${r.userAddr.toString(16)}`);
        }
      }
      this.records.push({ ...r });
      this.gpa.push(r.guestAddr);
      this.uva.push(r.userAddr);
      this.sizes.push(r.size);
      this.arrays.push(r.bytes);
    }
  }

  /** Number of regions. */
  get count(): number {
    return this.records.length;
  }

  /** The regions (copies of their records; the bytes are shared). */
  regions(): MemRegion[] {
    return this.records.map((r) => ({ ...r }));
  }

  /**
   * Offset in `hit` of guest physical [addr, addr + len), or -1 when that range is not wholly inside one region
   * (or addr/len are not non-negative integers). len 0 is checked as len 1 at addr (the address must be mapped).
   */
  translate(addr: number, len: number): number {
    return this.find(this.gpa, addr, len);
  }

  /** As translate, for an address in the front-end's address space (vring addresses). */
  translateUser(addr: number, len: number): number {
    return this.find(this.uva, addr, len);
  }

  /** The guest physical address of front-end address `uaddr`, or -1 when unmapped. */
  userToGuest(uaddr: number): number {
    const off = this.find(this.uva, uaddr, 1);
    return off < 0 ? -1 : this.gpa[this.hitIndex]! + off;
  }

  private find(base: number[], addr: number, len: number): number {
    if (!(addr >= 0 && len >= 0 && Number.isSafeInteger(addr) && Number.isSafeInteger(len))) return -1;
    if (!Number.isSafeInteger(addr + len)) return -1;
    const l = len === 0 ? 1 : len;
    const n = base.length;
    let i = this.last;
    for (let k = 0; k < n; k++) {
      const b = base[i]!;
      const off = addr - b;
      if (off >= 0 && off + l <= this.sizes[i]!) {
        this.last = i;
        this.hitIndex = i;
        this.hit = this.arrays[i]!;
        return off;
      }
      i = i + 1 === n ? 0 : i + 1;
    }
    return -1;
  }
}
