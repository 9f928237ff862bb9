/*
 * `uvale ctl`: vale-ctl for uvale. Lists ports, shows a port's geometry and
 * counters, a switch's MAC table, creates and destroys persistent ports,
 * attaches and detaches them and TAP interfaces, adds and removes mirrors
 * (docs/monitors.md), and stops the daemon. Only
 * -a and -n start a daemon (they create something, as vale-ctl does);
 * otherwise with none running there is nothing to show.
 */

import { DaemonClient } from '../../control/client.js';
import type { AdapterInfo } from '../../control/types.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { absolutizeAttach, specForms } from '../../ports/kinds.js';
import { configText, exportConfig, runningState } from '../apply/plan.js';
import { parseToolArgs, runTool, UsageError } from '../common/cli.js';
import { connectForAction, connectForListing } from '../common/daemon.js';
import { table } from '../common/format.js';
import { groupId, groupName, userId, userName } from '../common/groups.js';
import { parseRingConfig } from '../common/ring-config.js';

export const USAGE = `usage: uvale ctl [options] [-l NAME | -g NAME | -n IF | -r IF | -a SW:IF[=SPEC] | -d SW:IF | --mac SWITCH | --fdb SW:PORT [MAC=ADDR | del=MAC] | --stats [NAME]
                 | --vlan SW:PORT=MODE | --vlans | --mirror SW:SRC=SW:DST | --no-mirror SW:SRC=SW:DST | --mirrors | --switches | --owner SWITCH=[USER][:GROUP] | --disown SWITCH]

Inspects the switches of a running daemon (netmap's vale-ctl).

  (no option)        list every port: NAME bridge_idx B port_idx P
  -l NAME            print the switch and port numbers of port NAME
  -g NAME            print port NAME's memory size, slots, rings and virtio-net header length
                     (and a TAP's I/O path: io uring, or syscall when io_uring is off or refused)
  -n IF              create the persistent port IF (not on any switch yet)
  -C TX[,RX[,TXR[,RXR]]]  with -n: slots per TX and RX ring, and ring counts
  -r IF              destroy the persistent port IF (it must be detached)
  -a SWITCH:IF       attach IF to SWITCH as port SWITCH:IF: the persistent port IF,
                     or else the TAP interface IF (created if no interface IF exists);
                     creates the switch; a persistent port keeps its number while
                     clients open and close it, and receives nothing while closed.
                     A TAP gets checksum and TCP segmentation offloads (64 KB segments
                     cross the switch whole; the switch segments them for ports
                     without offloads)
  --no-offload       with -a of a TAP: no offloads (the kernel segments and checksums)
  -a SWITCH:PORT=SPEC  attach a QEMU socket back-end as port SWITCH:PORT; SPEC is one of
                     stream:unix:PATH[,connect]      QEMU -netdev stream,addr.type=unix,addr.path=PATH
                     stream:tcp:HOST:PORT[,connect]  QEMU -netdev stream,addr.type=inet,...
                     socket:tcp:HOST:PORT[,connect]  QEMU -netdev socket,connect=|listen=HOST:PORT
                     dgram:udp:LHOST:LPORT:RHOST:RPORT  QEMU -netdev dgram, local = RHOST:RPORT,
                                                     remote = LHOST:LPORT
                     socket:udp:LHOST:LPORT:RHOST:RPORT QEMU -netdev socket,udp=LHOST:LPORT,
                                                     localaddr=RHOST:RPORT
                     uvale listens by default (QEMU with server=off); ',connect' dials a QEMU
                     started with server=on and redials after it restarts. Streams carry a
                     4-byte big-endian length before each frame; UDP one frame per datagram.
                     e.g. uvale ctl -a vale0:vm1=stream:unix:/run/vm1.sock
                     vhost-user:PATH[,connect]  a vhost-user port (QEMU -netdev vhost-user,
                                                     DPDK virtio-user); ',connect' dials the
                                                     front-end's server=on socket and redials
                     every kind's forms: ${specForms().join(' | ')}
  -d SWITCH:IF       detach it (a TAP that -a created goes away; an adapter: -d SWITCH:PORT)
  --mac SWITCH       print the learning table of SWITCH (bucket, MAC, port)
  --vlan SWITCH:PORT=MODE  set a port's VLAN mode (docs/vlans.md): access:VID (untagged, in VID),
                     trunk[:VIDS][,native=VID] (802.1Q tagged, VIDS as 1-10,20; every VID if none;
                     untagged frames in the native VID, else dropped), none (the default);
                     the first setting makes the switch VLAN-aware
  --vlans [SWITCH]   list the VLAN settings: port, mode, attached
  --switches         list the switches and claimed names: index, ports, owner, group
  --owner SWITCH=[USER][:GROUP]  claim SWITCH (made now or later) for USER (default: you),
                     shared with GROUP (whose members may open, attach and monitor there);
                     SWITCH=:GROUP shares a switch you own, SWITCH=: shares it with nobody.
                     Only root and the daemon's owner may give a switch to someone else
  --disown SWITCH    end a claim: the switch is nobody's once its last port goes
  --fdb SW:PORT      print the forwarding database of a vxlan or geneve port (MAC, remote,
                     static or learned, age in seconds); with MAC=ADDR[:PORT] add a static
                     entry (as bridge fdb append), with del=MAC remove one (docs/vxlan.md)
  --stats [NAME]     print the counters of every port, or of NAME
  --adapters [KIND]  list the adapters (TAP, QEMU, VDE, ... ports), or those of KIND: kind, spec,
                     state, frames each way, drops, errors, last error
  --qemu             list the QEMU ports: spec, connection, frames each way, drops, last error
  --mirror SW:SRC=SW:DST   copy everything port SRC receives and sends to port DST too (a
                     mirror, as an OVS mirror or a switch's SPAN port; DST may be a TAP, so the
                     host's tcpdump or Wireshark sees it); SW:SRC/r or SW:SRC/t copies one
                     direction only (r: what SRC receives, t: what it sends). Kept by name: it
                     resumes when SRC or DST comes back. DST keeps its own traffic
  --no-mirror SW:SRC=SW:DST  remove that mirror
  --mirrors          list the mirrors, and the monitors (SW:PORT/r, /t, /rt) open now
  --export           print the running state as a file for uvale apply (YAML)
  --shutdown         stop the daemon (its ports are closed)
  --json             print JSON instead of text
  --dir DIR          run directory of the daemon
  -h, --help         this text`;

/** The kinds of QEMU's socket back-ends (--qemu). */
const QEMU_KINDS = new Set(['stream', 'socket', 'dgram']);

function adapterTable(list: readonly AdapterInfo[]): string {
  return table([
    ['PORT', 'KIND', 'SPEC', 'STATE', 'IN', 'OUT', 'IN_DROP', 'OUT_DROP', 'ERRORS', 'LAST_ERROR'],
    ...list.map((a) => [
      a.name,
      a.kind,
      a.spec,
      a.state,
      String(a.counters.inFrames),
      String(a.counters.outFrames),
      String(a.counters.inDrops),
      String(a.counters.outDrops),
      String(a.counters.errors),
      a.lastError === '' ? '-' : a.lastError,
    ]),
  ]);
}

/** "SWITCH=[USER][:GROUP]" → the switch-owner request's arguments (names read from /etc/passwd and /etc/group). */
function parseOwner(text: string): { switch: string; uid?: number; gid?: number } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--owner takes SWITCH=[USER][:GROUP], got '${text}'`);
  const sw = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  const colon = rest.indexOf(':');
  const user = colon < 0 ? rest : rest.slice(0, colon);
  const group = colon < 0 ? undefined : rest.slice(colon + 1);
  return {
    switch: sw,
    ...(user !== '' ? { uid: userId(user) } : {}),
    ...(group !== undefined ? { gid: group === '' ? -1 : groupId(group) } : {}),
  };
}

export function run(argv: string[]): Promise<number> {
  return runTool('ctl', () => ctl(argv));
}

/** SW:SRC=SW:DST of --mirror / --no-mirror. */
function mirrorPair(text: string, opt: string): { src: string; dst: string } {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new UsageError(`${opt} takes SW:SRC=SW:DST, not '${text}'`);
  return { src: text.slice(0, eq), dst: text.slice(eq + 1) };
}

async function ctl(argv: string[]): Promise<number> {
  const h = argv.indexOf('-h');
  if (h >= 0 && argv[h + 1] !== undefined && !argv[h + 1]?.startsWith('-')) {
    // vale-ctl's -h NAME: attach NAME together with its host stack
    throw new UsageError(
      `vale-ctl's '-h ${argv[h + 1]}' attaches a NIC with its host stack; uvale has no NICs: attach a TAP interface instead (uvale ctl -a ${argv[h + 1]}), which the host stack uses`,
    );
  }
  const { values, positionals } = parseToolArgs({
    args: argv,
    options: {
      l: { type: 'string', short: 'l' },
      g: { type: 'string', short: 'g' },
      a: { type: 'string', short: 'a' },
      d: { type: 'string', short: 'd' },
      n: { type: 'string', short: 'n' },
      r: { type: 'string', short: 'r' },
      C: { type: 'string', short: 'C' },
      mac: { type: 'string' },
      vlan: { type: 'string' },
      vlans: { type: 'boolean' },
      switches: { type: 'boolean' },
      owner: { type: 'string' },
      disown: { type: 'string' },
      fdb: { type: 'string' },
      mirror: { type: 'string' },
      'no-mirror': { type: 'string' },
      mirrors: { type: 'boolean' },
      stats: { type: 'boolean' },
      qemu: { type: 'boolean' },
      adapters: { type: 'boolean' },
      export: { type: 'boolean' },
      shutdown: { type: 'boolean' },
      json: { type: 'boolean' },
      'no-offload': { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // as vale-ctl: a word that is no option's value is a mistake; only --adapters KIND and --stats NAME take one
  const stray = positionals.slice(values.adapters || values.stats || values.fdb !== undefined || values.vlans ? 1 : 0);
  if (stray.length > 0) throw new UsageError(`unexpected argument '${stray[0]}'`);
  const ringConfig = parseRingConfig(values.C); // checked before a daemon is reached (or started by -n)
  const mirror: { src: string; dst: string; remove?: boolean } | undefined =
    values.mirror !== undefined
      ? mirrorPair(values.mirror, '--mirror')
      : values['no-mirror'] !== undefined
        ? { ...mirrorPair(values['no-mirror'], '--no-mirror'), remove: true }
        : undefined;
  const named =
    values.l ??
    values.g ??
    values.mac ??
    values.vlan ??
    values.fdb ??
    values.d ??
    values.r ??
    values.owner ??
    values.disown ??
    mirror?.src;
  const listing = named === undefined && !values.shutdown && values.a === undefined && values.n === undefined;
  let client: DaemonClient;
  if (values.a !== undefined || values.n !== undefined) {
    // they create something, as vale-ctl does: a daemon is started if none runs
    client = await DaemonClient.connect(values.dir !== undefined ? { dir: values.dir } : {});
  } else if (listing) {
    const c = await connectForListing('ctl', values.dir);
    if (c === null) {
      if (values.json) {
        const empty = values.stats
          ? { switches: [] }
          : values.qemu || values.adapters || values.mirrors || values.vlans
            ? []
            : { ports: [], adapters: [] };
        process.stdout.write(`${JSON.stringify(empty)}\n`);
      }
      return 0;
    }
    client = c;
  } else {
    client = await connectForAction(values.dir, values.shutdown ? 'stop' : 'act on');
  }
  const print = (text: string, json: unknown): void => {
    process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : text.length > 0 ? `${text}\n` : '');
  };
  try {
    if (values.shutdown) {
      await client.request('shutdown');
      print('daemon stopping', {});
    } else if (values.n !== undefined) {
      const r = await client.request('newif', { name: values.n, ...ringConfig });
      print(`${values.n} created: ${r.txRings}x${r.txSlots} TX, ${r.rxRings}x${r.rxSlots} RX slots`, r);
    } else if (values.r !== undefined) {
      await client.request('delif', { name: values.r });
      print(`${values.r} destroyed`, { name: values.r });
    } else if (values.a !== undefined) {
      const name = absolutizeAttach(values.a, process.cwd()); // a relative path is the requester's, not the daemon's
      const off = values['no-offload'] ? { offload: false } : {};
      const r = await client.request('attach', { name, ...off });
      print(`${r.name} attached, port_idx ${r.index}`, r);
    } else if (values.d !== undefined) {
      const r = await client.request('detach', { name: values.d });
      print(`${r.name} detached`, r);
    } else if (mirror !== undefined) {
      const r = await client.request('mirror', mirror);
      const what = `mirror ${r.src}${r.dirs === 'rt' ? '' : `/${r.dirs}`} -> ${r.dst}`;
      print(
        mirror.remove === true ? `${what} removed` : `${what} added${r.active ? '' : ' (waiting for its ports)'}`,
        r,
      );
    } else if (values.mirrors) {
      const r = await client.request('mirrors');
      const rows = [
        ['SOURCE', 'DIRS', 'DESTINATION', 'KIND', 'ACTIVE'],
        ...r.mirrors.map((m) => [m.src, m.dirs, m.dst, m.kind, m.active ? 'yes' : 'no']),
      ];
      print(r.mirrors.length > 0 ? table(rows) : '', r.mirrors);
    } else if (values.l !== undefined) {
      const p = await client.request('port', { name: values.l });
      print(`bridge_idx: ${p.bridgeIndex}\nport_idx: ${p.index}`, { bridge_idx: p.bridgeIndex, port_idx: p.index });
    } else if (values.g !== undefined) {
      const p = await client.request('port', { name: values.g });
      const info = {
        memsize: p.memsize,
        tx_slots: p.txSlots,
        rx_slots: p.rxSlots,
        tx_rings: p.txRings,
        rx_rings: p.rxRings,
        mem_id: 0,
        vnet_hdr_len: p.vnetHdrLen,
        ...(p.io === undefined ? {} : { io: p.io }),
      };
      print(
        Object.entries(info)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
        info,
      );
    } else if (values.qemu) {
      const r = await client.request('adapters');
      const qemus = r.adapters.filter((a) => QEMU_KINDS.has(a.kind));
      const rows = [
        ['PORT', 'SPEC', 'MODE', 'UP', 'CONNECTS', 'IN', 'OUT', 'NOPEER', 'TXDROP', 'BAD', 'LAST_ERROR'],
        ...qemus.map((q) => [
          q.name,
          q.spec,
          String(q.extra.mode),
          q.state === 'up' ? 'yes' : 'no',
          String(q.extra.connects),
          String(q.counters.inFrames),
          String(q.counters.outFrames),
          String(q.counters.outDrops),
          String(q.counters.inDrops),
          String(q.counters.errors),
          q.lastError === '' ? '-' : q.lastError,
        ]),
      ];
      print(qemus.length > 0 ? table(rows) : '', qemus);
    } else if (values.export) {
      process.stdout.write(configText(exportConfig(await runningState(client))));
    } else if (values.adapters) {
      const kind = positionals[0];
      const r = await client.request('adapters', kind !== undefined ? { kind } : {});
      print(r.adapters.length > 0 ? adapterTable(r.adapters) : '', r.adapters);
    } else if (values.owner !== undefined) {
      const r = await client.request('switch-owner', parseOwner(values.owner));
      const o = r.owner;
      print(
        o === null ? '' : `${o.switch}: owner ${userName(o.uid)}${o.gid !== null ? `, group ${groupName(o.gid)}` : ''}`,
        o,
      );
    } else if (values.disown !== undefined) {
      const r = await client.request('switch-owner', { switch: values.disown, release: true });
      print(`${values.disown}: no longer claimed${r.owner !== null ? ` (it stays while it has ports)` : ''}`, r.owner);
    } else if (values.switches) {
      const r = await client.request('switches');
      const rows = [
        ['SWITCH', 'INDEX', 'PORTS', 'OWNER', 'GROUP', 'CLAIMED'],
        ...r.switches.map((w) => [
          w.switch,
          w.index < 0 ? '-' : String(w.index),
          String(w.ports),
          userName(w.uid),
          w.gid === null ? '-' : groupName(w.gid),
          w.claimed ? 'yes' : 'no',
        ]),
      ];
      print(r.switches.length > 0 ? table(rows) : '', r.switches);
    } else if (values.vlan !== undefined) {
      const eq = values.vlan.indexOf('=');
      if (eq <= 0) throw new UsageError(`--vlan takes SWITCH:PORT=MODE, got '${values.vlan}'`);
      const r = await client.request('vlan', { name: values.vlan.slice(0, eq), mode: values.vlan.slice(eq + 1) });
      print(`${r.name}: vlan ${r.mode}${r.attached ? '' : ' (applies when the port attaches)'}`, r);
    } else if (values.vlans) {
      const sw = positionals[0];
      const r = await client.request('vlans', sw !== undefined ? { switch: sw } : {});
      const rows = [['PORT', 'VLAN', 'ATTACHED'], ...r.vlans.map((v) => [v.name, v.mode, v.attached ? 'yes' : 'no'])];
      print(r.vlans.length > 0 ? table(rows) : '', r.vlans);
    } else if (values.mac !== undefined) {
      const r = await client.request('mac', { switch: values.mac });
      const vid = r.entries.some((e) => e.vid !== undefined); // a VLAN-aware switch: (VID, MAC) entries
      const rows = [
        ['BUCKET', 'MAC', 'PORT_IDX', 'PORT', ...(vid ? ['VID'] : [])],
        ...r.entries.map((e) => [String(e.bucket), e.mac, String(e.port), e.portName, ...(vid ? [String(e.vid)] : [])]),
      ];
      print(table(rows), r.entries);
    } else if (values.fdb !== undefined) {
      const name = values.fdb;
      const arg = positionals[0];
      if (arg !== undefined) {
        const eq = arg.indexOf('=');
        if (eq <= 0) throw new UsageError(`expected MAC=ADDR[:PORT] or del=MAC, got '${arg}'`);
        const [k, v] = [arg.slice(0, eq), arg.slice(eq + 1)];
        const r = await client.request('fdb-set', k === 'del' ? { name, mac: v } : { name, mac: k, remote: v });
        print(r.entry === null ? `${v} removed from ${r.name}` : `${r.entry.mac} → ${r.entry.remote} (static)`, r);
      } else {
        const r = await client.request('fdb', { name });
        const rows = [
          ['MAC', 'REMOTE', 'TYPE', 'AGE'],
          ...r.entries.map((e) => [e.mac, e.remote, e.type, String(e.age)]),
        ];
        print(table(rows), r.entries);
      }
    } else if (values.stats) {
      const st = await client.request('stats');
      let ports = st.switches.flatMap((s) => s.ports);
      const want = positionals[0];
      if (want !== undefined) {
        ports = ports.filter((p) => p.name === want);
        if (ports.length === 0) throw new ValeError(ErrorCodes.NOT_FOUND, `no port named ${want}`);
      }
      const keys = ports.length > 0 ? Object.keys(ports[0]?.counters ?? {}) : [];
      const rows = [['PORT', ...keys], ...ports.map((p) => [p.name, ...keys.map((k) => String(p.counters[k]))])];
      print(table(rows), want !== undefined ? ports[0] : st);
    } else {
      const r = await client.request('list');
      const a = values.json ? await client.request('adapters') : { adapters: [] };
      print(r.ports.map((p) => `${p.name} bridge_idx ${p.bridgeIndex} port_idx ${p.index}`).join('\n'), {
        ports: r.ports,
        adapters: a.adapters,
      });
    }
    return 0;
  } finally {
    client.close();
  }
}
