/*
 * switch → far side, the scheduling every adapter of an in-process port
 * needs (TAP and VDE through ./fd-port.ts, QEMU): the switch calls the port's
 * onRx inside a forwarding pass, once per pass that delivered to it; the
 * adapter must not drain from there (its rxsync would re-enter the switch in
 * the middle of the pass), so `request` queues one drain in a microtask,
 * which runs right after the pass, before the event loop takes anything else.
 * Requests while one is queued are the same drain. A drain that could not
 * finish (the far side's queue was full) comes back through `retryIn(ms)`;
 * requests wait for that timer rather than spin on a full queue.
 *
 * A caller that runs the pass itself and knows when it ends (an fd port's
 * read burst, around its txsync) brackets it with RxDrain.hold() and
 * RxDrain.release(): requests inside are collected and release() runs them
 * right there, in order, without the microtask hop (BENCHMARKS.md, tap-rtt:
 * 20 µs after an idle period). A drain run by release() may run another pass
 * (an fd port reads the fd it just wrote to: ./fd-port.ts); the drains that
 * pass requests join the same list, so there is no recursion.
 *
 * `origin` counts the events from the event loop that start forwarding
 * (RxDrain.newOrigin() from an fd port's readable callback; a drain run from
 * its microtask or retry timer): an fd port reads ahead at most once per
 * origin, which bounds what one event can do.
 *
 * A microtask that throws is an uncaught exception that ends the process (the
 * daemon hosting every port), so the drain runs inside a try and hands what
 * it throws to `fail`. Once per drain, not per frame: the try costs nothing
 * on the frame loop, which stays in `run`.
 */

/** Passes open between hold() and release() (nested: a drain's own pass). */
let holds = 0;
/** True while release() runs the collected drains. */
let flushing = false;
/** Drains requested inside a hold, in request order; grows once, reused. */
const held: RxDrain[] = [];
let origin = 0;

export class RxDrain {
  private queued = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly run: () => void;
  private readonly fail: (e: unknown) => void;

  /** `run` moves what the RX ring holds to the far side; `fail` gets what it throws. */
  constructor(run: () => void, fail: (e: unknown) => void) {
    this.run = run;
    this.fail = fail;
  }

  /** The current origin (see the top): changes with each event from the loop that starts forwarding. */
  static get origin(): number {
    return origin;
  }

  /** An event from the event loop starts forwarding (an fd is readable). */
  static newOrigin(): void {
    origin++;
  }

  /** A pass starts whose end the caller sees: drains it requests wait for release(). */
  static hold(): void {
    holds++;
  }

  /** The pass ended: run the drains it requested, now (the outermost release, once no drain is running). */
  static release(): void {
    if (--holds !== 0 || flushing) return;
    flushing = true;
    try {
      for (let i = 0; i < held.length; i++) (held[i] as RxDrain).runHeld();
    } finally {
      held.length = 0;
      flushing = false;
    }
  }

  /** The port's onRx (and whoever else wants a drain): one drain, after the current pass. */
  readonly request = (): void => {
    if (this.queued || this.timer !== null) return;
    this.queued = true;
    if (holds !== 0 || flushing) held.push(this);
    else queueMicrotask(this.fire);
  };

  /** Drains again in `ms` (the far side was full); requests until then wait for it. The timer does not keep the process alive. */
  retryIn(ms: number): void {
    this.timer = setTimeout(this.fire, ms);
    this.timer.unref?.();
  }

  /** Drops a pending retry (the port is closing). */
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** From release(): the same pass's event, no new origin. */
  private runHeld(): void {
    this.queued = false;
    try {
      this.run();
    } catch (e) {
      this.fail(e);
    }
  }

  /** From the microtask or the retry timer: a new event. */
  private readonly fire = (): void => {
    this.queued = false;
    this.timer = null;
    origin++;
    try {
      this.run();
    } catch (e) {
      this.fail(e);
    }
  };
}
