/*
 * A host: the switches of one process (embedded use) or of the daemon, and
 * netmap's register/unregister logic over them.
 *
 * acquire(name) is netmap's NETMAP_REQ_REGISTER on a VALE name: find or create
 * the switch (at most `dev.netmap.max_bridges`), then find the port by name and
 * share it, or create it with the requested rings (at most
 * `dev.netmap.max_ports` per switch). release() is the last close: the port is
 * detached and freed (unless persistent), and a switch left with no ports is
 * destroyed with its learning table.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { Settings, type SettingsInit } from '../core/settings.js';
import { Arena } from '../ring/arena.js';
import { DEFAULT_RING_CONFIG, type RegionGeometry, type RingConfig, regionGeometry } from '../ring/layout.js';
import { initRegion, type Region } from '../ring/region.js';
import { type PortName, parsePortName } from './name.js';
import { VNET_HDR_LENS } from './offload.js';
import { checkRingConfig, ValeSwitch } from './vale-switch.js';
import { VPort } from './vport.js';

export interface OpenOptions extends Partial<RingConfig> {
  /** Label for listings: what sits behind the port ("netmap" by default). */
  kind?: string;
  /** Where a new port's region lives (default: the switch's arena); called only if the port is created. */
  region?: (geometry: RegionGeometry, name: string) => Region;
  /** The port's client is in another process (see VPort.remote). */
  remote?: boolean;
  /** Called before an existing port is shared with this opener; throw to refuse. */
  share?: (port: VPort) => void;
  /**
   * Bytes of virtio-net header in front of every frame in the port's buffers:
   * 0 (default), 10 or 12 (netmap's NETMAP_REQ_PORT_HDR_SET; see
   * switch/offload.ts). An opener of an existing port must ask for its length.
   */
  vnetHdrLen?: number;
}

export class ValeHost {
  readonly settings: Settings;
  private readonly switches = new Map<string, ValeSwitch>();
  /**
   * Where diagnostics go when `dev.netmap.verbose` is non-zero (the daemon
   * sends them to its log): switch and port life, ring errors, and at
   * verbose >= 2 every MAC the switches learn.
   */
  log: (line: string) => void = (line) => void process.stderr.write(`uvale: ${line}\n`);

  constructor(settings: Settings | SettingsInit = {}) {
    this.settings = settings instanceof Settings ? settings : new Settings(settings);
    // entries learnt while uvale.mac_ageing was 0 carry no time (0): when it is turned on,
    // they count as learnt now, or every one would be flooded to at once
    let ageing = this.settings.macAgeing;
    this.settings.onChange((name, value) => {
      if (name !== 'uvale.mac_ageing') return;
      if (ageing === 0 && value > 0) {
        const now = (performance.now() / 1000) | 0;
        for (const sw of this.switches.values()) sw.macTable.restamp(now);
      }
      ageing = value;
    });
  }

  /** Logs `line` if dev.netmap.verbose is at least `level`. */
  debug(level: number, line: string): void {
    if (this.settings.verbose >= level) this.log(line);
  }

  /** Opens (creates or shares) the port `name`; the caller owns one reference until release(). */
  acquire(name: string, opts: OpenOptions = {}): VPort {
    const pn = parsePortName(name);
    const hdrLen = opts.vnetHdrLen ?? 0;
    if (!VNET_HDR_LENS.includes(hdrLen)) {
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `vnetHdrLen must be 0, 10 or 12 (a virtio-net header), got ${String(opts.vnetHdrLen)}`,
      );
    }
    if (pn.monitor !== 0) return this.acquireMonitor(pn, hdrLen, opts);
    let sw = this.switches.get(pn.bridge);
    let created = false;
    if (sw === undefined) {
      if (this.switches.size >= this.settings.maxBridges) {
        throw new ValeError(
          ErrorCodes.LIMIT,
          `cannot create switch ${pn.bridge}: ${this.switches.size} switches exist, the limit dev.netmap.max_bridges is ${this.settings.maxBridges}; raise it (uvale sysctl dev.netmap.max_bridges=N)`,
        );
      }
      sw = new ValeSwitch(pn.bridge, this.settings, (line) => this.debug(1, line));
      const used = new Set([...this.switches.values()].map((s) => s.index));
      while (used.has(sw.index)) sw.index++;
      created = true;
    }
    let port = sw.find(pn.port);
    if (port === undefined) {
      const cfg: RingConfig = {
        txRings: opts.txRings ?? DEFAULT_RING_CONFIG.txRings,
        rxRings: opts.rxRings ?? DEFAULT_RING_CONFIG.rxRings,
        txSlots: opts.txSlots ?? Math.min(DEFAULT_RING_CONFIG.txSlots, this.settings.maxBuffers),
        rxSlots: opts.rxSlots ?? Math.min(DEFAULT_RING_CONFIG.rxSlots, this.settings.maxBuffers),
      };
      port = sw.createPort(pn.full, pn.port, cfg, opts.kind ?? 'netmap', opts.region);
      port.remote = opts.remote === true;
      port.hdrLen = hdrLen;
      if (created) {
        this.switches.set(pn.bridge, sw);
        this.debug(1, `created switch ${sw.name} (index ${sw.index})`);
      }
      this.debug(1, `attached ${port.kind} port ${port.name} as port ${port.index} of ${sw.name}`);
    } else {
      if (opts.share !== undefined) opts.share(port);
      if (port.hdrLen !== hdrLen) {
        throw new ValeError(
          ErrorCodes.INVALID_ARG,
          `port ${port.name} carries a ${port.hdrLen}-byte virtio-net header; open it with vnetHdrLen ${port.hdrLen}, not ${hdrLen}`,
        );
      }
    }
    port.users++;
    return port;
  }

  /**
   * A monitor of an existing port (netmap(4)'s PORT/r, /t, /rt; docs/monitors.md):
   * a new port of its own for each opener, on no switch, with the rings it
   * asks for and any virtio-net header length; it never takes PORT from its owner.
   */
  private acquireMonitor(pn: PortName, hdrLen: number, opts: OpenOptions): VPort {
    const sw = this.switches.get(pn.bridge);
    const port = sw?.find(pn.port);
    if (sw === undefined || port === undefined) {
      throw new ValeError(
        ErrorCodes.NOT_FOUND,
        `cannot monitor ${pn.full}: no port ${pn.bridge}:${pn.port} (a monitor watches a port that is open)`,
      );
    }
    const cfg: RingConfig = {
      txRings: opts.txRings ?? DEFAULT_RING_CONFIG.txRings,
      rxRings: opts.rxRings ?? DEFAULT_RING_CONFIG.rxRings,
      txSlots: opts.txSlots ?? Math.min(DEFAULT_RING_CONFIG.txSlots, this.settings.maxBuffers),
      rxSlots: opts.rxSlots ?? Math.min(DEFAULT_RING_CONFIG.rxSlots, this.settings.maxBuffers),
    };
    checkRingConfig(cfg, this.settings.maxBuffers);
    const geometry = regionGeometry(cfg);
    const region =
      opts.region !== undefined
        ? opts.region(geometry, pn.full)
        : initRegion(new Arena(geometry.size), 0, geometry, pn.full);
    const mp = new VPort(pn.full, `${pn.port}${pn.full.slice(pn.full.indexOf('/'))}`, region, 'monitor');
    mp.remote = opts.remote === true;
    mp.hdrLen = hdrLen;
    mp.monitor = pn.monitor;
    mp.monitored = port;
    sw.addMonitor(port, mp);
    mp.users = 1;
    this.debug(1, `monitor ${mp.name} attached to port ${port.index} of ${sw.name}`);
    return mp;
  }

  /** Drops one reference to `port`; the last one detaches it and may destroy its switch. */
  release(port: VPort): void {
    if (port.users <= 0) return;
    if (port.monitor !== 0) {
      port.users = 0;
      const watched = port.monitored;
      port.monitored = null;
      if (watched !== null && watched.sw instanceof ValeSwitch) watched.sw.removeMonitor(watched, port);
      return;
    }
    port.users--;
    if (port.users > 0 || port.persistent) return;
    this.detachPort(port);
  }

  /**
   * Takes `port` off its switch whatever its references (vale-ctl -d). Unless
   * `keepSwitch`, a switch left without ports is destroyed with its table;
   * with it, the next port attached gets the number just freed, and with
   * `keepMacs` the MACs learnt on it stay (a persistent port changing hands).
   */
  detachPort(port: VPort, keepSwitch = false, keepMacs = false): void {
    const sw = port.sw;
    if (sw === null) return;
    this.debug(1, `detached port ${port.name} (port ${port.index} of ${sw.name})`);
    sw.detach(port, keepMacs);
    const vs = this.switches.get(sw.name);
    if (!keepSwitch && vs !== undefined && vs.activePorts === 0) {
      this.switches.delete(sw.name);
      this.debug(1, `destroyed switch ${sw.name} and its learning table`);
    }
  }

  getSwitch(name: string): ValeSwitch | undefined {
    return this.switches.get(name);
  }

  listSwitches(): ValeSwitch[] {
    return [...this.switches.values()];
  }
}
