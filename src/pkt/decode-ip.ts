/*
 * Network-layer printers: IPv4 (print-ip.c), IPv6 with its hop-by-hop,
 * destination-options and fragment headers (print-ip6.c, print-ip6opts.c,
 * print-frag6.c), the protocol demultiplexer (print-ip-demux.c) and IGMP.
 *
 * Each printer narrows the cursor's captured end to the datagram's own length
 * (tcpdump's nd_push_snaplen), so Ethernet padding is never read as payload.
 * Protocols without a printer here come out as tcpdump prints an unknown one:
 * " ip-proto-N LEN".
 */

import { type Cursor, TRUNC } from './decode-cursor.js';
import { icmp6Print, icmpPrint } from './decode-icmp.js';
import { tcpPrint } from './decode-tcp.js';
import { udpPrint } from './decode-udp.js';

export function ipPrint(c: Cursor, bp: number, length: number): void {
  c.proto = 'ip';
  const v = c.u8(bp) >> 4;
  if (v !== 4) {
    c.print(v === 6 ? 'IP6, wrong link-layer encapsulation' : `IP${v}`);
    c.print(' (invalid)');
    return;
  }
  if (!c.eflag) c.print('IP ');
  if (!c.has(bp, 20)) {
    c.printTrunc();
    return;
  }
  if (length < 20) {
    c.print(`truncated-ip ${length}`);
    return;
  }
  const hlen = (c.u8(bp) & 0x0f) * 4;
  if (hlen < 20) {
    c.print(`bad-hlen ${hlen}`);
    return;
  }
  let len = c.u16(bp + 2);
  if (length < len) c.print(`truncated-ip - ${len - length} bytes missing! `);
  if (len < hlen) {
    c.print(`bad-len ${len}`);
    return;
  }
  const saved = c.pushSnap(bp, len);
  len -= hlen;
  const off = c.u16(bp + 6);
  const proto = c.u8(bp + 9);
  if ((off & 0x1fff) === 0) {
    if (proto !== 6 && proto !== 17 && proto !== 132 && proto !== 33) {
      c.print(`${c.ip4(bp + 12)} > ${c.ip4(bp + 16)}: `);
    }
    if (!c.has(bp, hlen)) {
      c.print(` [remaining caplen(${c.avail(bp)}) < header length(${hlen})]`);
      throw TRUNC;
    }
    demux(c, bp + hlen, len, 4, (off & 0x2000) !== 0, proto, bp);
  } else {
    c.print(`${c.ip4(bp + 12)} > ${c.ip4(bp + 16)}:`);
    c.print(` ip-proto-${proto}`);
  }
  c.snapend = saved;
}

/** Thrown inside ip6Print for tcpdump's local "goto trunc". */
const IP6_TRUNC = Object.freeze({ ip6Trunc: true as const });

export function ip6Print(c: Cursor, bp: number, length: number): void {
  c.proto = 'ip6';
  if (!c.has(bp, 40)) {
    c.printTrunc();
    return;
  }
  if (length < 40) {
    c.print(`truncated-ip6 ${length}`);
    return;
  }
  if (!c.eflag) c.print('IP6 ');
  const ver = c.u8(bp) >> 4;
  if (ver !== 6) {
    c.print(`version error: ${ver} != 6`);
    return;
  }
  let payloadLen = c.u16(bp + 4);
  let len: number;
  if (payloadLen !== 0) {
    len = payloadLen + 40;
    if (length < len) c.print(`truncated-ip6 - ${len - length} bytes missing!`);
  } else len = length + 40;
  let ph = 255;
  let nh = c.u8(bp + 6);
  const saved = c.pushSnap(bp, len);
  let cp = bp;
  let advance = 40;
  let totalAdvance = 0;
  let foundExt = false;
  let foundJumbo = false;
  let foundHbh = false;
  let fragmented = false;
  try {
    while (cp < c.snapend && advance > 0) {
      if (len < advance) throw IP6_TRUNC;
      cp += advance;
      len -= advance;
      totalAdvance += advance;
      if (cp === bp + 40 && nh !== 6 && nh !== 17 && nh !== 33 && nh !== 132) {
        c.print(`${c.ip6(bp + 8)} > ${c.ip6(bp + 24)}: `);
      }
      switch (nh) {
        case 0: {
          if (foundHbh) {
            c.print('[The Hop-by-Hop Options header was already found] (invalid)');
            return;
          }
          if (ph !== 255) {
            c.print("[The Hop-by-Hop Options header don't follow the IPv6 header] (invalid)");
            return;
          }
          const r = optionsHeader(c, cp, 'hbhopt', 'HBH ', true, payloadLen);
          if (r.jumbo !== undefined) {
            foundJumbo = true;
            payloadLen = r.jumbo;
          }
          if (payloadLen === 0 && !foundJumbo) {
            c.print('[No valid Jumbo Payload Hop-by-Hop option found] (invalid)');
            return;
          }
          if (r.advance < 0) return;
          advance = r.advance;
          foundExt = true;
          foundHbh = true;
          nh = c.u8(cp);
          break;
        }
        case 60: {
          const r = optionsHeader(c, cp, 'dstopt', 'DSTOPT ', false, payloadLen);
          if (r.advance < 0) return;
          advance = r.advance;
          foundExt = true;
          nh = c.u8(cp);
          break;
        }
        case 44: {
          c.proto = 'frag6';
          const offlg = c.u16(cp + 2) & 0xfff8;
          const plen = c.u16(bp + 4);
          // tcpdump computes the length as a size_t: a bogus header wraps around 2^64.
          const fraglen = (BigInt(40 + plen - (cp - bp) - 8) + (1n << 64n)) % (1n << 64n);
          c.print(`frag (${offlg}|${fraglen})`);
          if (offlg !== 0) return;
          c.print(' ');
          advance = 8;
          if (c.snapend <= cp + advance) return;
          foundExt = true;
          nh = c.u8(cp);
          fragmented = true;
          break;
        }
        default:
          // Routing (43) and mobility headers have printers in tcpdump; we show them as unknown protocols.
          if (foundJumbo) {
            len = payloadLen + 40;
            if (len < totalAdvance) throw IP6_TRUNC;
            if (length < len) c.print(`truncated-ip6 - ${len - length} bytes missing!`);
            c.snapend = Math.min(saved, bp + len);
            len -= totalAdvance;
          } else if (payloadLen === 0) {
            if (foundExt) throw IP6_TRUNC;
            len = 40;
            c.snapend = Math.min(saved, bp + len);
            len -= totalAdvance;
          }
          demux(c, cp, len, 6, fragmented, nh, bp);
          c.snapend = saved;
          return;
      }
      ph = nh;
      c.proto = 'ip6';
    }
  } catch (e) {
    if (e !== IP6_TRUNC) throw e;
    c.printTrunc();
    return;
  }
  c.snapend = saved;
}

/**
 * Hop-by-hop / destination options (hbhopt_process, dstopt_process): prints the
 * tag and, without -v, only option errors. advance < 0 means "stop printing".
 */
function optionsHeader(
  c: Cursor,
  bp: number,
  proto: string,
  tag: string,
  hbh: boolean,
  payloadLen: number,
): { advance: number; jumbo?: number } {
  c.proto = proto;
  const hlen = (c.u8(bp + 1) + 1) << 3;
  if (!c.has(bp, hlen)) {
    c.printTrunc();
    return { advance: -1 };
  }
  c.print(tag);
  if (!hbh) return { advance: hlen };
  const opts = bp + 2;
  const len = hlen - 2;
  let jumbo: number | undefined;
  let optlen = 0;
  for (let i = 0; i < len; i += optlen) {
    const t = c.u8(opts + i);
    if (t === 0) optlen = 1;
    else if (i + 1 < len) optlen = c.u8(opts + i + 1) + 2;
    else return trunc();
    if (i + optlen > len) return trunc();
    const rem = len - i;
    switch (t) {
      case 0:
        break;
      case 1:
        if (rem < 2) {
          c.print('(padn: trunc)');
          return trunc();
        }
        break;
      case 5:
        if (rem < 4) {
          c.print('(rtalert: trunc)');
          return trunc();
        }
        if (c.u8(opts + i + 1) !== 2) {
          c.print(`(rtalert: invalid len ${c.u8(opts + i + 1)})`);
          return trunc();
        }
        break;
      case 0xc2:
        if (rem < 6) {
          c.print('(jumbo: trunc)');
          return trunc();
        }
        if (c.u8(opts + i + 1) !== 4) {
          c.print(`(jumbo: invalid len ${c.u8(opts + i + 1)})`);
          return trunc();
        }
        if (jumbo === undefined && payloadLen === 0) jumbo = c.u32(opts + i + 2);
        break;
      case 0xc9:
        if (rem < 18) {
          c.print('(homeaddr: trunc)');
          return trunc();
        }
        if (c.u8(opts + i + 1) < 16) {
          c.print(`(homeaddr: invalid len ${c.u8(opts + i + 1)})`);
          return trunc();
        }
        break;
      default:
        if (rem < 2) {
          c.print(`(type ${t}: trunc)`);
          return trunc();
        }
        break;
    }
  }
  return jumbo === undefined ? { advance: hlen } : { advance: hlen, jumbo };

  function trunc(): { advance: number } {
    c.printTrunc();
    return { advance: -1 };
  }
}

function demux(c: Cursor, bp: number, length: number, ver: 4 | 6, fragmented: boolean, nh: number, iph: number): void {
  switch (nh) {
    case 6:
      tcpPrint(c, bp, length, iph, ver, fragmented);
      return;
    case 17:
      udpPrint(c, bp, length, iph, ver, fragmented);
      return;
    case 1:
      if (ver === 4) icmpPrint(c, bp, length);
      else c.print('[ICMP requires IPv4] (invalid)');
      return;
    case 58:
      if (ver === 6) icmp6Print(c, bp, length);
      else c.print('[ICMPv6 requires IPv6] (invalid)');
      return;
    case 2:
      if (ver === 4) igmpPrint(c, bp, length);
      else c.print('[IGMP requires IPv4] (invalid)');
      return;
    case 4:
      ipPrint(c, bp, length);
      return;
    case 41:
      ip6Print(c, bp, length);
      return;
    case 59:
      c.print('no next header');
      return;
    case 143:
      if (ver === 4) {
        c.print('[Ethernet requires IPv6] (invalid)');
        return;
      }
      // Ethernet over IPv6 (RFC 8986) is decoded by tcpdump; we show it as an unknown protocol.
      c.print(` ip-proto-${nh} ${length}`);
      return;
    case 132:
    case 33:
      // SCTP and DCCP print their own addresses and ports in tcpdump; we only name the protocol.
      if (ver === 4) c.print(`${c.ip4(iph + 12)} > ${c.ip4(iph + 16)}: `);
      else c.print(`${c.ip6(iph + 8)} > ${c.ip6(iph + 24)}: `);
      c.print(` ip-proto-${nh} ${length}`);
      return;
    default:
      c.print(` ip-proto-${nh} ${length}`);
      return;
  }
}

/** tcpdump's unsigned_relts_print(): 90 -> "1m30s". */
function relts(secs: number): string {
  if (secs === 0) return '0s';
  const units: [number, string][] = [
    [31536000, 'y'],
    [604800, 'w'],
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  let s = '';
  let left = secs;
  for (const [n, u] of units) {
    if (left >= n) {
      s += `${Math.floor(left / n)}${u}`;
      left -= Math.floor(left / n) * n;
    }
  }
  return s;
}

function igmpPrint(c: Cursor, bp: number, len: number): void {
  c.proto = 'igmp';
  const t = c.u8(bp);
  switch (t) {
    case 0x11:
      c.print('igmp query');
      if (len >= 12) {
        c.print(' v3');
        if (len < 12 || (len & 3) !== 0) {
          c.print(` [invalid len ${len}]`);
          return;
        }
        const mrc = c.u8(bp + 1);
        const mrt = mrc < 128 ? mrc : ((mrc & 0x0f) | 0x10) << (((mrc & 0x70) >> 4) + 3);
        if (mrc !== 100)
          c.print(` [max resp time ${mrt < 600 ? `${(mrt * 0.1).toFixed(1)}s` : relts(Math.floor(mrt / 10))}]`);
        if (c.u32(bp + 4) === 0) return;
        c.print(` [gaddr ${c.ip4(bp + 4)}`);
        const nsrcs = c.u16(bp + 10);
        if (nsrcs > 0) {
          if (len < 12 + nsrcs * 4) c.print(' [invalid number of sources]');
          else c.print(`, ${nsrcs} source(s)`);
        }
        c.print(']');
      } else {
        const mrt = c.u8(bp + 1);
        if (mrt !== 0) {
          c.print(' v2');
          if (mrt !== 100) c.print(` [max resp time ${mrt}]`);
        } else c.print(' v1');
        if (c.u32(bp + 4) !== 0) c.print(` [gaddr ${c.ip4(bp + 4)}]`);
        if (len !== 8) c.print(` [len ${len}]`);
      }
      return;
    case 0x12:
      c.print(`igmp v1 report ${c.ip4(bp + 4)}`);
      if (len !== 8) c.print(` [len ${len}]`);
      return;
    case 0x16:
      c.print(`igmp v2 report ${c.ip4(bp + 4)}`);
      return;
    case 0x22:
      c.print('igmp v3 report');
      if (len < 16 || (len & 3) !== 0) c.print(` [invalid len ${len}]`);
      else c.print(`, ${c.u16(bp + 6)} group record(s)`);
      return;
    case 0x17:
      c.print(`igmp leave ${c.ip4(bp + 4)}`);
      return;
    default:
      // DVMRP, PIMv1 and mtrace (0x13, 0x14, 0x1e, 0x1f) are decoded further by tcpdump.
      c.print(`igmp-${t}`);
      return;
  }
}
