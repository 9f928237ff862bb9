/*
 * Busy polling around traffic, so that a frame finds the daemon awake rather
 * than paying the wake-up of an idle Node process, which costs more than the
 * forwarding (BENCHMARKS.md, tap-rtt). Polling here means a chain of
 * setImmediate callbacks: libuv then polls its fds with a zero timeout, and a
 * frame that arrives is handled at once. Two ways, each off at 0:
 *
 *   fixed      `uvale.busy_poll` µs after each kick (a TAP moved frames), as
 *              Linux's net.core.busy_poll for sockets (VALE's polling mode,
 *              vale-ctl -p, is the extreme: always polling). It only helps
 *              when the window covers the gap to the next frame.
 *   adaptive   `uvale.busy_poll_budget` percent of a core: traffic comes in
 *              episodes (kicks less than QUIET_MS apart: a ping's request and
 *              reply); the gap between episode starts is learned (a moving
 *              average and deviation, as NAPI's adaptive interrupt
 *              moderation learns rates), and when it is regular the loop
 *              sleeps until shortly before the next episode is due and polls
 *              from there until shortly after: the CPU is warm when the frame
 *              comes. The window (lead + tail) must fit the budget share of
 *              the gap, or there is no window. Windows are planned only at the
 *              start of an episode, so when traffic stops at most one window
 *              runs in vain: an idle daemon uses no CPU.
 *
 * Timers come from the event loop (setTimeout, ms resolution, early or late by
 * up to about a millisecond), hence TIMER_SLOP_MS in the lead. The counters
 * (windows, hits, spinMs) say what it cost and what it caught.
 */

import { performance } from 'node:perf_hooks';

/** Kicks closer than this (ms) are one episode. */
export const QUIET_MS = 1;
/** Gaps longer than this (ms) are not learned: the traffic stopped (and the lead would be a guess). */
export const MAX_GAP_MS = 250;
/** Gaps learned before the first window. */
export const MIN_SAMPLES = 4;
/** How early or late a setTimeout fires (ms): libuv's clock counts milliseconds. */
export const TIMER_SLOP_MS = 1.2;
/** Polling after the due time (ms), beyond the learned deviation. */
const TAIL_MS = 0.3;

export class BusyPoll {
  /** Planned windows, windows an episode started in, and the time spent polling (ms). */
  windows = 0;
  hits = 0;
  spinMs = 0;
  private until = 0;
  private running = false;
  /** True while a planned window polls (from its timer until the episode or the window's end). */
  private inWindow = false;
  private spinStart = 0;
  private readonly micros: () => number;
  private readonly budget: () => number;
  private lastKick = Number.NEGATIVE_INFINITY;
  private lastStart = Number.NEGATIVE_INFINITY;
  private gap = 0;
  private dev = 0;
  private samples = 0;
  /** The end of the planned window (performance.now() ms). */
  private windowEnd = 0;
  private timer: NodeJS.Timeout | null = null;

  /**
   * `micros()` gives uvale.busy_poll and `budget()` uvale.busy_poll_budget (read at each kick, so a change
   * applies at once).
   */
  constructor(micros: () => number, budget: () => number = () => 0) {
    this.micros = micros;
    this.budget = budget;
  }

  /** True while the loop is kept awake. */
  get spinning(): boolean {
    return this.running;
  }

  /** The learned gap between episodes (ms; 0 until learned) and its mean deviation. */
  get learned(): { gap: number; dev: number; samples: number } {
    return { gap: this.samples > 0 ? this.gap : 0, dev: this.dev, samples: this.samples };
  }

  /** A port moved frames: keep the loop awake for the next `micros()` µs; learn the gap. */
  readonly kick = (): void => {
    const now = performance.now();
    if (now - this.lastKick >= QUIET_MS) this.episode(now);
    this.lastKick = now;
    const us = this.micros();
    if (us <= 0) return;
    const end = now + us / 1000;
    if (end > this.until) this.until = end;
    this.startSpin(now);
  };

  /** Stops what is planned (the daemon is stopping). */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.until = 0;
  }

  private episode(now: number): void {
    const s = now - this.lastStart;
    this.lastStart = now;
    if (this.inWindow) {
      this.hits++;
      this.until = now; // caught: the episode's frames are handled in this turn (fd-port.ts reads ahead)
    }
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (s > MAX_GAP_MS) {
      this.samples = 0;
      return;
    }
    if (this.samples === 0) {
      this.gap = s;
      this.dev = s / 4;
    } else {
      const err = s - this.gap;
      this.gap += err / 4;
      this.dev += (Math.abs(err) - this.dev) / 4;
    }
    this.samples++;
    this.plan(now);
  }

  /** A window around the next due episode, if the gap is learned and the window fits the budget. */
  private plan(now: number): void {
    const pct = this.budget();
    if (pct <= 0 || this.samples < MIN_SAMPLES) return;
    const spread = 2 * this.dev;
    const lead = TIMER_SLOP_MS + spread;
    const tail = TAIL_MS + spread;
    if (lead + tail > (pct / 100) * this.gap) return;
    const due = now + this.gap;
    this.windowEnd = due + tail;
    this.windows++;
    this.timer = setTimeout(this.openWindow, due - lead - now);
    this.timer.unref();
  }

  private readonly openWindow = (): void => {
    this.timer = null;
    const now = performance.now();
    this.inWindow = true;
    if (this.windowEnd > this.until) this.until = this.windowEnd;
    this.startSpin(now);
  };

  private startSpin(now: number): void {
    if (this.running) return;
    this.running = true;
    this.spinStart = now;
    setImmediate(this.spin);
  }

  private readonly spin = (): void => {
    const now = performance.now();
    if (now < this.until) {
      setImmediate(this.spin);
      return;
    }
    this.running = false;
    this.inWindow = false;
    this.spinMs += now - this.spinStart;
  };
}
