/*
 * Persistent ports, as vale-ctl's -n/-r make them: a named port that exists
 * without any client, can be attached to a switch (-a valeS:NAME) where it
 * keeps its port number, and is opened by clients like any other port.
 *
 * A port's memory is its client's (a sealed memfd), so a persistent port
 * that nobody has open is a placeholder in the daemon's own memory: it holds
 * the port number and, as in netmap ("not in netmap mode"), receives nothing.
 * When a client opens it, the placeholder steps aside and the client's port
 * takes the same number (port numbers are reused last-freed-first); when the
 * client closes it, the placeholder comes back. Its rings are the ones given
 * at creation (-C), whatever the opener asks for, as netmap sizes a port by
 * its creator.
 */

import type { PersistentInfo } from '../control/types.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { DEFAULT_RING_CONFIG, MAX_SLOTS, type RingConfig } from '../ring/layout.js';
import type { ValeHost } from '../switch/host.js';
import { parsePortName } from '../switch/name.js';
import { checkRingConfig } from '../switch/vale-switch.js';
import type { VPort } from '../switch/vport.js';

interface Entry {
  name: string;
  cfg: RingConfig;
  /** The full port name while attached (valeS:NAME). */
  attached: string | null;
  placeholder: VPort | null;
  /** The client port standing in for the placeholder while open. */
  open: VPort | null;
}

export type { PersistentInfo };

export class PersistentPorts {
  private readonly host: ValeHost;
  private readonly entries = new Map<string, Entry>();

  constructor(host: ValeHost) {
    this.host = host;
  }

  get size(): number {
    return this.entries.size;
  }

  /** vale-ctl -n NAME [-C ...]. */
  create(name: string, cfg: Partial<RingConfig>): PersistentInfo {
    if (!/^[\x21-\x7e]{1,15}$/.test(name) || name.includes(':') || name.includes('/')) {
      throw new ValeError(
        ErrorCodes.INVALID_NAME,
        `invalid persistent port name '${name}': 1 to 15 printable characters, no ':', '/' or spaces`,
      );
    }
    if (name.startsWith('vale')) {
      throw new ValeError(ErrorCodes.INVALID_NAME, `persistent port name '${name}' must not start with 'vale'`);
    }
    if (this.entries.has(name)) throw new ValeError(ErrorCodes.EXISTS, `persistent port ${name} exists`);
    const full: RingConfig = {
      txRings: cfg.txRings ?? DEFAULT_RING_CONFIG.txRings,
      rxRings: cfg.rxRings ?? DEFAULT_RING_CONFIG.rxRings,
      txSlots: cfg.txSlots ?? Math.min(DEFAULT_RING_CONFIG.txSlots, this.host.settings.maxBuffers, MAX_SLOTS),
      rxSlots: cfg.rxSlots ?? Math.min(DEFAULT_RING_CONFIG.rxSlots, this.host.settings.maxBuffers, MAX_SLOTS),
    };
    checkRingConfig(full, this.host.settings.maxBuffers);
    const e: Entry = { name, cfg: full, attached: null, placeholder: null, open: null };
    this.entries.set(name, e);
    return info(e);
  }

  /** vale-ctl -r NAME: only when attached to no switch. */
  destroy(name: string): void {
    const e = this.entries.get(name);
    if (e === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no persistent port ${name}`);
    if (e.attached !== null) {
      throw new ValeError(ErrorCodes.BUSY, `persistent port ${name} is attached as ${e.attached}; detach it first`);
    }
    this.entries.delete(name);
  }

  /** True if `full` (valeS:NAME) names a persistent port (attached or not). */
  has(full: string): boolean {
    const pn = parsePortName(full);
    return pn.monitor === 0 && this.entries.has(pn.port) && pn.bridge !== pn.port;
  }

  /** vale-ctl -a valeS:NAME for a persistent NAME. */
  attach(full: string): VPort {
    const e = this.entryOf(full);
    if (e.attached !== null)
      throw new ValeError(ErrorCodes.BUSY, `persistent port ${e.name} is attached as ${e.attached}`);
    const vp = this.host.acquire(full, { ...e.cfg, kind: 'persistent' });
    if (vp.kind !== 'persistent' || vp.users !== 1) {
      this.host.release(vp);
      throw new ValeError(ErrorCodes.BUSY, `port ${full} is already in use`);
    }
    vp.users = 0; // nobody has it open: it receives nothing
    vp.persistent = true;
    e.attached = vp.name;
    e.placeholder = vp;
    return vp;
  }

  /** vale-ctl -d valeS:NAME for a persistent NAME. */
  detach(full: string): void {
    const e = this.entryOf(full);
    if (e.attached !== parsePortName(full).full || e.placeholder === null) {
      throw new ValeError(ErrorCodes.NOT_FOUND, `persistent port ${e.name} is not attached as ${full}`);
    }
    if (e.open !== null) throw new ValeError(ErrorCodes.BUSY, `${full} is open; close it before detaching`);
    this.host.detachPort(e.placeholder);
    e.placeholder = null;
    e.attached = null;
  }

  /**
   * Before a client opens `full`: the ring config the port must have, with the
   * placeholder stepped aside (call restore() if the open fails, opened() if
   * it works). Undefined when `full` is not an attached persistent port.
   */
  beginOpen(full: string): RingConfig | undefined {
    const e = this.attachedEntry(full);
    if (e === undefined) return undefined;
    if (e.open !== null || e.placeholder === null) {
      throw new ValeError(ErrorCodes.BUSY, `port ${full} is already open (a port has one client at a time)`);
    }
    this.host.detachPort(e.placeholder, true, true); // the client takes its number and its MACs
    return e.cfg;
  }

  /** A client opened it: its port continues the placeholder's counters, as a NIC keeps its own. */
  opened(full: string, vp: VPort): void {
    const e = this.attachedEntry(full);
    if (e === undefined) return;
    e.open = vp;
    if (e.placeholder !== null) vp.counters.set(e.placeholder.counters);
  }

  /** The open failed: the placeholder takes its number back. */
  restore(full: string): void {
    const e = this.attachedEntry(full);
    if (e === undefined || e.placeholder === null || e.open !== null) return;
    this.reattach(e);
  }

  /** Called before a client's port is released: puts the placeholder back in its place. */
  closing(vp: VPort): boolean {
    for (const e of this.entries.values()) {
      if (e.open !== vp) continue;
      e.open = null;
      e.placeholder?.counters.set(vp.counters); // kept for the next client and for ctl --stats
      this.host.detachPort(vp, true, true); // the placeholder takes its number and MACs back
      this.reattach(e);
      return true;
    }
    return false;
  }

  list(): PersistentInfo[] {
    return [...this.entries.values()].map(info);
  }

  private reattach(e: Entry): void {
    const ph = e.placeholder as VPort;
    const sw = this.host.getSwitch(parsePortName(e.attached as string).bridge);
    if (sw === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `switch of ${e.attached} is gone`);
    sw.attach(ph);
  }

  private entryOf(full: string): Entry {
    const pn = parsePortName(full);
    const e = this.entries.get(pn.port);
    if (e === undefined)
      throw new ValeError(ErrorCodes.NOT_FOUND, `no persistent port ${pn.port} (create it with ctl -n)`);
    return e;
  }

  private attachedEntry(full: string): Entry | undefined {
    const pn = parsePortName(full);
    const e = this.entries.get(pn.port);
    return e !== undefined && e.attached === pn.full ? e : undefined;
  }
}

function info(e: Entry): PersistentInfo {
  return { name: e.name, attached: e.attached, open: e.open !== null, ...e.cfg };
}
