/*
 * A packet processor between two uvale ports: the loop every such program
 * needs, with the per-frame decision left to a callback. It uses only the
 * netmap API (rings, rxsync, txsync, poll), as `uvale bridge` does.
 *
 *   1. rxsync the receiving port: its RX ring holds new frames in [head, tail).
 *   2. For each frame (a chain of slots: NS_MOREFRAG on all but the last),
 *      ask the callback. Pass: copy the slots into the other port's TX ring
 *      (two ports never share memory). Drop: just skip them.
 *   3. Advance the RX head past what was handled (releases the slots), set
 *      the TX head past what was written, txsync: the switch forwards them.
 *   4. Nothing left? await poll() on both ports: no CPU is used while idle.
 *
 * A passing chain goes out whole or waits: if the TX ring has no room for all
 * of it, the frame stays in the RX ring, the TX ring's cur is set to its tail
 * and poll({events: 'out'}) sleeps until the switch has taken the queued
 * slots. Meanwhile that RX ring fills up and the switch drops (and counts,
 * see `uvale ctl --stats`) what does not fit, as for any slow receiver.
 */

import type { NetmapPort, NetmapRing } from '../../src/index.js';
import { layout } from '../../src/index.js';

/** Decides one frame: `buf[off, off+len)` is its first slot, `total` its length; true passes it. */
export type Verdict = (buf: Uint8Array, off: number, len: number, total: number, dir: number) => boolean;

const IDLE_POLL_MS = 1000;
const OUT_POLL_MS = 100;

/**
 * A port and its polls: at most one 'in' and one 'out' poll at a time, each
 * calling `wake` when it ends (ready, timed out, or failed).
 */
class Side {
  readonly port: NetmapPort;
  error: unknown = null;
  private readonly wake: () => void;
  private polling = { in: false, out: false };

  constructor(port: NetmapPort, wake: () => void) {
    this.port = port;
    this.wake = wake;
  }

  /** Starts a poll for `events` unless one is running. */
  wait(events: 'in' | 'out'): void {
    if (this.polling[events]) return;
    this.polling[events] = true;
    const timeout = events === 'in' ? IDLE_POLL_MS : OUT_POLL_MS;
    this.port.poll({ events, timeout }).then(
      () => this.done(events, null),
      (e: unknown) => this.done(events, e),
    );
  }

  private done(events: 'in' | 'out', e: unknown): void {
    this.polling[events] = false;
    if (e !== null) this.error ??= e;
    this.wake();
  }
}

/** pump() results: go on (wait for input), or wait for room on the other port. */
const ROOM = 0;
const BLOCKED = 1;

/** Free slots of a TX ring from head to tail. */
function room(tx: NetmapRing): number {
  const n = tx.tail - tx.head;
  return n < 0 ? n + tx.numSlots : n;
}

/**
 * Handles every complete frame waiting on `from`'s RX rings. Returns BLOCKED
 * if a passing frame is left waiting for room on `to`, else ROOM.
 */
export function pump(from: NetmapPort, to: NetmapPort, dir: number, verdict: Verdict): number {
  from.rxsync();
  const tx = to.txRings[0] as NetmapRing;
  let need = 0; // slots of a passing frame that did not fit
  let sent = false;
  for (const rx of from.rxRings) {
    let s = rx.head;
    const tail = rx.tail;
    let cur = -1;
    while (s !== tail && need === 0) {
      // measure the chain: its slots and its length
      let slots = 1;
      let total = rx.len(s);
      let e = s;
      while ((rx.flags(e) & layout.NS_MOREFRAG) !== 0 && rx.next(e) !== tail) {
        e = rx.next(e);
        slots++;
        total += rx.len(e);
      }
      if ((rx.flags(e) & layout.NS_MOREFRAG) !== 0) {
        cur = tail; // the rest is not delivered yet (the switch never does this): poll 'in' waits for it
        break;
      }
      if (!verdict(rx.u8, rx.buf(s), rx.len(s), total, dir)) {
        for (let k = 0; k < slots; k++) s = rx.next(s); // drop: release the slots
        continue;
      }
      if (room(tx) < slots) {
        need = slots; // leave it in the RX ring
        break;
      }
      let t = tx.head;
      for (let k = 0; k < slots; k++, s = rx.next(s), t = tx.next(t)) {
        const len = rx.len(s);
        const o = rx.buf(s);
        tx.u8.set(rx.u8.subarray(o, o + len), tx.buf(t));
        tx.setLen(t, len);
        tx.setFlags(t, rx.flags(s) & layout.NS_MOREFRAG);
      }
      tx.head = tx.cur = t;
      sent = true;
    }
    rx.head = s;
    rx.cur = cur >= 0 ? cur : s;
  }
  if (sent) to.txsync();
  from.rxsync();
  if (need === 0 || room(tx) >= need) return ROOM; // (the txsync above may have made room)
  tx.cur = tx.tail; // poll 'out' now waits until the switch has taken the queued slots
  return BLOCKED;
}

/**
 * Runs frames through `verdict` both ways between `a` and `b`: DIR_IN (1) for
 * frames arriving on `a`, DIR_OUT (2) for frames arriving on `b`.
 */
export class Forwarder {
  private readonly a: Side;
  private readonly b: Side;
  private readonly verdict: Verdict;
  private stopped = false;
  /** The sleeping loop's resolve, or null; `woken` records a wake-up while it was busy. */
  private sleeper: (() => void) | null = null;
  private woken = false;

  constructor(a: NetmapPort, b: NetmapPort, verdict: Verdict) {
    this.a = new Side(a, this.wake);
    this.b = new Side(b, this.wake);
    this.verdict = verdict;
  }

  /** Forwards until stop(); rejects with the first error of a port (e.g. the daemon went away). */
  async run(): Promise<void> {
    const { a, b } = this;
    while (!this.stopped) {
      const ab = pump(a.port, b.port, 1, this.verdict);
      const ba = pump(b.port, a.port, 2, this.verdict);
      // wait for input where the RX rings are drained, for room where a frame waits
      if (ab === BLOCKED) b.wait('out');
      else a.wait('in');
      if (ba === BLOCKED) a.wait('out');
      else b.wait('in');
      await this.sleep();
      const e = a.error ?? b.error;
      if (e !== null && !this.stopped) throw e;
    }
  }

  /** Ends run() (safe from a signal handler). */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private readonly wake = (): void => {
    const s = this.sleeper;
    this.sleeper = null;
    if (s !== null) s();
    else this.woken = true;
  };

  private sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.sleeper = resolve;
    });
  }
}
