/*
 * One VDE client (vde_plug, QEMU's -netdev vde, anything on libvdeplug) as a
 * port of a switch, e.g. "vale0:vde1". The adapter owns the switch side of the
 * client's data link, an AF_UNIX SOCK_DGRAM socket connected to the client's
 * socket and bound to a path of the VDE directory (the path the server sends
 * back in its reply), and an in-process port of kind 'vde'. Every datagram is
 * one Ethernet frame, with no header, both ways. Like the TAP adapter
 * (src/ports/tap/tap-port.ts) it is an FdPort (../fd-port.ts), which runs
 * both directions on the event loop, no thread; this file is the socket's part:
 *
 *   client → switch  a burst of recv()s straight into TX slots (a frame over
 *                    2048 bytes spills into the next consecutive buffers and
 *                    becomes an NS_MOREFRAG chain), then one txsync. Runts
 *                    (< 14 bytes) and datagrams over MAX_FRAME (MSG_TRUNC
 *                    gives their real length) are counted and dropped.
 *   switch → client  one send() per delivered frame, one datagram each. When
 *                    the client's queue is full (EAGAIN, ENOBUFS) the drain
 *                    stalls: the rest stays in the RX ring and the drain is
 *                    retried on a short timer (libuv allows only one poll
 *                    handle per fd, the readable one), so the switch's own
 *                    dropRxFull counts what the ring cannot hold, as for any
 *                    slow netmap client. A client whose socket is gone
 *                    (ECONNREFUSED) has its frames counted as drops.
 *
 * Nothing is allocated per frame: views are made at attach time. The data
 * path never throws; an fd error ends the port through onGone.
 */

import { chmodSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { unlinkQuiet } from '../../core/fs.js';
import { chainSlots } from '../../ring/chain.js';
import { MAX_FRAME, MIN_FRAME, NM_BUF_SIZE } from '../../ring/layout.js';
import type { ValeHost } from '../../switch/host.js';
import {
  closeFd,
  describeErrno,
  dgramRecv,
  dgramSend,
  EAGAIN,
  EINTR,
  ENOBUFS,
  openUnixDgram,
} from '../../sys/index.js';
import type { Adapter, AdapterInfo } from '../adapter.js';
import {
  checkFdPortSizes,
  DEFAULT_BURST,
  FdPort,
  WRITE_DROP,
  WRITE_RETRY,
  WRITE_STALL,
  type WriteAction,
} from '../fd-port.js';
import type { LocalPort } from '../local/local-port.js';

/** Datagrams read per wake-up before one txsync. */
export { DEFAULT_BURST };

/** Slots a frame of MAX_FRAME bytes (netmap's chain limit; longer datagrams are dropped) spans. */
const READ_SLOTS = chainSlots(MAX_FRAME);
const READ_MAX = READ_SLOTS * NM_BUF_SIZE;
/**
 * Socket buffers asked for (the kernel doubles them and caps them at net.core.[wr]mem_max). A connected unix
 * datagram sender is limited by its own SO_SNDBUF: this is how much a slow client may have queued.
 */
const SOCK_BUF = 1 << 20;

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

export class VdePort extends FdPort implements Adapter {
  readonly clientPath: string;
  readonly path: string;
  private readonly onGone: ((port: VdePort, reason: string) => void) | undefined;
  private readonly unlinkOnClose: boolean;
  private runts = 0;
  private oversized = 0;

  private constructor(lp: LocalPort, fd: number, opts: VdePortOptions, unlinkOnClose: boolean) {
    super(lp, fd, {
      burst: opts.burst ?? DEFAULT_BURST,
      readSlots: READ_SLOTS,
      minFrame: MIN_FRAME,
      maxFrame: MAX_FRAME,
      closing: 'closing',
      closed: 'closed',
      log: opts.log,
    });
    this.clientPath = opts.clientPath;
    this.path = opts.bindPath;
    this.onGone = opts.onGone;
    this.unlinkOnClose = unlinkOnClose;
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
    const txSlots = checkFdPortSizes(
      host,
      opts.burst ?? DEFAULT_BURST,
      opts.txSlots,
      READ_SLOTS,
      'a VDE port',
      `one ${MAX_FRAME}-byte frame`,
    );
    const own = opts.fd === undefined;
    let fd: number;
    if (opts.fd === undefined) {
      unlinkQuiet(opts.bindPath); // a stale socket of an earlier switch
      fd = openUnixDgram({ connect: opts.clientPath, bind: opts.bindPath, sndbuf: SOCK_BUF, rcvbuf: SOCK_BUF });
    } else {
      fd = opts.fd;
    }
    try {
      if (own) {
        try {
          chmodSync(opts.bindPath, opts.mode ?? 0o600);
        } catch (e) {
          throw new ValeError(ErrorCodes.SYSTEM, `chmod ${opts.bindPath}: ${(e as Error).message}`, { cause: e });
        }
      }
      return FdPort.start(
        host,
        name,
        { kind: 'vde', txSlots, ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}) },
        (lp) => new VdePort(lp, fd, opts, own),
      );
    } catch (e) {
      closeFd(fd);
      if (own) unlinkQuiet(opts.bindPath);
      throw e;
    }
  }

  readonly kind = 'vde';
  /** What the client said of itself when it joined (vde_plug's description), if known. */
  description = '';

  info(): AdapterInfo {
    return {
      name: this.name,
      kind: 'vde',
      spec: this.clientPath,
      state: this.attached ? 'up' : 'down',
      counters: this.adapterCounters(this.runts + this.oversized),
      extra: {
        path: this.path,
        description: this.description,
        runts: this.runts,
        oversized: this.oversized,
        sendStalls: this.outStalls,
      },
      lastError: '',
    };
  }

  // ---- the transport (see ../fd-port.ts) ----------------------------------------------------

  /** A datagram's real length (MSG_TRUNC: over READ_MAX for one too long to keep), or -errno. */
  protected readFrame(fd: number, buf: Uint8Array): number {
    return dgramRecv(fd, buf, READ_MAX);
  }

  protected writeFrame(fd: number, buf: Uint8Array, len: number): number {
    return dgramSend(fd, buf, len);
  }

  /** No recv errno ends the link (its control stream does); each is counted in recvErrors. */
  protected fatalRead(): boolean {
    return false;
  }

  /** A full client queue stalls the drain; any other error loses that frame (the client's socket is gone...). */
  protected writeFailed(err: number): WriteAction {
    if (err === EINTR) return WRITE_RETRY;
    if (err === EAGAIN || err === ENOBUFS) return WRITE_STALL;
    return WRITE_DROP;
  }

  protected writeErrorText(err: number): string {
    return `send to ${this.clientPath}: ${describeErrno(err)}`;
  }

  protected dropRead(len: number): void {
    if (len < MIN_FRAME) this.runts++;
    else this.oversized++;
  }

  protected pollErrorReason(status: number): string {
    return `data socket error (poll status ${status})`;
  }

  protected goneReason(reason: string): string {
    return reason;
  }

  protected tellGone(why: string): void {
    this.onGone?.(this, why);
  }

  /** The bound socket's path goes with it, unless the socket was handed over (a joiner's). */
  protected override afterClose(): void {
    if (this.unlinkOnClose) unlinkQuiet(this.path);
  }
}
