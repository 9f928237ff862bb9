/*
 * The firewall's rule language, parsed once into plain numbers so that
 * matching a frame allocates nothing (see match.ts).
 *
 *   rule      := action [in|out] (all | criterion...)
 *   action    := pass | drop
 *   criterion := mac [src|dst] MAC              02:00:00:00:00:09
 *              | ethertype TYPE                 0x0806, 2054, ip, ip6, arp, rarp
 *              | arp                            ethertype arp
 *              | ip | ip6                       IPv4 / IPv6 packets
 *              | ip [src|dst] ADDR[/LEN]        10.0.0.0/8, 2001:db8::/32 (ip6 too)
 *              | tcp | udp | sctp | icmp | icmp6
 *              | proto NAME|NUMBER              proto 47
 *              | [src|dst] port N[-M]           dst port 53, port 1024-65535
 *
 * Every criterion of a rule must hold (AND); without src/dst a criterion
 * matches either address or port. `in` limits a rule to frames arriving on
 * the first port (-i), `out` to frames arriving on the second; without either
 * a rule applies both ways. `#` starts a comment. Rules are tried in order and
 * the first match decides; no match takes the default action.
 */

import { readFileSync } from 'node:fs';
import { macWords } from '../../src/index.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_REVARP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseIp4,
  parseIp6,
  parseMac,
} from '../../src/pkt/ether.js';
import { IPPROTO_SCTP } from './frame.js';

export const PASS = 0;
export const DROP = 1;
/** Directions, as bits: arriving on the first port (in), on the second (out). */
export const DIR_IN = 1;
export const DIR_OUT = 2;
/** Which field a criterion looks at. */
export const SRC = 1;
export const DST = 2;
export const EITHER = SRC | DST;

export interface MacMatch {
  which: number;
  /** The address as macWords() gives it. */
  a: number;
  b: number;
}
export interface Net4Match {
  which: number;
  addr: number;
  mask: number;
}
export interface Net6Match {
  which: number;
  addr: Uint8Array;
  /** Prefix length, 0..128. */
  bits: number;
}
export interface PortMatch {
  which: number;
  lo: number;
  hi: number;
}

/** One parsed rule: numbers only, plus its text and its hit counters. */
export class Rule {
  action = PASS;
  dirs = DIR_IN | DIR_OUT;
  /** EtherType to match, or -1. */
  ethertype = -1;
  /** 4 or 6 when the rule needs an IP packet of that version, else 0. */
  family = 0;
  /** Transport protocol number, or -1. */
  proto = -1;
  macs: MacMatch[] = [];
  nets4: Net4Match[] = [];
  nets6: Net6Match[] = [];
  ports: PortMatch[] = [];
  /** The rule as written (comments and extra spaces removed). */
  text = '';
  /** Where it was written: "rules.txt:3" or "--rule 2". */
  where = '';
  /** Frames and bytes this rule decided. */
  hits = 0;
  bytes = 0;
}

/** A rule that cannot be parsed; the message starts with where it was written. */
export class RuleError extends Error {
  constructor(where: string, what: string) {
    super(`${where}: ${what}`);
    this.name = 'RuleError';
  }
}

const PROTOCOLS = new Map<string, number>([
  ['icmp', IPPROTO_ICMP],
  ['tcp', IPPROTO_TCP],
  ['udp', IPPROTO_UDP],
  ['icmp6', IPPROTO_ICMPV6],
  ['sctp', IPPROTO_SCTP],
]);
const ETHERTYPES = new Map<string, number>([
  ['ip', ETHERTYPE_IPV4],
  ['ipv4', ETHERTYPE_IPV4],
  ['ip6', ETHERTYPE_IPV6],
  ['ipv6', ETHERTYPE_IPV6],
  ['arp', ETHERTYPE_ARP],
  ['rarp', ETHERTYPE_REVARP],
]);
const KEYWORDS = 'all, mac, ethertype, arp, ip, ip6, tcp, udp, sctp, icmp, icmp6, proto, src, dst, port';

function protoName(p: number): string {
  for (const [name, n] of PROTOCOLS) if (n === p) return name;
  return `proto ${p}`;
}

function hasPorts(p: number): boolean {
  return p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP;
}

/** A whole number from `min` to `max` in decimal (or hex with 0x when `hex`), else undefined. */
function num(t: string, min: number, max: number, hex = false): number | undefined {
  const ok = /^[0-9]+$/.test(t) || (hex && /^0x[0-9a-fA-F]+$/.test(t));
  const n = ok ? Number(t) : Number.NaN;
  return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
}

/** Does `t` look like an address or prefix (so `ip` is followed by one)? */
function addressLike(t: string | undefined): boolean {
  return t !== undefined && /^[0-9a-fA-F:.]+(\/[0-9]*)?$/.test(t) && /[.:]/.test(t);
}

/**
 * Parses one rule. Returns null for a blank or comment-only line; throws a
 * RuleError that names `where` and what is wrong.
 */
export function parseRule(line: string, where: string): Rule | null {
  const hash = line.indexOf('#');
  const tokens = (hash >= 0 ? line.slice(0, hash) : line).split(/\s+/).filter((t) => t !== '');
  if (tokens.length === 0) return null;
  const r = new Rule();
  r.text = tokens.join(' ');
  r.where = where;
  const fail = (what: string): never => {
    throw new RuleError(where, what);
  };
  let i = 0;
  const next = (what: string): string => {
    const t = tokens[i];
    if (t === undefined) return fail(`'${tokens[i - 1]}' needs ${what}`);
    i++;
    return t;
  };
  let criteria = 0;

  const action = tokens[i++] as string;
  if (action === 'pass') r.action = PASS;
  else if (action === 'drop') r.action = DROP;
  else fail(`a rule starts with 'pass' or 'drop', not '${action}'`);
  if (tokens[i] === 'in' || tokens[i] === 'out') r.dirs = tokens[i++] === 'in' ? DIR_IN : DIR_OUT;
  if (i === tokens.length) fail(`nothing to match after '${tokens[i - 1]}' (write '${action} all' for every frame)`);

  const setFamily = (fam: number, why: string): void => {
    if (r.family !== 0 && r.family !== fam) fail(`'${why}' is IPv${fam} but the rule already asks for IPv${r.family}`);
    const et = fam === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
    if (r.ethertype >= 0 && r.ethertype !== et) {
      fail(`'${why}' needs EtherType 0x${et.toString(16)} but the rule asks for 0x${r.ethertype.toString(16)}`);
    }
    r.family = fam;
  };
  const setEthertype = (et: number, why: string): void => {
    if (r.ethertype >= 0 && r.ethertype !== et) fail(`'${why}': the rule already asks for another EtherType`);
    if (r.family !== 0 && et !== (r.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6)) {
      fail(`'${why}' cannot carry the IPv${r.family} packets the rule asks for`);
    }
    r.ethertype = et;
  };
  const setProto = (p: number, why: string): void => {
    if (r.proto >= 0 && r.proto !== p) fail(`two protocols in one rule (${protoName(r.proto)}, ${why})`);
    if (p === IPPROTO_ICMP) setFamily(4, why);
    if (p === IPPROTO_ICMPV6) setFamily(6, why);
    r.proto = p;
  };
  const address = (which: number, kw: string, text: string): void => {
    const slash = text.indexOf('/');
    const host = slash >= 0 ? text.slice(0, slash) : text;
    const v6 = host.includes(':');
    if (kw === 'ip6' && !v6) fail(`'ip6' needs an IPv6 address, got '${text}'`);
    const max = v6 ? 128 : 32;
    const bits = slash >= 0 ? num(text.slice(slash + 1), 0, max) : max;
    if (bits === undefined) fail(`prefix length in '${text}' must be 0..${max}`);
    setFamily(v6 ? 6 : 4, `${kw}${which === SRC ? ' src' : which === DST ? ' dst' : ''} ${text}`);
    try {
      if (v6) {
        const addr = parseIp6(host);
        for (let k = 0; k < 16; k++) {
          const keep = Math.max(0, Math.min(8, (bits as number) - 8 * k));
          addr[k] = (addr[k] as number) & ((0xff00 >>> keep) & 0xff);
        }
        r.nets6.push({ which, addr, bits: bits as number });
      } else {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - (bits as number))) >>> 0;
        r.nets4.push({ which, addr: (parseIp4(host) & mask) >>> 0, mask });
      }
    } catch (e) {
      fail((e as Error).message);
    }
  };
  const portRange = (which: number): void => {
    const t = next('a port number or a range N-M');
    const m = /^([0-9]+)-([0-9]+)$/.exec(t);
    const lo = num(m ? (m[1] as string) : t, 0, 65535);
    const hi = num(m ? (m[2] as string) : t, 0, 65535);
    if (lo === undefined || hi === undefined) fail(`port must be 0..65535 or a range N-M, got '${t}'`);
    if ((lo as number) > (hi as number)) fail(`port range '${t}' is empty (${lo} > ${hi})`);
    r.ports.push({ which, lo: lo as number, hi: hi as number });
  };

  while (i < tokens.length) {
    const t = tokens[i++] as string;
    if (t === 'all') {
      if (criteria > 0 || i < tokens.length) fail(`'all' stands alone: '${action} all'`);
    } else if (t === 'mac') {
      let which = EITHER;
      if (tokens[i] === 'src' || tokens[i] === 'dst') which = tokens[i++] === 'src' ? SRC : DST;
      const text = next('a MAC address, e.g. 02:00:00:00:00:09');
      try {
        const { a, b } = macWords(parseMac(text));
        r.macs.push({ which, a, b });
      } catch (e) {
        fail((e as Error).message);
      }
    } else if (t === 'ethertype') {
      const v = next('a type: a number (0x0806) or ip, ip6, arp, rarp');
      const et = ETHERTYPES.get(v) ?? num(v, 0, 0xffff, true);
      if (et === undefined) fail(`EtherType must be 0..0xffff or ip, ip6, arp, rarp, got '${v}'`);
      setEthertype(et as number, `ethertype ${v}`);
    } else if (t === 'arp') {
      setEthertype(ETHERTYPE_ARP, 'arp');
    } else if (t === 'ip' || t === 'ip6') {
      let which = 0;
      if (tokens[i] === 'src' || tokens[i] === 'dst') which = tokens[i++] === 'src' ? SRC : DST;
      if (addressLike(tokens[i])) address(which || EITHER, t, tokens[i++] as string);
      else if (which !== 0)
        fail(`'${t} ${tokens[i - 1]}' needs an address, e.g. ${t === 'ip' ? '10.0.0.0/8' : '2001:db8::/32'}`);
      else setFamily(t === 'ip' ? 4 : 6, t);
    } else if (PROTOCOLS.has(t)) {
      setProto(PROTOCOLS.get(t) as number, t);
    } else if (t === 'proto') {
      const v = next('a protocol: tcp, udp, sctp, icmp, icmp6 or a number 0..255');
      const p = PROTOCOLS.get(v) ?? num(v, 0, 255);
      if (p === undefined) fail(`protocol must be tcp, udp, sctp, icmp, icmp6 or 0..255, got '${v}'`);
      setProto(p as number, `proto ${v}`);
    } else if (t === 'src' || t === 'dst') {
      if (tokens[i] !== 'port')
        fail(`'${t}' must be followed by 'port' here (for addresses: ip ${t} ADDR, mac ${t} MAC)`);
      i++;
      portRange(t === 'src' ? SRC : DST);
    } else if (t === 'port') {
      portRange(EITHER);
    } else {
      fail(`unknown word '${t}' (expected one of: ${KEYWORDS})`);
    }
    criteria++;
  }
  if (r.ports.length > 0 && r.proto >= 0 && !hasPorts(r.proto)) {
    fail(`ports need tcp, udp or sctp; ${protoName(r.proto)} has none`);
  }
  return r;
}

/**
 * Parses a rules file: one rule per line, blank lines and `#` comments
 * allowed. Errors name the file and the line.
 */
export function parseRules(text: string, name: string): Rule[] {
  const rules: Rule[] = [];
  text.split('\n').forEach((line, n) => {
    const r = parseRule(line, `${name}:${n + 1}`);
    if (r !== null) rules.push(r);
  });
  return rules;
}

/** Reads the rules of the -r files, then of the --rule options. */
export function loadRules(files: string[], inline: string[]): Rule[] {
  const rules: Rule[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new RuleError(f, `cannot read the rules: ${(e as Error).message}`);
    }
    rules.push(...parseRules(text, f));
  }
  inline.forEach((text, n) => {
    const r = parseRule(text, `--rule ${n + 1}`);
    if (r === null) throw new RuleError(`--rule ${n + 1}`, 'empty rule');
    rules.push(r);
  });
  return rules;
}
