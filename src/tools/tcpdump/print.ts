/*
 * tcpdump's time stamp styles (-t, -tt, default, -tttt) and the fields -v
 * adds for an IP header, in tcpdump's words:
 *   IP (tos 0x0, ttl 64, id 0, offset 0, flags [none], proto UDP (17), length 46)
 *       10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18
 *   IP6 (flowlabel 0x12345, hlim 255, next-header ICMPv6 (58), payload length 32) fe80::1 > ...
 * The rest of the line is the decoder's (src/pkt/decode.ts); the details of
 * other layers under -v are left to `-w - | tcpdump -r - -v`.
 */

import { inetChecksum } from '../../pkt/checksum.js';
import { formatTimestamp } from '../../pkt/decode.js';

const two = (v: number): string => String(v).padStart(2, '0');

/** A formatter of a record's stamp, with its trailing space ('' for -t). */
export function stampFormatter(tflag: number): (sec: number, frac: number) => string {
  const f6 = (frac: number): string => String(Math.max(0, Math.trunc(frac))).padStart(6, '0');
  if (tflag === 1) return () => '';
  if (tflag === 2) return (sec, frac) => `${sec}.${f6(frac)} `;
  if (tflag === 4) {
    return (sec, frac) => {
      const d = new Date(sec * 1000);
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${formatTimestamp(sec, frac)} `;
    };
  }
  return (sec, frac) => `${formatTimestamp(sec, frac)} `;
}

const PROTOS: Record<number, string> = {
  0: 'Options',
  1: 'ICMP',
  2: 'IGMP',
  4: 'IPIP',
  6: 'TCP',
  17: 'UDP',
  41: 'IPv6',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'ICMPv6',
  59: 'NONE',
  60: 'DSTOPT',
  43: 'Routing',
  44: 'frag',
  103: 'PIM',
  112: 'VRRP',
  132: 'SCTP',
};
const ECN = ['', ',ECT(1)', ',ECT(0)', ',CE'];

function ipv4Fields(b: Uint8Array, o: number, cap: number): string | null {
  if (cap < 20 || b[o] !== 0x45) return null; // options: left to the real tcpdump
  const tos = b[o + 1] as number;
  const len = ((b[o + 2] as number) << 8) | (b[o + 3] as number);
  const id = ((b[o + 4] as number) << 8) | (b[o + 5] as number);
  const frag = ((b[o + 6] as number) << 8) | (b[o + 7] as number);
  const flags = `${frag & 0x8000 ? 'rsvd' : ''}${frag & 0x4000 ? 'DF' : ''}${frag & 0x2000 ? '+' : ''}` || 'none';
  const p = b[o + 9] as number;
  let s =
    `(tos 0x${(tos & 0xfc).toString(16)}${ECN[tos & 3]}, ttl ${b[o + 8]}, id ${id}, offset ${(frag & 0x1fff) * 8}, ` +
    `flags [${flags}], proto ${PROTOS[p] ?? 'unknown'} (${p}), length ${len}`;
  const sum = ((b[o + 10] as number) << 8) | (b[o + 11] as number);
  if (inetChecksum(b, o, 20) !== 0) {
    const c = b.slice(o, o + 20);
    c[10] = 0;
    c[11] = 0;
    s += `, bad cksum ${sum.toString(16)} (->${inetChecksum(c, 0, 20).toString(16)})!`;
  }
  return `${s})`;
}

function ipv6Fields(b: Uint8Array, o: number, cap: number): string | null {
  if (cap < 40) return null;
  const w =
    (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>>
    0;
  const cls = (w >>> 20) & 0xff;
  const flow = w & 0xfffff;
  const plen = ((b[o + 4] as number) << 8) | (b[o + 5] as number);
  const nh = b[o + 6] as number;
  let s = '(';
  if (cls !== 0) s += `class 0x${cls.toString(16)}, `;
  if (flow !== 0) s += `flowlabel 0x${flow.toString(16).padStart(5, '0')}, `;
  return `${s}hlim ${b[o + 7]}, next-header ${PROTOS[nh] ?? 'unknown'} (${nh}) payload length: ${plen})`;
}

/** The decoder's line with the IP header's fields -v adds; unchanged for anything else. */
export function verboseIp(text: string, b: Uint8Array, off: number, caplen: number, eflag: boolean): string {
  if (caplen < 14) return text;
  const type = ((b[off + 12] as number) << 8) | (b[off + 13] as number);
  if (type === 0x0800) {
    const f = ipv4Fields(b, off + 14, caplen - 14);
    if (f === null) return text;
    if (!eflag) return text.startsWith('IP ') ? `IP ${f}\n    ${text.slice(3)}` : text;
    const m = /^(.*?ethertype IPv4 \(0x0800\), length \d+: )/.exec(text);
    return m ? `${m[1]}${f}\n    ${text.slice((m[1] as string).length)}` : text;
  }
  if (type === 0x86dd) {
    const f = ipv6Fields(b, off + 14, caplen - 14);
    if (f === null) return text;
    if (!eflag) return text.startsWith('IP6 ') ? `IP6 ${f} ${text.slice(4)}` : text;
    const m = /^(.*?ethertype IPv6 \(0x86dd\), length \d+: )/.exec(text);
    return m ? `${m[1]}${f} ${text.slice((m[1] as string).length)}` : text;
  }
  return text;
}
