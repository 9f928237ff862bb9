/*
 * Transport printers: UDP, TCP, ICMP, ICMPv6, following tcpdump 4.99's
 * print-udp.c, print-tcp.c, print-icmp.c and print-icmp6.c for the output
 * without -v. `bp` is the transport header, `length` the length the IP layer
 * claims for it, `ip` the offset of the IPv4/IPv6 header in front of it.
 *
 * Only the generic forms are printed: where tcpdump hands a well-known port
 * (DNS, DHCP, NTP, HTTP, ...) to an application printer, we still print
 * "UDP, length N" / the TCP summary. TCP sequence numbers are relative, as
 * tcpdump prints them, when the cursor carries a TcpSeqTable.
 */

import { type Cursor, TRUNC } from './decode-cursor.js';

/** Prints "src > dst" (or with ports) the way udpipaddr_print() does. */
function addrPair(c: Cursor, ip: number, ver: 4 | 6): [string, string] {
  return ver === 4 ? [c.ip4(ip + 12), c.ip4(ip + 16)] : [c.ip6(ip + 8), c.ip6(ip + 24)];
}

function nextHeader(c: Cursor, ip: number, ver: 4 | 6): number {
  return c.u8(ver === 4 ? ip + 9 : ip + 6);
}

function udpAddrs(c: Cursor, ip: number, ver: 4 | 6, sport: number, dport: number): void {
  if (nextHeader(c, ip, ver) === 17) {
    const [s, d] = addrPair(c, ip, ver);
    c.print(sport === -1 ? `${s} > ${d}: ` : `${s}.${sport} > ${d}.${dport}: `);
  } else if (sport !== -1) {
    c.print(`${sport} > ${dport}: `);
  }
}

export function udpPrint(c: Cursor, bp: number, length: number, ip: number, ver: 4 | 6, fragmented: boolean): void {
  c.proto = 'udp';
  if (!c.has(bp + 2, 2)) {
    udpAddrs(c, ip, ver, -1, -1);
    c.printTrunc();
    return;
  }
  const sport = c.u16(bp);
  const dport = c.u16(bp + 2);
  if (length < 8) {
    udpAddrs(c, ip, ver, sport, dport);
    c.print(`truncated-udp ${length}`);
    return;
  }
  if (!c.has(bp + 4, 2)) {
    udpAddrs(c, ip, ver, sport, dport);
    c.printTrunc();
    return;
  }
  let ulen = c.u16(bp + 4);
  if (ulen === 0 && length > 65535) ulen = length;
  if (ulen < 8) {
    udpAddrs(c, ip, ver, sport, dport);
    c.print(`truncated-udplength ${ulen}`);
    return;
  }
  ulen -= 8;
  let len = length - 8;
  if (ulen < len) len = ulen;
  if (bp + 8 > c.snapend) {
    udpAddrs(c, ip, ver, sport, dport);
    c.printTrunc();
    return;
  }
  udpAddrs(c, ip, ver, sport, dport);
  if (ulen > len && !fragmented) c.print(`UDP, bad length ${ulen} > ${len}`);
  else c.print(`UDP, length ${ulen}`);
}

const TCP_FLAGS: [number, string][] = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

export function tcpFlagsText(flags: number): string {
  let s = '';
  for (const [bit, ch] of TCP_FLAGS) if ((flags & bit) !== 0) s += ch;
  return s === '' ? 'none' : s;
}

const TCP_OPT_NAMES: Record<number, string> = {
  0: 'eol',
  1: 'nop',
  2: 'mss',
  3: 'wscale',
  4: 'sackOK',
  5: 'sack',
  6: 'echo',
  7: 'echoreply',
  8: 'TS',
  11: 'cc',
  12: 'ccnew',
  13: '',
  19: 'md5',
  20: 'scps',
  28: 'uto',
  29: 'tcp-ao',
  30: 'mptcp',
  34: 'tfo',
  254: 'exp',
};

/** Local "goto bad" / "goto trunc" of tcp_print's option loop. */
const BAD_OPT = Object.freeze({ bad: true as const });
const TRUNC_OPT = Object.freeze({ truncOpt: true as const });

/** Relative sequence numbers: returns [seq, ack, thseq, thack, rev] as tcp_print computes them. */
function relativeSeq(
  c: Cursor,
  ip: number,
  ver: 4 | 6,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
): [number, number, number, number, boolean] {
  const table = c.tcpSeq;
  if (table === undefined || (flags & 0x10) === 0) return [seq, ack, 0, 0, false];
  const alen = ver === 4 ? 4 : 16;
  const srcOff = ver === 4 ? ip + 12 : ip + 8;
  const dstOff = srcOff + alen;
  let rev = false;
  if (sport > dport) rev = true;
  else if (sport === dport) {
    for (let i = 0; i < alen; i++) {
      const d = (c.buf[srcOff + i] as number) - (c.buf[dstOff + i] as number);
      if (d !== 0) {
        rev = d > 0;
        break;
      }
    }
  }
  const hex = (o: number) => Array.from(c.buf.subarray(o, o + alen), (b) => b.toString(16).padStart(2, '0')).join('');
  const key = rev
    ? `${ver}/${hex(dstOff)}/${hex(srcOff)}/${dport}/${sport}`
    : `${ver}/${hex(srcOff)}/${hex(dstOff)}/${sport}/${dport}`;
  let th = table.get(key);
  if (th === undefined || (flags & 0x02) !== 0) {
    th = rev ? { ack: seq, seq: (ack - 1) >>> 0 } : { seq, ack: (ack - 1) >>> 0 };
    table.set(key, th);
  } else if (rev) {
    seq = (seq - th.ack) >>> 0;
    ack = (ack - th.seq) >>> 0;
  } else {
    seq = (seq - th.seq) >>> 0;
    ack = (ack - th.ack) >>> 0;
  }
  return [seq, ack, th.seq, th.ack, rev];
}

export function tcpPrint(c: Cursor, bp: number, length: number, ip: number, ver: 4 | 6, fragmented: boolean): void {
  void fragmented;
  c.proto = 'tcp';
  if (!c.has(bp + 2, 2)) {
    const [s, d] = addrPair(c, ip, ver);
    c.print(`${s} > ${d}:`);
    c.printTrunc();
    return;
  }
  const sport = c.u16(bp);
  const dport = c.u16(bp + 2);
  if (nextHeader(c, ip, ver) === 6) {
    const [s, d] = addrPair(c, ip, ver);
    c.print(`${s}.${sport} > ${d}.${dport}: `);
  } else {
    c.print(`${sport} > ${dport}: `);
  }
  if (!c.has(bp, 20)) {
    c.printTrunc();
    return;
  }
  let hlen = (c.u8(bp + 12) >> 4) * 4;
  if (hlen < 20) {
    c.print(` tcp ${(length - hlen) >>> 0} [bad hdr length ${hlen} - too short, < 20]`);
    return;
  }
  let seq = c.u32(bp + 4);
  let ack = c.u32(bp + 8);
  const win = c.u16(bp + 14);
  const urp = c.u16(bp + 18);
  const flags = c.u8(bp + 13);
  c.print(`Flags [${tcpFlagsText(flags)}]`);
  let thseq: number;
  let thack: number;
  let rev: boolean;
  [seq, ack, thseq, thack, rev] = relativeSeq(c, ip, ver, sport, dport, seq, ack, flags);
  if (hlen > length) {
    c.print(` [bad hdr length ${hlen} - too long, > ${length}]`);
    return;
  }
  const dlen = length - hlen;
  if (dlen > 0 || (flags & 0x07) !== 0) {
    c.print(`, seq ${seq}`);
    if (dlen > 0) c.print(`:${(seq + dlen) >>> 0}`);
  }
  if ((flags & 0x10) !== 0) c.print(`, ack ${ack}`);
  c.print(`, win ${win}`);
  if ((flags & 0x20) !== 0) c.print(`, urg ${urp}`);
  if (hlen > 20) {
    hlen -= 20;
    let cp = bp + 20;
    let ch = '';
    c.print(', options [');
    try {
      while (hlen > 0) {
        if (ch !== '') c.print(ch);
        const opt = c.u8(cp++);
        let len: number;
        if (opt === 0 || opt === 1) len = 1;
        else {
          len = c.u8(cp++);
          if (len < 2 || len > hlen) throw BAD_OPT;
          --hlen;
        }
        --hlen;
        let datalen = 0;
        const lencheck = (l: number) => {
          if (l > hlen) throw BAD_OPT;
          if (!c.has(cp, l)) throw TRUNC_OPT;
        };
        c.print(TCP_OPT_NAMES[opt] ?? `unknown-${opt}`);
        switch (opt) {
          case 2:
            datalen = 2;
            lencheck(2);
            c.print(` ${c.u16(cp)}`);
            break;
          case 3:
            datalen = 1;
            lencheck(1);
            c.print(` ${c.u8(cp)}`);
            break;
          case 5:
            datalen = len - 2;
            if (datalen % 8 !== 0) c.print(' invalid sack');
            else {
              c.print(` ${datalen / 8} `);
              for (let i = 0; i < datalen; i += 8) {
                lencheck(i + 4);
                let s = c.u32(cp + i);
                lencheck(i + 8);
                let e = c.u32(cp + i + 4);
                if (rev) {
                  s = (s - thseq) >>> 0;
                  e = (e - thseq) >>> 0;
                } else {
                  s = (s - thack) >>> 0;
                  e = (e - thack) >>> 0;
                }
                c.print(`{${s}:${e}}`);
              }
            }
            break;
          case 11:
          case 12:
          case 13:
          case 6:
          case 7:
            datalen = 4;
            lencheck(4);
            c.print(` ${c.u32(cp)}`);
            break;
          case 8:
            datalen = 8;
            lencheck(8);
            c.print(` val ${c.u32(cp)} ecr ${c.u32(cp + 4)}`);
            break;
          case 19: {
            datalen = 16;
            lencheck(16);
            // tcpdump (built with libcrypto) tries to verify the signature; without -M it cannot.
            const data = bp + (c.u8(bp + 12) >> 4) * 4;
            let h = data + dlen > c.snapend ? ' snaplen too short, ' : ' shared secret not supplied with -M, ';
            h += "can't check - ";
            for (let i = 0; i < 16; i++) h += c.u8(cp + i).toString(16).padStart(2, '0');
            c.print(h);
            break;
          }
          case 20:
            datalen = 2;
            lencheck(2);
            c.print(` cap ${c.u8(cp).toString(16).padStart(2, '0')} id ${c.u8(cp + 1)}`);
            break;
          case 29:
            datalen = len - 2;
            if (datalen < 2) c.print(' (invalid)');
            else {
              lencheck(1);
              c.print(` keyid ${c.u8(cp)}`);
              lencheck(2);
              c.print(` rnextkeyid ${c.u8(cp + 1)}`);
              if (datalen > 2) {
                c.print(' mac 0x');
                for (let i = 2; i < datalen; i++) {
                  lencheck(i + 1);
                  c.print(c.u8(cp + i).toString(16).padStart(2, '0'));
                }
              }
            }
            break;
          case 0:
          case 1:
          case 4:
            break;
          case 28: {
            datalen = 2;
            lencheck(2);
            let uto = c.u16(cp);
            c.print(` 0x${uto.toString(16)}`);
            uto = (uto & 1) !== 0 ? (uto >> 1) * 60 : uto >> 1;
            c.print(` ${uto}`);
            break;
          }
          case 34:
            datalen = len - 2;
            lencheck(datalen);
            c.print(' ');
            fastOpen(c, cp, datalen, false);
            break;
          case 254: {
            datalen = len - 2;
            lencheck(datalen);
            if (datalen < 2) throw BAD_OPT;
            const magic = c.u16(cp);
            c.print('-');
            if (magic === 0xf989) fastOpen(c, cp + 2, datalen - 2, true);
            else c.print(magic.toString(16).padStart(4, '0'));
            break;
          }
          default:
            // MPTCP (30) has its own printer in tcpdump; we dump it like any unknown option.
            datalen = len - 2;
            if (datalen > 0) c.print(' 0x');
            for (let i = 0; i < datalen; i++) {
              lencheck(i + 1);
              c.print(c.u8(cp + i).toString(16).padStart(2, '0'));
            }
            break;
        }
        cp += datalen;
        hlen -= datalen;
        datalen += opt === 0 || opt === 1 ? 1 : 2;
        if (datalen !== len) c.print(`[len ${len}]`);
        ch = ',';
        if (opt === 0) break;
      }
    } catch (e) {
      if (e === BAD_OPT) {
        c.print('[bad opt]');
        if (ch !== '') c.print(']');
        return;
      }
      if (e === TRUNC_OPT) {
        c.printTrunc();
        if (ch !== '') c.print('>');
        return;
      }
      throw e;
    }
    c.print(']');
  }
  c.print(`, length ${dlen}`);
  if (dlen === 0) return;
  const headerLen = (c.u8(bp + 12) >> 4) * 4;
  if (!c.has(bp, headerLen)) {
    c.print(` [remaining caplen(${c.avail(bp)}) < header length(${headerLen})]`);
    throw TRUNC;
  }
}

function fastOpen(c: Cursor, cp: number, datalen: number, exp: boolean): void {
  if (exp) c.print('tfo');
  if (datalen === 0) c.print(' cookiereq');
  else if (datalen % 2 !== 0 || datalen < 4 || datalen > 16) c.print(' (invalid)');
  else {
    let s = ' cookie ';
    for (let i = 0; i < datalen; i++) s += c.u8(cp + i).toString(16).padStart(2, '0');
    c.print(s);
  }
}

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
          return mtu !== 0 ? `${odst()} unreachable - need to frag (mtu ${mtu})` : `${odst()} unreachable - need to frag`;
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
      return `address mask is 0x${c.u32(bp + 8).toString(16).padStart(8, '0')}`;
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
      c.print(`, id 0x${c.u16(bp + 4).toString(16).padStart(4, '0')}`);
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

