/*
 * Monitors and mirrors (docs/monitors.md): copies of a port's traffic.
 *
 * A copy link says "every frame port P receives (MON_RX) or sends (MON_TX)
 * also goes to port T". T is a monitor port (netmap(4)'s PORT/r, /t, /rt: a
 * port of its own, on no switch, read-only) or, for a mirror (a SPAN port),
 * any port of the same switch. The links live on P (rxCopies, txCopies) and
 * are counted on the switch (copyLinks), so the forwarder pays one check per
 * batch while a switch has none.
 *
 * The forwarder (forward.ts) calls CopyPath after it delivered a batch: first
 * the sender's TX copies (every frame it took from the sender's TX ring, in
 * ring order), then, for each destination with RX copies, the frames that
 * destination actually got, in the order it got them. A copy goes into T's RX
 * ring, the ring of the same number as the one the frame used, modulo T's
 * rings (netmap: monitor ring i sees ring i), whole chains or nothing, bit for
 * bit; between ports with different virtio-net header lengths through
 * offload.ts as any delivery. T's client owns its ring: its RX head is read
 * (and checked) once per batch; a full T drops the rest of this batch's copies,
 * counted in T's dropMonitor. Nothing here waits, and nothing T's client
 * writes reaches P's rings: a stalled monitor costs P a few reads per batch.
 *
 * Copies are never forwarded or copied again: a mirror destination's own
 * monitors do not see the copies it is handed, and two mirrors cannot loop.
 * When P leaves its switch its links go: a monitor of P is ended (the flag in
 * its memory, then a wake-up; its client reads what is left, then gets
 * VALE_ERR_CLOSED), and a mirror to or from P is undone.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { KRing } from '../ring/kring.js';
import {
  IF_FLAGS,
  NI_MONITOR_ENDED,
  NM_BUF_SIZE,
  NS_MOREFRAG,
  NS_RFRAGS_SHIFT,
  RING_HWTAIL,
  SLOT_FLAGS_H,
  SLOT_LEN_H,
  SLOT_SHIFT_W,
} from '../ring/layout.js';
import { copyFrame } from './copy.js';
import { C_DROP_MONITOR, C_RX_BYTES, C_RX_PACKETS } from './counters.js';
import { MON_RX, MON_TX } from './name.js';
import { type OffloadPath, PUT_BAD, PUT_NO_ROOM } from './offload.js';
import type { VPort } from './vport.js';

/** The switch's count of copy links, read by the forwarder once per batch. */
export interface CopyLinks {
  copyLinks: number;
}

/** Adds links from `port` to `target` for the directions in `dirs` (MON_RX | MON_TX); existing ones stay. */
export function linkCopies(sw: CopyLinks, port: VPort, target: VPort, dirs: number): void {
  if (port === target) throw new ValeError(ErrorCodes.INVALID_ARG, `${port.name} cannot be a copy of itself`);
  if (port.monitor !== 0) throw new ValeError(ErrorCodes.INVALID_ARG, `${port.name} is a monitor: monitor its port`);
  if ((dirs & MON_RX) !== 0 && !has(port.rxCopies, target)) {
    port.rxCopies = port.rxCopies === null ? [target] : [...port.rxCopies, target];
    target.copyOf++;
    sw.copyLinks++;
  }
  if ((dirs & MON_TX) !== 0 && !has(port.txCopies, target)) {
    port.txCopies = port.txCopies === null ? [target] : [...port.txCopies, target];
    target.copyOf++;
    sw.copyLinks++;
  }
}

/** Removes the links from `port` to `target` in `dirs`; returns the directions that were linked. */
export function unlinkCopies(sw: CopyLinks, port: VPort, target: VPort, dirs = MON_RX | MON_TX): number {
  let was = 0;
  if ((dirs & MON_RX) !== 0 && has(port.rxCopies, target)) {
    port.rxCopies = without(port.rxCopies as VPort[], target);
    was |= MON_RX;
  }
  if ((dirs & MON_TX) !== 0 && has(port.txCopies, target)) {
    port.txCopies = without(port.txCopies as VPort[], target);
    was |= MON_TX;
  }
  const n = (was & MON_RX ? 1 : 0) + (was & MON_TX ? 1 : 0);
  target.copyOf -= n;
  sw.copyLinks -= n;
  return was;
}

/**
 * `port` leaves its switch: its monitors are ended, its links as a source and
 * (when it is a mirror destination) as a target among `ports` are undone.
 */
export function unlinkPort(sw: CopyLinks, port: VPort, ports: ReadonlyArray<VPort | null>): void {
  const targets = new Set([...(port.rxCopies ?? []), ...(port.txCopies ?? [])]);
  for (const t of targets) {
    unlinkCopies(sw, port, t);
    if (t.monitor !== 0) endMonitor(t);
  }
  if (port.copyOf > 0) for (const p of ports) if (p !== null && p !== port) unlinkCopies(sw, p, port);
}

/** Marks monitor `mp` ended in its memory and wakes its client (which then reads EOF). */
export function endMonitor(mp: VPort): void {
  if (mp.monitorEnded) return;
  mp.monitorEnded = true;
  const r = mp.region;
  r.arena.u32[(r.base + IF_FLAGS) >>> 2] |= NI_MONITOR_ENDED;
  mp.wakeRx();
}

function has(list: VPort[] | null, p: VPort): boolean {
  return list?.includes(p) === true;
}

function without(list: VPort[], p: VPort): VPort[] | null {
  const l = list.filter((x) => x !== p);
  return l.length === 0 ? null : l;
}

/**
 * Copies frames of one batch, described by the forwarder's scratch table
 * (offsets, lengths, chain lengths on first fragments), to copy targets. The
 * forwarder writes the chain heads to copy, in order, into `seq`.
 */
export class CopyPath {
  readonly seq: Int32Array;
  private readonly ftOff: Int32Array;
  private readonly ftLen: Int32Array;
  private readonly ftFrags: Int32Array;
  private readonly offload: OffloadPath;

  constructor(ftOff: Int32Array, ftLen: Int32Array, ftFrags: Int32Array, offload: OffloadPath) {
    this.ftOff = ftOff;
    this.ftLen = ftLen;
    this.ftFrags = ftFrags;
    this.offload = offload;
    this.seq = new Int32Array(ftOff.length);
  }

  /** The RX ring of each target for ring number `ringNr` (set by prepare()), in target order. */
  private readonly rings: KRing[] = [];

  /**
   * Picks each target's RX ring for source ring `ringNr` (netmap: ring i to
   * ring i, modulo the target's rings) and reads a remote client's RX head
   * (checked, never trusted). Returns false when no target has a free slot:
   * then the forwarder skips the walk and counts the drops (dropAll).
   */
  prepare(targets: VPort[], ringNr: number): boolean {
    const rings = this.rings;
    rings.length = 0;
    let room = false;
    for (let t = 0; t < targets.length; t++) {
      const tp = targets[t] as VPort;
      const rx = tp.rx;
      const kr = rx[ringNr < rx.length ? ringNr : ringNr % rx.length] as KRing;
      if (tp.remote) {
        // the client releases RX slots by moving head in its own memory: read it, never trust it
        const h = kr.prologue(true);
        if (h >= 0) kr.hwcur = h;
      }
      if (kr.rxSpace() !== 0) room = true;
      rings.push(kr);
    }
    return room;
  }

  /** Counts `m` copies dropped at every target (all of them full). */
  dropAll(targets: VPort[], m: number): void {
    for (let t = 0; t < targets.length; t++) (targets[t] as VPort).counters[C_DROP_MONITOR] += m;
  }

  /** Copies the `m` frames in seq, from `src`'s buffers, to every port of `targets` (after prepare()). */
  copy(src: VPort, targets: VPort[], m: number): void {
    for (let t = 0; t < targets.length; t++) {
      const tp = targets[t] as VPort;
      const kr = this.rings[t] as KRing;
      if (src.hdrLen === tp.hdrLen) this.copyRaw(src, tp, kr, m);
      else this.copyConverted(src, tp, kr, m);
    }
  }

  private copyRaw(src: VPort, tp: VPort, kr: KRing, m: number): void {
    const seq = this.seq;
    const ftOff = this.ftOff;
    const ftLen = this.ftLen;
    const ftFrags = this.ftFrags;
    const sArena = src.region.arena;
    const dArena = kr.arena;
    const copy = sArena === dArena ? sArena.copy : null;
    const sU8 = sArena.u8;
    const sF64 = sArena.f64;
    const dU8 = dArena.u8;
    const dF64 = dArena.f64;
    const du32 = dArena.u32;
    const du16 = dArena.u16;
    const slotsW = kr.slotsW;
    const dBufs = kr.bufsBase;
    const dNumBufs = kr.numBufs;
    const lim = kr.lim;
    let room = kr.rxSpace();
    let j = kr.hwtail;
    let pkts = 0;
    let bytes = 0;
    let dropped = 0;
    for (let k = 0; k < m; k++) {
      const p = seq[k] as number;
      const cnt = ftFrags[p] as number;
      if (cnt > room) {
        dropped = m - k;
        break;
      }
      room -= cnt;
      const end = p + cnt;
      const fl = cnt === 1 ? 1 << NS_RFRAGS_SHIFT : (cnt << NS_RFRAGS_SHIFT) | NS_MOREFRAG;
      let w = 0;
      for (let f = p; f < end; f++) {
        const len = ftLen[f] as number;
        w = slotsW + (j << SLOT_SHIFT_W);
        let bi = du32[w] as number;
        if (bi >= dNumBufs) bi = 0;
        copyFrame(copy, sU8, sF64, ftOff[f] as number, dU8, dF64, dBufs + bi * NM_BUF_SIZE, len);
        du16[(w << 1) + SLOT_LEN_H] = len;
        du16[(w << 1) + SLOT_FLAGS_H] = fl;
        bytes += len;
        j = j === lim ? 0 : j + 1;
      }
      du16[(w << 1) + SLOT_FLAGS_H] = cnt << NS_RFRAGS_SHIFT;
      pkts++;
    }
    this.finish(tp, kr, j, pkts, bytes, dropped);
  }

  private copyConverted(src: VPort, tp: VPort, kr: KRing, m: number): void {
    const seq = this.seq;
    const path = this.offload;
    const sU8 = src.region.arena.u8;
    path.begin(kr, kr.rxSpace());
    let dropped = 0;
    for (let k = 0; k < m; k++) {
      const p = seq[k] as number;
      const r = path.put(sU8, this.ftOff, this.ftLen, p, this.ftFrags[p] as number, src.hdrLen, tp.hdrLen);
      if (r === PUT_NO_ROOM) {
        dropped += m - k;
        break;
      }
      if (r === PUT_BAD) dropped++;
    }
    this.finish(tp, kr, path.j, path.pkts, path.bytes, dropped);
  }

  private finish(tp: VPort, kr: KRing, j: number, pkts: number, bytes: number, dropped: number): void {
    const c = tp.counters;
    if (pkts !== 0) {
      kr.hwtail = j;
      kr.u32[kr.hdrW + (RING_HWTAIL >>> 2)] = j;
      c[C_RX_PACKETS] += pkts;
      c[C_RX_BYTES] += bytes;
      tp.wakeRx();
    }
    if (dropped !== 0) c[C_DROP_MONITOR] += dropped;
  }
}

export { MON_RX, MON_TX };
