/*
 * A port opened through the daemon, from any process: the same netmap API as
 * an in-process port, over the port's region in a sealed memfd that this
 * process creates and the daemon maps too (see shm-server.ts for the data path
 * and the sleep/kick protocol).
 *
 * Differences an application can see, as with a netmap port in another
 * context: txsync() hands the TX slots to the daemon, which forwards them a
 * moment later, so tail catches up on a later sync (poll({events: 'out'})
 * waits for room); frames sent by other ports appear at the next rxsync/poll.
 * Each sync checks head and cur here, against this side's own record of the
 * last head and tail (netmap's rhead/rtail), and an illegal move
 * re-initialises the ring and throws VALE_ERR_RING_REINIT at once. The daemon
 * checks again on its side and never trusts this memory; a ring it had to
 * re-initialise is reported by the next sync here.
 *
 * Two ways to wait: poll() sleeps in the event loop and the daemon wakes it
 * with a WAKE message on the control socket; pollSync() blocks the calling
 * thread on the futex word IF_WAKE, which the daemon bumps and wakes with one
 * FUTEX_WAKE, so a busy sender or receiver resumes without a socket message
 * or a turn of its event loop (pkt-gen waits this way). When the daemon
 * hands TX slots back in chunks while it forwards (uvale.shm_tx_chunk, told
 * in the open reply), pollSync() first watches the published tails for
 * SPIN_MS, as the next chunk usually comes sooner than a futex wake-up would.
 */

import { type ConnectOptions, DaemonClient } from '../../control/client.js';
import { encodeSignal, MSG_KICK } from '../../control/wire.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { Arena } from '../../ring/arena.js';
import {
  DEFAULT_RING_CONFIG,
  IF_COUNTERS,
  IF_FLAGS,
  IF_WAKE,
  NI_MONITOR_ENDED,
  RING_CUR,
  RING_ERRORS,
  RING_HEAD,
  RING_HWTAIL,
  RING_KSLEEP,
  RING_NUM_SLOTS,
  RING_SYNC_HEAD,
  RING_TAIL,
  RING_USLEEP,
  type RingConfig,
  regionGeometry,
  USLEEP_FUTEX,
  USLEEP_MSG,
} from '../../ring/layout.js';
import { NetmapRing } from '../../ring/netmap-ring.js';
import { openRegion } from '../../ring/region.js';
import { C_RING_ERRORS, countersToObject, NUM_COUNTERS, type PortCounters } from '../../switch/counters.js';
import { closeFd, createMemfd, futexWait, type Mapping, mapShared, releaseMapping } from '../../sys/index.js';
import { type NetmapPort, type PollOptions, type PollResult, readiness } from '../port.js';

export interface ConnectPortOptions extends ConnectOptions, Partial<RingConfig> {
  /** An existing connection to use (default: a new one, closed with the port). */
  client?: DaemonClient;
  /** Bytes of virtio-net header in front of every frame: 0 (default), 10 or 12 (see OpenOptions.vnetHdrLen). */
  vnetHdrLen?: number;
}

/**
 * How long pollSync() watches the rings before it sleeps on the futex (ms):
 * about one chunk's forwarding in the daemon (uvale.shm_tx_chunk = 256), so a
 * busy sender or receiver keeps pace without a wake-up per chunk, while an
 * idle one sleeps after a few microseconds of spinning.
 */
export const SPIN_MS = 0.03;
/**
 * Waits that go straight to the futex after a spin that caught nothing: on a
 * loaded machine, where the daemon is often off its core, spinning is mostly
 * wasted, so it is tried again only every SPIN_BACKOFF + 1 waits.
 */
export const SPIN_BACKOFF = 8;

interface OpenReply {
  handle: number;
  name: string;
  switch: string | null;
  index: number;
  /** The daemon hands TX slots back in chunks (uvale.shm_tx_chunk); absent from older daemons. */
  txChunk?: number;
}

export class DaemonPort implements NetmapPort {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  /** The daemon's handle for this port. */
  readonly handle: number;
  /** Port number on the switch when opened. */
  readonly portIndex: number;
  readonly client: DaemonClient;
  private readonly ownsClient: boolean;
  private readonly mapping: Mapping;
  private readonly u32: Uint32Array;
  private readonly kick: Buffer;
  private readonly errorsSeen: number[];
  /** Per ring (TX then RX): head at the last sync, and the tail given then. */
  private readonly rhead: Int32Array;
  private readonly rtail: Int32Array;
  /** TX rings then RX rings (the order of rhead/rtail). */
  private readonly allRings: readonly NetmapRing[];
  /** pollSync() waits left that skip the spin (see SPIN_BACKOFF). */
  private spinSkip = 0;
  /** pollSync() spins before it sleeps: the daemon hands slots back in chunks (uvale.shm_tx_chunk). */
  private readonly spinning: boolean;
  private readonly countersView: Float64Array;
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private readonly unwatch: () => void;

  private constructor(client: DaemonClient, owns: boolean, reply: OpenReply, mapping: Mapping) {
    this.client = client;
    this.ownsClient = owns;
    this.handle = reply.handle;
    this.name = reply.name;
    this.portIndex = reply.index;
    this.mapping = mapping;
    const arena = new Arena(mapping.buffer);
    const region = openRegion(arena, 0);
    const g = region.geometry;
    const tx: NetmapRing[] = [];
    const rx: NetmapRing[] = [];
    for (let i = 0; i < g.txRings; i++) tx.push(new NetmapRing(region, i));
    for (let i = 0; i < g.rxRings; i++) rx.push(new NetmapRing(region, g.txRings + i));
    this.txRings = tx;
    this.rxRings = rx;
    this.u32 = arena.u32;
    this.kick = encodeSignal(MSG_KICK, reply.handle);
    // spinning only pays when the daemon publishes chunks while it works
    this.spinning = (reply.txChunk ?? 0) > 0;
    const all = [...tx, ...rx];
    this.allRings = all;
    this.errorsSeen = all.map((r) => this.u32[r.hdrW + (RING_ERRORS >>> 2)] as number);
    this.rhead = Int32Array.from(all, (r) => r.head);
    this.rtail = Int32Array.from(all, (r) => r.tail);
    this.countersView = new Float64Array(mapping.buffer, IF_COUNTERS, NUM_COUNTERS);
    client.onWake(this.handle, () => this.wakeAll());
    this.unwatch = client.onClose(() => this.wakeAll());
  }

  /** Opens `name` through the daemon (started if needed). */
  static async open(name: string, opts: ConnectPortOptions = {}): Promise<DaemonPort> {
    const owns = opts.client === undefined;
    const client = opts.client ?? (await DaemonClient.connect(opts));
    let cfg: RingConfig = {
      txRings: opts.txRings ?? DEFAULT_RING_CONFIG.txRings,
      rxRings: opts.rxRings ?? DEFAULT_RING_CONFIG.rxRings,
      txSlots: opts.txSlots ?? DEFAULT_RING_CONFIG.txSlots,
      rxSlots: opts.rxSlots ?? DEFAULT_RING_CONFIG.rxSlots,
    };
    let fd = -1;
    let mapping: Mapping | null = null;
    try {
      // a persistent port has the rings it was created with, whatever this opener asks for
      const fixed = (await client.request('geometry', { name })) as RingConfig | null;
      if (fixed !== null) {
        cfg = { txRings: fixed.txRings, rxRings: fixed.rxRings, txSlots: fixed.txSlots, rxSlots: fixed.rxSlots };
      }
      const size = regionGeometry(cfg).size;
      fd = createMemfd(`uvale:${name}`, size);
      mapping = mapShared(fd, size);
      const hdr = opts.vnetHdrLen === undefined ? {} : { vnetHdrLen: opts.vnetHdrLen };
      const reply = (await client.request('open', { name, ...cfg, ...hdr, fd })) as OpenReply;
      closeFd(fd); // the daemon holds its own reference now
      fd = -1;
      return new DaemonPort(client, owns, reply, mapping);
    } catch (e) {
      mapping?.unmap();
      if (fd >= 0) closeFd(fd);
      if (owns) client.close();
      throw e;
    }
  }

  txsync(): void {
    this.live();
    const u32 = this.u32;
    let kick = false;
    let bad = 0;
    for (let i = 0; i < this.txRings.length; i++) {
      const h = (this.txRings[i] as NetmapRing).hdrW;
      const head = this.prologue(i, h);
      if (head < 0) {
        bad++;
        continue;
      }
      // publish head with a full fence, then look at the daemon's sleep flag
      Atomics.store(u32, h + (RING_SYNC_HEAD >>> 2), head);
      if (Atomics.load(u32, h + (RING_KSLEEP >>> 2)) !== 0) kick = true;
      this.finalize(i, h, head);
    }
    if (kick) this.client.signal(this.kick);
    if (bad !== 0) throw this.reinitError('TX', bad);
    this.checkErrors();
  }

  rxsync(): void {
    this.live();
    const u32 = this.u32;
    const nt = this.txRings.length;
    let bad = 0;
    for (let i = 0; i < this.rxRings.length; i++) {
      const h = (this.rxRings[i] as NetmapRing).hdrW;
      const head = this.prologue(nt + i, h);
      if (head < 0) {
        bad++;
        continue;
      }
      Atomics.store(u32, h + (RING_SYNC_HEAD >>> 2), head);
      this.finalize(nt + i, h, head);
    }
    if (bad !== 0) throw this.reinitError('RX', bad);
    this.checkErrors();
    // a monitor whose port went away: what was copied is read first, then it ends (docs/monitors.md)
    if ((Atomics.load(u32, IF_FLAGS >>> 2) & NI_MONITOR_ENDED) !== 0 && this.rxRings.every((r) => r.head === r.tail)) {
      throw new ValeError(ErrorCodes.CLOSED, `${this.name}: the monitored port closed, so this monitor has ended`);
    }
  }

  /** head if head and cur lie in [rhead, rtail] with head <= cur (circularly); else re-initialises the ring, -1. */
  private prologue(i: number, h: number): number {
    const u32 = this.u32;
    const n = u32[h + (RING_NUM_SLOTS >>> 2)] as number;
    const head = u32[h + (RING_HEAD >>> 2)] as number;
    const cur = u32[h + (RING_CUR >>> 2)] as number;
    const rh = this.rhead[i] as number;
    const span = ((this.rtail[i] as number) - rh + n) % n;
    const dh = (head - rh + n) % n;
    const dc = (cur - rh + n) % n;
    if (head < n && cur < n && dh <= span && dc <= span && dc >= dh) return head;
    u32[h + (RING_HEAD >>> 2)] = rh;
    u32[h + (RING_CUR >>> 2)] = rh;
    u32[h + (RING_TAIL >>> 2)] = this.rtail[i] as number;
    return -1;
  }

  /** Records the sync and gives the user the daemon's latest tail. */
  private finalize(i: number, h: number, head: number): void {
    const tail = Atomics.load(this.u32, h + (RING_HWTAIL >>> 2));
    this.rhead[i] = head;
    this.rtail[i] = tail;
    this.u32[h + (RING_TAIL >>> 2)] = tail;
  }

  private reinitError(dir: string, bad: number): ValeError {
    this.countersView[C_RING_ERRORS] += bad;
    return new ValeError(
      ErrorCodes.RING_REINIT,
      `${this.name}: illegal head/cur on ${bad} ${dir} ring(s); the ring was re-initialised and nothing was sent from it`,
    );
  }

  async poll(opts: PollOptions = {}): Promise<PollResult> {
    const events = opts.events ?? 'in';
    const timeout = opts.timeout ?? -1;
    const deadline = timeout > 0 ? Date.now() + timeout : Number.POSITIVE_INFINITY;
    this.txsync();
    for (;;) {
      let r = this.check(events);
      if (r.in || r.out || timeout === 0) return r;
      // say we sleep, then look again: the daemon either sees the flag or we see its update
      this.setSleep(events, USLEEP_MSG);
      r = this.check(events);
      if (r.in || r.out) {
        this.setSleep(events, 0);
        return r;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.setSleep(events, 0);
        return r;
      }
      await this.waitWake(left);
      this.setSleep(events, 0);
    }
  }

  /**
   * poll() that blocks this thread instead of returning a promise: for a
   * program whose thread does nothing else while it waits (pkt-gen), at most
   * `timeout` ms (-1: until ready). Timers, I/O and signal handlers of this
   * thread do not run meanwhile, so wait in short pieces and let the event
   * loop run in between. Blocks only while the port is not ready; a daemon
   * that goes away ends it by the timeout at the latest.
   */
  pollSync(opts: PollOptions = {}): PollResult {
    const events = opts.events ?? 'in';
    const timeout = opts.timeout ?? -1;
    const deadline = timeout > 0 ? performance.now() + timeout : Number.POSITIVE_INFINITY;
    const u32 = this.u32;
    this.txsync();
    for (;;) {
      let r = this.check(events);
      if (r.in || r.out || timeout === 0) return r;
      // the daemon hands slots back in chunks while it works (shm-server.ts): a short spin on the
      // indexes it publishes catches the next one without a futex round trip
      if (!this.spinning) {
        // no chunks to catch: straight to the futex
      } else if (this.spinSkip > 0) this.spinSkip--;
      else if (this.spin(events, deadline)) continue;
      else this.spinSkip = SPIN_BACKOFF;
      // read the word first: a wake after this read changes it, and the wait returns at once
      const seq = Atomics.load(u32, IF_WAKE >>> 2);
      this.setSleep(events, USLEEP_FUTEX);
      r = this.check(events);
      const left = deadline - performance.now();
      if (r.in || r.out || left <= 0) {
        this.setSleep(events, 0);
        return r;
      }
      futexWait(this.mapping, IF_WAKE, seq, left);
      this.setSleep(events, 0);
      this.live();
    }
  }

  /**
   * Watches the daemon's published tails of the rings `events` waits on for
   * up to SPIN_MS (never past `deadline`); true as soon as one moves past
   * what the last sync gave.
   */
  private spin(events: 'in' | 'out' | 'inout', deadline: number): boolean {
    const u32 = this.u32;
    const nt = this.txRings.length;
    const end = Math.min(performance.now() + SPIN_MS, deadline);
    const lo = events === 'in' ? nt : 0;
    const hi = events === 'out' ? nt : this.allRings.length;
    do {
      for (let i = lo; i < hi; i++) {
        const r = this.allRings[i] as NetmapRing;
        if (Atomics.load(u32, r.hdrW + (RING_HWTAIL >>> 2)) !== this.rtail[i]) return true;
      }
    } while (performance.now() < end);
    return false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.onWake(this.handle, null);
    this.unwatch();
    this.wakeAll();
    if (this.client.error === null) {
      const done = this.client.request('close', { handle: this.handle }).catch(() => {});
      if (this.ownsClient) void done.then(() => this.client.close());
    }
    // the rings' views stay valid (they now see private zero pages), so a stray access cannot crash
    releaseMapping(this.mapping);
  }

  counters(): PortCounters {
    this.live();
    return countersToObject(this.countersView);
  }

  private live(): void {
    if (this.closed) throw new ValeError(ErrorCodes.CLOSED, `${this.name}: port is closed`);
    const e = this.client.error;
    if (e !== null) throw new ValeError(ErrorCodes.DAEMON, `${this.name}: ${e.message}`);
  }

  private checkErrors(): void {
    const rings = this.allRings;
    for (let i = 0; i < rings.length; i++) {
      const n = this.u32[(rings[i] as NetmapRing).hdrW + (RING_ERRORS >>> 2)] as number;
      if (n !== this.errorsSeen[i]) {
        this.errorsSeen[i] = n;
        throw new ValeError(
          ErrorCodes.RING_REINIT,
          `${this.name}: illegal head/cur on ${(rings[i] as NetmapRing).dir.toUpperCase()} ring ${(rings[i] as NetmapRing).ringId}; the daemon re-initialised it`,
        );
      }
    }
  }

  private check(events: 'in' | 'out' | 'inout'): PollResult {
    return readiness(this, events, true);
  }

  private setSleep(events: 'in' | 'out' | 'inout', v: number): void {
    const u32 = this.u32;
    if (events !== 'out') for (const r of this.rxRings) Atomics.store(u32, r.hdrW + (RING_USLEEP >>> 2), v);
    if (events !== 'in') for (const r of this.txRings) Atomics.store(u32, r.hdrW + (RING_USLEEP >>> 2), v);
  }

  private waitWake(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w = (): void => {
        this.waiters.delete(w);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.waiters.add(w);
      if (Number.isFinite(ms)) timer = setTimeout(w, ms);
    });
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }
}
