/*
 * The memory layout of a port: uvale's netmap.h. Nothing else hard-codes an offset.
 *
 * A port owns one region, laid out as netmap lays out a port's private memory:
 *
 *   region                                                        (4096-aligned)
 *   +---------------------------+ 0
 *   | interface header (IF_*)   |   name, ring counts, ring offsets, counters
 *   +---------------------------+ IF_HDR_SIZE
 *   | TX ring 0 header (RING_*) |   head/cur (u), tail (k), sizes; k-area below
 *   | TX ring 0 slots  (SLOT_*) |   numSlots x 16 bytes
 *   | ... TX rings, then RX ... |
 *   +---------------------------+ bufsOfs (multiple of NM_BUF_SIZE)
 *   | buffer 0, 1 (reserved)    |   scratch: bad buf_idx values land here
 *   | buffer 2 ... nbufs-1      |   NM_BUF_SIZE bytes each
 *   +---------------------------+ regionSize
 *
 * All integers are little-endian (the typed-array views of the platform; uvale
 * runs on little-endian hosts only). Fields are tagged like netmap's:
 * (u) written by the user (the port's client), (k) written by the switch.
 *
 * A ring header is two cache lines. The first holds netmap's ring fields. The
 * second is the "kernel-published" area: the switch writes hwcur/hwtail there
 * after every sync, and both sides keep their "asleep, kick me" flags there.
 * In-process ports read it at once; a client in another process (issue 3)
 * copies hwtail into `tail` in its own rxsync/txsync, so `tail` still moves only
 * during the user's syncs, as in netmap. The other way round, such a client
 * copies `head` into RING_SYNC_HEAD at each sync and the switch reads only
 * that: a head the user moved without a sync (say, mid-way through writing a
 * fragment chain) is not seen.
 *
 * Regions live inside an Arena (ring/arena.ts): one ArrayBuffer or
 * SharedArrayBuffer, possibly holding many regions, so that the switch copies
 * between ports of one arena with the arena's wasm memory.copy (Arena.copy).
 * Every offset below is relative to the region start; add the region's base
 * to index the arena.
 */

/** Bytes per buffer (netmap's NETMAP_BUF_SIZE; `dev.netmap.buf_size`). */
export const NM_BUF_SIZE = 2048;
/** Buffer indices below this are reserved scratch buffers (netmap reserves 0 and 1). */
export const NM_RESERVED_BUFS = 2;
/** Alignment of a region inside an arena. */
export const REGION_ALIGN = 4096;

/** Region magic: 'UVAL' read as a little-endian u32. */
export const IF_MAGIC_VALUE = 0x4c415655;
export const LAYOUT_VERSION = 1;

// ---- interface header (netmap_if), all fields written once at creation (k) ----
export const IF_MAGIC = 0; // u32
export const IF_VERSION = 4; // u32
export const IF_NAME = 8; // char[16], NUL-padded (ni_name, IFNAMSIZ)
export const IF_NAME_SIZE = 16;
export const IF_FLAGS = 24; // u32 ni_flags
/** ni_flags bit (k), set later than creation: this monitor's port went away (docs/monitors.md). */
export const NI_MONITOR_ENDED = 1;
export const IF_TX_RINGS = 28; // u32 ni_tx_rings
export const IF_RX_RINGS = 32; // u32 ni_rx_rings
export const IF_BUF_SIZE = 36; // u32
export const IF_NUM_BUFS = 40; // u32 buffers in the region, reserved ones included
export const IF_BUFS_OFS = 44; // u32 offset of buffer 0 from the region start
export const IF_REGION_SIZE = 48; // u32
/**
 * u32 (k) the futex word of a client that sleeps in its own thread (RING_USLEEP
 * = USLEEP_FUTEX): the switch adds 1 here, then wakes it (FUTEX_WAKE). Nothing
 * reads it back but the sleeper, which waits while it still holds the value it
 * read before raising its flags.
 */
export const IF_WAKE = 52;
export const IF_RING_OFS = 64; // u32[MAX_RINGS * 2]: TX ring offsets, then RX
/** f64[IF_COUNTERS_MAX] (k) the port's counters (switch/counters.ts), updated once per batch. */
export const IF_COUNTERS = 256;
export const IF_COUNTERS_MAX = 32;
export const IF_HDR_SIZE = 512;

// ---- ring header (netmap_ring) ----
export const RING_HEAD = 0; // u32 (u) first slot the user owns / releases up to
export const RING_CUR = 4; // u32 (u) wake-up point: poll waits until tail passes cur
export const RING_TAIL = 8; // u32 (k) first slot the switch owns
export const RING_NUM_SLOTS = 12; // u32
export const RING_BUF_SIZE = 16; // u32 nr_buf_size
export const RING_ID = 20; // u16 ringid
export const RING_DIR = 22; // u16 0 = TX, 1 = RX
export const RING_FLAGS = 24; // u32 (u) NR_* flags
// kernel-published area (second cache line)
export const RING_HWCUR = 64; // u32 (k) switch's hwcur after its last sync
export const RING_HWTAIL = 68; // u32 (k) switch's hwtail after its last sync
export const RING_KSLEEP = 72; // u32 (k) switch side asleep: the user must kick after a change
export const RING_USLEEP = 76; // u32 (u) user side asleep: the switch must kick after publishing
/** RING_USLEEP values: 0 awake; USLEEP_MSG sleeps in its event loop (wake with a message); USLEEP_FUTEX on IF_WAKE. */
export const USLEEP_MSG = 1;
export const USLEEP_FUTEX = 2;
export const RING_ERRORS = 80; // u32 (k) count of re-initialisations of this ring
// (u) head as of the user's last sync, for a switch in another process: it reads
// this one, not RING_HEAD, so it never sees a head the user has not synced yet
// (netmap reads head only inside a sync system call)
export const RING_SYNC_HEAD = 84; // u32
export const RING_HDR_SIZE = 128;

export const DIR_TX = 0;
export const DIR_RX = 1;

// ---- slot (netmap_slot), 16 bytes ----
export const SLOT_BUF_IDX = 0; // u32 buffer index
export const SLOT_LEN = 4; // u16 bytes in this slot's buffer
export const SLOT_FLAGS = 6; // u16 NS_* flags; on RX the high byte is the fragment count
export const SLOT_PTR = 8; // u64 (unused: NS_INDIRECT is not supported)
export const SLOT_SIZE = 16;
// The same fields as indices of the arena's typed arrays, for hot loops: slot s of a ring
// whose slots start at u32 index slotsW is w = slotsW + (s << SLOT_SHIFT_W); its buf_idx is
// u32[w + SLOT_BUF_IDX_W], its len u16[(w << 1) + SLOT_LEN_H], its flags u16[(w << 1) + SLOT_FLAGS_H].
/** log2 of a slot's size in u32 words. */
export const SLOT_SHIFT_W = 2;
export const SLOT_BUF_IDX_W = SLOT_BUF_IDX >>> 2;
export const SLOT_LEN_H = SLOT_LEN >>> 1;
export const SLOT_FLAGS_H = SLOT_FLAGS >>> 1;
// len and flags as one u32 word (len in the low half: little-endian, as every other view here)
export const SLOT_LEN_FLAGS_W = SLOT_LEN >>> 2;

// ---- slot flags (netmap.h values) ----
/** The user changed buf_idx: the switch must re-read it (always does). */
export const NS_BUF_CHANGED = 0x0001;
/** Ask for a completion report (meaningless on VALE: TX completes in the sync). */
export const NS_REPORT = 0x0002;
export const NS_FORWARD = 0x0004;
/** Documented by netmap, not implemented by VALE; ignored here too. */
export const NS_NO_LEARN = 0x0008;
export const NS_INDIRECT = 0x0010;
/** More fragments of this frame follow in the next slot. */
export const NS_MOREFRAG = 0x0020;
/** On RX slots written by the switch: bits 8..15 hold the frame's fragment count. */
export const NS_RFRAGS_SHIFT = 8;

/** netmap's NM_BDG_MAXRINGS and NM_BDG_MAXSLOTS, and the 64-fragment chain limit. */
export const MAX_RINGS = 16;
export const MAX_SLOTS = 4096;
export const MAX_FRAGS = 64;
/** The frame limits, from src/core/limits.ts. */
export { MAX_FRAME, MIN_FRAME } from '../core/limits.js';

/** Ring geometry of a port, as asked for when it is created. */
export interface RingConfig {
  txRings: number;
  rxRings: number;
  txSlots: number;
  rxSlots: number;
}

export const DEFAULT_RING_CONFIG: RingConfig = { txRings: 1, rxRings: 1, txSlots: 1024, rxSlots: 1024 };

/** Where each part of a region lies, computed from its ring geometry. */
export interface RegionGeometry extends RingConfig {
  /** Offsets of the ring headers, TX rings first, then RX rings. */
  ringOfs: number[];
  bufsOfs: number;
  numBufs: number;
  size: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

export function ringBytes(slots: number): number {
  return RING_HDR_SIZE + slots * SLOT_SIZE;
}

export function regionGeometry(cfg: RingConfig): RegionGeometry {
  const ringOfs: number[] = [];
  let off = IF_HDR_SIZE;
  for (let i = 0; i < cfg.txRings; i++) {
    ringOfs.push(off);
    off += ringBytes(cfg.txSlots);
  }
  for (let i = 0; i < cfg.rxRings; i++) {
    ringOfs.push(off);
    off += ringBytes(cfg.rxSlots);
  }
  const bufsOfs = alignUp(off, NM_BUF_SIZE);
  const numBufs = NM_RESERVED_BUFS + cfg.txRings * cfg.txSlots + cfg.rxRings * cfg.rxSlots;
  const size = alignUp(bufsOfs + numBufs * NM_BUF_SIZE, REGION_ALIGN);
  return { ...cfg, ringOfs, bufsOfs, numBufs, size };
}
