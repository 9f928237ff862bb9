/*
 * Frame limits every layer agrees on: the switch drops what falls outside
 * them, and adapters never hand a peer more (see docs/wire-formats.md).
 */

/** Frames shorter than an Ethernet header are dropped (netmap's lookup does the same). */
export const MIN_FRAME = 14;
/** Longest frame carried as a fragment chain (slot lengths are u16, totals too). */
export const MAX_FRAME = 65535;
