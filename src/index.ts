/*
 * uvale's public API. Everything a client needs is re-exported here; modules
 * not listed are internal.
 */

import { LocalPort } from './ports/local/local-port.js';
import { type ConnectPortOptions, DaemonPort } from './ports/shm/shm-client.js';
import { type OpenOptions, ValeHost } from './switch/host.js';

export { type ConnectOptions, DaemonClient } from './control/client.js';
export { runDir } from './control/paths.js';
export { type ErrorCode, ErrorCodes, isValeError, ValeError } from './core/errors.js';
export { parseAssignment, SETTINGS, type SettingSpec, Settings } from './core/settings.js';
export { Daemon, type DaemonOptions } from './daemon/server.js';
export { LocalPort } from './ports/local/local-port.js';
export type { NetmapPort, PollOptions, PollResult } from './ports/port.js';
export { type ConnectPortOptions, DaemonPort } from './ports/shm/shm-client.js';
export { Arena } from './ring/arena.js';
export * as layout from './ring/layout.js';
export { NetmapRing } from './ring/netmap-ring.js';
export { COUNTER_NAMES, type PortCounters } from './switch/counters.js';
export { type LookupFn, NM_BDG_BROADCAST, NM_BDG_NOPORT } from './switch/forward.js';
export { formatMac, macWords, parseMac, rthash } from './switch/hash.js';
export { type OpenOptions, ValeHost } from './switch/host.js';
export { type PortName, parsePortName } from './switch/name.js';
export { type LookupModule, type MacTableEntry, ValeSwitch } from './switch/vale-switch.js';
export { formatVlanSpec, parseVlanSpec, type VlanSpec } from './switch/vlan.js';

let processHost: ValeHost | null = null;

/** The switches of this process, made on first use with default settings. */
export function defaultHost(): ValeHost {
  if (processHost === null) processHost = new ValeHost();
  return processHost;
}

export interface OpenPortOptions extends OpenOptions {
  /** The host whose switches to use; defaults to this process's (defaultHost()). */
  host?: ValeHost;
}

/**
 * Opens the port `name` (vale[bdg:][port]) on a switch in this process,
 * creating the switch and the port if needed, as netmap's register does.
 */
export function openPort(name: string, opts: OpenPortOptions = {}): LocalPort {
  const host = opts.host ?? defaultHost();
  return new LocalPort(host, host.acquire(name, opts));
}

/**
 * Opens the port `name` through the uvale daemon, from any process: the switch
 * is shared by every program that opens a port of it, as with VALE in the
 * kernel. The daemon is started if none runs in the run directory.
 */
export function connectPort(name: string, opts: ConnectPortOptions = {}): Promise<DaemonPort> {
  return DaemonPort.open(name, opts);
}
