/*
 * An in-process port: the netmap API on a switch hosted by this process (or
 * its worker threads). txsync() forwards in the caller's turn, synchronously;
 * poll() waits on a promise that the forwarder wakes in a microtask after it
 * delivers to this port, so a sender is never re-entered by a receiver.
 */

import { ErrorCodes, ValeError } from '../../core/errors.js';
import { NetmapRing } from '../../ring/netmap-ring.js';
import { countersToObject, type PortCounters } from '../../switch/counters.js';
import type { ValeHost } from '../../switch/host.js';
import { rxsyncPort, txsyncPort } from '../../switch/vale-switch.js';
import type { VPort } from '../../switch/vport.js';
import { type NetmapPort, type PollOptions, type PollResult, readiness } from '../port.js';

export class LocalPort implements NetmapPort {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  private readonly host: ValeHost;
  private vp: VPort | null;
  private readonly pending = new Set<() => void>();

  constructor(host: ValeHost, vp: VPort) {
    this.host = host;
    this.vp = vp;
    this.name = vp.name;
    const g = vp.region.geometry;
    const tx: NetmapRing[] = [];
    const rx: NetmapRing[] = [];
    for (let i = 0; i < g.txRings; i++) tx.push(new NetmapRing(vp.region, i));
    for (let i = 0; i < g.rxRings; i++) rx.push(new NetmapRing(vp.region, g.txRings + i));
    this.txRings = tx;
    this.rxRings = rx;
  }

  /** The switch-side port (for tools and tests in this process). */
  get vport(): VPort {
    return this.live();
  }

  /** Port number on the switch, -1 if detached. */
  get portIndex(): number {
    return this.live().index;
  }

  txsync(): void {
    const bad = txsyncPort(this.live());
    if (bad !== 0) throw ringError(this.name, 'TX', bad);
  }

  rxsync(): void {
    const vp = this.live();
    const bad = rxsyncPort(vp);
    if (bad !== 0) throw ringError(this.name, 'RX', bad);
    // a monitor whose port went away: what was copied is read first, then it ends (docs/monitors.md)
    if (vp.monitorEnded && this.rxRings.every((r) => r.head === r.tail)) throw monitorEnded(this.name);
  }

  poll(opts: PollOptions = {}): Promise<PollResult> {
    const events = opts.events ?? 'in';
    const timeout = opts.timeout ?? -1;
    let vp: VPort;
    let r: PollResult;
    try {
      vp = this.live();
      if (this.txPending()) this.txsync();
      r = this.check(events);
    } catch (e) {
      return Promise.reject(e);
    }
    if (r.in || r.out || timeout === 0) return Promise.resolve(r);
    return new Promise<PollResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        this.pending.delete(waiter);
        if (timer !== undefined) clearTimeout(timer);
      };
      const waiter = (): void => {
        if (this.vp === null) {
          done();
          reject(closedError(this.name));
          return;
        }
        let res: PollResult;
        try {
          res = this.check(events);
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (res.in || res.out) {
          done();
          resolve(res);
        } else {
          vp.addPoller(waiter);
        }
      };
      this.pending.add(waiter);
      vp.addPoller(waiter);
      if (timeout > 0) {
        timer = setTimeout(() => {
          vp.removePoller(waiter);
          done();
          try {
            resolve(this.check(events));
          } catch (e) {
            reject(e);
          }
        }, timeout);
      }
    });
  }

  close(): void {
    const vp = this.vp;
    if (vp === null) return;
    this.vp = null;
    for (const w of this.pending) {
      vp.removePoller(w);
      w();
    }
    this.pending.clear();
    this.host.release(vp);
  }

  counters(): PortCounters {
    return countersToObject(this.live().counters);
  }

  private live(): VPort {
    if (this.vp === null) throw closedError(this.name);
    return this.vp;
  }

  private txPending(): boolean {
    const vp = this.live();
    for (let i = 0; i < vp.tx.length; i++) {
      if ((this.txRings[i] as NetmapRing).head !== (vp.tx[i] as VPort['tx'][number]).hwcur) return true;
    }
    return false;
  }

  private check(events: 'in' | 'out' | 'inout'): PollResult {
    return readiness(this, events, false);
  }
}

function ringError(name: string, dir: string, bad: number): ValeError {
  return new ValeError(
    ErrorCodes.RING_REINIT,
    `${name}: illegal head/cur on ${bad} ${dir} ring(s); the ring was re-initialised and nothing was sent from it`,
  );
}

export function monitorEnded(name: string): ValeError {
  return new ValeError(ErrorCodes.CLOSED, `${name}: the monitored port closed, so this monitor has ended`);
}

function closedError(name: string): ValeError {
  return new ValeError(ErrorCodes.CLOSED, `${name}: port is closed`);
}
