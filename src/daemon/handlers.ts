/*
 * The daemon's side of the control requests: one handler per entry of
 * src/control/requests.ts, typed from it. A connection checks a request's
 * arguments and access (connection.ts) before its handler runs; a handler
 * throws ValeError for anything the request cannot do.
 */

import type { Args, Replies, RequestName } from '../control/requests.js';
import { PROTOCOL_VERSION } from '../control/wire.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { parseAssignment, SETTINGS } from '../core/settings.js';
import { countersToObject } from '../switch/counters.js';
import type { Connection } from './connection.js';
import type { Daemon } from './server.js';

export interface RequestContext {
  readonly daemon: Daemon;
  readonly conn: Connection;
}

type Handler<K extends RequestName> = (cx: RequestContext, a: Args<K>) => Replies[K] | Promise<Replies[K]>;

export const HANDLERS: { readonly [K in RequestName]: Handler<K> } = {
  hello: ({ daemon, conn }, a) => {
    if (a.version !== PROTOCOL_VERSION) {
      throw new ValeError(
        ErrorCodes.PROTOCOL,
        `protocol version ${a.version} not supported (daemon speaks ${PROTOCOL_VERSION})`,
      );
    }
    conn.greeted = true;
    return { version: PROTOCOL_VERSION, pid: process.pid, dir: daemon.paths.dir, uid: daemon.uid };
  },
  open: ({ conn }, a) => conn.openPort(a),
  close: ({ conn }, a) => {
    conn.closeHandle(a.handle);
    return {};
  },
  list: ({ daemon }) => ({ ports: daemon.listPorts() }),
  stats: ({ daemon }) => daemon.stats(),
  port: ({ daemon }, a) => {
    const vp = daemon.findPort(a.name);
    return { ...daemon.describePort(vp), counters: countersToObject(vp.counters) };
  },
  mac: ({ daemon }, a) => {
    const sw = daemon.host.getSwitch(a.switch);
    if (sw === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no switch named ${a.switch}`);
    return { switch: sw.name, entries: sw.macEntries() };
  },
  adapters: ({ daemon }, a) => ({ adapters: daemon.adapters(a.kind) }),
  persistent: ({ daemon }) => ({ ports: daemon.persistent.list() }),
  geometry: ({ daemon }, a) =>
    // the rings a port must be opened with: a persistent port's, fixed at its creation
    daemon.persistent.has(a.name) ? (daemon.persistent.list().find((p) => p.attached === a.name) ?? null) : null,
  sysctl: ({ daemon }, a) => {
    const s = daemon.host.settings;
    if (a.name !== undefined) s.get(a.name); // NOT_FOUND for an unknown setting
    return { settings: s.all(), specs: SETTINGS };
  },
  'sysctl-set': ({ daemon }, a) => {
    const s = daemon.host.settings;
    const { name, value } = parseAssignment(a.set);
    const old = s.get(name);
    s.set(name, value);
    daemon.settingsChanged();
    const note = limitNote(daemon, name, value);
    return note === undefined ? { name, old, value } : { name, old, value, note };
  },
  attach: ({ daemon }, a) => daemon.attach(a.name, { offload: a.offload !== false }),
  detach: ({ daemon }, a) => daemon.detach(a.name),
  newif: ({ daemon }, a) => {
    const { name, ...ring } = a;
    const r = daemon.persistent.create(name, ring);
    daemon.portsChanged();
    return r;
  },
  delif: ({ daemon }, a) => {
    daemon.persistent.destroy(a.name);
    daemon.portsChanged();
    return {};
  },
  mirror: ({ daemon }, a) => daemon.mirrors.set(a.src, a.dst, a.remove === true),
  mirrors: ({ daemon }) => ({ mirrors: daemon.mirrors.list() }),
  shutdown: ({ daemon, conn }) => {
    setImmediate(() => void daemon.stop(`shutdown requested by pid ${conn.pid} (uid ${conn.uid})`));
    return {};
  },
};

/** What a lowered limit means for what exists already (nothing is closed; new ones are refused). */
function limitNote(daemon: Daemon, name: string, value: number): string | undefined {
  const sws = daemon.host.listSwitches();
  if (name === 'dev.netmap.max_bridges' && sws.length > value) {
    return `${sws.length} switches exist: they stay; no new switch until fewer than ${value} remain`;
  }
  if (name === 'dev.netmap.max_ports') {
    const over = sws.filter((sw) => sw.list().length > value).map((sw) => sw.name);
    if (over.length > 0)
      return `${over.join(', ')} have more than ${value} ports: they stay; no new port there until fewer remain`;
  }
  return undefined;
}
