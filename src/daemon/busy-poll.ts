/*
 * Busy polling after traffic, as Linux's net.core.busy_poll does for sockets
 * (VALE's polling mode, vale-ctl -p, is the extreme: always polling). For
 * `uvale.busy_poll` microseconds after a TAP port moved frames the daemon's
 * event loop does not sleep: a chain of setImmediate callbacks keeps libuv
 * polling its fds with a zero timeout, so a frame that arrives meanwhile is
 * handled at once instead of after the wake-up of an idle process, which in
 * Node costs more than the forwarding (BENCHMARKS.md, tap-rtt). 0 (the
 * default) turns it off; an idle daemon never spins.
 */

import { performance } from 'node:perf_hooks';

export class BusyPoll {
  private until = 0;
  private running = false;
  private readonly micros: () => number;

  /** `micros()` gives the current setting (read at each kick, so a change applies at once). */
  constructor(micros: () => number) {
    this.micros = micros;
  }

  /** True while the loop is kept awake. */
  get spinning(): boolean {
    return this.running;
  }

  /** A port moved frames: keep the loop awake for the next `micros()` µs. */
  readonly kick = (): void => {
    const us = this.micros();
    if (us <= 0) return;
    this.until = performance.now() + us / 1000;
    if (!this.running) {
      this.running = true;
      setImmediate(this.spin);
    }
  };

  private readonly spin = (): void => {
    if (performance.now() < this.until) setImmediate(this.spin);
    else this.running = false;
  };
}
