/*
 * TCP (print-tcp.c, without -v): flags, sequence numbers (relative to the
 * first packet of a connection when the cursor carries a TcpSeqTable, as
 * tcpdump prints them by default), window, options, length. Application
 * printers behind well-known ports (HTTP, SSH, BGP, ...) are not reproduced:
 * their payload adds nothing to the line.
 */

import { addrPair, type Cursor, nextHeader, TRUNC } from './decode-cursor.js';

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
      const d = c.buf[srcOff + i] - c.buf[dstOff + i];
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
        // option bytes [from, to) in hex, each checked as tcpdump does
        const hexBytes = (from: number, to: number) => {
          for (let i = from; i < to; i++) {
            lencheck(i + 1);
            c.print(
              c
                .u8(cp + i)
                .toString(16)
                .padStart(2, '0'),
            );
          }
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
            for (let i = 0; i < 16; i++)
              h += c
                .u8(cp + i)
                .toString(16)
                .padStart(2, '0');
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
                hexBytes(2, datalen);
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
            hexBytes(0, datalen);
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
    for (let i = 0; i < datalen; i++)
      s += c
        .u8(cp + i)
        .toString(16)
        .padStart(2, '0');
    c.print(s);
  }
}
