/*
 * UDP (print-udp.c, without -v): "src.port > dst.port: UDP, length N", and
 * the short-header / bad-length forms. Where tcpdump hands a well-known port
 * (DNS, DHCP, NTP, SNMP, ...) to an application printer, we still print the
 * generic form.
 */

import { addrPair, type Cursor, nextHeader } from './decode-cursor.js';

/** udpipaddr_print(): "src > dst: ", with ports when known, or only "sport > dport: " behind extension headers. */
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
