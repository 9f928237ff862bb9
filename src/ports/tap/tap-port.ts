/*
 * A Linux TAP interface as a port of a switch: netmap's `vale-ctl -a
 * vale0:tap0`. The adapter owns the tap's fd (non-blocking) and an in-process
 * port of kind 'tap' named after the interface, and moves frames both ways
 * from the event loop; no worker thread, so close() always stops it. It is
 * an FdPort (../fd-port.ts, shared with the VDE adapter), which does the
 * moving: when the fd is readable, read() up to `burst` frames straight into
 * TX slots and run one txsync (the sender pays); when the switch delivers,
 * one drain (a microtask after the forwarding pass) write()s every frame and
 * releases the slots with one rxsync. This file is the tap's part: opening
 * and checking the interface, what its errnos mean, and its stats.
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
import {
  closeFd,
  describeErrno,
  EAGAIN,
  fdRead,
  fdWrite,
  IFF_TAP,
  isFatalErrno,
  openTap,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
} from '../../sys/index.js';
import type { Adapter, AdapterInfo } from '../adapter.js';
import { checkFdPortSizes, DEFAULT_BURST, FdPort, WRITE_DROP, WRITE_FATAL, type WriteAction } from '../fd-port.js';
import { READ_MAX, READ_SLOTS } from '../frame-io.js';
import type { LocalPort } from '../local/local-port.js';
import { TapUring } from './tap-uring.js';

/** Frames read per wake-up before the adapter txsyncs and yields to the event loop. */
export { DEFAULT_BURST };

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
  /** How frames move (default: the host's uvale.tap_io): batched through io_uring, or a syscall per frame. */
  io?: 'uring' | 'syscall';
  /** SQ entries of the io_uring read ring (tests: an invalid size makes io_uring_setup refuse, to see the fallback). */
  uringEntries?: number;
}

/** Logged once per process: io_uring was asked for and the kernel refused it. */
let uringRefusalLogged = false;

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

export class TapPort extends FdPort implements Adapter {
  /** The interface, e.g. "tap0". */
  readonly ifname: string;
  readonly created: boolean;
  private readonly onGone: ((tap: TapPort, reason: string) => void) | undefined;
  /** The io_uring path (tap-uring.ts), or null: a read()/write() per frame. */
  private readonly uring: TapUring | null;
  /** Why io_uring was asked for and not used ('' when it is used or was not asked for). */
  private readonly uringRefused: string;
  private lastUringErr = 0;

  private constructor(
    lp: LocalPort,
    fd: number,
    ifname: string,
    created: boolean,
    opts: TapAttachOptions,
    io: 'uring' | 'syscall',
  ) {
    super(lp, fd, {
      burst: opts.burst ?? DEFAULT_BURST,
      readSlots: READ_SLOTS,
      minFrame: 1,
      maxFrame: READ_MAX, // a read returns no more than it asked for: nothing is dropped on the way in
      closing: 'detaching',
      closed: 'detached',
      log: opts.log,
      onTraffic: opts.onTraffic,
    });
    this.ifname = ifname;
    this.created = created;
    this.onGone = opts.onGone;
    let uring: TapUring | null = null;
    let refused = '';
    if (io === 'uring') {
      try {
        uring = new TapUring(fd, (lp.rxRings[0] as NetmapRing).u8.buffer, { sqEntries: opts.uringEntries ?? 4 });
      } catch (e) {
        refused = `io_uring unavailable (${(e as Error).message}); using read/write per frame`;
        if (!uringRefusalLogged) {
          uringRefusalLogged = true;
          this.log(`${this.name}: ${refused}`);
        }
      }
    }
    this.uring = uring;
    this.uringRefused = refused;
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
    checkFdPortSizes(host, opts.burst ?? DEFAULT_BURST, opts.txSlots, READ_SLOTS, 'a TAP port', 'one 64 KB frame');
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
    try {
      return FdPort.start(
        host,
        pn.full,
        {
          kind: 'tap',
          vnetHdrLen: dev.vnetHdrLen,
          ...(opts.txSlots !== undefined ? { txSlots: opts.txSlots } : {}),
          ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}),
        },
        (lp) =>
          new TapPort(
            lp,
            dev.fd,
            dev.name,
            kind === 'absent',
            opts,
            opts.io ?? (host.settings.tapIo === 1 ? 'uring' : 'syscall'),
          ),
      );
    } catch (e) {
      closeFd(dev.fd);
      throw e;
    }
  }

  readonly kind = 'tap';

  info(): AdapterInfo {
    return {
      name: this.name,
      kind: 'tap',
      spec: this.ifname,
      state: this.attached ? 'up' : 'down',
      counters: this.adapterCounters(0),
      extra: {
        ifname: this.ifname,
        created: this.created,
        vnetHdrLen: this.vport.hdrLen,
        io: this.uring !== null ? 'uring' : 'syscall',
        ...(this.uring !== null
          ? { badCqes: this.uring.badCqes, directReads: this.uring.directReads, directWrites: this.uring.directWrites }
          : {}),
      },
      lastError: this.uringRefused,
    };
  }

  // ---- the transport (see ../fd-port.ts) ----------------------------------------------------

  /** A frame, or -errno; EOF (0, which a tap does not give) ends the burst as EAGAIN does. */
  protected readFrame(fd: number, buf: Uint8Array): number {
    const u = this.uring;
    const len = u !== null ? u.read(buf) : fdRead(fd, buf, READ_MAX);
    return len === 0 ? -EAGAIN : len;
  }

  protected writeFrame(fd: number, buf: Uint8Array, len: number): number {
    const u = this.uring;
    return u !== null ? u.queueWrite(buf, len, this.alone) : fdWrite(fd, buf, len);
  }

  /** The drain being written has one slot: io_uring writes it with write(2). */
  private alone = false;

  protected override beginWrites(slots: number): void {
    this.alone = slots === 1;
  }

  /** io_uring: the kernel watches the tap; its eventfd says when frames were read. */
  protected override watchedFd(): number {
    return this.uring !== null ? this.uring.watchFd : this.fd;
  }

  /** io_uring: one io_uring_enter for the drain's writes; a failed one is a dropped frame, as with write(2). */
  protected override flushWrites(): number {
    const u = this.uring;
    if (u === null) return 0;
    u.flush();
    const fails = u.writeFails;
    if (fails === 0) return 0;
    const err = u.writeErr;
    this.outFrames -= fails;
    this.outBytes -= u.writeFailBytes;
    u.writeFails = u.writeFailBytes = u.writeErr = 0;
    if (isFatalErrno(err)) return err;
    this.outDrops += fails;
    if (err !== this.lastUringErr) {
      this.lastUringErr = err;
      this.log(`${this.name}: ${this.writeErrorText(err)}; dropping such frames`);
    }
    return 0;
  }

  protected override afterClose(): void {
    this.uring?.close();
  }

  /** EBADFD once the interface is deleted or its namespace destroyed, and the like. */
  protected fatalRead(err: number): boolean {
    return isFatalErrno(err);
  }

  /** A write the kernel refuses (EIO while the interface is down, EINVAL for a runt) loses that frame only. */
  protected writeFailed(err: number): WriteAction {
    return isFatalErrno(err) ? WRITE_FATAL : WRITE_DROP;
  }

  protected writeErrorText(err: number): string {
    return `write to ${this.ifname}: ${describeErrno(err)}${err === 5 ? ' (interface down?)' : ''}`;
  }

  /** Never called: every length a read gives is passed on. */
  protected dropRead(): void {}

  /** A read tells why, usually EBADFD. */
  protected pollErrorReason(status: number): string {
    const r = fdRead(this.fd, this.io.scratch, READ_MAX);
    return r < 0 ? `read: ${describeErrno(-r)}` : `poll error ${status}`;
  }

  protected goneReason(reason: string): string {
    return `interface ${this.ifname} gone (${reason})`;
  }

  protected tellGone(why: string): void {
    this.onGone?.(this, why);
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
      // a kernel without virtio-net headers or these offloads refuses TUNSETVNETHDRSZ / TUNSETOFFLOAD
      const hint = offload && /TUNSET(VNETHDRSZ|OFFLOAD)/.test(msg) ? '; attach it with --no-offload' : '';
      throw new ValeError(ErrorCodes.INVALID_ARG, `interface ${ifname} cannot be attached as a TAP (${msg})${hint}`, {
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
