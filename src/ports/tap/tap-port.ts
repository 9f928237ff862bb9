/*
 * A Linux TAP interface as a port of a switch: netmap's `vale-ctl -a
 * vale0:tap0`. The adapter owns the tap's fd (non-blocking) and an in-process
 * port of kind 'tap' named after the interface, and moves frames both ways
 * from the event loop; no worker thread, so close() always stops it.
 *
 *   TAP → switch  libuv reports the fd readable (koffi's poll handle, level-
 *                 triggered); the adapter read()s up to `burst` frames
 *                 straight into the port's TX slots, then runs one txsync,
 *                 which forwards the batch in this turn (the sender pays).
 *                 More frames left: the next loop turn comes back here.
 *   switch → TAP  the switch calls the port's onRx during a forwarding pass;
 *                 the adapter schedules one drain (a microtask, so it never
 *                 re-enters the pass), which write()s every frame delivered
 *                 so far and releases the slots with one rxsync.
 *
 * Frames longer than a 2048-byte buffer (MTU up to 9000, or 64 KB) are
 * NS_MOREFRAG chains on the switch side. TX slots of an in-process port have
 * consecutive buffers, so a read lands in the slot at cur and spills into the
 * next ones: no copy; near the end of the ring, where that room is short, it
 * lands in a scratch buffer and is copied. Chains from the switch are gathered
 * into one buffer for their single write(). Nothing is allocated per frame:
 * every view is made at attach time.
 *
 * Faults stay on this port: a write the kernel refuses (EIO while the
 * interface is down, EINVAL for a runt) is counted in writeDrops; an fd error
 * (POLLERR, EBADFD once the interface is deleted or its namespace destroyed)
 * detaches the port and reports why through onGone. The tap vanishes with our
 * fd if the adapter created it (a non-persistent tap); a persistent one (ip
 * tuntap add) stays when detached.
 *
 * Offloads (the default): the tap is opened with IFF_VNET_HDR and
 * TUN_F_CSUM|TSO4|TSO6, so the interface reports checksum offload, TSO and
 * GSO, and its stack hands over TCP segments of up to 64 KB with checksums
 * left to do. Every frame on the fd, both ways, starts with a 12-byte
 * virtio-net header, and the port keeps it in front of the frame in its
 * buffers (VPort.hdrLen = 12): between two such taps a 64 KB segment crosses
 * the switch as one chain and the receiving kernel finishes it; toward a port
 * without a header the switch segments it and computes the checksums
 * (switch/offload.ts). With `offload: false` the kernel finishes every frame
 * before the fd (each at most MTU + 14 bytes) and the port has no header.
 */

import { readFileSync, statSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import type { RingConfig } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import type { ValeHost } from '../../switch/host.js';
import { parsePortName } from '../../switch/name.js';
import type { VPort } from '../../switch/vport.js';
import {
  closeFd,
  describeErrno,
  type FdWatch,
  fdRead,
  fdWrite,
  IFF_TAP,
  isFatalErrno,
  openTap,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  watchReadable,
} from '../../sys/index.js';
import { FrameIo, READ_MAX, READ_SLOTS } from '../frame-io.js';
import { LocalPort } from '../local/local-port.js';

/** Frames read per wake-up before the adapter txsyncs and yields to the event loop. */
export const DEFAULT_BURST = 256;
/** Slots a read may fill: 33 × 2048 B holds the largest frame a tap gives (MTU 65535 + 14). */
const EAGAIN = 11;
const EINTR = 4;

/** Ring sizes of the tap's port (one TX and one RX ring: a tap fd is one queue). */
export interface TapAttachOptions extends Partial<Pick<RingConfig, 'txSlots' | 'rxSlots'>> {
  /** Frames read per wake-up (1..1024, default 256). */
  burst?: number;
  /** Checksum and TCP segmentation offloads through a virtio-net header (default true). */
  offload?: boolean;
  /** Called once when the tap goes away on its own (deleted, fd error); the port is already detached. */
  onGone?: (tap: TapPort, reason: string) => void;
  /** Diagnostics (a write error after successes, the reason for a detach). */
  log?: (line: string) => void;
  /** Called after the adapter moved frames (either way); the daemon's busy polling hangs here. */
  onTraffic?: () => void;
}

/** What the adapter counted, besides the switch port's own counters. */
export interface TapStats {
  name: string;
  ifname: string;
  /** The adapter created the interface (it goes away with the attachment). */
  created: boolean;
  /** Frames and bytes read from the tap (sent into the switch). */
  readFrames: number;
  readBytes: number;
  /** Frames and bytes written to the tap (delivered by the switch). */
  writeFrames: number;
  writeBytes: number;
  /** Frames from the switch the kernel refused (interface down, malformed). */
  writeDrops: number;
  /** Reads that failed with an error other than EAGAIN (the tap stayed attached). */
  readErrors: number;
}

/** What /sys/class/net says an interface name is, in this network namespace. */
export type InterfaceKind = 'absent' | 'tap' | 'tun' | 'other';

export function interfaceKind(ifname: string): InterfaceKind {
  const dir = `/sys/class/net/${ifname}`;
  try {
    statSync(dir);
  } catch {
    return 'absent';
  }
  let flags: number;
  try {
    flags = Number.parseInt(readFileSync(`${dir}/tun_flags`, 'utf8').trim(), 16);
  } catch {
    return 'other';
  }
  return (flags & IFF_TAP) !== 0 ? 'tap' : 'tun';
}

export class TapPort {
  /** The switch port, e.g. "vale0:tap0". */
  readonly name: string;
  /** The interface, e.g. "tap0". */
  readonly ifname: string;
  readonly created: boolean;
  private fd: number;
  private lp: LocalPort | null;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private watch: FdWatch | null = null;
  private readonly burst: number;
  private readonly onGone: ((tap: TapPort, reason: string) => void) | undefined;
  private readonly log: (line: string) => void;
  private readonly onTraffic: () => void;
  /** Frames <-> slots, with every view made at attach time. */
  private readonly io: FrameIo;
  private drainScheduled = false;
  private lastWriteErr = 0;
  private readonly st = { readFrames: 0, readBytes: 0, writeFrames: 0, writeBytes: 0, writeDrops: 0, readErrors: 0 };

  private constructor(lp: LocalPort, vp: VPort, fd: number, ifname: string, created: boolean, opts: TapAttachOptions) {
    this.lp = lp;
    this.vp = vp;
    this.fd = fd;
    this.name = vp.name;
    this.ifname = ifname;
    this.created = created;
    this.burst = opts.burst ?? DEFAULT_BURST;
    this.onGone = opts.onGone;
    this.log = opts.log ?? (() => {});
    this.onTraffic = opts.onTraffic ?? (() => {});
    const tx = lp.txRings[0] as NetmapRing;
    const rx = lp.rxRings[0] as NetmapRing;
    this.tx = tx;
    this.rx = rx;
    this.io = new FrameIo(tx, rx);
  }

  /**
   * Attaches the TAP interface named by the port part of `name` ("vale0:tap0"
   * → interface tap0, port tap0 of switch vale0), creating the switch, the
   * port, and the interface if no interface of that name exists (it starts
   * down).
   *
   * @throws ValeError INVALID_NAME for a bad name or one without a switch;
   *   INVALID_ARG when the interface exists but is not a TAP; BUSY when the
   *   port exists already or another program holds the tap; LIMIT from the
   *   switch's limits; SYSTEM (e.g. EPERM without CAP_NET_ADMIN).
   */
  static attach(host: ValeHost, name: string, opts: TapAttachOptions = {}): TapPort {
    const pn = parsePortName(name);
    if (!name.includes(':')) {
      throw new ValeError(
        ErrorCodes.INVALID_NAME,
        `'${name}' names no switch: attach an interface as SWITCH:IFNAME, e.g. vale0:tap0`,
      );
    }
    const ifname = pn.port;
    if (ifname === '.' || ifname === '..' || /[/:]/.test(ifname)) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `'${ifname}' is not a valid interface name (no '/' or ':')`);
    }
    const burst = opts.burst ?? DEFAULT_BURST;
    if (!Number.isInteger(burst) || burst < 1 || burst > 1024) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `burst must be an integer from 1 to 1024, got ${String(burst)}`);
    }
    const txSlots = opts.txSlots ?? Math.min(1024, host.settings.maxBuffers);
    if (txSlots <= READ_SLOTS) {
      throw new ValeError(
        ErrorCodes.LIMIT,
        `a TAP port needs more than ${READ_SLOTS} TX slots (room for one 64 KB frame), it would get ${txSlots}; ` +
          'raise dev.netmap.max_buffers',
      );
    }
    const existing = host.getSwitch(pn.bridge)?.find(pn.port);
    if (existing !== undefined) {
      throw new ValeError(
        ErrorCodes.BUSY,
        `port ${pn.full} already exists (kind ${existing.kind}); detach it or close it first`,
      );
    }
    const kind = interfaceKind(ifname);
    if (kind === 'other' || kind === 'tun') {
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `interface ${ifname} exists and is ${kind === 'tun' ? 'a TUN (layer 3) device' : 'not a TAP device'}; ` +
          'uvale attaches TAP interfaces only (give a new name to create one)',
      );
    }
    const offload = opts.offload ?? true;
    const dev = openTapChecked(ifname, offload);
    let lp: LocalPort | null = null;
    try {
      const vp = host.acquire(pn.full, {
        kind: 'tap',
        vnetHdrLen: dev.vnetHdrLen,
        txRings: 1,
        rxRings: 1,
        ...(opts.txSlots !== undefined ? { txSlots: opts.txSlots } : {}),
        ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}),
        share: (p) => {
          throw new ValeError(ErrorCodes.BUSY, `port ${p.name} already exists (kind ${p.kind})`);
        },
      });
      lp = new LocalPort(host, vp);
      const tap = new TapPort(lp, vp, dev.fd, dev.name, kind === 'absent', opts);
      vp.onRx = tap.onRx;
      tap.watch = watchReadable(dev.fd, tap.onReadable, tap.onPollError);
      return tap;
    } catch (e) {
      if (lp !== null) {
        lp.vport.onRx = null;
        lp.close();
      }
      closeFd(dev.fd);
      throw e;
    }
  }

  /** False once detached (close() or the tap went away). */
  get attached(): boolean {
    return this.lp !== null;
  }

  /** The switch-side port (counters, index); valid while attached. */
  get vport(): VPort {
    return this.vp;
  }

  stats(): TapStats {
    return { name: this.name, ifname: this.ifname, created: this.created, ...this.st };
  }

  /** Detaches: stops watching the fd, releases the port, closes the fd. Safe to call twice. */
  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.watch?.close();
    this.watch = null;
    this.vp.onRx = null;
    try {
      lp.close();
    } finally {
      this.fd = closeFd(this.fd);
    }
  }

  /** The tap failed under us: detach and tell the owner why. */
  private gone(reason: string): void {
    if (this.lp === null) return;
    const why = `interface ${this.ifname} gone (${reason})`;
    try {
      this.close();
    } catch (e) {
      this.log(`${this.name}: detaching: ${(e as Error).message}`);
    }
    this.log(`${this.name}: detached: ${why}`);
    this.onGone?.(this, why);
  }

  /** The fd reported POLLERR (libuv stopped watching it): a read tells why, usually EBADFD. */
  private readonly onPollError = (status: number): void => {
    const r = this.lp === null ? 0 : fdRead(this.fd, this.io.scratch, READ_MAX);
    this.gone(r < 0 ? `read: ${describeErrno(-r)}` : `poll error ${status}`);
  };

  /** From the event loop (koffi's poll callback): an exception must not escape into it. */
  private readonly onReadable = (): void => {
    try {
      this.readBurst();
    } catch (e) {
      this.gone(`internal error while reading: ${(e as Error).message}`);
    }
  };

  /** TAP → switch: read up to `burst` frames into TX slots, then one txsync. */
  private readBurst(): void {
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
    let fatal = 0;
    while (frames < this.burst) {
      let space = tail - cur;
      if (space < 0) space += n;
      if (space < READ_SLOTS) break;
      const len = fdRead(fd, io.readTarget(cur), READ_MAX);
      if (len <= 0) {
        if (len === -EINTR) continue;
        if (len === 0 || len === -EAGAIN) break;
        if (isFatalErrno(-len)) fatal = -len;
        else this.st.readErrors++;
        break;
      }
      cur = io.place(cur, len);
      frames++;
      bytes += len;
    }
    if (frames !== 0) {
      this.onTraffic();
      this.st.readFrames += frames;
      this.st.readBytes += bytes;
      tx.head = tx.cur = cur;
      try {
        lp.txsync();
      } catch (e) {
        this.log(`${this.name}: txsync: ${(e as Error).message}`);
      }
    }
    if (fatal !== 0) this.gone(`read: ${describeErrno(fatal)}`);
  }

  /** Called by the switch inside a forwarding pass: schedule one drain after it. */
  private readonly onRx = (): void => {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    queueMicrotask(this.drain);
  };

  /** A microtask: an exception here would be uncaught and end the process. */
  private readonly drain = (): void => {
    this.drainScheduled = false;
    try {
      this.writeAll();
    } catch (e) {
      this.gone(`internal error while writing: ${(e as Error).message}`);
    }
  };

  /** switch → TAP: write every delivered frame, then release the slots with one rxsync. */
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
    while (cur !== tail) {
      if (!io.nextRx(cur, tail)) break; // the switch publishes whole chains; never split one
      cur = io.next;
      const len = io.len;
      const r = fdWrite(fd, io.buf, len);
      if (r >= 0) {
        frames++;
        bytes += len;
        continue;
      }
      if (isFatalErrno(-r)) {
        fatal = -r;
        break;
      }
      drops++;
      if (-r !== this.lastWriteErr) {
        this.lastWriteErr = -r;
        this.log(
          `${this.name}: write to ${this.ifname}: ${describeErrno(-r)}${-r === 5 ? ' (interface down?)' : ''}; dropping such frames`,
        );
      }
    }
    if (frames !== 0) {
      this.lastWriteErr = 0;
      this.onTraffic();
    }
    this.st.writeFrames += frames;
    this.st.writeBytes += bytes;
    this.st.writeDrops += drops;
    rx.head = rx.cur = cur;
    lp.rxsync();
    if (fatal !== 0) this.gone(`write: ${describeErrno(fatal)}`);
  }
}

/** openTap (non-blocking), with its errors turned into what a user of ctl -a can act on. */
function openTapChecked(ifname: string, offload: boolean): { fd: number; name: string; vnetHdrLen: number } {
  try {
    return openTap(ifname, {
      nonBlocking: true,
      vnetHdr: offload,
      offloads: offload ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 : 0,
    });
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    const msg = (e as Error).message;
    if (code === 'EBUSY') {
      throw new ValeError(ErrorCodes.BUSY, `interface ${ifname} is in use: another program holds its TAP (${msg})`, {
        cause: e,
      });
    }
    if (code === 'EINVAL') {
      throw new ValeError(ErrorCodes.INVALID_ARG, `interface ${ifname} cannot be attached as a TAP (${msg})`, {
        cause: e,
      });
    }
    if (code === 'EPERM' || code === 'EACCES') {
      throw new ValeError(ErrorCodes.SYSTEM, `${msg}: attaching a TAP needs CAP_NET_ADMIN (run the daemon as root)`, {
        cause: e,
      });
    }
    if (code === 'ENOENT' || code === 'ENODEV') {
      throw new ValeError(ErrorCodes.NOT_SUPPORTED, `${msg}: this system has no /dev/net/tun`, { cause: e });
    }
    throw e;
  }
}
