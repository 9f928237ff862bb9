/*
 * Runs the ports of remote clients that have work. A KICK (or a new port)
 * makes a port active; each round, from setImmediate so socket I/O interleaves,
 * forwards every active port whose TX head moved. A port idle for IDLE_ROUNDS
 * rounds raises its sleep flag, re-checks, and leaves the active list: an idle
 * daemon runs nothing and waits in the event loop. Errors in one port's pass
 * are reported for that port only.
 */

import type { ShmPortServer } from '../ports/shm/shm-server.js';

/** Rounds without work before a port sleeps (each round is one event-loop turn). */
export const IDLE_ROUNDS = 32;

export class Scheduler {
  private readonly active: ShmPortServer[] = [];
  private scheduled = false;
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
    for (let i = 0; i < list.length; ) {
      const p = list[i] as ShmPortServer;
      if (p.txPending()) {
        p.idle = 0;
        try {
          p.process();
        } catch (e) {
          this.onError(p, e);
        }
        i++;
      } else if (++p.idle >= IDLE_ROUNDS && p.sleep()) {
        p.active = false;
        list.splice(i, 1);
      } else {
        i++;
      }
    }
    if (list.length !== 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.round);
    }
  };
}
