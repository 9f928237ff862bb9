/*
 * A vhost-user port: `uvale ctl -a SW:PORT=vhost-user:/path/sock`. uvale
 * listens on the unix socket (mode 0600), one front-end (QEMU, DPDK's
 * virtio-user) at a time; the front-end shares guest memory and its two
 * virtqueues (./backend.ts), and frames move by copying between guest
 * buffers and the port's netmap slots.
 *
 *   guest → switch  (virtqueue 1, the guest's TX) on a kick, every available
 *                   chain is copied, without its 12-byte virtio-net header,
 *                   into TX slots (NS_MOREFRAG chains beyond 2048 bytes),
 *                   returned to the used ring, then one txsync and one
 *                   used-ring publish per pass (at most a queue's worth); the
 *                   guest is called if it asked. Passes go on while chains
 *                   keep coming, with the guest's kicks suppressed, up to
 *                   TX_TURN_CHAINS per turn of the event loop (then the next
 *                   turn); a pass that finds the ring empty asks for kicks
 *                   and looks once more before the port sleeps. So a guest
 *                   that sends steadily costs one kick per drain, not per
 *                   burst, and the receivers' wake-ups, put off to the end of
 *                   the callback (../shm/shm-server.ts), come once per drain.
 *   switch → guest  (virtqueue 0) the port's onRx queues a drain (../rx-drain.ts):
 *                   each frame in the RX ring gets a zeroed header with
 *                   num_buffers and is copied into as many of the guest's
 *                   receive chains as it needs (mergeable RX buffers); one
 *                   publish per drain. With no buffer left, frames wait in
 *                   the RX ring (the switch drops and counts when it is full)
 *                   and kicks are asked for, so the guest's next buffers
 *                   restart the drain.
 *
 * Kicks are eventfds watched in the event loop (../../sys/fdio.ts); with
 * EVENT_IDX, kicks are re-armed after each drain and the ring checked once
 * more. A protocol error, a broken ring or a front-end that hangs up ends
 * that connection only: its memory is unmapped, its fds closed, the reason
 * logged and counted, and the port listens again.
 *
 * Guest memory is mapped only when its file cannot shrink under the mapping
 * (a truncated file makes the next access fault with SIGBUS, which would end
 * the daemon and every port): already sealed with F_SEAL_SHRINK, or sealed by
 * us (../../sys/map-fd.ts). Other memory (DPDK's) is mapped only for a
 * front-end the daemon may trust with its life: with `uvale.vhost_unsealed`
 * 1 (the default) one whose socket peer (SO_PEERCRED) is root or the daemon's
 * own user, who could stop the daemon anyway; with 2 any front-end; with 0
 * none. Refusals are counted in `unsealedRefused`, such mappings in
 * `unsealedTrusted`.
 *
 * A ring set up without a kick fd (the no-fd bit of SET_VRING_KICK) is driven
 * by a 1 ms timer instead.
 *
 * In connect mode (`vhost-user:/path,connect`) uvale dials the front-end's
 * server socket instead of listening, and redials (50 ms doubling to 1 s)
 * whenever the dial fails or the connection ends, so a restarted QEMU or
 * testpmd gets its port back.
 *
 * Offloads (./vnet-hdr.ts): a front-end that negotiates CSUM or TSO gets a
 * port that carries the 12-byte virtio-net header; its TX header goes onto
 * the switch (checked), and RX headers are fitted to what it can take; a
 * TSO frame for a guest without GUEST_TSO4/6 is cut into segments here
 * (../../switch/tso-segment.ts), each with a zeroed header.
 *
 * Busy polling (`uvale.busy_poll` µs, as the daemon's for TAPs): after a TX
 * burst the port keeps checking the TX ring at every turn of the event loop
 * until that long has passed without frames, with the guest's kicks
 * suppressed meanwhile (NO_NOTIFY, or an avail_event left behind with
 * EVENT_IDX), so a front-end that sends steadily is served without the
 * daemon sleeping and being woken per burst.
 *
 * Not yet: multiqueue, packed rings, and a one-copy RX path (frames are
 * gathered into a scratch buffer before the scatter into guest buffers).
 */

import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import type { Settings } from '../../core/settings.js';
import { ChainReader, ChainWriter, chainSlots } from '../../ring/chain.js';
import { MAX_FRAME } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import type { ValeHost } from '../../switch/host.js';
import { VNET_HDR_F_NEEDS_CSUM } from '../../switch/offload.js';
import { TsoSegmenter } from '../../switch/tso-segment.js';
import type { VPort } from '../../switch/vport.js';
import {
  closeFd,
  EAGAIN,
  eventfdDrain,
  eventfdSignal,
  type FdRangeMapping,
  type FdWatch,
  mapGuestRegion,
  peerCredFd,
  streamAccept,
  streamConnect,
  streamListen,
  streamRecv,
  streamSend,
  watchReadable,
} from '../../sys/index.js';
import { BROKEN, EMPTY, type SplitQueue } from '../../virtio/index.js';
import { type Adapter, type AdapterInfo, adapterCounters, type SocketAccess } from '../adapter.js';
import { startAdapterPort } from '../adapter-port.js';
import type { LocalPort } from '../local/local-port.js';
import { Redial } from '../redial.js';
import { RxDrain } from '../rx-drain.js';
import { NUM_RINGS, VhostUserBackend } from './backend.js';
import { Feature, MAX_PAYLOAD, MessageReader } from './protocol.js';
import { checkTxHeader, fitRxHeader, gsoSize, offloadsOf, rxSegmentGso, VNET_HDR } from './vnet-hdr.js';

const RXQ = 0;
const TXQ = 1;
const HDR = VNET_HDR;
/** Slots of the longest chain: a frame of MAX_FRAME and its header. */
const MAX_FRAME_SLOTS = chainSlots(MAX_FRAME + HDR);
/** Period of the timer that drives rings without a kick fd. */
const POLL_MS = 1;
/** TSO frames cut for a guest without GUEST_TSO (segmentToGuest): at most this many segments, in this much room. */
const SEG_MAX = 256;
const SEG_ROOM = 256 * 1024;
/** Room for a segment's headers (Ethernet, VLAN tags, IP with options or extension headers, TCP with options). */
const SEG_HDRS = 256;
/**
 * Chains one turn of the event loop takes from the guest's TX ring before it lets the loop run again (the next
 * turn goes on with kicks still suppressed): two passes of a 256-entry queue, and at most half of a 1024-slot
 * receiver's ring forwarded before that receiver's wake-up is due (../shm/shm-server.ts wakes at a quarter).
 */
const TX_TURN_CHAINS = 512;

export interface VhostAttachOptions {
  log?: (line: string) => void;
  /** Called after a burst moved frames (the daemon's busy polling hangs here). */
  onTraffic?: () => void;
  txSlots?: number;
  rxSlots?: number;
  /** Owner, group and mode of the socket (default: the daemon's, 0600). */
  socketAccess?: SocketAccess;
  /** Dial the front-end's server socket at the path (and redial) instead of listening there. */
  connect?: boolean;
}

export class VhostUserPort implements Adapter {
  readonly name: string;
  readonly kind = 'vhost-user';
  readonly path: string;
  readonly dials: boolean;
  private lp: LocalPort | null;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private readonly writer: ChainWriter;
  private readonly chain = new ChainReader();
  private readonly log: (line: string) => void;
  private readonly onTraffic: () => void;
  private readonly settings: Settings;
  private pub: number;
  private listenFd = -1;
  private readonly redialer = new Redial(() => this.dial());
  private listenWatch: FdWatch | null = null;
  private connFd = -1;
  /** The front-end's uid (SO_PEERCRED at connect), -1 when unknown. */
  private peerUid = -1;
  private connWatch: FdWatch | null = null;
  private backend: VhostUserBackend | null = null;
  private reader = new MessageReader();
  private readonly kickWatch: (FdWatch | null)[] = new Array(NUM_RINGS).fill(null);
  private readonly inBuf = new Uint8Array(MAX_PAYLOAD + 16);
  private readonly inFds = new Int32Array(17);
  private readonly scratch = new Uint8Array(HDR + MAX_FRAME);
  /** Cuts TSO frames for a guest without GUEST_TSO4/6, into segBuf (both made on first use). */
  private segmenter: TsoSegmenter | null = null;
  private segBuf: Uint8Array | null = null;
  /** The guest's TX header, gathered from its descriptors and checked. */
  private readonly txHdr = new Uint8Array(HDR);
  /** OFF_* bits the front-end negotiated (./vnet-hdr.ts); the port carries a header when non-zero. */
  private offloads = 0;
  private readonly drainer = new RxDrain(
    () => this.drainRx(),
    (e) => this.log(`${this.name}: internal error: ${(e as Error).message}`),
  );
  private txScheduled = false;
  /** Busy polling the TX ring (uvale.busy_poll) until performance.now() reaches busyUntil. */
  private busy = false;
  private busyUntil = 0;
  /** Drives rings set up without a kick fd (SET_VRING_KICK with the no-fd bit): every POLL_MS. */
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly st = {
    connects: 0,
    disconnects: 0,
    dialFailures: 0,
    inFrames: 0,
    inBytes: 0,
    outFrames: 0,
    outBytes: 0,
    inDrops: 0,
    outDrops: 0,
    /** Frames dropped for their virtio-net header (asking what was not negotiated, or out of bounds). */
    offloadDrops: 0,
    /** TSO frames cut into segments for a guest without GUEST_TSO4/6, and the segments they gave. */
    gsoFrames: 0,
    gsoSegments: 0,
    errors: 0,
    /** Memory regions refused because their file could shrink and the front-end is not trusted (uvale.vhost_unsealed). */
    unsealedRefused: 0,
    /** Such regions mapped all the same, for a trusted front-end. */
    unsealedTrusted: 0,
    kicks: 0,
    calls: 0,
    /** Busy-polling windows opened (uvale.busy_poll). */
    busyPolls: 0,
    /** TX drains that found chains again after asking for kicks (the re-check that strands nothing). */
    drainRechecks: 0,
    /** TX drains continued in the next turn, kicks still suppressed (cut at TX_TURN_CHAINS, or a re-check found chains). */
    drainTurns: 0,
    lastError: '',
  };

  private constructor(lp: LocalPort, path: string, settings: Settings, opts: VhostAttachOptions) {
    this.lp = lp;
    this.settings = settings;
    this.vp = lp.vport;
    this.name = lp.name;
    this.path = path;
    this.log = opts.log ?? (() => {});
    this.onTraffic = opts.onTraffic ?? (() => {});
    this.tx = lp.txRings[0] as NetmapRing;
    this.rx = lp.rxRings[0] as NetmapRing;
    this.writer = new ChainWriter(this.tx);
    this.pub = this.tx.cur;
    this.dials = opts.connect === true;
    if (this.dials) {
      this.dial();
      return;
    }
    const a = opts.socketAccess;
    this.listenFd = streamListen(path, a?.mode ?? 0o600, 16, a);
    this.listenWatch = watchReadable(
      this.listenFd,
      () => this.accept(),
      (s) => this.log(`${this.name}: listening socket error ${s}`),
    );
  }

  /**
   * Attaches SWITCH:PORT as a vhost-user port listening at `path` (which must not exist), or, with
   * `connect`, dialing the front-end's server socket at `path` (now, and again whenever it is lost).
   */
  static attach(host: ValeHost, name: string, path: string, opts: VhostAttachOptions = {}): VhostUserPort {
    const txSlots = opts.txSlots ?? Math.min(1024, host.settings.maxBuffers);
    if (txSlots <= MAX_FRAME_SLOTS) {
      throw new ValeError(ErrorCodes.LIMIT, `a vhost-user port needs more than ${MAX_FRAME_SLOTS} TX slots`);
    }
    return startAdapterPort(
      host,
      name,
      { kind: 'vhost-user', txSlots, ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}) },
      (lp) => new VhostUserPort(lp, path, host.settings, opts),
      (port) => port.drainer.request,
    );
  }

  get vport(): VPort {
    return this.vp;
  }

  get connected(): boolean {
    return this.connFd >= 0;
  }

  info(): AdapterInfo {
    const st = this.st;
    const b = this.backend;
    return {
      name: this.name,
      kind: this.kind,
      spec: `vhost-user:${this.path}${this.dials ? ',connect' : ''}`,
      state: this.connected ? 'up' : this.dials ? 'dialing' : 'listening',
      counters: adapterCounters(st),
      extra: {
        connects: st.connects,
        disconnects: st.disconnects,
        ...(this.dials ? { dialFailures: st.dialFailures } : {}),
        kicks: st.kicks,
        calls: st.calls,
        busyPolls: st.busyPolls,
        drainRechecks: st.drainRechecks,
        drainTurns: st.drainTurns,
        features: b === null ? '0' : `0x${b.features.toString(16)}`,
        vnetHdrLen: this.vp.hdrLen,
        offloadDrops: st.offloadDrops,
        gsoFrames: st.gsoFrames,
        gsoSegments: st.gsoSegments,
        unsealedRefused: st.unsealedRefused,
        unsealedTrusted: st.unsealedTrusted,
        queueSizes: b === null ? '' : b.rings.map((r) => r.num).join(','),
      },
      lastError: st.lastError,
    };
  }

  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.vp.onRx = null;
    this.drainer.cancel();
    this.redialer.cancel();
    this.disconnect('');
    if (!this.dials) {
      this.listenWatch?.close();
      this.listenWatch = null;
      this.listenFd = closeFd(this.listenFd);
      rmSync(this.path, { force: true });
    }
    lp.close();
  }

  // ---- connection and messages ------------------------------------------------------------

  private accept(): void {
    const fd = streamAccept(this.listenFd);
    if (fd < 0) return;
    if (this.connFd >= 0) {
      closeFd(fd); // one front-end at a time
      return;
    }
    this.adopt(fd);
  }

  /** Connect mode: one attempt to reach the front-end's socket; a failure schedules the next. */
  private dial(): void {
    if (this.lp === null || this.connFd >= 0) return;
    let fd: number;
    try {
      fd = streamConnect(this.path);
    } catch (e) {
      this.st.dialFailures++;
      this.st.lastError = `connect to ${this.path}: ${(e as Error).message}`;
      this.redial();
      return;
    }
    this.redialer.connected();
    this.log(`${this.name}: connected to ${this.path}`);
    this.adopt(fd);
  }

  private redial(): void {
    if (this.lp !== null) this.redialer.schedule();
  }

  private adopt(fd: number): void {
    this.connFd = fd;
    try {
      this.peerUid = peerCredFd(fd).uid;
    } catch {
      this.peerUid = -1; // not trusted with unsealable memory
    }
    this.st.connects++;
    const b = new VhostUserBackend((f, size, offset) => this.mapRegion(f, size, offset));
    b.onRingChange = (i) => this.ringChanged(i);
    b.onKickClosing = (i) => this.unwatchKick(i);
    b.onFeatures = () => this.featuresChanged();
    this.backend = b;
    this.reader = new MessageReader();
    this.connWatch = watchReadable(
      fd,
      () => this.readMessages(),
      (s) => this.disconnect(`socket error ${s}`),
    );
  }

  /** Whether a front-end may hand us memory it could truncate (uvale.vhost_unsealed; see the header). */
  private trustsPeer(): boolean {
    const level = this.settings.vhostUnsealed;
    if (level >= 2) return true;
    return level === 1 && this.peerUid >= 0 && (this.peerUid === 0 || this.peerUid === process.getuid?.());
  }

  /** Maps one guest memory region if its file cannot shrink under us (or the front-end is trusted). */
  private mapRegion(fd: number, size: number, offset: number): FdRangeMapping {
    let m: ReturnType<typeof mapGuestRegion>;
    try {
      m = mapGuestRegion(fd, size, offset, this.trustsPeer());
    } catch (e) {
      if (!(e instanceof ValeError) || e.code !== ErrorCodes.PERMISSION) throw e;
      this.st.unsealedRefused++;
      throw new ValeError(
        ErrorCodes.PERMISSION,
        `${e.message}; the front-end runs as uid ${this.peerUid}: uvale.vhost_unsealed=${this.settings.vhostUnsealed} maps such memory ${this.settings.vhostUnsealed === 0 ? 'for no front-end' : "only for root and the daemon's user"} (2 trusts every front-end not to truncate it)`,
      );
    }
    if (m.shrink === 'trusted') this.st.unsealedTrusted++;
    return m;
  }

  private readMessages(): void {
    const b = this.backend;
    if (b === null) return;
    try {
      for (;;) {
        const want = this.reader.want;
        const n = streamRecv(this.connFd, this.inBuf, want, this.inFds);
        if (n === -EAGAIN) return;
        if (n <= 0) {
          this.disconnect(n === 0 ? 'front-end closed the connection' : `recvmsg: errno ${-n}`);
          return;
        }
        this.reader.push(this.inBuf.subarray(0, n), this.inFds.subarray(1, 1 + this.inFds[0]!));
        for (let m = this.reader.next(); m !== null; m = this.reader.next()) {
          const reply = b.handle(m);
          if (reply !== null && streamSend(this.connFd, reply, reply.length) !== reply.length) {
            this.disconnect('reply not sent in one write');
            return;
          }
        }
      }
    } catch (e) {
      this.st.errors++;
      this.disconnect((e as Error).message);
    }
  }

  private disconnect(reason: string): void {
    if (this.connFd < 0) return;
    if (reason !== '') {
      this.st.lastError = reason;
      this.log(`${this.name}: vhost-user connection ended: ${reason}`);
    }
    this.st.disconnects++;
    this.connWatch?.close();
    this.connWatch = null;
    for (const f of this.reader.takeFds()) closeFd(f);
    this.backend?.close(); // unwatches kicks (onKickClosing), closes fds, unmaps guest memory
    this.backend = null;
    this.updatePolling();
    this.connFd = closeFd(this.connFd);
    if (this.dials) this.redial(); // not after close(): redial() checks for that
  }

  /** The port carries the virtio-net header iff an offload was negotiated; frames queued in the old form go. */
  private featuresChanged(): void {
    const b = this.backend;
    if (b === null) return;
    this.offloads = offloadsOf((f) => b.has(f));
    const hl = this.offloads !== 0 ? HDR : 0;
    if (hl !== this.vp.hdrLen) {
      this.dropRx();
      this.vp.hdrLen = hl;
    }
  }

  private unwatchKick(i: number): void {
    this.kickWatch[i]?.close();
    this.kickWatch[i] = null;
  }

  private ringChanged(i: number): void {
    const ring = this.backend?.ring(i);
    if (ring === undefined) return;
    if (ring.queue !== null && ring.kickFd >= 0 && this.kickWatch[i] === null) {
      const fd = ring.kickFd;
      this.kickWatch[i] = watchReadable(
        fd,
        () => this.kicked(i, fd),
        (s) => this.disconnect(`kick fd error ${s}`),
      );
    }
    if (ring.queue !== null && ring.enabled) {
      ring.queue.setKicks(true);
      if (i === TXQ) this.scheduleTx();
      else this.drainer.request();
    }
    this.updatePolling();
  }

  /** Starts or stops the timer for rings that have no kick fd. */
  private updatePolling(): void {
    const b = this.backend;
    const any = b?.rings.some((r) => r.queue !== null && r.polling) === true;
    if (any && this.pollTimer === null) {
      this.pollTimer = setInterval(() => {
        const bb = this.backend;
        if (bb === null) return;
        if (bb.ring(TXQ).polling) this.processTx();
        if (bb.ring(RXQ).polling) this.drainer.request();
      }, POLL_MS);
      this.pollTimer.unref?.();
    } else if (!any && this.pollTimer !== null) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  private kicked(i: number, fd: number): void {
    eventfdDrain(fd);
    this.st.kicks++;
    if (i === TXQ) this.processTx();
    else this.drainer.request();
  }

  private scheduleTx(): void {
    if (this.txScheduled) return;
    this.txScheduled = true;
    setImmediate(() => {
      this.txScheduled = false;
      this.processTx();
    });
  }

  private broken(q: SplitQueue, i: number): void {
    this.st.errors++;
    this.disconnect(`virtqueue ${i}: ${q.error}`);
  }

  private call(i: number): void {
    const fd = this.backend?.ring(i).callFd ?? -1;
    if (fd >= 0) {
      eventfdSignal(fd);
      this.st.calls++;
    }
  }

  // ---- guest → switch ---------------------------------------------------------------------

  private room(): number {
    const n = this.tx.numSlots;
    let s = this.tx.tail - this.pub;
    if (s < 0) s += n;
    return s;
  }

  /**
   * Drains the guest's TX ring (after a kick, a scheduled turn, a poll) with kicks suppressed: passes of at most a
   * queue's worth of chains, the next one in this callback while a pass stops at its limit (up to TX_TURN_CHAINS),
   * else in the next turn of the event loop. When a pass finds the ring empty, kicks are asked for and the ring
   * checked once more: chains made available before the guest saw the change are taken in the next turn (kicks
   * suppressed again), never stranded. A pass ending at an empty ring does not look again at once: small passes
   * cost more per frame than the turn of the event loop that lets the guest fill the ring.
   */
  private processTx(): void {
    const b = this.backend;
    const lp = this.lp;
    if (b === null || lp === null) return;
    const q = b.ring(TXQ).queue;
    if (q === null) return;
    if (!this.busy) q.setKicks(false);
    let left = TX_TURN_CHAINS;
    const frames0 = this.st.inFrames;
    for (;;) {
      const max = Math.min(left, q.num);
      const n = this.txPass(q, b.ring(TXQ).enabled, lp, max);
      if (n < 0) return; // the ring broke: the connection ended
      if (this.backend !== b || b.ring(TXQ).queue !== q) return; // the pass ended or rebuilt the ring (never so far)
      left -= n;
      if (left <= 0 || n < max) break;
      // the pass stopped at its limit, not at an empty ring: the next one goes on in this callback
    }
    let more = left <= 0;
    if (!more && !this.busy) {
      // the ring looked empty: ask for kicks, then look again (a chain added while the guest saw NO_NOTIFY)
      q.setKicks(true);
      if (q.pending() !== 0) {
        this.st.drainRechecks++;
        q.setKicks(false); // (or the ring broke: the next pass says so)
        more = true;
      }
    }
    if (this.st.inFrames !== frames0) {
      this.onTraffic();
      const us = this.settings.busyPoll;
      if (us > 0) {
        this.busyUntil = performance.now() + us / 1000;
        if (!this.busy) {
          this.busy = true;
          this.st.busyPolls++;
          q.setKicks(false);
          setImmediate(this.busyTurn);
        }
      }
    }
    if (this.busy) return;
    if (more) {
      this.st.drainTurns++;
      this.scheduleTx(); // kicks stay suppressed: the next turn goes on
    }
  }

  /**
   * One pass over the guest's TX ring: at most `max` chains copied into TX slots (or dropped and counted), one
   * txsync, one used-ring publish, a call if the guest asked. @returns the chains taken, or -1 when the ring broke
   * (the connection ended).
   */
  private txPass(q: SplitQueue, enabled: boolean, lp: LocalPort, max: number): number {
    const w = this.writer;
    const hl = this.vp.hdrLen;
    let taken = 0;
    while (taken < max) {
      const id = q.nextChain();
      if (id === EMPTY) break;
      if (id === BROKEN) {
        this.broken(q, TXQ);
        return -1;
      }
      taken++;
      const len = q.readBytes - HDR;
      if (!enabled || len <= 0 || len > MAX_FRAME) {
        if (enabled) this.st.inDrops++;
        q.pushUsed(id, 0);
        continue;
      }
      if (hl !== 0 && !this.txHeader(q, len)) {
        this.st.inDrops++;
        this.st.offloadDrops++;
        q.pushUsed(id, 0);
        continue;
      }
      const need = chainSlots(hl + len);
      if (this.room() < need) this.flushTx(lp);
      if (this.room() < need) {
        this.st.inDrops++;
        q.pushUsed(id, 0);
        continue;
      }
      w.begin(this.pub);
      if (hl !== 0) w.append(this.txHdr, 0, HDR);
      let skip = HDR;
      for (let s = 0; s < q.readable; s++) {
        const seg = q.segBytes[s]!;
        const off = q.segOff[s]!;
        const l = q.segLen[s]!;
        if (skip >= l) {
          skip -= l;
          continue;
        }
        w.append(seg, off + skip, off + l);
        skip = 0;
      }
      this.pub = w.end();
      this.st.inFrames++;
      this.st.inBytes += len;
      q.pushUsed(id, 0);
    }
    this.flushTx(lp);
    if (q.publishUsed()) this.call(TXQ);
    return taken;
  }

  /**
   * One turn of busy polling (uvale.busy_poll): while the window after the last burst lasts, the TX ring is
   * checked at every turn of the event loop with the guest's kicks suppressed (NO_NOTIFY, or with EVENT_IDX an
   * avail_event left behind); when it closes, kicks are asked for again and the ring checked once more.
   */
  private readonly busyTurn = (): void => {
    const q = this.backend?.ring(TXQ).queue ?? null;
    if (q === null || this.lp === null) {
      this.busy = false;
      return;
    }
    if (q.pending() !== 0) this.processTx(); // may end the connection: the next turn sees it
    if (performance.now() < this.busyUntil) {
      setImmediate(this.busyTurn);
      return;
    }
    this.busy = false;
    const cur = this.backend?.ring(TXQ).queue ?? null;
    if (cur === null) return;
    cur.setKicks(true);
    if (cur.pending() !== 0) this.scheduleTx();
  };

  /** Gathers the chain's first HDR bytes into txHdr and checks them (./vnet-hdr.ts). */
  private txHeader(q: SplitQueue, frameLen: number): boolean {
    const h = this.txHdr;
    let p = 0;
    for (let s = 0; s < q.readable && p < HDR; s++) {
      const seg = q.segBytes[s]!;
      const off = q.segOff[s]!;
      const k = Math.min(q.segLen[s]!, HDR - p);
      for (let i = 0; i < k; i++) h[p + i] = seg[off + i]!;
      p += k;
    }
    return checkTxHeader(h, this.offloads, frameLen);
  }

  private flushTx(lp: LocalPort): void {
    if (this.pub === this.tx.head) return;
    this.tx.head = this.tx.cur = this.pub;
    lp.txsync();
  }

  // ---- switch → guest ---------------------------------------------------------------------

  private drainRx(): void {
    const lp = this.lp;
    if (lp === null) return;
    lp.rxsync();
    const rx = this.rx;
    const tail = rx.tail;
    let cur = rx.cur;
    if (cur === tail) return;
    const chain = this.chain;
    const ring = this.backend?.ring(RXQ);
    const q = ring?.queue ?? null;
    if (q === null || !ring!.enabled) {
      this.dropRx();
      return;
    }
    const mrg = this.backend!.has(Feature.NET_F_MRG_RXBUF);
    const buf = this.scratch;
    const hl = this.vp.hdrLen;
    const off = this.offloads;
    let starved = false;
    while (chain.walk(rx, cur, tail)) {
      let total: number;
      let gso = 0;
      if (hl === 0) {
        total = HDR + chain.gather(rx, cur, chain.slots, buf, HDR);
        buf.fill(0, 0, HDR);
      } else {
        total = chain.gather(rx, cur, chain.slots, buf, 0);
        if (total >= HDR) gso = rxSegmentGso(buf, off);
        if (gso === 0 && (total < HDR || !fitRxHeader(buf, total, off))) {
          this.st.outDrops++;
          this.st.offloadDrops++;
          cur = chain.next;
          continue;
        }
      }
      const len = total - HDR;
      // a TSO frame the guest cannot take whole is cut here (segmentToGuest counts it)
      const r = gso !== 0 ? this.segmentToGuest(q, buf, total, gso, mrg) : this.toGuest(q, buf, total, mrg);
      if (r === BROKEN) {
        this.broken(q, RXQ);
        return;
      }
      if (r === EMPTY) {
        starved = true;
        break;
      }
      if (gso === 0) {
        if (r === 0) this.st.outDrops++;
        else {
          this.st.outFrames++;
          this.st.outBytes += len;
        }
      }
      cur = chain.next;
    }
    rx.head = rx.cur = cur;
    lp.rxsync();
    if (q.publishUsed()) this.call(RXQ);
    if (starved) {
      q.setKicks(true);
      if (q.pending() > 0) this.drainer.request();
    }
  }

  /**
   * A TSO frame (buf[0, total): header, then frame; GSO type `gso`) for a guest that cannot take it whole: cut
   * into segments with their checksums, each given to the guest after a zeroed header, as a plain frame would
   * be. Counted as one frame (outFrames/outBytes: the frame the switch delivered). @returns EMPTY when the guest
   * had no buffer for the first segment (nothing taken: the frame waits), BROKEN, else 1 (delivered, or dropped
   * and counted: a frame that cannot be cut, or a guest that ran out of buffers part-way).
   */
  private segmentToGuest(q: SplitQueue, buf: Uint8Array, total: number, gso: number, mrg: boolean): number {
    const st = this.st;
    const seg = this.segmenter ?? (this.segmenter = new TsoSegmenter(SEG_MAX));
    const out = this.segBuf ?? (this.segBuf = new Uint8Array(SEG_ROOM + HDR));
    const mss = gsoSize(buf);
    const csumStart = (buf[0]! & VNET_HDR_F_NEEDS_CSUM) !== 0 ? buf[6]! | (buf[7]! << 8) : -1;
    // segment k at k * stride + HDR, after room for its virtio-net header (headers over SEG_HDRS: not cut)
    const stride = HDR + SEG_HDRS + Math.min(mss, total);
    const fits = Math.min(SEG_MAX, Math.floor(SEG_ROOM / stride));
    const n = seg.segment(buf, HDR, total, gso, mss, csumStart, out, HDR, stride, fits);
    if (n < 0) {
      st.outDrops++;
      st.offloadDrops++;
      return 1;
    }
    for (let k = 0; k < n; k++) {
      const at = k * stride;
      out.fill(0, at, at + HDR);
      const r = this.toGuest(q, out.subarray(at, at + HDR + seg.lens[k]!), HDR + seg.lens[k]!, mrg);
      if (r === BROKEN) return BROKEN;
      if (r === EMPTY && k === 0) return EMPTY;
      if (r !== 1) {
        // out of buffers (or an unusable chain) part-way: the segments left are lost, and counted
        st.outDrops++;
        st.offloadDrops++;
        return 1;
      }
    }
    st.gsoFrames++;
    st.gsoSegments += n;
    st.outFrames++;
    st.outBytes += total - HDR;
    return 1;
  }

  /** Drops (and counts) every frame in the RX ring. */
  private dropRx(): void {
    const lp = this.lp;
    if (lp === null) return;
    lp.rxsync();
    const rx = this.rx;
    const tail = rx.tail;
    let frames = 0;
    for (let i = rx.cur; this.chain.walk(rx, i, tail); i = this.chain.next) frames++;
    this.st.outDrops += frames;
    rx.head = rx.cur = tail;
    lp.rxsync();
  }

  /**
   * Copies buf[0, total) (header then frame) into the guest's receive chains. @returns 1 when delivered, 0 when
   * dropped (too big for the buffers, or for one chain without MRG_RXBUF), EMPTY when the guest has no buffers
   * (nothing taken), BROKEN.
   */
  private toGuest(q: SplitQueue, buf: Uint8Array, total: number, mrg: boolean): number {
    let pos = 0;
    let used = 0;
    let hdrSeg: Uint8Array | null = null;
    let hdrOff = 0;
    q.mark();
    while (pos < total) {
      const id = q.nextChain();
      if (id === BROKEN) return BROKEN;
      if (id === EMPTY) {
        // Out of buffers (maybe mid-frame): give back what this frame took; it waits for the next buffers.
        q.rollback();
        return EMPTY;
      }
      if (q.readable !== 0 || (!mrg && q.writeBytes < total) || (pos === 0 && q.segLen[0]! < HDR)) {
        // A chain we cannot use (readable parts, too small without MRG_RXBUF, header split): the frame is dropped.
        q.pushUsed(id, 0);
        return 0;
      }
      let wrote = 0;
      for (let s = 0; s < q.segs && pos < total; s++) {
        const seg = q.segBytes[s]!;
        const off = q.segOff[s]!;
        const k = Math.min(q.segLen[s]!, total - pos);
        if (pos === 0 && k >= HDR) {
          hdrSeg = seg;
          hdrOff = off;
        }
        seg.set(buf.subarray(pos, pos + k), off);
        pos += k;
        wrote += k;
      }
      q.pushUsed(id, wrote);
      used++;
      if (!mrg) break;
    }
    if (pos < total) return 0;
    // num_buffers, little-endian, at offset 10 of the header.
    if (hdrSeg !== null) {
      hdrSeg[hdrOff + 10] = used & 0xff;
      hdrSeg[hdrOff + 11] = used >> 8;
    }
    return 1;
  }
}
