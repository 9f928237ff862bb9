/*
 * pkt-gen's address arguments: `-s/-d ip[:port][-ip[:port]]` and `-S/-D mac`.
 *
 * Follows extract_ip_range() in apps/pkt-gen/pkt-gen.c: the first '-' splits
 * start from end; a missing port is 1234, a missing end port equals the start
 * port; reversed IPv4 bounds and reversed ports are swapped; ports take C
 * strtol base-0 syntax (decimal, 0x hex, 0 octal). IPv6 (`-6`) forms are
 * `[group@]addr`, `[group@][addr]`, `[group@][addr]:port`; `group` (0..7,
 * default 7) names the 16-bit word of the address that the range walks.
 * Unlike pkt-gen, which silently uses 0.0.0.0 for text inet_pton rejects, a
 * bad address or port raises ValeError(INVALID_ARG).
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { formatIp4, formatIp6, parseMac, tryParseIp4, tryParseIp6 } from './ether.js';

export const PKTGEN_DEFAULT_PORT = 1234;
export const PKTGEN_DEFAULT_SRC = '10.0.0.1';
export const PKTGEN_DEFAULT_DST = '10.1.0.1';
export const PKTGEN_DEFAULT_DST_MAC = 'ff:ff:ff:ff:ff:ff';
/** A VALE port has no MAC of its own, so pkt-gen's `-S` default ends up all zeros. */
export const PKTGEN_DEFAULT_SRC_MAC = '00:00:00:00:00:00';

export interface Ip4Range {
  readonly family: 4;
  /** Unsigned 32-bit addresses, start <= end. */
  readonly start: number;
  readonly end: number;
  readonly port0: number;
  readonly port1: number;
}

export interface Ip6Range {
  readonly family: 6;
  readonly start: Uint8Array;
  readonly end: Uint8Array;
  /** Index (0..7) of the 16-bit word that walks from start[group] to end[group]. */
  readonly group: number;
  readonly port0: number;
  readonly port1: number;
}

export type IpRange = Ip4Range | Ip6Range;

/** True if the range holds more than one 4-tuple component (pkt-gen's OPT_COPY). */
export function isMultiRange(r: IpRange): boolean {
  if (r.port0 !== r.port1) return true;
  if (r.family === 4) return r.start !== r.end;
  return word(r.start, r.group) !== word(r.end, r.group);
}

function word(a: Uint8Array, g: number): number {
  return (a[2 * g] << 8) | a[2 * g + 1];
}

/** C strtol(s, NULL, 0) restricted to a whole, valid port number. */
export function parsePort(text: string): number {
  const t = text.trim();
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) v = Number.parseInt(t.slice(2), 16);
  else if (/^0[0-7]+$/.test(t)) v = Number.parseInt(t.slice(1), 8);
  else if (/^(0|[1-9][0-9]*)$/.test(t)) v = Number(t);
  else throw new ValeError(ErrorCodes.INVALID_ARG, `invalid port '${text}'`);
  if (v > 65535) throw new ValeError(ErrorCodes.INVALID_ARG, `port ${text} is out of range 0..65535`);
  return v;
}

function parse4(text: string, defPort: number): { addr: number; port: number } {
  const colon = text.indexOf(':');
  const a = colon >= 0 ? text.slice(0, colon) : text;
  const addr = tryParseIp4(a);
  if (addr === undefined) throw new ValeError(ErrorCodes.INVALID_ARG, `invalid IPv4 address '${a}'`);
  return { addr, port: colon >= 0 ? parsePort(text.slice(colon + 1)) : defPort };
}

function parse6(text: string, defPort: number, defGroup: number): { addr: Uint8Array; port: number; group: number } {
  let s = text;
  let group = defGroup;
  const at = s.indexOf('@');
  if (at >= 0) {
    const g = s.slice(0, at);
    if (!/^[0-9]+$/.test(g)) throw new ValeError(ErrorCodes.INVALID_ARG, `invalid IPv6 group '${g}'`);
    group = Math.min(Number(g), 7);
    s = s.slice(at + 1);
  }
  let port = defPort;
  if (s.startsWith('[')) s = s.slice(1);
  const rb = s.indexOf(']');
  if (rb >= 0) {
    const after = s.slice(rb + 1);
    s = s.slice(0, rb);
    if (after.startsWith(':')) port = parsePort(after.slice(1));
    else if (after !== '') throw new ValeError(ErrorCodes.INVALID_ARG, `unexpected '${after}' after IPv6 address`);
  }
  const addr = tryParseIp6(s);
  if (addr === undefined) throw new ValeError(ErrorCodes.INVALID_ARG, `invalid IPv6 address '${s}'`);
  return { addr, port, group };
}

/** Parses a `-s`/`-d` argument for IPv4 (family 4) or IPv6 (family 6, pkt-gen `-6`). */
export function parseIpRange(text: string, family: 4 | 6 = 4): IpRange {
  const t = text.trim();
  if (t === '') throw new ValeError(ErrorCodes.INVALID_ARG, 'empty address range');
  const dash = t.indexOf('-');
  const first = dash >= 0 ? t.slice(0, dash) : t;
  const second = dash >= 0 ? t.slice(dash + 1) : undefined;
  if (family === 4) {
    const a = parse4(first, PKTGEN_DEFAULT_PORT);
    const b = second === undefined ? { addr: a.addr, port: a.port } : parse4(second, a.port);
    return {
      family: 4,
      start: Math.min(a.addr, b.addr),
      end: Math.max(a.addr, b.addr),
      port0: Math.min(a.port, b.port),
      port1: Math.max(a.port, b.port),
    };
  }
  const a = parse6(first, PKTGEN_DEFAULT_PORT, 7);
  const b = second === undefined ? { addr: a.addr, port: a.port, group: a.group } : parse6(second, a.port, a.group);
  return {
    family: 6,
    start: a.addr,
    end: b.addr,
    group: a.group,
    port0: Math.min(a.port, b.port),
    port1: Math.max(a.port, b.port),
  };
}

/** Parses a `-S`/`-D` MAC argument (ether_aton syntax) into 6 bytes. */
export function parseMacArg(text: string): Uint8Array {
  return parseMac(text);
}

/** pkt-gen's own rendering of a range, for its startup line ("10.0.0.1:1234-10.0.0.9:1234"). */
export function formatIpRange(r: IpRange): string {
  const one = (a: string, p: number) => (r.family === 4 ? `${a}:${p}` : `[${a}]:${p}`);
  const s = r.family === 4 ? formatIp4(r.start) : formatIp6(r.start);
  const e = r.family === 4 ? formatIp4(r.end) : formatIp6(r.end);
  if (!isMultiRange(r)) return one(s, r.port0);
  return `${one(s, r.port0)}-${one(e, r.port1)}`;
}
