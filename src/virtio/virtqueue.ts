/*
 * A split virtqueue (virtio 1.x, 2.7) seen from the device side, over guest
 * memory the device does not trust.
 *
 * Layout (little-endian, the only byte order uvale supports):
 *   descriptor table  num × { addr u64, len u32, flags u16, next u16 }  (16-aligned)
 *   avail ring        flags u16, idx u16, ring[num] u16, used_event u16 (2-aligned)
 *   used ring         flags u16, idx u16, ring[num] { id u32, len u32 }, avail_event u16 (4-aligned)
 * Each part is viewed through typed arrays made once, over the bytes the
 * memory table translated (the whole part must lie in one region).
 *
 * Reading a chain (nextChain): the avail index is read once per call and
 * checked (avail.idx - lastAvail may not exceed num: otherwise the ring is
 * broken); the head and every `next` must be < num; a chain visits at most
 * num descriptors in all (indirect ones included), so a loop is an error
 * after num steps, never a hang; an indirect table (VIRTQ_DESC_F_INDIRECT)
 * must be a multiple of 16 bytes, inside guest memory, not nested, and not
 * combined with NEXT; device-readable descriptors must precede writable
 * ones; every buffer's [addr, addr + len) must lie inside one region. The
 * segments of a good chain land in preallocated arrays (segBytes, segOff,
 * segLen; the first readable count `readable`, the rest writable): the
 * caller copies from or into them. A bad chain sets `error` (a fixed
 * string) and returns BROKEN: the queue is then unusable until reset, as the
 * virtio spec's DEVICE_NEEDS_RESET.
 *
 * Used ring: pushUsed(id, len) writes entries to the ring only; publishUsed()
 * stores used.idx once for the whole burst and says whether the driver wants
 * an interrupt (VIRTIO_RING_F_EVENT_IDX: vring_need_event over used_event;
 * otherwise the avail ring's NO_INTERRUPT flag). setKicks(on) tells the
 * driver whether to kick us (EVENT_IDX: avail_event = lastAvail; otherwise
 * the used ring's NO_NOTIFY flag). After setKicks(true) callers check
 * pending() once more: a buffer made available before the driver saw the
 * change would otherwise wait forever.
 *
 * Ordering: index loads and stores go through Atomics (a full barrier on
 * arm64, plain moves on x86-64), element reads and writes are plain.
 * Nothing here throws after construction, and nothing allocates except one
 * Uint32Array view per indirect table walked.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { GuestMemory } from './memory.js';

/** Largest split queue size (virtio 1.x). */
export const MAX_QUEUE_SIZE = 32768;

/** Descriptor flags. */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail.flags: the driver does not want interrupts. */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** used.flags: the device does not want kicks. */
export const VRING_USED_F_NO_NOTIFY = 1;

/** nextChain(): nothing available. */
export const EMPTY = -1;
/** nextChain(): the ring or a chain is malformed; see `error`. */
export const BROKEN = -2;

/** Where the ring addresses given to SplitQueue.create live. */
export type RingAddressSpace = 'guest' | 'user';

/** Ring addresses and the queue's size. */
export interface QueueAddrs {
  num: number;
  desc: number;
  avail: number;
  used: number;
}

/** Bytes of each ring part for a queue of `num` entries (with the event fields). */
export function ringBytes(num: number): { desc: number; avail: number; used: number } {
  return { desc: 16 * num, avail: 6 + 2 * num, used: 6 + 8 * num };
}

/** vring_need_event: true when `event` lies in (old, new] modulo 2^16. */
export function needEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

function view<T>(
  mem: GuestMemory,
  space: RingAddressSpace,
  addr: number,
  len: number,
  align: number,
  what: string,
  make: (buf: ArrayBufferLike, off: number, n: number) => T,
  elem: number,
): T {
  const off = space === 'guest' ? mem.translate(addr, len) : mem.translateUser(addr, len);
  if (off < 0)
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `${what} at 0x${addr.toString(16)} (${len} bytes) is outside guest memory`,
    );
  const u8 = mem.hit;
  const abs = u8.byteOffset + off;
  if (addr % align !== 0 || abs % elem !== 0) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `${what} at 0x${addr.toString(16)} is not ${align}-byte aligned`);
  }
  return make(u8.buffer, abs, len / elem);
}

/** The device side of one split virtqueue. */
export class SplitQueue {
  readonly num: number;
  private readonly mask: number;
  /** Descriptor table as u32 words: [addrLo, addrHi, len, flags | next << 16] per entry. */
  private readonly desc: Uint32Array;
  /** avail ring as u16: [flags, idx, ring[num], used_event]. */
  private readonly avail: Uint16Array;
  /** used ring as u16 (flags, idx, avail_event) and u32 (entries from word 1). */
  private readonly used16: Uint16Array;
  private readonly used32: Uint32Array;
  private readonly eventIdx: boolean;
  private readonly indirect: boolean;
  private readonly mem: GuestMemory;

  /** Next avail entry to take (our own copy, never read back from guest memory). */
  lastAvail = 0;
  /** used.idx as we will publish it. */
  private usedShadow = 0;
  /** used.idx as last published. */
  private usedPublished = 0;

  /** Segments of the last chain nextChain() returned. */
  readonly segBytes: Uint8Array[];
  readonly segOff: Float64Array;
  readonly segLen: Uint32Array;
  /** Segments in the last chain, and how many of them (the first ones) are device-readable. */
  segs = 0;
  readable = 0;
  /** Total bytes of the readable and of the writable segments of the last chain. */
  readBytes = 0;
  writeBytes = 0;
  /** Why the queue broke (empty while it works). */
  error = '';

  private constructor(mem: GuestMemory, a: QueueAddrs, space: RingAddressSpace, eventIdx: boolean, indirect: boolean) {
    const { num } = a;
    this.mem = mem;
    this.num = num;
    this.mask = num - 1;
    this.eventIdx = eventIdx;
    this.indirect = indirect;
    const b = ringBytes(num);
    this.desc = view(mem, space, a.desc, b.desc, 16, 'descriptor table', (x, o, n) => new Uint32Array(x, o, n), 4);
    this.avail = view(mem, space, a.avail, b.avail, 2, 'avail ring', (x, o, n) => new Uint16Array(x, o, n), 2);
    // The used ring is 4-aligned; its u32 entries start 4 bytes in, its 16-bit fields use a u16 view.
    this.used16 = view(mem, space, a.used, b.used, 4, 'used ring', (x, o, n) => new Uint16Array(x, o, n), 2);
    this.used32 = new Uint32Array(this.used16.buffer, this.used16.byteOffset + 4, 2 * num);
    this.segBytes = new Array<Uint8Array>(num).fill(new Uint8Array(0));
    this.segOff = new Float64Array(num);
    this.segLen = new Uint32Array(num);
  }

  /**
   * Views of a split queue of `num` entries at the given ring addresses (in guest physical or front-end space).
   * @throws ValeError INVALID_ARG when num is not a power of two in [1, 32768], or a part is outside guest
   *   memory or misaligned.
   */
  static create(
    mem: GuestMemory,
    addrs: QueueAddrs,
    opts: { space?: RingAddressSpace; eventIdx?: boolean; indirect?: boolean } = {},
  ): SplitQueue {
    const n = addrs.num;
    if (!Number.isInteger(n) || n < 1 || n > MAX_QUEUE_SIZE || (n & (n - 1)) !== 0) {
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `queue size must be a power of two from 1 to ${MAX_QUEUE_SIZE}, got ${n}`,
      );
    }
    return new SplitQueue(mem, addrs, opts.space ?? 'guest', opts.eventIdx ?? false, opts.indirect ?? false);
  }

  /** Sets where to start: lastAvail and used index (vhost-user SET_VRING_BASE; both the same for a split ring). */
  setBase(base: number): void {
    this.lastAvail = base & 0xffff;
    this.usedShadow = base & 0xffff;
    this.usedPublished = base & 0xffff;
  }

  /** Entries the driver has made available and we have not taken, or BROKEN when avail.idx is impossible. */
  pending(): number {
    const d = (Atomics.load(this.avail, 1) - this.lastAvail) & 0xffff;
    if (d > this.num) {
      this.error = 'avail index moved by more than the queue size';
      return BROKEN;
    }
    return d;
  }

  /**
   * Takes the next available chain: its head id (>= 0) with segments filled in, EMPTY, or BROKEN (see `error`).
   * `error` once set stays set: every later call returns BROKEN.
   */
  nextChain(): number {
    if (this.error !== '') return BROKEN;
    const p = this.pending();
    if (p <= 0) return p === 0 ? EMPTY : BROKEN;
    const head = this.avail[2 + (this.lastAvail & this.mask)]!;
    if (head >= this.num) return this.fail('head descriptor index out of range');
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    this.segs = 0;
    this.readable = 0;
    this.readBytes = 0;
    this.writeBytes = 0;
    const d = this.desc;
    const mem = this.mem;
    let budget = this.num;
    let table = d;
    let tableLen = this.num;
    let i = head;
    let inIndirect = false;
    let sawWrite = false;
    for (;;) {
      if (budget-- === 0) return this.fail('descriptor chain longer than the queue (a loop?)');
      const w = 4 * i;
      const hi = table[w + 1]!;
      if (hi >= 0x200000) return this.fail('descriptor address beyond 2^53');
      const addr = hi * 0x1_0000_0000 + table[w]!;
      const len = table[w + 2]!;
      const fn = table[w + 3]!;
      const flags = fn & 0xffff;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (!this.indirect) return this.fail('indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC');
        if (inIndirect) return this.fail('nested indirect descriptor');
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) return this.fail('indirect descriptor with NEXT');
        if (len === 0 || len % 16 !== 0) return this.fail('indirect table length not a multiple of 16');
        const off = mem.translate(addr, len);
        if (off < 0) return this.fail('indirect table outside guest memory');
        const abs = mem.hit.byteOffset + off;
        if (abs % 4 !== 0) return this.fail('indirect table misaligned');
        tableLen = len / 16;
        if (tableLen > this.num) return this.fail('indirect table longer than the queue');
        table = new Uint32Array(mem.hit.buffer, abs, tableLen * 4);
        inIndirect = true;
        i = 0;
        continue;
      }
      const write = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (write) sawWrite = true;
      else if (sawWrite) return this.fail('readable descriptor after a writable one');
      const off = mem.translate(addr, len);
      if (off < 0) return this.fail('descriptor buffer outside guest memory');
      const s = this.segs;
      if (s === this.num) return this.fail('descriptor chain longer than the queue (a loop?)');
      this.segBytes[s] = mem.hit;
      this.segOff[s] = off;
      this.segLen[s] = len;
      this.segs = s + 1;
      if (write) this.writeBytes += len;
      else {
        this.readable++;
        this.readBytes += len;
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      i = fn >>> 16;
      if (i >= tableLen) return this.fail('next descriptor index out of range');
    }
    return head;
  }

  private fail(why: string): number {
    this.error = why;
    return BROKEN;
  }

  private markAvail = 0;
  private markUsed = 0;

  /** Remembers where taking and pushing stand, for rollback(). */
  mark(): void {
    this.markAvail = this.lastAvail;
    this.markUsed = this.usedShadow;
  }

  /** Forgets every chain taken and every entry pushed since mark() (nothing published in between). */
  rollback(): void {
    this.lastAvail = this.markAvail;
    this.usedShadow = this.markUsed;
  }

  /** Puts back the last chain taken (none of it was used): it will be returned again. */
  unget(): void {
    this.lastAvail = (this.lastAvail - 1) & 0xffff;
  }

  /** Records chain `id` as used with `len` bytes written; visible to the driver at publishUsed(). */
  pushUsed(id: number, len: number): void {
    const e = 2 * (this.usedShadow & this.mask);
    this.used32[e] = id;
    this.used32[e + 1] = len;
    this.usedShadow = (this.usedShadow + 1) & 0xffff;
  }

  /** Entries pushed and not yet published. */
  get unpublished(): number {
    return (this.usedShadow - this.usedPublished) & 0xffff;
  }

  /**
   * Publishes every pushed entry with one store of used.idx. Returns true when the driver asked to be
   * interrupted for this batch (EVENT_IDX: used_event crossed; otherwise NO_INTERRUPT clear), false when not
   * or when nothing was pushed.
   */
  publishUsed(): boolean {
    const old = this.usedPublished;
    const now = this.usedShadow;
    if (old === now) return false;
    Atomics.store(this.used16, 1, now);
    this.usedPublished = now;
    if (this.eventIdx) return needEvent(Atomics.load(this.avail, 2 + this.num), now, old);
    return (Atomics.load(this.avail, 0) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Asks the driver to kick us (on) or not (off). With EVENT_IDX, on writes avail_event = lastAvail (kick at the
   * next buffer) and off leaves it behind; without, it clears or sets used.flags NO_NOTIFY.
   */
  setKicks(on: boolean): void {
    if (this.eventIdx) {
      // avail_event sits right after the used entries: u16 index 2 + 4 * num.
      if (on) Atomics.store(this.used16, 2 + 4 * this.num, this.lastAvail);
    } else {
      Atomics.store(this.used16, 0, on ? 0 : VRING_USED_F_NO_NOTIFY);
    }
  }

  /** The used index as we last published it (vhost-user GET_VRING_BASE reports lastAvail). */
  get usedIndex(): number {
    return this.usedPublished;
  }
}
