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
 * A microtask that throws is an uncaught exception that ends the process (the
 * daemon hosting every port), so the drain runs inside a try and hands what
 * it throws to `fail`. Once per drain, not per frame: the try costs nothing
 * on the frame loop, which stays in `run`.
 */

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

  /** The port's onRx (and whoever else wants a drain): one drain, after the current pass. */
  readonly request = (): void => {
    if (this.queued || this.timer !== null) return;
    this.queued = true;
    queueMicrotask(this.fire);
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

  private readonly fire = (): void => {
    this.queued = false;
    this.timer = null;
    try {
      this.run();
    } catch (e) {
      this.fail(e);
    }
  };
}
