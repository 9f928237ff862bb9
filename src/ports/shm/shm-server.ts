/*
 * The daemon's side of a port whose client is another process: the port's
 * region lives in a sealed memfd that the client created, mapped here too.
 *
 * Data path, both ways without a system call while both sides are busy:
 *
 *   client → daemon  The client's txsync publishes TX head in shared memory
 *                    (RING_SYNC_HEAD: a head moved without a sync is not seen,
 *                    as in netmap). If the daemon flagged the ring
 *                    RING_KSLEEP, the client sends a KICK; the daemon clears
 *                    the flag and polls the port from its
 *                    scheduler (daemon/scheduler.ts) until it stays idle, then
 *                    sets the flag again, re-checks, and sleeps.
 *   daemon → client  After appending to an RX ring (or reclaiming a TX ring) the
 *                    daemon looks at RING_USLEEP; only if the client sleeps
 *                    does it clear the flag and wake it, the way the flag
 *                    asks: USLEEP_MSG (poll() in an event loop) with a WAKE
 *                    message, USLEEP_FUTEX (pollSync(), the thread blocked)
 *                    by bumping IF_WAKE and one FUTEX_WAKE on it: one system
 *                    call and no socket, and the client resumes without
 *                    going through its event loop.
 *                    A wake-up of a sleeping receiver is put off to the end of
 *                    the current callback of the daemon's event loop (a
 *                    microtask) while its RX ring holds fewer than a quarter
 *                    of its slots: a callback that forwards several passes
 *                    (a vhost-user port draining its guest's ring across
 *                    kicks, a scheduler round) wakes it once, not per pass,
 *                    and a lone frame still goes at the end of the callback
 *                    that forwarded it. A fuller ring wakes it at once, so a
 *                    receiver on its own core starts before its ring fills.
 *   overlap          With uvale.shm_tx_chunk = N (0, off, by default: it
 *                    did not pay on a loaded machine, docs/performance-notes.md),
 *                    a pass over a TX ring hands slots back every N
 *                    slots (VPort.onTxChunk: hwtail published), and RX
 *                    frames are published per chunk too, so sender, daemon
 *                    and receiver work at the same time on different parts
 *                    of the rings. A client sees a chunk by looking (its
 *                    pollSync watches the tails a moment before it sleeps);
 *                    a sleeping one is woken once, when the pass ends, so a
 *                    pass costs at most one wake per client.
 *
 * Each side publishes with an Atomics.store (a full fence on x86) before it
 * reads the other side's flag, so a wake-up is never lost: either the sleeper
 * sees the new index when it re-checks after raising its flag, or the
 * publisher sees the flag.
 *
 * The client can write anything into the region. The switch only reads head
 * and cur through KRing.prologue(), bounds every slot, and never dereferences
 * a value from shared memory without checking it, so a client can corrupt only
 * its own frames. A sleep flag is read once per ring and batch and only picks
 * how this client is woken (at most one wake per batch, whatever it holds);
 * FUTEX_WAKE never blocks, and IF_WAKE is only ever added to. The RX head the
 * client last synced only decides whether its wake-up waits for the end of
 * the callback: a head out of range wakes it at once.
 */

import { Arena } from '../../ring/arena.js';
import {
  IF_WAKE,
  RING_HWTAIL,
  RING_KSLEEP,
  RING_SYNC_HEAD,
  RING_USLEEP,
  type RingConfig,
  USLEEP_FUTEX,
} from '../../ring/layout.js';
import { initRegion, type Region } from '../../ring/region.js';
import type { ValeHost } from '../../switch/host.js';
import { txsyncPort } from '../../switch/vale-switch.js';
import type { VPort } from '../../switch/vport.js';
import { checkSealed, closeFd, futexWake, type Mapping, mapShared, openProcFd, takeFd } from '../../sys/index.js';

export interface ShmPeer {
  /** Sends a WAKE for `handle` to the client. */
  wake(handle: number): void;
}

/** True while process() runs a chunked pass (one thread: passes never nest). */
let inPass = false;
/** Receivers that got frames during the current pass: woken (if asleep) once, when it ends. */
const held: ShmPortServer[] = [];

/** Servers with a wake-up put off (publish with `defer`), in order; flushed by flushDeferredWakes. */
const deferred: ShmPortServer[] = [];

/**
 * Wakes now every receiver whose wake-up was put off: from the microtask queued with the first one (the end of
 * the callback), and from the daemon's scheduler after each client's pass, so that a round serving many ports
 * does not hold a lone frame's wake-up for the whole round.
 */
export function flushDeferredWakes(): void {
  if (deferred.length === 0) return;
  try {
    for (let i = 0; i < deferred.length; i++) (deferred[i] as ShmPortServer).flushRx();
  } finally {
    for (let i = 0; i < deferred.length; i++) (deferred[i] as ShmPortServer).flushQueued = false;
    deferred.length = 0;
  }
}

export class ShmPortServer {
  readonly handle: number;
  readonly vp: VPort;
  /** Consecutive scheduler rounds without work; the port sleeps past a limit. */
  idle = 0;
  /** In the scheduler's active list. */
  active = false;
  private readonly peer: ShmPeer;
  private readonly mapping: Mapping;
  private readonly fd: number;
  private readonly u32: Uint32Array;
  /** Byte offset of IF_WAKE in the mapping, and its u32 index in the arena. */
  private readonly wakeOfs: number;
  private readonly wakeW: number;
  private closed = false;
  /** In `held`: frames delivered during a pass, its wake not sent yet. */
  private heldRx = false;
  /** In `deferred`: a wake-up is put off (cleared by flushDeferredWakes only). */
  flushQueued = false;
  /** Wake-ups put off to the end of a callback (flushRx), for tests and profiles. */
  deferredWakes = 0;

  private constructor(handle: number, vp: VPort, peer: ShmPeer, mapping: Mapping, fd: number, txChunk: number) {
    this.handle = handle;
    this.vp = vp;
    this.peer = peer;
    this.mapping = mapping;
    this.fd = fd;
    this.u32 = vp.region.arena.u32;
    this.wakeOfs = vp.region.base + IF_WAKE;
    this.wakeW = this.wakeOfs >>> 2;
    vp.onRx = this.onRx;
    if (txChunk > 0) {
      vp.txChunk = txChunk;
      vp.onTxChunk = this.onTxChunk;
    }
  }

  /**
   * Opens `name` for a client: maps the client's memfd (`pid`, `fd`), checks it
   * is sealed and exactly the region's size, and builds the port in it.
   */
  static open(
    host: ValeHost,
    name: string,
    cfg: RingConfig & { vnetHdrLen?: number },
    handle: number,
    peer: ShmPeer,
    client: { pid: number; fd: number; pidfd?: number },
    share: (vp: VPort) => void,
  ): ShmPortServer {
    let mapping: Mapping | null = null;
    let fd = -1;
    const makeRegion = (geometry: Region['geometry'], full: string): Region => {
      // through the client's pidfd when the kernel gave one: a reused pid can never be opened
      fd =
        client.pidfd !== undefined && client.pidfd >= 0
          ? takeFd(client.pidfd, client.fd)
          : openProcFd(client.pid, client.fd);
      checkSealed(fd, geometry.size);
      mapping = mapShared(fd, geometry.size);
      return initRegion(new Arena(mapping.buffer), 0, geometry, full);
    };
    let vp: VPort;
    try {
      vp = host.acquire(name, { ...cfg, kind: 'shm', region: makeRegion, remote: true, share });
    } catch (e) {
      (mapping as Mapping | null)?.unmap();
      if (fd >= 0) closeFd(fd);
      throw e;
    }
    // `share` refuses existing ports, so the port was made here, in the client's memory
    return new ShmPortServer(handle, vp, peer, mapping as unknown as Mapping, fd, host.settings.shmTxChunk);
  }

  /** True if some TX ring's head moved since the last txsync. */
  txPending(): boolean {
    const u32 = this.u32;
    const tx = this.vp.tx;
    for (let r = 0; r < tx.length; r++) {
      const kr = tx[r] as VPort['tx'][number];
      if (Atomics.load(u32, kr.hdrW + (RING_SYNC_HEAD >>> 2)) !== kr.hwcur) return true;
    }
    return false;
  }

  /** Forwards whatever the client queued; wakes it if it waits for TX room. */
  process(): void {
    // only a chunked pass holds its wakes (without chunks a wake per batch is what clients expect)
    inPass = this.vp.onTxChunk !== null;
    try {
      txsyncPort(this.vp);
    } finally {
      inPass = false;
      // the wakes held back during the pass: receivers first, then this sender
      const n = held.length;
      for (let i = 0; i < n; i++) {
        const q = held[i] as ShmPortServer;
        q.heldRx = false;
        q.publish(q.vp.rx);
      }
      held.length = 0;
    }
    this.publish(this.vp.tx);
  }

  /** Stores hwtail of `rings` without waking anyone (a chunk in the middle of a pass). */
  private store(rings: VPort['tx']): void {
    const u32 = this.u32;
    for (let r = 0; r < rings.length; r++) {
      const kr = rings[r] as VPort['tx'][number];
      Atomics.store(u32, kr.hdrW + (RING_HWTAIL >>> 2), kr.hwtail);
    }
  }

  /**
   * Publishes hwtail of `rings`, then wakes the client once if it sleeps on any of them. With `defer` (RX rings
   * after a forwarding pass), a sleeper whose ring holds fewer than a quarter of its slots is woken by a
   * microtask at the end of the current callback instead (flushRx), once however many passes it saw.
   */
  private publish(rings: VPort['tx'], defer = false): void {
    const u32 = this.u32;
    let how = 0; // bit 0: a WAKE message, bit 1: a futex wake
    let later = false;
    for (let r = 0; r < rings.length; r++) {
      const kr = rings[r] as VPort['tx'][number];
      Atomics.store(u32, kr.hdrW + (RING_HWTAIL >>> 2), kr.hwtail);
      const w = kr.hdrW + (RING_USLEEP >>> 2);
      const v = Atomics.load(u32, w); // read once: the client may change it at any time
      if (v !== 0) {
        if (defer && this.waiting(kr) < kr.numSlots >>> 2) {
          later = true;
          continue;
        }
        Atomics.store(u32, w, 0);
        how |= v === USLEEP_FUTEX ? 2 : 1;
      }
    }
    if (later && !this.flushQueued) {
      this.flushQueued = true;
      this.deferredWakes++;
      if (deferred.length === 0) queueMicrotask(flushDeferredWakes);
      deferred.push(this);
    }
    if (how === 0) return;
    if ((how & 2) !== 0) {
      Atomics.add(u32, this.wakeW, 1);
      futexWake(this.mapping, this.wakeOfs);
    }
    if ((how & 1) !== 0) this.peer.wake(this.handle);
  }

  /** Tells the client to kick on its next txsync; returns false if work arrived meanwhile. */
  sleep(): boolean {
    const u32 = this.u32;
    for (const kr of this.vp.tx) Atomics.store(u32, kr.hdrW + (RING_KSLEEP >>> 2), 1);
    if (this.txPending()) {
      this.awake();
      return false;
    }
    return true;
  }

  /** Clears the sleep flags (on a KICK, or when work was found). */
  awake(): void {
    const u32 = this.u32;
    for (const kr of this.vp.tx) Atomics.store(u32, kr.hdrW + (RING_KSLEEP >>> 2), 0);
  }

  /**
   * Slots of RX ring `kr` the client has not released as of its last sync (hwtail - RING_SYNC_HEAD); a head out
   * of range counts as a full ring (wake now). Only picks when the client is woken, never what the switch does.
   */
  private waiting(kr: VPort['rx'][number]): number {
    const head = Atomics.load(this.u32, kr.hdrW + (RING_SYNC_HEAD >>> 2));
    if (head >= kr.numSlots) return kr.numSlots;
    const d = kr.hwtail - head;
    return d < 0 ? d + kr.numSlots : d;
  }

  private readonly onRx = (vp: VPort): void => {
    if (!inPass) {
      this.publish(vp.rx, true);
      return;
    }
    // inside a shm port's pass: the frames are visible now, the wake comes once, at its end
    this.store(vp.rx);
    if (!this.heldRx) {
      this.heldRx = true;
      held.push(this);
    }
  };

  private readonly onTxChunk = (vp: VPort): void => {
    this.store(vp.tx);
  };

  /** The end of the callback that put off a wake-up: whoever still sleeps on an RX ring is woken now. */
  flushRx(): void {
    if (!this.closed) this.publish(this.vp.rx);
  }

  /** Releases the port (detaching it from its switch), then unmaps the client's memory. */
  close(host: ValeHost): void {
    if (this.closed) return;
    this.closed = true;
    this.vp.onRx = null;
    this.vp.onTxChunk = null;
    host.release(this.vp);
    this.mapping.unmap();
    closeFd(this.fd);
  }
}
