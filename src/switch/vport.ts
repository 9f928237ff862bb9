/*
 * A switch port as the switch sees it (netmap's netmap_vp_adapter): a region
 * with its rings, the kernel-side state of each ring (KRing), counters, and
 * the wake-up hook the port's transport installs.
 *
 * Every transport ends here: an in-process netmap port, a client of the daemon,
 * a TAP, a QEMU socket. The switch never knows which; it copies into a port's
 * RX rings and calls wakeRx(). A transport that sends calls txsync() on its TX
 * rings, which runs the forwarding in the caller's turn (the sender pays, as in
 * VALE).
 */

import { KRing } from '../ring/kring.js';
import { IF_COUNTERS } from '../ring/layout.js';
import type { Region } from '../ring/region.js';
import { NUM_COUNTERS } from './counters.js';

/** The switch a port is attached to, as the port sees it. */
export interface PortSwitch {
  readonly name: string;
  txsync(port: VPort): number;
  detach(port: VPort, keepMacs?: boolean): void;
}

export class VPort {
  /** Full name, e.g. "vale-a:1". */
  readonly name: string;
  /** Name within the switch, e.g. "1". */
  readonly portName: string;
  readonly region: Region;
  readonly tx: KRing[];
  readonly rx: KRing[];
  /**
   * See counters.ts; updated once per batch. They live in the port's memory
   * (IF_COUNTERS), so the port's client reads them without asking; a client
   * that writes there can only misreport its own port.
   */
  readonly counters: Float64Array;
  /** Port number on its switch (reused LIFO, as VALE does), -1 when detached. */
  index = -1;
  /** Open handles (netmap file descriptors) on this port. */
  users = 0;
  /** Persistent ports (ctl -n) stay when their last user closes. */
  persistent = false;
  /** Last source MAC learned from this port (netmap's last_smac), as the (a, b) words; all-ones initially. */
  lastSA = -1;
  lastSB = 0xffff;
  /** Called (at most once per forwarding pass) after frames were appended to an RX ring. */
  onRx: ((port: VPort) => void) | null = null;
  /**
   * Chunked txsync (a port whose client runs in parallel, in another process):
   * when set, a pass over this port's TX ring flushes every `txChunk` slots (at
   * a frame boundary), gives the slots forwarded so far back (hwtail) and calls
   * this, so the client refills while the pass goes on. Null: one release per pass.
   */
  onTxChunk: ((port: VPort) => void) | null = null;
  /** Slots per chunk when onTxChunk is set. */
  txChunk = 256;
  /** Transport-defined: what sits behind this port, for listings ("netmap", "shm", "tap", ...). */
  kind: string;
  /**
   * The port's client lives in another process: the switch only publishes
   * hwcur/hwtail (the client copies them into tail in its own syncs) and reads
   * the client's RX head when it needs room.
   */
  remote = false;
  /**
   * Bytes of virtio-net header in front of every frame in this port's buffers
   * (netmap's virt_hdr_len): 0, 10 or 12. The switch looks up addresses past
   * it, and converts frames between ports whose lengths differ (offload.ts).
   */
  hdrLen = 0;
  /** The switch this port is attached to, or null. */
  sw: PortSwitch | null = null;
  /**
   * Where copies of this port's traffic go (monitor.ts): monitors and mirror destinations of what
   * it receives (rxCopies) and sends (txCopies); null when none, which is the only thing the
   * forwarder looks at, once per batch, while its switch has no copies at all.
   */
  rxCopies: VPort[] | null = null;
  txCopies: VPort[] | null = null;
  /** Links that name this port as a copy destination (a mirror's DST), so its detach can undo them. */
  copyOf = 0;
  /** For a monitor port (PORT/r, /t, /rt): MON_RX | MON_TX (name.ts), and the port it watches. */
  monitor = 0;
  monitored: VPort | null = null;
  /** A monitor whose port went away: its client reads what is left, then gets VALE_ERR_CLOSED. */
  monitorEnded = false;
  /** One-shot callbacks of poll() calls waiting for RX frames, run in a microtask after delivery. */
  private pollers: Array<() => void> = [];
  private wakeScheduled = false;

  constructor(name: string, portName: string, region: Region, kind: string) {
    this.name = name;
    this.portName = portName;
    this.region = region;
    this.kind = kind;
    const g = region.geometry;
    this.counters = new Float64Array(region.arena.buffer, region.base + IF_COUNTERS, NUM_COUNTERS);
    this.tx = [];
    this.rx = [];
    for (let i = 0; i < g.txRings; i++) this.tx.push(new KRing(region, i));
    for (let i = 0; i < g.rxRings; i++) this.rx.push(new KRing(region, g.txRings + i));
  }

  /** Called by the forwarder after appending to this port's RX rings. Never re-enters the caller. */
  wakeRx(): void {
    const fn = this.onRx;
    if (fn !== null) fn(this);
    if (this.pollers.length !== 0 && !this.wakeScheduled) {
      this.wakeScheduled = true;
      queueMicrotask(this.runPollers);
    }
  }

  /** Registers a one-shot callback for the next delivery to this port. */
  addPoller(fn: () => void): void {
    this.pollers.push(fn);
  }

  removePoller(fn: () => void): void {
    const i = this.pollers.indexOf(fn);
    if (i >= 0) this.pollers.splice(i, 1);
  }

  private readonly runPollers = (): void => {
    this.wakeScheduled = false;
    const list = this.pollers;
    this.pollers = [];
    for (const f of list) f();
  };
}
