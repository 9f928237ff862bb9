/*
 * ICMP (print-icmp.c) and ICMPv6 (print-icmp6.c) without -v: echo, the
 * unreachable/redirect/time-exceeded families, neighbor discovery and MLD.
 * Router renumbering, node information and RPL, which tcpdump decodes further,
 * come out with tcpdump's generic "length N" and hex lines.
 */

import type { Cursor } from './decode-cursor.js';

const ICMP_NAMES: Record<number, string> = {
  0: 'echo reply',
  4: 'source quench',
  8: 'echo request',
  10: 'router solicitation',
  13: 'time stamp request',
  14: 'time stamp reply',
  15: 'information request',
  16: 'information reply',
  17: 'address mask request',
};

function icmpTstamp(t: number): string {
  const msec = t % 1000;
  let sec = Math.floor(t / 1000);
  let min = Math.floor(sec / 60);
  sec -= min * 60;
  const hrs = Math.floor(min / 60);
  min -= hrs * 60;
  const two = (v: number) => String(v).padStart(2, '0');
  return `${two(hrs)}:${two(min)}:${two(sec)}.${String(msec).padStart(3, '0')}`;
}

/** Thrown by ND_TCHECK inside icmp_print: its local trunc label prints " [|icmp]". */
const ICMP_LOCAL_TRUNC = Object.freeze({ icmpTrunc: true as const });

export function icmpPrint(c: Cursor, bp: number, plen: number): void {
  c.proto = 'icmp';
  const type = c.u8(bp);
  const code = c.u8(bp + 1);
  const odst = () => c.ip4(bp + 8 + 16);
  let str: string;
  try {
    str = icmpText(c, bp, type, code, odst);
  } catch (e) {
    if (e !== ICMP_LOCAL_TRUNC) throw e;
    c.printTrunc();
    return;
  }
  c.print(`ICMP ${str}, length ${plen}`);
  c.proto = 'icmp';
}

function icmpText(c: Cursor, bp: number, type: number, code: number, odst: () => string): string {
  const tcheck = (p: number, n: number) => {
    if (!c.has(p, n)) throw ICMP_LOCAL_TRUNC;
  };
  switch (type) {
    case 0:
    case 8:
      return `echo ${type === 8 ? 'request' : 'reply'}, id ${c.u16(bp + 4)}, seq ${c.u16(bp + 6)}`;
    case 3:
      switch (code) {
        case 0:
          return `net ${odst()} unreachable`;
        case 1:
          return `host ${odst()} unreachable`;
        case 2:
          return `${odst()} protocol ${c.u8(bp + 8 + 9)} unreachable`;
        case 3: {
          tcheck(bp + 8 + 9, 1);
          const oip = bp + 8;
          const hl = (c.u8(oip) & 0x0f) * 4;
          const dport = c.u16(oip + hl + 2);
          const p = c.u8(oip + 9);
          if (p === 6) return `${c.ip4(oip + 16)} tcp port ${dport} unreachable`;
          if (p === 17) return `${c.ip4(oip + 16)} udp port ${dport} unreachable`;
          return `${c.ip4(oip + 16)} protocol ${p} port ${dport} unreachable`;
        }
        case 4: {
          const mtu = c.u16(bp + 6);
          return mtu !== 0
            ? `${odst()} unreachable - need to frag (mtu ${mtu})`
            : `${odst()} unreachable - need to frag`;
        }
        case 5:
          return `${odst()} unreachable - source route failed`;
        case 6:
          return `net ${odst()} unreachable - unknown`;
        case 7:
          return `host ${odst()} unreachable - unknown`;
        case 8:
          return `${odst()} unreachable - source host isolated`;
        case 9:
          return `net ${odst()} unreachable - admin prohibited`;
        case 10:
          return `host ${odst()} unreachable - admin prohibited`;
        case 11:
          return `net ${odst()} unreachable - tos prohibited`;
        case 12:
          return `host ${odst()} unreachable - tos prohibited`;
        case 13:
          return `host ${odst()} unreachable - admin prohibited filter`;
        case 14:
          return `host ${odst()} unreachable - host precedence violation`;
        case 15:
          return `host ${odst()} unreachable - precedence cutoff`;
        default:
          return `${odst()} unreachable - #${code}`;
      }
    case 5: {
      const gw = () => c.ip4(bp + 4);
      switch (code) {
        case 0:
          return `redirect ${odst()} to net ${gw()}`;
        case 1:
          return `redirect ${odst()} to host ${gw()}`;
        case 2:
          return `redirect-tos ${odst()} to net ${gw()}`;
        case 3:
          return `redirect-tos ${odst()} to host ${gw()}`;
        default:
          return `redirect-#${code} ${odst()} to ${gw()}`;
      }
    }
    case 9: {
      let s = 'router advertisement';
      tcheck(bp + 4, 4);
      s += ' lifetime ';
      const lt = c.u16(bp + 6);
      const two = (v: number) => String(v).padStart(2, '0');
      if (lt < 60) s += `${lt}`;
      else if (lt < 3600) s += `${Math.floor(lt / 60)}:${two(lt % 60)}`;
      else s += `${Math.floor(lt / 3600)}:${two(Math.floor((lt % 3600) / 60))}:${two(lt % 60)}`;
      let num = c.u8(bp + 4);
      s += ` ${num}:`;
      const size = c.u8(bp + 5);
      if (size !== 2) return `${s} [size ${size}]`;
      let idp = bp + 8;
      while (num > 0) {
        tcheck(idp, 8);
        s += ` {${c.ip4(idp)} ${c.u32(idp + 4)}}`;
        idp += 8;
        num--;
      }
      return s;
    }
    case 11:
      tcheck(bp + 8 + 16, 4);
      if (code === 0) return 'time exceeded in-transit';
      if (code === 1) return 'ip reassembly time exceeded';
      return `time exceeded-#${code}`;
    case 12:
      return code !== 0 ? `parameter problem - code ${code}` : `parameter problem - octet ${c.u8(bp + 4)}`;
    case 18:
      return `address mask is 0x${c
        .u32(bp + 8)
        .toString(16)
        .padStart(8, '0')}`;
    case 13:
      return `time stamp query id ${c.u16(bp + 4)} seq ${c.u16(bp + 6)}`;
    case 14:
      tcheck(bp + 16, 4);
      return (
        `time stamp reply id ${c.u16(bp + 4)} seq ${c.u16(bp + 6)}: org ${icmpTstamp(c.u32(bp + 8))}` +
        `, recv ${icmpTstamp(c.u32(bp + 12))}, xmit ${icmpTstamp(c.u32(bp + 16))}`
      );
    default:
      return ICMP_NAMES[type] ?? `type-#${type}`;
  }
}

const ICMP6_NAMES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded in-transit',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  130: 'multicast listener query',
  131: 'multicast listener report',
  132: 'multicast listener done',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  137: 'redirect',
  138: 'router renumbering',
  141: 'inverse neighbor solicitation',
  142: 'inverse neighbor advertisement',
  143: 'multicast listener report v2',
  144: 'ha discovery request',
  145: 'ha discovery reply',
  146: 'mobile router solicitation',
  147: 'mobile router advertisement',
  // 139/140 are also node information query/reply; tcpdump's table names them this way first.
  139: 'who-are-you request',
  140: 'who-are-you reply',
  200: 'mtrace response',
  201: 'mtrace message',
  155: 'RPL',
};

const ICMP6_UNREACH: Record<number, string> = {
  0: 'unreachable route',
  1: ' unreachable prohibited',
  2: 'beyond scope',
  3: 'unreachable address',
  4: 'unreachable port',
};

export function icmp6Print(c: Cursor, bp: number, length: number): void {
  c.proto = 'icmp6';
  if (length === 0) {
    c.print('ICMP6, length 0 (invalid)');
    return;
  }
  const type = c.u8(bp);
  c.print(`ICMP6, ${ICMP6_NAMES[type] ?? `unknown icmp6 type (${type})`}`);
  const code = c.u8(bp + 1);
  const oip = bp + 8;
  switch (type) {
    case 1:
      c.print(`, ${ICMP6_UNREACH[code] ?? `unknown unreach code (${code})`}`);
      switch (code) {
        case 0:
        case 1:
        case 3:
          c.print(` ${c.ip6(oip + 24)}`);
          break;
        case 2:
          c.print(` ${c.ip6(oip + 24)}, source address ${c.ip6(oip + 8)}`);
          break;
        case 4: {
          // tcpdump walks extension headers (get_upperlayer); we handle the direct case.
          const prot = c.u8(oip + 6);
          const dport = c.u16(oip + 40 + 2);
          if (prot === 6) c.print(`, ${c.ip6(oip + 24)} tcp port ${dport}`);
          else if (prot === 17) c.print(`, ${c.ip6(oip + 24)} udp port ${dport}`);
          else c.print(`, ${c.ip6(oip + 24)} protocol ${prot} port ${dport} unreachable`);
          break;
        }
        default:
          c.unknownData(bp, length);
          return;
      }
      break;
    case 2:
      c.print(`, mtu ${c.u32(bp + 4)}`);
      break;
    case 3:
      if (code === 0) c.print(` for ${c.ip6(oip + 24)}`);
      else if (code === 1) c.print(' (reassembly)');
      else c.print(`, unknown code (${code})`);
      break;
    case 4: {
      if (!c.has(oip + 24, 16)) {
        c.printTrunc();
        return;
      }
      const what = ['erroneous', 'next header', 'option', 'incomplete header chain'][code];
      c.print(what !== undefined ? `, ${what} - octet ${c.u32(bp + 4)}` : `, code-#${code}`);
      break;
    }
    case 128:
    case 129:
      c.print(`, id ${c.u16(bp + 4)}, seq ${c.u16(bp + 6)}`);
      break;
    case 130:
      if (length === 24) mld6(c, bp);
      else if (length >= 28) {
        c.print(' v2');
        mldv2Query(c, bp, length);
      } else c.print(` unknown-version (len ${length}) `);
      break;
    case 131:
    case 132:
      mld6(c, bp);
      break;
    case 133:
    case 134:
    case 141:
    case 142:
    case 145:
    case 147:
      break;
    case 135:
      c.print(`, who has ${c.ip6(bp + 8)}`);
      break;
    case 136:
      c.print(`, tgt is ${c.ip6(bp + 8)}`);
      break;
    case 137:
      c.print(`, ${c.ip6(bp + 8)}`);
      c.print(` to ${c.ip6(bp + 24)}`);
      break;
    case 143:
      if (length < 8) c.print(` [invalid len ${length}]`);
      else c.print(`, ${c.u16(bp + 6)} group record(s)`);
      break;
    case 144:
    case 146:
      c.print(
        `, id 0x${c
          .u16(bp + 4)
          .toString(16)
          .padStart(4, '0')}`,
      );
      break;
    default:
      // Also router renumbering, node information and RPL, which tcpdump decodes further.
      c.print(`, length ${length}`);
      c.unknownData(bp, length);
      return;
  }
  c.print(`, length ${length}`);
}

function mld6(c: Cursor, bp: number): void {
  if (bp + 24 > c.snapend) return;
  c.print(`max resp delay: ${c.u16(bp + 4)} `);
  c.print(`addr: ${c.ip6(bp + 8)}`);
}

function mldv2Query(c: Cursor, bp: number, len: number): void {
  if (len < 28) {
    c.print(` [invalid len ${len}]`);
    return;
  }
  c.u16(bp + 4); // max response code: read (and bounds-checked) like tcpdump, printed only with -v
  c.print(` [gaddr ${c.ip6(bp + 8)}`);
  const nsrcs = c.u16(bp + 26);
  if (nsrcs > 0) {
    if (len < 28 + nsrcs * 16) c.print(' [invalid number of sources]');
    else c.print(`, ${nsrcs} source(s)`);
  }
  c.print(']');
}
