/*
 * The backoff of ports that dial their peer (QEMU stream `,connect`,
 * vhost-user `,connect`): a redial waits 50 ms, doubling after each failure
 * up to 1 s, and a connection that is made starts the next wait at 50 ms
 * again. One timer at a time; cancel() on detach.
 */

export const REDIAL_MIN_MS = 50;
export const REDIAL_MAX_MS = 1000;

export class Redial {
  private timer: NodeJS.Timeout | null = null;
  private ms = REDIAL_MIN_MS;
  private readonly dial: () => void;

  constructor(dial: () => void) {
    this.dial = dial;
  }

  /** Calls dial() after the current wait, unless one is already pending; the next wait doubles. */
  schedule(): void {
    if (this.timer !== null) return;
    const ms = this.ms;
    this.ms = Math.min(REDIAL_MAX_MS, ms * 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dial();
    }, ms);
    this.timer.unref?.();
  }

  /** A connection was made: the next wait is the shortest again. */
  connected(): void {
    this.ms = REDIAL_MIN_MS;
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
