/*
 * The switch's tunables, named as netmap's sysctl variables (`dev.netmap.*`),
 * and uvale's own (`uvale.*`), which netmap has no counterpart for.
 *
 * The seed gives three hard limits (4 switches, 16 ports per switch, 1024
 * buffers per port) and says they will become sysctl variables: here they are.
 * Each setting has a default, an integer range and a one-line description;
 * `set()` validates and rejects anything else with VALE_ERR_INVALID_ARG.
 * A limit change applies to the next open: existing switches and ports keep
 * what they have (as netmap's load-time tunables do, but live).
 *
 * Buffers per port are counted per direction, as the seed's "1024 buffers per
 * port" counted them when a port had one ring of 1024 slots each way: the slots
 * of all of a port's TX rings together, and of all its RX rings together, must
 * not exceed `dev.netmap.max_buffers`.
 */

import { ErrorCodes, ValeError } from './errors.js';

export interface SettingSpec {
  readonly name: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly description: string;
  /** Read-only settings report a value but refuse `set()`. */
  readonly readonly?: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    name: 'dev.netmap.bridge',
    default: 1024,
    min: 1,
    max: 1024,
    description: 'frames processed per forwarding iteration; lower trades throughput for latency',
  },
  {
    name: 'dev.netmap.verbose',
    default: 0,
    min: 0,
    max: 1000,
    description: 'diagnostics in the log: 1 switch and port life and ring errors, 2 also every MAC learned (0: none)',
  },
  {
    name: 'dev.netmap.max_bridges',
    default: 4,
    min: 1,
    max: 64,
    description: 'maximum number of switches',
  },
  {
    name: 'dev.netmap.max_ports',
    default: 16,
    min: 1,
    max: 252,
    description: 'maximum number of ports per switch',
  },
  {
    name: 'dev.netmap.max_buffers',
    default: 1024,
    min: 2,
    max: 16384,
    description: 'buffers per port and direction (slots of all TX rings, likewise RX)',
  },
  {
    name: 'dev.netmap.buf_size',
    default: 2048,
    min: 2048,
    max: 2048,
    description: 'bytes per buffer (fixed)',
    readonly: true,
  },
  {
    name: 'uvale.busy_poll',
    default: 0,
    min: 0,
    max: 1_000_000,
    description:
      'microseconds the daemon keeps polling after a TAP or vhost-user port moved frames, instead of sleeping (as net.core.busy_poll); trades CPU for latency',
  },
  {
    name: 'uvale.tap_io',
    default: 1,
    min: 0,
    max: 1,
    description:
      'how TAP ports attached from now on move frames: 1 = io_uring (batched; read/write if the kernel refuses it), 0 = one read/write syscall per frame',
  },
  {
    name: 'uvale.busy_poll_budget',
    default: 0,
    min: 0,
    max: 100,
    description:
      'percent of a core the daemon may spend polling just before TAP traffic that comes at a regular gap is due (adaptive busy polling; 0: off)',
  },
  {
    name: 'uvale.shm_tx_chunk',
    default: 0,
    min: 0,
    max: 1024,
    description:
      'daemon ports opened from now on: TX slots forwarded before they are handed back to the client in the middle of a pass, so it refills while the daemon works (0: once per pass)',
  },
  {
    name: 'uvale.mac_ageing',
    default: 0,
    min: 0,
    max: 1_000_000,
    description: 'seconds after which a MAC not seen again is forgotten (0: never, as VALE)',
  },
  {
    name: 'uvale.vxlan_ageing',
    default: 300,
    min: 0,
    max: 1_000_000,
    description:
      'seconds after which a tunnel port forgets a learned MAC → remote entry (0: never; 300 as Linux vxlan)',
  },
  {
    name: 'uvale.vxlan_offload',
    default: 3,
    min: 0,
    max: 3,
    description:
      'UDP offloads of tunnel ports attached from now on: 1 = UDP GSO on send (UDP_SEGMENT), 2 = UDP GRO on receive (UDP_GRO), 3 = both',
  },
  {
    name: 'uvale.vhost_unsealed',
    default: 1,
    min: 0,
    max: 2,
    description:
      "vhost-user guest memory that cannot be sealed against shrinking (DPDK): 0 = refused, 1 = mapped for front-ends run by root or the daemon's user (who can stop the daemon anyway), 2 = mapped for every front-end (a truncation kills the daemon with SIGBUS)",
  },
  {
    name: 'uvale.max_clients_per_user',
    default: 64,
    min: 1,
    max: 65536,
    description: 'control connections one user may hold open to the daemon at once',
  },
  {
    name: 'uvale.max_ports_per_user',
    default: 64,
    min: 0,
    max: 65536,
    description: "ports one user other than root and the daemon's owner may hold (opened or attached)",
  },
  {
    name: 'uvale.max_switches_per_user',
    default: 4,
    min: 0,
    max: 65536,
    description: "switches one user other than root and the daemon's owner may own (made or claimed)",
  },
];

const SPEC_BY_NAME = new Map(SETTINGS.map((s) => [s.name, s]));

export type SettingName =
  | 'dev.netmap.bridge'
  | 'dev.netmap.verbose'
  | 'dev.netmap.max_bridges'
  | 'dev.netmap.max_ports'
  | 'dev.netmap.max_buffers'
  | 'dev.netmap.buf_size'
  | 'uvale.busy_poll'
  | 'uvale.tap_io'
  | 'uvale.busy_poll_budget'
  | 'uvale.shm_tx_chunk'
  | 'uvale.mac_ageing'
  | 'uvale.vxlan_ageing'
  | 'uvale.vxlan_offload'
  | 'uvale.vhost_unsealed'
  | 'uvale.max_clients_per_user'
  | 'uvale.max_ports_per_user'
  | 'uvale.max_switches_per_user';

export type SettingsInit = Partial<Record<string, number>>;

/** One set of tunables; a host (embedded or the daemon) owns one. */
export class Settings {
  // Hot settings are plain fields so the data path reads them without a map lookup.
  bridge = 1024;
  verbose = 0;
  maxBridges = 4;
  maxPorts = 16;
  maxBuffers = 1024;
  busyPoll = 0;
  tapIo = 1;
  busyPollBudget = 0;
  shmTxChunk = 0;
  maxClientsPerUser = 64;
  maxPortsPerUser = 64;
  maxSwitchesPerUser = 4;
  macAgeing = 0;
  vxlanAgeing = 300;
  vxlanOffload = 3;
  vhostUnsealed = 1;
  readonly bufSize = 2048;
  private readonly listeners: Array<(name: string, value: number) => void> = [];

  constructor(init: SettingsInit = {}) {
    for (const [k, v] of Object.entries(init)) {
      if (v !== undefined) this.set(k, v, true);
    }
  }

  static spec(name: string): SettingSpec {
    const s = SPEC_BY_NAME.get(name);
    if (s === undefined) {
      throw new ValeError(
        ErrorCodes.NOT_FOUND,
        `unknown setting '${name}' (known: ${SETTINGS.map((x) => x.name).join(', ')})`,
      );
    }
    return s;
  }

  get(name: string): number {
    Settings.spec(name);
    switch (name as SettingName) {
      case 'dev.netmap.bridge':
        return this.bridge;
      case 'dev.netmap.verbose':
        return this.verbose;
      case 'dev.netmap.max_bridges':
        return this.maxBridges;
      case 'dev.netmap.max_ports':
        return this.maxPorts;
      case 'dev.netmap.max_buffers':
        return this.maxBuffers;
      case 'dev.netmap.buf_size':
        return this.bufSize;
      case 'uvale.busy_poll':
        return this.busyPoll;
      case 'uvale.tap_io':
        return this.tapIo;
      case 'uvale.busy_poll_budget':
        return this.busyPollBudget;
      case 'uvale.shm_tx_chunk':
        return this.shmTxChunk;
      case 'uvale.max_clients_per_user':
        return this.maxClientsPerUser;
      case 'uvale.max_ports_per_user':
        return this.maxPortsPerUser;
      case 'uvale.max_switches_per_user':
        return this.maxSwitchesPerUser;
      case 'uvale.mac_ageing':
        return this.macAgeing;
      case 'uvale.vxlan_ageing':
        return this.vxlanAgeing;
      case 'uvale.vxlan_offload':
        return this.vxlanOffload;
      case 'uvale.vhost_unsealed':
        return this.vhostUnsealed;
    }
  }

  /** Validates and applies one setting; `force` allows read-only ones at construction. */
  set(name: string, value: number, force = false): void {
    const s = Settings.spec(name);
    if (s.readonly && !(force && value === s.default)) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `${name} is read-only (value ${s.default})`);
    }
    if (!Number.isInteger(value) || value < s.min || value > s.max) {
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `${name} must be an integer from ${s.min} to ${s.max}, got ${String(value)}`,
      );
    }
    switch (name as SettingName) {
      case 'dev.netmap.bridge':
        this.bridge = value;
        break;
      case 'dev.netmap.verbose':
        this.verbose = value;
        break;
      case 'dev.netmap.max_bridges':
        this.maxBridges = value;
        break;
      case 'dev.netmap.max_ports':
        this.maxPorts = value;
        break;
      case 'dev.netmap.max_buffers':
        this.maxBuffers = value;
        break;
      case 'dev.netmap.buf_size':
        break;
      case 'uvale.busy_poll':
        this.busyPoll = value;
        break;
      case 'uvale.tap_io':
        this.tapIo = value;
        break;
      case 'uvale.busy_poll_budget':
        this.busyPollBudget = value;
        break;
      case 'uvale.shm_tx_chunk':
        this.shmTxChunk = value;
        break;
      case 'uvale.max_clients_per_user':
        this.maxClientsPerUser = value;
        break;
      case 'uvale.max_ports_per_user':
        this.maxPortsPerUser = value;
        break;
      case 'uvale.max_switches_per_user':
        this.maxSwitchesPerUser = value;
        break;
      case 'uvale.mac_ageing':
        this.macAgeing = value;
        break;
      case 'uvale.vxlan_ageing':
        this.vxlanAgeing = value;
        break;
      case 'uvale.vxlan_offload':
        this.vxlanOffload = value;
        break;
      case 'uvale.vhost_unsealed':
        this.vhostUnsealed = value;
        break;
    }
    for (const l of this.listeners) l(name, value);
  }

  /** All settings as name → value, in declaration order. */
  all(): Record<string, number> {
    const o: Record<string, number> = {};
    for (const s of SETTINGS) o[s.name] = this.get(s.name);
    return o;
  }

  onChange(fn: (name: string, value: number) => void): void {
    this.listeners.push(fn);
  }
}

/** Parses `name=value` as sysctl does; the value must be a decimal integer. */
export function parseAssignment(text: string): { name: string; value: number } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ValeError(ErrorCodes.INVALID_ARG, `expected name=value, got '${text}'`);
  const name = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1).trim();
  if (!/^-?\d+$/.test(raw)) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `${name}: value '${raw}' is not an integer`);
  }
  return { name, value: Number(raw) };
}
