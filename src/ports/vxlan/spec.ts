/*
 * The attach spec of tunnel ports (docs/vxlan.md); parseTunnelSpec()
 * enforces it and says what is wrong.
 *
 *   vxlan:vni=N,local=ADDR[:PORT],remote=ADDR[:PORT][,remote=...][,learn-remotes][,mtu=N][,tso[=on|off]]
 *   geneve:...    the same, Geneve framing
 *
 * ADDR is a numeric IPv4 address or an IPv6 one, bracketed when a port
 * follows ([fd00::1]:4789); every remote has the local address's family.
 * PORT defaults to 4789 (vxlan) or 6081 (geneve); local=ADDR:0 lets the
 * kernel choose. `remote` may be left out only with `learn-remotes` (peers
 * are then learned from what arrives). `mtu` is the underlay's (default
 * 1500): frames longer than mtu - 36 (IPv4) or mtu - 56 (IPv6) bytes, i.e.
 * an inner MTU above mtu - 50 / - 70, are dropped. `tso` gives the port a
 * virtio-net header toward the switch: received TCP segments are coalesced
 * into TSO frames and TSO frames from the switch are cut and sent with GSO;
 * without the option the attach decides (tunnel-port.ts), `tso=off` refuses.
 *
 *   vxlan:vni=N,local=ADDR[:PORT],group=MCAST[:PORT],dev=IFNAME[,mtu=N]
 *
 * A multicast underlay, as Linux's `group` and `dev`: floods go once to the
 * group, the socket joins it on interface IFNAME (and sends multicast
 * there), and peers are learned from what arrives (learn-remotes is
 * implied). `group` excludes `remote`, as in Linux.
 */

import { type ErrorCode, ErrorCodes, ValeError } from '../../core/errors.js';
import { tryParseIp4, tryParseIp6 } from '../../pkt/ether.js';
import { GENEVE_PORT, MAX_VNI, VXLAN_PORT } from '../../pkt/tunnel.js';

export type TunnelKind = 'vxlan' | 'geneve';

export interface TunnelAddr {
  /** 4 or 16 bytes. */
  addr: Uint8Array;
  port: number;
  /** As written (for listings). */
  text: string;
}

export interface TunnelSpec {
  kind: TunnelKind;
  vni: number;
  local: TunnelAddr;
  remotes: TunnelAddr[];
  learnRemotes: boolean;
  /** A multicast underlay: the group floods go to, and the interface it is joined on. */
  group: TunnelAddr | null;
  dev: string | null;
  mtu: number;
  /**
   * The port carries a virtio-net header (TSO frames both ways with the switch): `tso` or `tso=on`,
   * `tso=off`, or null (not given: decided at attach, on when the switch has a port with a header then).
   */
  tso: boolean | null;
  text: string;
}

/** Configured remotes per port at most. */
export const MAX_REMOTES = 64;
export const DEFAULT_MTU = 1500;
/** Bytes outside the inner frame: outer IP (20 or 40), UDP (8) and the tunnel header (8). */
export const OVERHEAD_V4 = 36;
export const OVERHEAD_V6 = 56;

export const SPEC_FORMS = [
  'vxlan:vni=N,local=ADDR[:PORT],remote=ADDR[:PORT][,remote=...][,learn-remotes][,mtu=N][,tso[=on|off]]',
  'geneve:vni=N,local=ADDR[:PORT],remote=ADDR[:PORT][,remote=...][,learn-remotes][,mtu=N][,tso[=on|off]]',
  'vxlan|geneve:vni=N,local=ADDR[:PORT],group=MCAST[:PORT],dev=IFNAME[,mtu=N]',
];

/** A multicast address: 224.0.0.0/4 or ff00::/8. */
function isMulticast(a: Uint8Array): boolean {
  return a.length === 4 ? ((a[0] as number) & 0xf0) === 0xe0 : a[0] === 0xff;
}

function bad(text: string, why: string, code: ErrorCode = ErrorCodes.INVALID_ARG): ValeError {
  return new ValeError(code, `bad tunnel port spec '${text}': ${why} (forms: ${SPEC_FORMS.join(' | ')})`);
}

/** The default UDP port of a kind. */
export function defaultPort(kind: TunnelKind): number {
  return kind === 'vxlan' ? VXLAN_PORT : GENEVE_PORT;
}

/** The 4 or 16 bytes of a numeric IP address, or undefined. */
export function ipBytes(text: string): Uint8Array | undefined {
  const v4 = tryParseIp4(text);
  if (v4 !== undefined) return new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]);
  return text.includes(':') ? tryParseIp6(text) : undefined;
}

/** Parses ADDR[:PORT] (IPv6 bracketed when a port follows); throws `bad` when it is not one. */
export function parseTunnelAddr(value: string, port: number, text: string): TunnelAddr {
  let host = value;
  let portText: string | null = null;
  if (value.startsWith('[')) {
    const e = value.indexOf(']');
    if (e < 0) throw bad(text, `unclosed '[' in '${value}'`);
    host = value.slice(1, e);
    const rest = value.slice(e + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw bad(text, `expected ':PORT' after [${host}]`);
      portText = rest.slice(1);
    }
  } else {
    const c = value.indexOf(':');
    if (c >= 0 && value.indexOf(':', c + 1) < 0) {
      host = value.slice(0, c);
      portText = value.slice(c + 1);
    }
  }
  const addr = ipBytes(host);
  if (addr === undefined) throw bad(text, `'${host}' is not a numeric IPv4 or IPv6 address`);
  let p = port;
  if (portText !== null) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw bad(text, `'${portText}' is not a port number (0..65535)`);
    }
    p = Number(portText);
  }
  return { addr, port: p, text: value };
}

function sameAddr(a: TunnelAddr, b: TunnelAddr): boolean {
  return a.port === b.port && a.addr.length === b.addr.length && a.addr.every((x, i) => x === b.addr[i]);
}

/** Parses a whole spec ("vxlan:..." or "geneve:..."); throws INVALID_ARG naming the problem. */
export function parseTunnelSpec(text: string): TunnelSpec {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  if (kind !== 'vxlan' && kind !== 'geneve') throw bad(text, `unknown kind '${kind}'`);
  const port = defaultPort(kind);
  let vni: number | null = null;
  let local: TunnelAddr | null = null;
  const remotes: TunnelAddr[] = [];
  let learnRemotes = false;
  let group: TunnelAddr | null = null;
  let dev: string | null = null;
  let mtu = DEFAULT_MTU;
  let tso: boolean | null = null;
  const body = colon < 0 ? '' : text.slice(colon + 1);
  if (body === '') throw bad(text, 'needs vni=, local= and remote=');
  for (const item of body.split(',')) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? null : item.slice(eq + 1);
    if (key === 'learn-remotes' && value === null) {
      learnRemotes = true;
      continue;
    }
    if (key === 'tso') {
      if (value !== null && value !== 'on' && value !== 'off')
        throw bad(text, `tso='${value}': say tso, tso=on or tso=off`);
      if (tso !== null) throw bad(text, 'tso given twice');
      tso = value !== 'off';
      continue;
    }
    if (value === null || value === '') throw bad(text, `'${item}' needs a value`);
    switch (key) {
      case 'vni':
        if (vni !== null) throw bad(text, 'vni given twice');
        if (!/^[0-9]{1,8}$/.test(value) || Number(value) > MAX_VNI) {
          throw bad(text, `vni '${value}' is not an integer from 0 to ${MAX_VNI}`);
        }
        vni = Number(value);
        break;
      case 'local':
        if (local !== null) throw bad(text, 'local given twice');
        local = parseTunnelAddr(value, port, text);
        break;
      case 'remote':
        remotes.push(parseTunnelAddr(value, port, text));
        break;
      case 'mtu':
        if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 576 || Number(value) > 65535) {
          throw bad(text, `mtu '${value}' is not an integer from 576 to 65535`);
        }
        mtu = Number(value);
        break;
      case 'group':
        if (group !== null) throw bad(text, 'group given twice');
        group = parseTunnelAddr(value, port, text);
        if (!isMulticast(group.addr)) throw bad(text, `group ${value} is not a multicast address`);
        if (group.port === 0) throw bad(text, `group ${value} has port 0`);
        break;
      case 'dev':
        if (dev !== null) throw bad(text, 'dev given twice');
        if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value)) throw bad(text, `dev '${value}' is not an interface name`);
        dev = value;
        break;
      default:
        throw bad(text, `unknown option '${key}'`);
    }
  }
  if (vni === null) throw bad(text, 'vni= is missing');
  if (local === null) throw bad(text, 'local= is missing');
  if (group !== null) {
    if (remotes.length > 0) throw bad(text, 'group= and remote= exclude each other (as in Linux)');
    if (dev === null) throw bad(text, 'group= needs dev=IFNAME (the interface to join it on)');
    if (group.addr.length !== local.addr.length) throw bad(text, `group ${group.text} is not of local's family`);
    learnRemotes = true;
  } else if (dev !== null) throw bad(text, 'dev= is only for group=');
  if (remotes.length === 0 && !learnRemotes) throw bad(text, 'remote= is missing (or say learn-remotes)');
  if (remotes.length > MAX_REMOTES) throw bad(text, `more than ${MAX_REMOTES} remotes`);
  for (let i = 0; i < remotes.length; i++) {
    const r = remotes[i] as TunnelAddr;
    if (r.addr.length !== local.addr.length) {
      throw bad(
        text,
        `remote ${r.text} is not of local ${local.text}'s family (IPv${local.addr.length === 4 ? 4 : 6})`,
      );
    }
    if (r.port === 0) throw bad(text, `remote ${r.text} has port 0`);
    if (r.addr.every((x) => x === 0)) throw bad(text, `remote ${r.text} is the unspecified address`);
    for (let j = 0; j < i; j++)
      if (sameAddr(r, remotes[j] as TunnelAddr)) throw bad(text, `remote ${r.text} given twice`);
  }
  return { kind, vni, local, remotes, learnRemotes, group, dev, mtu, tso, text };
}

/** The longest frame (Ethernet header included) a spec's underlay carries. */
export function maxInnerFrame(s: TunnelSpec): number {
  return s.mtu - (s.local.addr.length === 4 ? OVERHEAD_V4 : OVERHEAD_V6);
}
