/*
 * The daemon's side of the control requests: one handler per entry of
 * src/control/requests.ts, typed from it. A connection checks a request's
 * arguments and access (connection.ts) before its handler runs; a handler
 * throws ValeError for anything the request cannot do.
 */

import type { Args, Replies, RequestName } from '../control/requests.js';
import type { VlanInfo } from '../control/types.js';
import { PROTOCOL_VERSION } from '../control/wire.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { parseAssignment, SETTINGS } from '../core/settings.js';
import { parseMac } from '../pkt/ether.js';
import { TunnelPort } from '../ports/vxlan/tunnel-port.js';
import { countersToObject } from '../switch/counters.js';
import { parsePortName, parseSwitchName } from '../switch/name.js';
import type { ValeSwitch } from '../switch/vale-switch.js';
import { formatVlanSpec, parseVlanSpec } from '../switch/vlan.js';
import type { Connection } from './connection.js';
import type { Daemon } from './server.js';

export interface RequestContext {
  readonly daemon: Daemon;
  readonly conn: Connection;
}

type Handler<K extends RequestName> = (cx: RequestContext, a: Args<K>) => Replies[K] | Promise<Replies[K]>;

/** The VLAN settings of a switch, as the 'vlan' and 'vlans' requests report them. */
function vlanInfos(sw: ValeSwitch): VlanInfo[] {
  return sw.vlanList().map((v) => ({
    name: `${sw.name}:${v.port}`,
    mode: formatVlanSpec(v.spec),
    attached: sw.find(v.port) !== undefined,
  }));
}

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
    const info = daemon.describePort(vp);
    const io = daemon.adapters().find((x) => x.name === info.name)?.extra.io;
    const out = { ...info, counters: countersToObject(vp.counters) };
    return typeof io === 'string' ? { ...out, io } : out;
  },
  mac: ({ daemon, conn }, a) => {
    const sw = daemon.host.getSwitch(a.switch);
    if (sw === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no switch named ${a.switch}`);
    daemon.access.check(conn, sw.name, 'read its learning table');
    return { switch: sw.name, entries: sw.macEntries() };
  },
  switches: ({ daemon }) => ({ switches: daemon.switches() }),
  'switch-owner': ({ daemon, conn }, a) => {
    const name = parseSwitchName(a.switch);
    if (a.release === true) {
      if (a.uid !== undefined || a.gid !== undefined) {
        throw new ValeError(ErrorCodes.INVALID_ARG, "'release' takes no 'uid' or 'gid'");
      }
      daemon.access.release(conn, name);
    } else {
      const gid = a.gid === undefined ? undefined : a.gid < 0 ? null : a.gid;
      const o = daemon.access.claim(conn, name, a.uid, gid);
      daemon.log(
        `switch ${name} claimed for uid ${o.uid}${o.gid !== null ? `, shared with gid ${o.gid}` : ''} by uid ${conn.uid}`,
      );
    }
    return { owner: daemon.switches().find((s) => s.switch === name) ?? null };
  },
  adapters: ({ daemon }, a) => ({ adapters: daemon.adapters(a.kind) }),
  fdb: ({ daemon, conn }, a) => {
    const t = tunnelPort(daemon, a.name);
    daemon.access.check(conn, parsePortName(t.name).bridge, 'read its tunnel forwarding database');
    return { name: t.name, entries: t.fdbList() };
  },
  'fdb-set': ({ daemon }, a) => {
    const t = tunnelPort(daemon, a.name);
    const mac = parseMac(a.mac);
    if (a.remote !== undefined) return { name: t.name, entry: t.fdbAdd(mac, a.remote) };
    if (!t.fdbDelete(mac)) throw new ValeError(ErrorCodes.NOT_FOUND, `${t.name} has no fdb entry for ${a.mac}`);
    return { name: t.name, entry: null };
  },
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
  attach: ({ daemon, conn }, a) => daemon.attach(a.name, { offload: a.offload !== false }, conn),
  detach: ({ daemon, conn }, a) => daemon.detach(a.name, conn),
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
  vlan: ({ daemon, conn }, a) => {
    const pn = parsePortName(a.name);
    const sw = daemon.host.getSwitch(pn.bridge);
    if (sw === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no switch named ${pn.bridge}`);
    sw.setVlan(pn.port, parseVlanSpec(a.mode));
    daemon.log(`${a.name}: vlan ${a.mode} (by uid ${conn.uid})`);
    return (
      vlanInfos(sw).find((v) => v.name === pn.full) ?? {
        name: pn.full,
        mode: 'none',
        attached: sw.find(pn.port) !== undefined,
      }
    );
  },
  vlans: ({ daemon }, a) => {
    const sws = daemon.host.listSwitches().filter((s) => a.switch === undefined || s.name === a.switch);
    return { vlans: sws.flatMap(vlanInfos) };
  },
};

/** The tunnel port (vxlan, geneve) attached as `name`. */
function tunnelPort(daemon: Daemon, name: string): TunnelPort {
  const a = daemon.adapter(name);
  if (!(a instanceof TunnelPort)) {
    throw new ValeError(
      ErrorCodes.NOT_FOUND,
      `${name} is not a vxlan or geneve port${a !== undefined ? ` (it is ${a.kind})` : ''}`,
    );
  }
  return a;
}

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
