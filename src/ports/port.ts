/*
 * The port contract: what a client of any uvale port gets, whatever carries
 * its frames (an in-process port, a port in the daemon, later TAP or QEMU
 * adapters which drive the same calls themselves).
 *
 * Shaped like netmap's file descriptor: rings in the port's memory, and three
 * calls that move ownership of slots between the client and the switch.
 *
 *   txsync()  Sends the TX slots [previous head, head) of every TX ring and
 *             makes the ring writable again (tail = head - 1 for VALE ports).
 *             Never blocks; frames the destination cannot take are dropped and
 *             counted on that destination.
 *   rxsync()  Releases RX slots before head and updates tail to show every
 *             frame delivered so far.
 *   poll()    Resolves when some RX ring has frames past cur ('in') or some TX
 *             ring has room ('out'); like netmap's poll it first txsyncs any TX
 *             ring with pending slots. Waiting uses no CPU.
 *   close()   Drops this handle; the port goes when its last handle closes.
 *             Safe to call twice; every later call throws VALE_ERR_CLOSED.
 *
 * An illegal head/cur on a ring re-initialises that ring (head = cur = the
 * switch's position) and the call throws VALE_ERR_RING_REINIT; other rings and
 * ports are not affected. Buffers: the client owns slots [head, tail) of each
 * ring and their buffers; everything else belongs to the switch.
 */

import type { NetmapRing } from '../ring/netmap-ring.js';
import type { PortCounters } from '../switch/counters.js';

export interface PollOptions {
  /** Which readiness to wait for: 'in' (default), 'out', or 'inout'. */
  events?: 'in' | 'out' | 'inout';
  /** Milliseconds to wait; -1 (default) waits forever, 0 only checks. */
  timeout?: number;
}

export interface PollResult {
  /** Some RX ring has frames at cur. */
  in: boolean;
  /** Some TX ring has a free slot at cur. */
  out: boolean;
}

export interface NetmapPort {
  /** The full port name, e.g. "vale-a:1". */
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  txsync(): void;
  rxsync(): void;
  poll(opts?: PollOptions): Promise<PollResult>;
  close(): void;
  /** The port's counters (see switch/counters.ts). */
  counters(): PortCounters;
}

/**
 * poll()'s readiness test, for every transport: after the syncs `events` asks
 * for, 'in' when some RX ring has frames at cur, 'out' when some TX ring has
 * a free slot at cur (netmap's POLLIN/POLLOUT).
 */
/** `syncTx`: also txsync first (ports whose TX slots come back asynchronously, as daemon ports'). */
export function readiness(port: NetmapPort, events: 'in' | 'out' | 'inout', syncTx: boolean): PollResult {
  let rin = false;
  let rout = false;
  if (events !== 'out') {
    port.rxsync();
    for (const r of port.rxRings) if (!r.empty()) rin = true;
  }
  if (events !== 'in') {
    if (syncTx) port.txsync();
    for (const r of port.txRings) if (!r.empty()) rout = true;
  }
  return { in: rin, out: rout };
}
