/*
 * Runs the ports of remote clients that have work. A KICK (or a new port)
 * makes a port active; each round, from setImmediate so socket I/O interleaves,
 * forwards the active ports whose TX head moved, one pass each, until
 * TURN_BUDGET_MS has gone; the next round starts with the port after the last
 * one served, so a cut round is fair. A port idle for IDLE_ROUNDS
 * rounds raises its sleep flag, re-checks, and leaves the active list: an idle
 * daemon runs nothing and waits in the event loop. Errors in one port's pass
 * are reported for that port only. Receivers' wake-ups put off during a pass
 * (../ports/shm/shm-server.ts) go at the end of that pass.
 */

import { flushDeferredWakes, type ShmPortServer } from '../ports/shm/shm-server.js';

/** Rounds without work before a port sleeps (each round is one event-loop turn). */
export const IDLE_ROUNDS = 32;
/**
 * Forwarding one event-loop turn may do before it lets the loop poll its
 * sockets again (ms). A turn runs whole port passes (one pass forwards what
 * one client queued: at most a ring, times the fan-out), so it lasts about
 * this plus one pass, and the control socket is answered between turns
 * however many ports flood (docs/reliability.md, the storm). Before, a turn
 * ran every active port, and a storm on many ports with large rings held the
 * loop for seconds.
 */
export const TURN_BUDGET_MS = 4;

export class Scheduler {
  private readonly active: ShmPortServer[] = [];
  private scheduled = false;
  /** Where the next round starts in `active`: a round cut short by the budget resumes there. */
  private next = 0;
  private readonly onError: (p: ShmPortServer, e: unknown) => void;

  constructor(onError: (p: ShmPortServer, e: unknown) => void) {
    this.onError = onError;
  }

  /** Makes `p` active (after a KICK or when it opens). */
  wake(p: ShmPortServer): void {
    p.awake();
    p.idle = 0;
    if (!p.active) {
      p.active = true;
      this.active.push(p);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.round);
    }
  }

  /** Forgets `p` (its port is closing). */
  remove(p: ShmPortServer): void {
    const i = this.active.indexOf(p);
    if (i >= 0) this.active.splice(i, 1);
    p.active = false;
  }

  get activeCount(): number {
    return this.active.length;
  }

  private readonly round = (): void => {
    this.scheduled = false;
    const list = this.active;
    const n = list.length;
    const t0 = performance.now();
    const start = this.next < n ? this.next : 0;
    let sleepers = false;
    let k = 0;
    while (k < n) {
      const p = list[(start + k) % n] as ShmPortServer;
      k++;
      if (p.txPending()) {
        p.idle = 0;
        try {
          p.process();
          flushDeferredWakes(); // wake-ups wait for the end of this client's pass, not of the round
        } catch (e) {
          this.onError(p, e);
        }
      } else if (++p.idle >= IDLE_ROUNDS && p.sleep()) {
        p.active = false;
        sleepers = true;
      }
      if (performance.now() - t0 >= TURN_BUDGET_MS) break;
    }
    this.next = n === 0 ? 0 : (start + k) % n;
    if (sleepers) {
      let w = 0;
      for (let r = 0; r < list.length; r++) {
        const p = list[r] as ShmPortServer;
        if (p.active) list[w++] = p;
        else if (r < this.next) this.next--;
      }
      list.length = w;
      if (this.next >= w) this.next = 0;
    }
    if (list.length !== 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.round);
    }
  };
}
