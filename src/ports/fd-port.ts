/*
 * The mechanics shared by the adapters that move frames between a
 * non-blocking fd carrying one frame per read and write and an in-process
 * switch port (LocalPort, one TX and one RX ring): the TAP adapter
 * (./tap/tap-port.ts, a tap fd) and the VDE adapter (./vde/vde-port.ts, a
 * unix datagram socket). Each is a subclass that supplies the transport; this
 * class runs everything else, the same way for both:
 *
 *   fd → switch  libuv reports the fd readable (watchReadable: koffi's poll
 *                handle, level-triggered); readBurst() reads up to `burst`
 *                frames straight into TX slots through FrameIo (readTarget /
 *                place: chains for frames over 2048 bytes), while at least
 *                `readSlots` slots are free, then runs one txsync, which
 *                forwards the batch in this turn (the sender pays); the
 *                first frame goes on alone, ahead of the read that finds the
 *                fd empty, so a lone frame waits for no extra system call. Frames
 *                left: the next loop turn comes back here.
 *   switch → fd  the port's onRx queues one drain (./rx-drain.ts: right after
 *                the pass when a read burst ran it, else a microtask);
 *                writeAll() writes every delivered frame, one write each
 *                (FrameIo.nextRx), and releases the slots with one rxsync.
 *                Having written, it reads its own fd once (one burst, once
 *                per RxDrain origin): a host's answer is often queued already
 *                when the write returns (its kernel ran inside it), and is
 *                forwarded in the same turn instead of after another wake-up
 *                of the event loop (BENCHMARKS.md, tap-rtt). A write the far side cannot take yet
 *                leaves the rest in the RX ring and retries on a timer (1 ms
 *                doubling to 20 ms): back-pressure, so the switch's own
 *                dropRxFull counts what the ring cannot hold.
 *   faults       an errno the transport calls fatal, a poll error, or an
 *                exception on the data path closes the port, logs why, and
 *                tells the owner (tellGone); other errors are counted and the
 *                port goes on. A write error is logged once per errno, not
 *                once per frame.
 *
 * What a subclass says (the hooks below): how to read and write one frame
 * (the length, or -errno; EINTR and EAGAIN are handled here), what a failed
 * write means (drop the frame, retry it, stall the drain, or fatal), whether a
 * read errno is fatal, which lengths it drops on the way in and how it counts
 * them, how a poll error and a detach are worded, and what else to release on
 * close. Its counters live here (in*, out*) and its stats() names them.
 *
 * Why a base class rather than a helper object the adapters hold: the
 * adapters *are* this port plus a transport, and their public API (close(),
 * attached, vport, name) is this class's; a held helper would need that API
 * forwarded and a second object per port, and the per-frame transport call
 * would be just as polymorphic. The hot-path rules of switch/forward.ts hold:
 * no allocation, closure, try or await per frame (the try around a burst or a
 * drain is once per burst); every view is FrameIo's, made at attach time;
 * fields are loaded into locals once per burst, so on the frame loop only the
 * calls to the transport (readFrame, writeFrame; dropRead and writeFailed on
 * the rare paths) see more than one shape, and at most two (TapPort,
 * VdePort); FrameIo's calls stay monomorphic.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { NetmapRing } from '../ring/netmap-ring.js';
import type { OpenOptions, ValeHost } from '../switch/host.js';
import type { VPort } from '../switch/vport.js';
import { closeFd, describeErrno, EAGAIN, EINTR, type FdWatch, watchReadable } from '../sys/index.js';
import type { AdapterCounters } from './adapter.js';
import { FrameIo } from './frame-io.js';
import { LocalPort } from './local/local-port.js';
import { RxDrain } from './rx-drain.js';

/** Frames read per wake-up before the adapter txsyncs and yields to the event loop. */
export const DEFAULT_BURST = 256;

/** What writeFailed() says a failed write means. */
export type WriteAction = typeof WRITE_DROP | typeof WRITE_RETRY | typeof WRITE_STALL | typeof WRITE_FATAL;
/** The frame is lost: count it (outDrops), log the errno once, go on with the next. */
export const WRITE_DROP = 0;
/** Try the same frame again now (EINTR). */
export const WRITE_RETRY = 1;
/** The far side is full: keep this frame and the rest in the RX ring, drain again on a timer. */
export const WRITE_STALL = 2;
/** The fd is of no further use: the frame is lost and the port closes. */
export const WRITE_FATAL = 3;

/** Retry delays of a drain that stalled (ms), doubling. */
const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 20;

/** How a subclass configures the shared mechanics. */
export interface FdPortConfig {
  /** Frames read per wake-up (checked by checkFdPortSizes). */
  burst: number;
  /** TX slots the largest read may fill: a burst stops when fewer are free. */
  readSlots: number;
  /** Lengths of a read passed into the switch; any other is handed to dropRead(). */
  minFrame: number;
  maxFrame: number;
  /** The words of a detach's log lines: `NAME: <closing>: error` and `NAME: <closed>: reason`. */
  closing: string;
  closed: string;
  log: ((line: string) => void) | undefined;
  /** Called after frames moved (either way). */
  onTraffic?: (() => void) | undefined;
}

/**
 * Checks an adapter's `burst` (1..1024) and returns its TX ring size, which
 * must hold more than one largest frame (`readSlots` slots).
 *
 * @throws ValeError INVALID_ARG for a bad burst; LIMIT for a ring too small ("a TAP port needs more than …").
 */
export function checkFdPortSizes(
  host: ValeHost,
  burst: number,
  txSlots: number | undefined,
  readSlots: number,
  what: string,
  largest: string,
): number {
  if (!Number.isInteger(burst) || burst < 1 || burst > 1024) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `burst must be an integer from 1 to 1024, got ${String(burst)}`);
  }
  const slots = txSlots ?? Math.min(1024, host.settings.maxBuffers);
  if (slots <= readSlots) {
    throw new ValeError(
      ErrorCodes.LIMIT,
      `${what} needs more than ${readSlots} TX slots (room for ${largest}), it would get ${slots}; raise dev.netmap.max_buffers`,
    );
  }
  return slots;
}

export abstract class FdPort {
  /** The switch port, e.g. "vale0:tap0". */
  readonly name: string;
  /** The transport's fd (-1 once closed). */
  protected fd: number;
  /** Frames <-> slots, with every view made at attach time. */
  protected readonly io: FrameIo;
  protected readonly log: (line: string) => void;
  /** Frames and bytes read into the switch; reads that failed (not EAGAIN) and left the port open. */
  protected inFrames = 0;
  protected inBytes = 0;
  protected inErrors = 0;
  /** Frames and bytes written; frames dropped by a failed write; drains that stalled. */
  protected outFrames = 0;
  protected outBytes = 0;
  protected outDrops = 0;
  protected outStalls = 0;
  private lp: LocalPort | null;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private watch: FdWatch | null = null;
  private readonly burst: number;
  private readonly readSlots: number;
  private readonly minFrame: number;
  private readonly maxFrame: number;
  private readonly closing: string;
  private readonly closed: string;
  private readonly onTraffic: () => void;
  private readonly drainer: RxDrain;
  private retryMs = RETRY_MIN_MS;
  private lastWriteErr = 0;
  /** The RxDrain origin of this port's last read-ahead after a drain (at most one per origin). */
  private readAhead = -1;

  protected constructor(lp: LocalPort, fd: number, cfg: FdPortConfig) {
    const vp = lp.vport;
    this.lp = lp;
    this.vp = vp;
    this.fd = fd;
    this.name = vp.name;
    this.burst = cfg.burst;
    this.readSlots = cfg.readSlots;
    this.minFrame = cfg.minFrame;
    this.maxFrame = cfg.maxFrame;
    this.closing = cfg.closing;
    this.closed = cfg.closed;
    this.log = cfg.log ?? (() => {});
    this.onTraffic = cfg.onTraffic ?? (() => {});
    const tx = lp.txRings[0] as NetmapRing;
    const rx = lp.rxRings[0] as NetmapRing;
    this.tx = tx;
    this.rx = rx;
    this.io = new FrameIo(tx, rx);
    this.drainer = new RxDrain(
      () => this.writeAll(),
      (e) => this.gone(`internal error while writing: ${(e as Error).message}`),
    );
  }

  /**
   * Opens port `name` with one TX and one RX ring (`ring`: kind, header and
   * ring sizes; an existing port is BUSY), builds the adapter with `make` and
   * starts it: the switch's onRx and the fd's readable watch. On failure the
   * port is released again and the error thrown; the fd stays the caller's.
   */
  protected static start<P extends FdPort>(
    host: ValeHost,
    name: string,
    ring: OpenOptions,
    make: (lp: LocalPort) => P,
  ): P {
    let lp: LocalPort | null = null;
    try {
      const vp = host.acquire(name, {
        ...ring,
        txRings: 1,
        rxRings: 1,
        share: (p) => {
          throw new ValeError(ErrorCodes.BUSY, `port ${p.name} already exists (kind ${p.kind})`);
        },
      });
      lp = new LocalPort(host, vp);
      const port = make(lp);
      const base: FdPort = port;
      vp.onRx = base.drainer.request;
      base.watch = watchReadable(base.watchedFd(), base.onReadable, base.onPollError);
      return port;
    } catch (e) {
      if (lp !== null) {
        lp.vport.onRx = null;
        lp.close();
      }
      throw e;
    }
  }

  // ---- what a transport says ----------------------------------------------------------------

  /** Reads one frame into `buf` (READ_MAX of the transport): its length, or -errno (-EAGAIN: nothing more now). */
  protected abstract readFrame(fd: number, buf: Uint8Array): number;
  /** Writes buf[0, len) as one frame: >= 0 once it went, or -errno. */
  protected abstract writeFrame(fd: number, buf: Uint8Array, len: number): number;
  /** True when a read's errno (not EINTR or EAGAIN) means the fd is of no further use. */
  protected abstract fatalRead(err: number): boolean;
  /** What a write's errno means (see WriteAction). */
  protected abstract writeFailed(err: number): WriteAction;
  /** How a dropped write is logged (once per errno): "write to tap0: EIO (5)"; "; dropping such frames" follows. */
  protected abstract writeErrorText(err: number): string;
  /** Counts a read whose length is outside [minFrame, maxFrame] (it is not passed on). */
  protected abstract dropRead(len: number): void;
  /** The reason for closing after the fd reported an error (POLLERR; libuv has stopped watching it). */
  protected abstract pollErrorReason(status: number): string;
  /** The reason as logged and told to the owner, from what happened ("read: EBADFD (77)"). */
  protected abstract goneReason(reason: string): string;
  /** Tells the owner the port closed on its own (its onGone); the port is closed already. */
  protected abstract tellGone(why: string): void;
  /** Releases what else the transport holds, after the fd is closed (e.g. a socket's path). */
  protected afterClose(): void {}
  /** The fd whose readability starts a burst (a transport that reads in the background watches its own). */
  protected watchedFd(): number {
    return this.fd;
  }
  /** Before a drain's writes: how many RX slots it is about to write (a transport may write a lone frame differently). */
  protected beginWrites(_slots: number): void {}
  /** After a drain's writes, before its slots are released: finish writes writeFrame() only queued; -> a fatal errno or 0. */
  protected flushWrites(): number {
    return 0;
  }

  // ---- the port ---------------------------------------------------------------------------

  /** False once closed (close(), or the fd failed). */
  get attached(): boolean {
    return this.lp !== null;
  }

  /** The switch-side port (counters, index); valid while attached. */
  /** The adapter counters (src/control/types.ts names); `inDrops` as the transport counts them. */
  protected adapterCounters(inDrops: number): AdapterCounters {
    return {
      inFrames: this.inFrames,
      inBytes: this.inBytes,
      outFrames: this.outFrames,
      outBytes: this.outBytes,
      inDrops,
      outDrops: this.outDrops,
      errors: this.inErrors,
    };
  }

  get vport(): VPort {
    return this.vp;
  }

  /** Stops watching the fd, releases the switch port, closes the fd (frames still in the RX ring are lost). Safe to call twice. */
  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.watch?.close();
    this.watch = null;
    this.drainer.cancel();
    this.vp.onRx = null;
    try {
      lp.close();
    } finally {
      this.fd = closeFd(this.fd);
      this.afterClose();
    }
  }

  /** The fd failed under us: close, and tell the owner why. */
  private gone(reason: string): void {
    if (this.lp === null) return;
    const why = this.goneReason(reason);
    try {
      this.close();
    } catch (e) {
      this.log(`${this.name}: ${this.closing}: ${(e as Error).message}`);
    }
    this.log(`${this.name}: ${this.closed}: ${why}`);
    this.tellGone(why);
  }

  private readonly onPollError = (status: number): void => {
    if (this.lp === null) return;
    this.gone(this.pollErrorReason(status));
  };

  /** From the event loop (koffi's poll callback): an exception must not escape into it. */
  private readonly onReadable = (): void => {
    RxDrain.newOrigin();
    this.readAhead = RxDrain.origin; // this burst reads the fd: no read-ahead inside it
    this.readNow();
  };

  /** A read burst whose exception closes the port rather than escape. */
  private readNow(): void {
    try {
      this.readBurst();
    } catch (e) {
      this.gone(`internal error while reading: ${(e as Error).message}`);
    }
  }

  // ---- fd → switch --------------------------------------------------------------------------

  /**
   * Up to `burst` frames into TX slots, then one txsync. The first frame goes on alone, before the
   * read that finds the fd empty: a lone frame (a ping) is forwarded one system call sooner.
   */
  private readBurst(): void {
    const lp = this.lp;
    if (lp === null) return;
    const tx = this.tx;
    const fd = this.fd;
    const io = this.io;
    const burst = this.burst;
    const readSlots = this.readSlots;
    const minFrame = this.minFrame;
    const maxFrame = this.maxFrame;
    const n = tx.numSlots;
    let tail = tx.tail;
    let cur = tx.cur;
    let reads = 0;
    let frames = 0;
    let bytes = 0;
    let fatal = 0;
    while (reads < burst) {
      let space = tail - cur;
      if (space < 0) space += n;
      if (space < readSlots) break;
      const len = this.readFrame(fd, io.readTarget(cur));
      if (len < 0) {
        if (len === -EINTR) continue;
        if (len !== -EAGAIN) {
          if (this.fatalRead(-len)) fatal = -len;
          else this.inErrors++;
        }
        break;
      }
      reads++;
      if (len < minFrame || len > maxFrame) {
        this.dropRead(len);
        continue;
      }
      cur = io.place(cur, len);
      frames++;
      bytes += len;
      if (reads === 1) {
        this.forward(lp, cur, frames, bytes);
        if (this.lp === null) return; // a drain it ran closed this port
        frames = 0;
        bytes = 0;
        cur = tx.cur;
        tail = tx.tail;
      }
    }
    if (frames !== 0) this.forward(lp, cur, frames, bytes);
    if (fatal !== 0) this.gone(`read: ${describeErrno(fatal)}`);
  }

  /** Publishes the TX slots up to `cur` and runs one txsync; the drains it requests run right after it. */
  private forward(lp: LocalPort, cur: number, frames: number, bytes: number): void {
    const tx = this.tx;
    this.inFrames += frames;
    this.inBytes += bytes;
    tx.head = tx.cur = cur;
    RxDrain.hold();
    try {
      lp.txsync();
    } catch (e) {
      this.log(`${this.name}: txsync: ${(e as Error).message}`);
    } finally {
      RxDrain.release(); // the drains this pass requested, now
    }
    this.onTraffic(); // after the frames went: not on the critical path
  }

  // ---- switch → fd --------------------------------------------------------------------------

  /** Every delivered frame, one write each, then one rxsync; a stalled write waits for a retry. */
  private writeAll(): void {
    const lp = this.lp;
    if (lp === null) return;
    lp.rxsync();
    const rx = this.rx;
    const fd = this.fd;
    const io = this.io;
    const tail = rx.tail;
    let cur = rx.cur;
    let frames = 0;
    let bytes = 0;
    let drops = 0;
    let fatal = 0;
    let stalled = false;
    if (cur !== tail) this.beginWrites(tail >= cur ? tail - cur : tail - cur + rx.numSlots);
    while (cur !== tail) {
      if (!io.nextRx(cur, tail)) break; // the switch publishes whole chains; never split one
      const len = io.len;
      const r = this.writeFrame(fd, io.buf, len);
      if (r >= 0) {
        cur = io.next;
        frames++;
        bytes += len;
        continue;
      }
      const err = -r;
      const what = this.writeFailed(err);
      if (what === WRITE_RETRY) continue;
      if (what === WRITE_STALL) {
        stalled = true;
        break;
      }
      cur = io.next;
      if (what === WRITE_FATAL) {
        fatal = err;
        break;
      }
      drops++;
      if (err !== this.lastWriteErr) {
        this.lastWriteErr = err;
        this.log(`${this.name}: ${this.writeErrorText(err)}; dropping such frames`);
      }
    }
    const late = this.flushWrites();
    if (late !== 0 && fatal === 0) fatal = late;
    if (frames !== 0) {
      this.lastWriteErr = 0;
      this.onTraffic();
    }
    this.outFrames += frames;
    this.outBytes += bytes;
    this.outDrops += drops;
    rx.head = rx.cur = cur;
    lp.rxsync();
    if (stalled) {
      this.outStalls++;
      this.drainer.retryIn(this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    } else {
      this.retryMs = RETRY_MIN_MS;
    }
    if (fatal !== 0) this.gone(`write: ${describeErrno(fatal)}`);
    else if (frames !== 0 && this.readAhead !== RxDrain.origin) {
      this.readAhead = RxDrain.origin;
      this.readNow();
    }
  }
}
