/*
 * One VDE client (vde_plug, QEMU's -netdev vde, anything on libvdeplug) as a
 * port of a switch, e.g. "vale0:vde1". The adapter owns the switch side of the
 * client's data link, an AF_UNIX SOCK_DGRAM socket connected to the client's
 * socket and bound to a path of the VDE directory (the path the server sends
 * back in its reply), and an in-process port of kind 'vde'. Every datagram is
 * one Ethernet frame, with no header, both ways. Like the TAP adapter
 * (src/ports/tap/tap-port.ts) it runs on the event loop, no thread:
 *
 *   client → switch  libuv reports the socket readable; the adapter recv()s
 *                    up to `burst` datagrams straight into TX slots (a frame
 *                    over 2048 bytes spills into the next consecutive buffers
 *                    and becomes an NS_MOREFRAG chain), then one txsync
 *                    forwards the batch. Runts (< 14 bytes) and datagrams over
 *                    MAX_FRAME (MSG_TRUNC gives their real length) are counted
 *                    and dropped.
 *   switch → client  the port's onRx schedules one drain (a microtask); it
 *                    send()s every delivered frame, one datagram each, and
 *                    releases the slots with one rxsync. When the client's
 *                    queue is full (EAGAIN) the rest stays in the RX ring and
 *                    the drain is retried on a short timer (1 ms doubling
 *                    to 20 ms; libuv allows only one poll handle per fd, the
 *                    readable one): back-pressure, so
 *                    the switch's own dropRxFull counts what the ring cannot
 *                    hold, as for any slow netmap client. A client whose socket
 *                    is gone (ECONNREFUSED) has its frames counted as drops.
 *
 * Nothing is allocated per frame: views are made at attach time. The data
 * path never throws; an fd error ends the port through onGone.
 */

import { chmodSync, unlinkSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { NM_BUF_SIZE } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import type { ValeHost } from '../../switch/host.js';
import type { VPort } from '../../switch/vport.js';
import {
  closeFd,
  describeErrno,
  dgramRecv,
  dgramSend,
  type FdWatch,
  openUnixDgram,
  watchReadable,
} from '../../sys/index.js';
import { FrameIo } from '../frame-io.js';
import { LocalPort } from '../local/local-port.js';

/** Datagrams read per wake-up before one txsync. */
export const DEFAULT_BURST = 256;
/** The largest frame accepted from a client (netmap's chain limit); longer datagrams are dropped. */
export const MAX_FRAME = 65535;
/** Slots a frame of MAX_FRAME bytes spans. */
const READ_SLOTS = Math.ceil(MAX_FRAME / NM_BUF_SIZE);
const READ_MAX = READ_SLOTS * NM_BUF_SIZE;
/**
 * Socket buffers asked for (the kernel doubles them and caps them at net.core.[wr]mem_max). A connected unix
 * datagram sender is limited by its own SO_SNDBUF: this is how much a slow client may have queued.
 */
const SOCK_BUF = 1 << 20;
const MIN_FRAME = 14;
const EAGAIN = 11;
const EINTR = 4;
const ENOBUFS = 105;
/** Retry delays of a drain that met a full client queue (ms), doubling. */
const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 20;

export interface VdePortOptions {
  /** The far side's data socket path (the client's, from its request; for a joiner, the switch's). */
  clientPath: string;
  /** Where to bind this side of the link (the reply's path); removed on close unless `fd` is given. */
  bindPath: string;
  /** A datagram socket already bound and connected (a joiner's, ./vde-join.ts): used as is, owned from now on. */
  fd?: number;
  /** Datagrams read per wake-up (1..1024, default 256). */
  burst?: number;
  /** Ring sizes (default: the host's). */
  txSlots?: number;
  rxSlots?: number;
  /** chmod the bound socket to this mode (default 0o600). */
  mode?: number;
  /** Called once when the link fails on its own (fd error); the port is already closed. */
  onGone?: (port: VdePort, reason: string) => void;
  log?: (line: string) => void;
}

/** What the adapter counted, besides the switch port's counters. */
export interface VdePortStats {
  name: string;
  clientPath: string;
  path: string;
  /** Datagrams and bytes received from the client (sent into the switch). */
  recvFrames: number;
  recvBytes: number;
  /** Frames and bytes sent to the client (delivered by the switch). */
  sendFrames: number;
  sendBytes: number;
  /** Datagrams from the client shorter than 14 bytes / longer than MAX_FRAME, dropped. */
  runts: number;
  oversized: number;
  /** Frames to the client dropped because its socket refused them (gone, or another error). */
  sendDrops: number;
  /** Times the client's queue was full (the drain waited). */
  sendStalls: number;
  /** recv errors other than EAGAIN. */
  recvErrors: number;
}

export class VdePort {
  readonly name: string;
  readonly clientPath: string;
  readonly path: string;
  private fd: number;
  private lp: LocalPort | null;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private watch: FdWatch | null = null;
  private readonly burst: number;
  private readonly onGone: ((port: VdePort, reason: string) => void) | undefined;
  private readonly log: (line: string) => void;
  /** Frames <-> slots, with every view made at attach time. */
  private readonly io: FrameIo;
  private drainScheduled = false;
  private unlinkOnClose = true;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  private lastSendErr = 0;
  private readonly st = {
    recvFrames: 0,
    recvBytes: 0,
    sendFrames: 0,
    sendBytes: 0,
    runts: 0,
    oversized: 0,
    sendDrops: 0,
    sendStalls: 0,
    recvErrors: 0,
  };

  private constructor(lp: LocalPort, vp: VPort, fd: number, opts: VdePortOptions) {
    this.lp = lp;
    this.vp = vp;
    this.fd = fd;
    this.name = vp.name;
    this.clientPath = opts.clientPath;
    this.path = opts.bindPath;
    this.burst = opts.burst ?? DEFAULT_BURST;
    this.onGone = opts.onGone;
    this.log = opts.log ?? (() => {});
    const tx = lp.txRings[0] as NetmapRing;
    const rx = lp.rxRings[0] as NetmapRing;
    this.tx = tx;
    this.rx = rx;
    this.io = new FrameIo(tx, rx);
  }

  /**
   * Opens the port `name` (kind 'vde') and the switch side of the client's
   * link: a datagram socket connected to `clientPath` first (the client may
   * unlink its path once it has our reply), then bound to `bindPath`.
   *
   * @throws ValeError BUSY when the port exists; LIMIT from the switch's limits; INVALID_ARG for a bad
   *   option; SYSTEM when the client's socket cannot be reached (ENOENT, ECONNREFUSED, EACCES).
   */
  static open(host: ValeHost, name: string, opts: VdePortOptions): VdePort {
    const burst = opts.burst ?? DEFAULT_BURST;
    if (!Number.isInteger(burst) || burst < 1 || burst > 1024) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `burst must be an integer from 1 to 1024, got ${String(burst)}`);
    }
    const txSlots = opts.txSlots ?? Math.min(1024, host.settings.maxBuffers);
    if (txSlots <= READ_SLOTS) {
      throw new ValeError(
        ErrorCodes.LIMIT,
        `a VDE port needs more than ${READ_SLOTS} TX slots (room for one ${MAX_FRAME}-byte frame), it would get ${txSlots}; raise dev.netmap.max_buffers`,
      );
    }
    const own = opts.fd === undefined;
    let fd: number;
    if (opts.fd === undefined) {
      unlinkQuiet(opts.bindPath); // a stale socket of an earlier switch
      fd = openUnixDgram({ connect: opts.clientPath, bind: opts.bindPath, sndbuf: SOCK_BUF, rcvbuf: SOCK_BUF });
    } else {
      fd = opts.fd;
    }
    let lp: LocalPort | null = null;
    try {
      if (own) {
        try {
          chmodSync(opts.bindPath, opts.mode ?? 0o600);
        } catch (e) {
          throw new ValeError(ErrorCodes.SYSTEM, `chmod ${opts.bindPath}: ${(e as Error).message}`, { cause: e });
        }
      }
      const vp = host.acquire(name, {
        kind: 'vde',
        txRings: 1,
        rxRings: 1,
        txSlots,
        ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}),
        share: (p) => {
          throw new ValeError(ErrorCodes.BUSY, `port ${p.name} already exists (kind ${p.kind})`);
        },
      });
      lp = new LocalPort(host, vp);
      const port = new VdePort(lp, vp, fd, opts);
      port.unlinkOnClose = own;
      vp.onRx = port.onRx;
      port.watch = watchReadable(fd, port.onReadable, port.onPollError);
      return port;
    } catch (e) {
      if (lp !== null) {
        lp.vport.onRx = null;
        lp.close();
      }
      closeFd(fd);
      if (own) unlinkQuiet(opts.bindPath);
      throw e;
    }
  }

  get attached(): boolean {
    return this.lp !== null;
  }

  /** The switch-side port (counters, index); valid while attached. */
  get vport(): VPort {
    return this.vp;
  }

  stats(): VdePortStats {
    return { name: this.name, clientPath: this.clientPath, path: this.path, ...this.st };
  }

  /** Closes the port and the socket (frames still in the RX ring are lost). Safe to call twice. */
  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.watch?.close();
    this.watch = null;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.vp.onRx = null;
    try {
      lp.close();
    } finally {
      this.fd = closeFd(this.fd);
      if (this.unlinkOnClose) unlinkQuiet(this.path);
    }
  }

  private gone(reason: string): void {
    if (this.lp === null) return;
    try {
      this.close();
    } catch (e) {
      this.log(`${this.name}: closing: ${(e as Error).message}`);
    }
    this.log(`${this.name}: closed: ${reason}`);
    this.onGone?.(this, reason);
  }

  private readonly onPollError = (status: number): void => {
    this.gone(`data socket error (poll status ${status})`);
  };

  private readonly onReadable = (): void => {
    try {
      this.recvBurst();
    } catch (e) {
      this.gone(`internal error while reading: ${(e as Error).message}`);
    }
  };

  /** client → switch: up to `burst` datagrams into TX slots, then one txsync. */
  private recvBurst(): void {
    const lp = this.lp;
    if (lp === null) return;
    const tx = this.tx;
    const fd = this.fd;
    const io = this.io;
    const n = tx.numSlots;
    const tail = tx.tail;
    let cur = tx.cur;
    let frames = 0;
    let bytes = 0;
    let reads = 0;
    while (reads < this.burst) {
      let space = tail - cur;
      if (space < 0) space += n;
      if (space < READ_SLOTS) break;
      const len = dgramRecv(fd, io.readTarget(cur), READ_MAX);
      if (len < 0) {
        if (len === -EINTR) continue;
        if (len !== -EAGAIN) this.st.recvErrors++;
        break;
      }
      reads++;
      if (len < MIN_FRAME) {
        this.st.runts++;
        continue;
      }
      if (len > MAX_FRAME) {
        this.st.oversized++;
        continue;
      }
      cur = io.place(cur, len);
      frames++;
      bytes += len;
    }
    if (frames !== 0) {
      this.st.recvFrames += frames;
      this.st.recvBytes += bytes;
      tx.head = tx.cur = cur;
      try {
        lp.txsync();
      } catch (e) {
        this.log(`${this.name}: txsync: ${(e as Error).message}`);
      }
    }
  }

  private readonly onRx = (): void => {
    if (this.drainScheduled || this.retryTimer !== null) return;
    this.drainScheduled = true;
    queueMicrotask(this.drain);
  };

  private readonly drain = (): void => {
    this.drainScheduled = false;
    this.retryTimer = null;
    try {
      this.sendAll();
    } catch (e) {
      this.gone(`internal error while writing: ${(e as Error).message}`);
    }
  };

  /** switch → client: one datagram per delivered frame, then one rxsync; a full client queue waits. */
  private sendAll(): void {
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
    let stalled = false;
    while (cur !== tail) {
      if (!io.nextRx(cur, tail)) break; // the switch publishes whole chains; never split one
      const len = io.len;
      const r = dgramSend(fd, io.buf, len);
      if (r === -EINTR) continue;
      if (r === -EAGAIN || r === -ENOBUFS) {
        stalled = true;
        break;
      }
      cur = io.next;
      if (r >= 0) {
        frames++;
        bytes += len;
        continue;
      }
      drops++;
      if (-r !== this.lastSendErr) {
        this.lastSendErr = -r;
        this.log(`${this.name}: send to ${this.clientPath}: ${describeErrno(-r)}; dropping such frames`);
      }
    }
    if (frames !== 0) this.lastSendErr = 0;
    this.st.sendFrames += frames;
    this.st.sendBytes += bytes;
    this.st.sendDrops += drops;
    rx.head = rx.cur = cur;
    lp.rxsync();
    if (stalled) {
      this.st.sendStalls++;
      this.retryTimer = setTimeout(this.drain, this.retryMs);
      this.retryTimer.unref?.();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    } else {
      this.retryMs = RETRY_MIN_MS;
    }
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
