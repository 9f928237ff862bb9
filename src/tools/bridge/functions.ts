/*
 * `uvale bridge`'s engine: netmap's apps/bridge between two uvale ports.
 *
 * Each direction moves frames from the RX rings of one port to the TX rings of
 * the other. Two ports never share memory in uvale, so every slot is copied
 * (netmap's bridge swaps buffers only when both ports share a memory region).
 * A frame is a chain of slots (NS_MOREFRAG on all but the last) and moves
 * whole: a chain goes out only when the TX ring has room for all of it,
 * otherwise it stays in the RX ring and the direction waits for room.
 *
 * Waiting is netmap bridge's poll set, with one poll per port and direction
 * of readiness so the sleep flags of two waits never overlap:
 *
 *   a direction whose RX rings are empty      waits for 'in' on its source
 *   a direction blocked on a full TX ring     waits for 'out' on its
 *                                             destination, with every TX
 *                                             ring's cur set to its tail (the
 *                                             netmap way to ask "wake me when
 *                                             tail moves"), so a ring with a
 *                                             few free slots cannot spin us
 *   a direction that hit its burst            yields to the event loop only
 *
 * A poll that is still pending when the loop wants the same wait again is
 * reused, never duplicated. A direction blocked for STALL_MS (the other
 * side's TX ring stays full: in uvale only while the daemon is stalled) drops
 * the frames waiting in its RX rings and counts them; before that nothing is
 * dropped here (the switch drops, and counts, if an RX ring overflows).
 */

import type { NetmapPort } from '../../ports/port.js';
import { ChainReader } from '../../ring/chain.js';
import { NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';

/** How long an idle wait for input lasts before the loop looks around (netmap's bridge: 2.5 s). */
export const IDLE_POLL_MS = 2500;
/** How long one wait for TX room lasts. */
export const OUT_POLL_MS = 100;
/** A direction blocked this long on a full TX ring drops its waiting frames. */
export const STALL_MS = 1000;
/** Frames up to this many bytes are copied as Float64 words (buffers are 2048-aligned). */
const COPY_WORDS_MAX = 256;

/** move() results. */
export const IDLE = 0;
export const MORE = 1;
export const BLOCKED = 2;

export interface DirStats {
  /** Frames moved (a fragment chain is one frame). */
  frames: number;
  bytes: number;
  /** Frames dropped because the other side's TX ring stayed full (or a chain can never fit). */
  drops: number;
}

/**
 * What the loop sleeps on: any wait that ends (a poll resolving, a signal)
 * calls notify(). One promise per sleep, and each poll promise has exactly
 * one reaction, so nothing piles up on promises that stay pending (as
 * Promise.race over a long-lived promise would, once per round).
 */
export class Waker {
  private pending: (() => void) | null = null;
  private fired = false;

  readonly notify = (): void => {
    const r = this.pending;
    if (r === null) {
      this.fired = true;
      return;
    }
    this.pending = null;
    r();
  };

  /** Resolves at the next notify(), or at once if one came since the last wait. */
  wait(): Promise<void> {
    if (this.fired) {
      this.fired = false;
      return Promise.resolve();
    }
    return new Promise<void>((r) => {
      this.pending = r;
    });
  }
}

/** One port of the bridge with its pending polls: at most one 'in' and one 'out' at a time. */
export class Side {
  readonly port: NetmapPort;
  /** The first error a poll on this port raised (the daemon went away, ...). */
  error: unknown = null;
  private readonly waker: Waker;
  private waitingIn = false;
  private waitingOut = false;

  constructor(port: NetmapPort, waker: Waker) {
    this.port = port;
    this.waker = waker;
  }

  /** Makes sure a poll for 'in' runs (some RX ring has frames at cur; IDLE_POLL_MS at most). */
  waitIn(): void {
    if (this.waitingIn) return;
    this.waitingIn = true;
    this.port.poll({ events: 'in', timeout: IDLE_POLL_MS }).then(
      () => this.done('in', null),
      (e: unknown) => this.done('in', e),
    );
  }

  /** Makes sure a poll for 'out' runs (some TX ring's tail moved past its cur; OUT_POLL_MS at most). */
  waitOut(): void {
    if (this.waitingOut) return;
    this.waitingOut = true;
    this.port.poll({ events: 'out', timeout: OUT_POLL_MS }).then(
      () => this.done('out', null),
      (e: unknown) => this.done('out', e),
    );
  }

  private done(events: 'in' | 'out', e: unknown): void {
    if (events === 'in') this.waitingIn = false;
    else this.waitingOut = false;
    if (e !== null) this.error ??= e;
    this.waker.notify();
  }
}

/** One direction: frames received on `src` are sent on `dst`. */
export class Direction {
  readonly src: Side;
  readonly dst: Side;
  readonly stats: DirStats = { frames: 0, bytes: 0, drops: 0 };
  /** The TX ring of dst that takes the next frame. */
  txRing = 0;
  /** When the direction blocked on a full TX ring (performance.now()), or -1. */
  blockedSince = -1;

  constructor(src: Side, dst: Side) {
    this.src = src;
    this.dst = dst;
  }
}

/** Free TX slots from head to tail (the slots a sender may fill). */
function txRoom(tx: NetmapRing): number {
  const r = tx.tail - tx.head;
  return r < 0 ? r + tx.numSlots : r;
}

const chain = new ChainReader();

/** Slots of the chain starting at `s` if it ends before `tail`, else 0 (not all delivered yet). */
function chainSlots(rx: NetmapRing, s: number, tail: number): number {
  return chain.walk(rx, s, tail) ? chain.slots : 0;
}

/** Copies RX slot `rs` into TX slot `ts` (length, bytes, MOREFRAG); returns the length. */
export function copySlot(rx: NetmapRing, rs: number, tx: NetmapRing, ts: number): number {
  let len = rx.len(rs);
  if (len > NM_BUF_SIZE) len = NM_BUF_SIZE;
  const from = rx.buf(rs);
  const to = tx.buf(ts);
  if (len <= COPY_WORDS_MAX) {
    const src = rx.f64;
    const dst = tx.f64;
    const si = from >>> 3;
    const di = to >>> 3;
    const words = (len + 7) >>> 3;
    for (let k = 0; k < words; k++) dst[di + k] = src[si + k];
  } else {
    tx.u8.set(rx.u8.subarray(from, from + len), to);
  }
  tx.setLen(ts, len);
  tx.setFlags(ts, rx.flags(rs) & NS_MOREFRAG);
  return len;
}

/**
 * Moves up to `burst` frames of `d`: rxsync the source, copy whole chains into
 * the destination's TX rings, txsync it, release the RX slots. Returns IDLE
 * (the source has nothing more), MORE (the burst ran out first) or BLOCKED (no
 * TX ring has room for the next chain; every TX ring's cur is then set to its
 * tail so that poll 'out' waits for the ring to drain).
 */
export function move(d: Direction, burst: number): number {
  const src = d.src.port;
  const dst = d.dst.port;
  const txRings = dst.txRings;
  const nTx = txRings.length;
  src.rxsync();
  let state = IDLE;
  /** Slots of the chain that did not fit (BLOCKED). */
  let blockedNeed = 0;
  let frames = 0;
  let bytes = 0;
  let sent = false;
  let released = false;
  for (let r = 0; r < src.rxRings.length && state === IDLE; r++) {
    const rx = src.rxRings[r] as NetmapRing;
    const tail = rx.tail;
    let s = rx.head;
    let waitFor = -1;
    while (s !== tail) {
      if (frames >= burst) {
        state = MORE;
        break;
      }
      const need = chainSlots(rx, s, tail);
      if (need === 0) {
        // the rest of this chain is not delivered yet: wake up when tail moves
        waitFor = tail;
        break;
      }
      let tx: NetmapRing | null = null;
      let biggest = 0;
      for (let k = 0; k < nTx; k++) {
        const t = txRings[(d.txRing + k) % nTx] as NetmapRing;
        if (txRoom(t) >= need) {
          tx = t;
          d.txRing = (d.txRing + k) % nTx;
          break;
        }
        if (t.numSlots - 1 > biggest) biggest = t.numSlots - 1;
      }
      if (tx === null) {
        if (need > biggest) {
          // a chain longer than any TX ring can never go: drop it
          for (let k = 0; k < need; k++) s = rx.next(s);
          d.stats.drops++;
          released = true;
          continue;
        }
        state = BLOCKED;
        blockedNeed = need;
        break;
      }
      let t = tx.head;
      for (let k = 0; k < need; k++) {
        bytes += copySlot(rx, s, tx, t);
        s = rx.next(s);
        t = tx.next(t);
      }
      tx.head = tx.cur = t;
      frames++;
      sent = true;
      released = true;
    }
    rx.head = s;
    rx.cur = waitFor >= 0 ? waitFor : s;
  }
  if (sent) {
    dst.txsync();
    // the sync may have made room already (an in-process port always does)
    if (state === BLOCKED) {
      for (const tx of txRings) if (txRoom(tx) >= blockedNeed) state = MORE;
    }
  }
  if (released) src.rxsync();
  d.stats.frames += frames;
  d.stats.bytes += bytes;
  if (state === BLOCKED) {
    for (const tx of txRings) tx.cur = tx.tail;
  } else {
    for (const tx of txRings) if (tx.cur !== tx.head) tx.cur = tx.head;
    d.blockedSince = -1;
  }
  return state;
}

/** Drops every complete frame waiting in the source's RX rings (the destination stayed full). */
export function dropWaiting(d: Direction): void {
  const src = d.src.port;
  for (const rx of src.rxRings) {
    const tail = rx.tail;
    let s = rx.head;
    for (;;) {
      if (s === tail) break;
      const n = chainSlots(rx, s, tail);
      if (n === 0) break;
      for (let k = 0; k < n; k++) s = rx.next(s);
      d.stats.drops++;
    }
    rx.head = rx.cur = s;
  }
  src.rxsync();
  for (const tx of d.dst.port.txRings) tx.cur = tx.head;
  d.blockedSince = -1;
}

/** move(), plus the stall rule: blocked for STALL_MS drops what waits and moves on. */
export function step(d: Direction, burst: number, now: number): number {
  const r = move(d, burst);
  if (r !== BLOCKED) return r;
  if (d.blockedSince < 0) {
    d.blockedSince = now;
    return r;
  }
  if (now - d.blockedSince < STALL_MS) return r;
  dropWaiting(d);
  return move(d, burst);
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Tells the loop to stop: set `stopped`, then call the waker's notify(). */
export interface StopFlag {
  stopped: boolean;
}

/**
 * Runs the bridge until `stop.stopped` is set (and `waker` notified). Throws
 * the first error a port raises (a closed port, the daemon going away).
 */
export async function bridgeLoop(
  ab: Direction,
  ba: Direction,
  burst: number,
  waker: Waker,
  stop: StopFlag,
): Promise<void> {
  while (!stop.stopped) {
    const now = performance.now();
    const sa = step(ab, burst, now);
    const sb = step(ba, burst, now);
    if (sa === MORE || sb === MORE) {
      await yieldNow();
      continue;
    }
    if (sa === IDLE) ab.src.waitIn();
    else ab.dst.waitOut();
    if (sb === IDLE) ba.src.waitIn();
    else ba.dst.waitOut();
    await waker.wait();
    const e = ab.src.error ?? ba.src.error;
    if (e !== null && !stop.stopped) throw e;
  }
}
