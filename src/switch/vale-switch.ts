/*
 * One VALE switch (netmap's nm_bridge): its ports, its learning table, its
 * lookup module and the memory its ports live in.
 *
 * Port numbers: bdg_port_index is a permutation of 0..MAX_PORT_INDEX-1 whose
 * first `activePorts` entries are in use. Attaching takes the entry at
 * `activePorts`; detaching swaps the freed number to the end of the active
 * part. So numbers are reused last-freed-first, exactly as in VALE (attach a, b,
 * c → 0, 1, 2; close b; the next port gets 1).
 *
 * Memory: the switch keeps one arena with a fixed-size slot per port number,
 * sized from the limits in force when the switch was created
 * (`dev.netmap.max_ports` slots of the largest region `dev.netmap.max_buffers`
 * allows); memory is committed only as ports touch it. A port that does not fit
 * (the limits were raised later) gets an arena of its own; the forwarder then
 * copies between arenas with set() instead of the arena's memory.copy.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { Settings } from '../core/settings.js';
import { Arena } from '../ring/arena.js';
import {
  IF_HDR_SIZE,
  MAX_RINGS,
  MAX_SLOTS,
  NM_BUF_SIZE,
  NM_RESERVED_BUFS,
  REGION_ALIGN,
  type RegionGeometry,
  RING_HDR_SIZE,
  type RingConfig,
  regionGeometry,
  SLOT_SIZE,
} from '../ring/layout.js';
import { initRegion, type Region } from '../ring/region.js';
import { C_DROP_NO_DEST, C_RING_ERRORS } from './counters.js';
import { Forwarder, type ForwardTarget, LOOKUP_CUSTOM, LOOKUP_HUB, LOOKUP_LEARNING, type LookupFn } from './forward.js';
import { MacTable } from './mac-table.js';
import { linkCopies, MON_RX, MON_TX, unlinkCopies, unlinkPort } from './monitor.js';
import { parseVlanSpec, type VlanSpec, VlanTable } from './vlan.js';
import { type PortSwitch, VPort } from './vport.js';

/** Port numbers 0..251, as VALE's 254 slots less the two it reserves. */
export const MAX_PORT_INDEX = 252;
/** Arenas larger than this are not made up front; ports get their own. */
const MAX_ARENA = 1 << 30;

export type LookupModule = 'learning' | 'hub' | LookupFn;

export interface MacTableEntry {
  mac: string;
  port: number;
  portName: string;
  bucket: number;
  /** On a VLAN-aware switch: the VID the MAC was learnt in (0: untagged on a port without a setting). */
  vid?: number;
}

export class ValeSwitch implements ForwardTarget, PortSwitch {
  readonly name: string;
  /** Position in the host's switch table (netmap's bridge index), stable while the switch lives. */
  index = 0;
  readonly settings: Settings;
  readonly ports: Array<VPort | null> = new Array<VPort | null>(MAX_PORT_INDEX).fill(null);
  readonly portIndex = new Int32Array(MAX_PORT_INDEX);
  activePorts = 0;
  readonly macTable = new MacTable();
  lookupMode = LOOKUP_LEARNING;
  lookupFn: LookupFn | null = null;
  /** Copy links (monitors and mirrors, monitor.ts) on this switch's ports. */
  copyLinks = 0;
  readonly fwd: Forwarder;
  /** Per-port VLAN settings (vlan.ts); none by default: VALE's VLAN-unaware bridge. */
  readonly vlans = new VlanTable(MAX_PORT_INDEX);
  private arena: Arena | null = null;
  private readonly slotSize: number;
  private readonly capacity: number;

  /** Diagnostics sink (the host's, filtered by dev.netmap.verbose >= 1). */
  readonly log: (line: string) => void;

  constructor(name: string, settings: Settings, log: (line: string) => void = () => {}) {
    this.name = name;
    this.settings = settings;
    this.log = log;
    for (let i = 0; i < MAX_PORT_INDEX; i++) this.portIndex[i] = i;
    this.fwd = new Forwarder(this);
    this.capacity = settings.maxPorts;
    this.slotSize = maxRegionSize(settings.maxBuffers);
  }

  /** The port named `portName` on this switch (the part after the colon), if attached. */
  find(portName: string): VPort | undefined {
    for (let k = 0; k < this.activePorts; k++) {
      const p = this.ports[this.portIndex[k]];
      if (p != null && p.portName === portName) return p;
    }
    return undefined;
  }

  /** Attached ports in port-number order. */
  list(): VPort[] {
    const out: VPort[] = [];
    for (const p of this.ports) if (p !== null) out.push(p);
    return out;
  }

  /**
   * Creates a port with its own region and attaches it. Checks the ring geometry
   * against MAX_RINGS/MAX_SLOTS and `dev.netmap.max_buffers`, and the port count
   * against `dev.netmap.max_ports`.
   */
  createPort(
    fullName: string,
    portName: string,
    cfg: RingConfig,
    kind: string,
    makeRegion?: (geometry: RegionGeometry, name: string) => Region,
  ): VPort {
    checkRingConfig(cfg, this.settings.maxBuffers);
    if (this.activePorts >= Math.min(this.settings.maxPorts, MAX_PORT_INDEX)) {
      throw new ValeError(
        ErrorCodes.LIMIT,
        `switch ${this.name} has ${this.activePorts} ports, the limit dev.netmap.max_ports is ${this.settings.maxPorts}; raise it (uvale sysctl dev.netmap.max_ports=N)`,
      );
    }
    const index = this.portIndex[this.activePorts];
    const geometry = regionGeometry(cfg);
    let arena: Arena;
    let base = 0;
    if (makeRegion !== undefined) {
      const port = new VPort(fullName, portName, makeRegion(geometry, fullName), kind);
      this.attach(port);
      return port;
    }
    if (index < this.capacity && geometry.size <= this.slotSize && this.capacity * this.slotSize <= MAX_ARENA) {
      if (this.arena === null) this.arena = new Arena(this.capacity * this.slotSize);
      arena = this.arena;
      base = index * this.slotSize;
    } else {
      arena = new Arena(geometry.size);
    }
    const region = initRegion(arena, base, geometry, fullName);
    const port = new VPort(fullName, portName, region, kind);
    this.attach(port);
    return port;
  }

  /** Puts `port` on the next free port number. */
  attach(port: VPort): number {
    if (this.activePorts >= MAX_PORT_INDEX) {
      throw new ValeError(ErrorCodes.LIMIT, `switch ${this.name} is full (${MAX_PORT_INDEX} ports)`);
    }
    const index = this.portIndex[this.activePorts];
    this.activePorts++;
    this.ports[index] = port;
    port.index = index;
    port.sw = this;
    this.vlans.bind(index, port.portName);
    return index;
  }

  /**
   * Takes `port` off the switch; its MACs are forgotten so a reused number does
   * not inherit them, unless `keepMacs` (a persistent port changing hands keeps
   * its number, so its entries stay true).
   */
  detach(port: VPort, keepMacs = false): void {
    const index = port.index;
    if (index < 0 || this.ports[index] !== port) return;
    if (this.fwd.busy) throw new ValeError(ErrorCodes.BUSY, 'cannot detach a port during a forwarding pass');
    const idx = this.portIndex;
    let lim = this.activePorts;
    for (let i = 0; i < lim; i++) {
      if (idx[i] === index) {
        lim--;
        idx[i] = idx[lim];
        idx[lim] = index;
        break;
      }
    }
    this.activePorts = lim;
    this.ports[index] = null;
    this.vlans.unbind(index);
    unlinkPort(this, port, this.ports);
    if (!keepMacs) this.macTable.forgetPort(index);
    port.index = -1;
    port.sw = null;
  }

  /**
   * Attaches monitor port `mp` (made by the host, on no switch) to `port` for
   * the directions in mp.monitor (docs/monitors.md).
   */
  addMonitor(port: VPort, mp: VPort): void {
    linkCopies(this, port, mp, mp.monitor);
  }

  /** Takes monitor `mp` off `port` (its client closed it). */
  removeMonitor(port: VPort, mp: VPort): void {
    unlinkCopies(this, port, mp);
  }

  /**
   * A mirror (a SPAN port): copies of what port `src` receives and sends
   * (`dirs`, MON_RX | MON_TX by default) go to port `dst` of this switch too.
   * It lasts while both ports are on the switch.
   */
  mirror(src: string, dst: string, dirs = MON_RX | MON_TX): void {
    const s = this.mustFind(src);
    const d = this.mustFind(dst);
    linkCopies(this, s, d, dirs);
  }

  /** Removes the mirror from `src` to `dst` (in `dirs`); false when there was none. */
  unmirror(src: string, dst: string, dirs = MON_RX | MON_TX): boolean {
    const s = this.find(src);
    const d = this.find(dst);
    return s !== undefined && d !== undefined && unlinkCopies(this, s, d, dirs) !== 0;
  }

  /** Mirrors and monitors on this switch: source port, destination port, directions (MON_RX | MON_TX). */
  copyList(): Array<{ src: VPort; dst: VPort; dirs: number }> {
    const out: Array<{ src: VPort; dst: VPort; dirs: number }> = [];
    for (const p of this.list()) {
      const dsts = new Set([...(p.rxCopies ?? []), ...(p.txCopies ?? [])]);
      for (const d of dsts) {
        const dirs = (p.rxCopies?.includes(d) ? MON_RX : 0) | (p.txCopies?.includes(d) ? MON_TX : 0);
        out.push({ src: p, dst: d, dirs });
      }
    }
    return out;
  }

  private mustFind(portName: string): VPort {
    const p = this.find(portName);
    if (p === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no port ${portName} on switch ${this.name}`);
    return p;
  }

  /** Replaces the lookup (mSwitch's regops): 'learning' (default), 'hub', or a function. Resets the MAC table. */
  setLookup(module: LookupModule): void {
    if (module === 'learning') {
      this.lookupMode = LOOKUP_LEARNING;
      this.lookupFn = null;
    } else if (module === 'hub') {
      this.lookupMode = LOOKUP_HUB;
      this.lookupFn = null;
    } else if (typeof module === 'function') {
      this.lookupMode = LOOKUP_CUSTOM;
      this.lookupFn = module;
    } else {
      throw new ValeError(ErrorCodes.INVALID_ARG, "lookup must be 'learning', 'hub' or a function");
    }
    this.clearMacs();
  }

  /** Empties the learning table and the ports' last_smac caches. */
  private clearMacs(): void {
    this.macTable.clear();
    // the last_smac caches describe the old table: forget them too, or a port that
    // keeps one source MAC would never be learned again
    for (const p of this.ports) {
      if (p !== null) {
        p.lastSA = -1;
        p.lastSB = 0xffff;
      }
    }
  }

  /**
   * Sets the VLAN mode of port name `portName` (attached or not): a VlanSpec,
   * its text (`access:10`, `trunk:1-10,20,native=1`, `none`), or null for
   * none. The first setting makes the switch VLAN-aware, removing the last
   * makes it VALE's bridge again; either way, and on every change, the
   * learning table starts empty. See docs/vlans.md.
   */
  setVlan(portName: string, spec: VlanSpec | string | null): void {
    if (this.fwd.busy) throw new ValeError(ErrorCodes.BUSY, 'cannot change VLANs during a forwarding pass');
    this.vlans.set(portName, typeof spec === 'string' ? parseVlanSpec(spec) : spec);
    for (let k = 0; k < this.activePorts; k++) {
      const i = this.portIndex[k] as number;
      const p = this.ports[i];
      if (p != null) this.vlans.bind(i, p.portName);
    }
    this.clearMacs();
  }

  /** The VLAN settings, by port name (ports without one are not listed). */
  vlanList(): Array<{ port: string; spec: VlanSpec }> {
    return this.vlans.list();
  }

  /** The learning table, bucket order, with port names (and VIDs on a VLAN-aware switch). */
  macEntries(): MacTableEntry[] {
    const aware = this.vlans.on;
    return this.macTable.entries(this.settings.macAgeing).map((e) => ({
      mac: e.mac,
      port: e.port,
      portName: this.ports[e.port]?.name ?? '?',
      bucket: e.bucket,
      ...(aware ? { vid: e.vid ?? 0 } : {}),
    }));
  }

  /**
   * netmap's txsync on every TX ring of `port`: validate, forward [hwcur, head),
   * reclaim. Returns the number of rings that had to be re-initialised.
   */
  txsync(port: VPort): number {
    let bad = 0;
    const rings = port.tx;
    for (let r = 0; r < rings.length; r++) {
      const kr = rings[r] as (typeof rings)[number];
      const head = kr.prologue(port.remote);
      if (head < 0) {
        this.log(`${port.name}: illegal head/cur on TX ring ${kr.ringId}, ring re-initialised`);
        kr.reinit();
        bad++;
        continue;
      }
      if (head !== kr.hwcur) {
        if (this.fwd.busy) throw new ValeError(ErrorCodes.BUSY, 'txsync called from inside a lookup function');
        this.fwd.busy = true;
        try {
          this.fwd.txsync(port, kr, head);
        } catch (e) {
          // a lookup function threw: drop the rest of the pass, keep the switch consistent
          this.fwd.abort(kr, head);
          if (!port.remote) kr.finalize();
          throw e;
        } finally {
          this.fwd.busy = false;
        }
      }
      if (!port.remote) kr.finalize();
    }
    if (bad !== 0) port.counters[C_RING_ERRORS] += bad;
    return bad;
  }
}

/**
 * txsync on every TX ring of `port`: forwards through its switch, or, for a
 * port on no switch (a detached persistent port), just gives the slots back.
 * Returns the number of rings that had to be re-initialised.
 */
export function txsyncPort(port: VPort): number {
  const sw = port.sw;
  if (sw !== null) return sw.txsync(port);
  let bad = 0;
  for (const kr of port.tx) {
    const head = kr.prologue(port.remote);
    if (head < 0) {
      kr.reinit();
      bad++;
      continue;
    }
    // a monitor is read-only: what its client sends goes nowhere, counted
    if (port.monitor !== 0 && head !== kr.hwcur) port.counters[C_DROP_NO_DEST] += kr.framesBefore(head);
    kr.reclaim(head);
    if (!port.remote) kr.finalize();
  }
  if (bad !== 0) port.counters[C_RING_ERRORS] += bad;
  return bad;
}

/** rxsync on every RX ring of `port` (switch or not): release [hwcur, head). Returns bad rings. */
export function rxsyncPort(port: VPort): number {
  let bad = 0;
  const rings = port.rx;
  for (let r = 0; r < rings.length; r++) {
    const kr = rings[r] as (typeof rings)[number];
    const head = kr.prologue();
    if (head < 0) {
      kr.reinit();
      bad++;
      continue;
    }
    kr.hwcur = head;
    kr.publish();
    kr.finalize();
  }
  if (bad !== 0) port.counters[C_RING_ERRORS] += bad;
  return bad;
}

/** Checks a requested ring geometry; errors name what to change. */
export function checkRingConfig(cfg: RingConfig, maxBuffers: number): void {
  const { txRings, rxRings, txSlots, rxSlots } = cfg;
  for (const [k, v] of Object.entries({ txRings, rxRings })) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_RINGS) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `${k} must be an integer from 1 to ${MAX_RINGS}, got ${String(v)}`);
    }
  }
  for (const [k, v] of Object.entries({ txSlots, rxSlots })) {
    if (!Number.isInteger(v) || v < 2 || v > MAX_SLOTS) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `${k} must be an integer from 2 to ${MAX_SLOTS}, got ${String(v)}`);
    }
  }
  if (txRings * txSlots > maxBuffers || rxRings * rxSlots > maxBuffers) {
    throw new ValeError(
      ErrorCodes.LIMIT,
      `${txRings}x${txSlots} TX and ${rxRings}x${rxSlots} RX slots exceed dev.netmap.max_buffers=${maxBuffers} buffers per direction; raise it (uvale sysctl dev.netmap.max_buffers=N) or ask for fewer slots`,
    );
  }
}

/** An upper bound on the region size of any port allowed under `maxBuffers` (all rings' headers, all slots). */
export function maxRegionSize(maxBuffers: number): number {
  const meta = IF_HDR_SIZE + 2 * MAX_RINGS * RING_HDR_SIZE + 2 * maxBuffers * SLOT_SIZE;
  const bytes = Math.ceil(meta / NM_BUF_SIZE) * NM_BUF_SIZE + (NM_RESERVED_BUFS + 2 * maxBuffers) * NM_BUF_SIZE;
  return Math.ceil(bytes / REGION_ALIGN) * REGION_ALIGN;
}
