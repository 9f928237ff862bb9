/*
 * IEEE 802.2 LLC behind an 802.3 length field (print-llc.c, generic part).
 *
 * Prints the SAPs and the control field (unnumbered, supervisory or
 * information frame) as tcpdump does, hands LLC-encapsulated IP to the IPv4
 * printer, and leaves the rest to the caller's hex dump. SNAP, spanning tree,
 * IPX, NetBEUI and OSI payloads, which tcpdump decodes further, are shown
 * generically.
 */

import type { Cursor } from './decode-cursor.js';
import { ipPrint } from './decode-ip.js';

const SAP_NAMES: Record<number, string> = {
  0: 'Null',
  255: 'Global',
  2: '802.1B I',
  3: '802.1B G',
  6: 'IP',
  4: 'SNA',
  14: 'ProWay NM',
  66: 'STP',
  78: 'RS511',
  126: 'ISO8208',
  142: 'ProWay',
  170: 'SNAP',
  224: 'IPX',
  240: 'NetBeui',
  254: 'OSI',
};

const U_CMDS: Record<number, string> = {
  3: 'ui',
  227: 'test',
  175: 'xid',
  99: 'ua',
  67: 'disc',
  15: 'dm',
  111: 'sabme',
  135: 'frmr',
};

const FLAGS: Record<number, string> = {
  0: 'Command',
  1: 'Response',
  16: 'Poll',
  17: 'Final',
  256: 'Poll',
  257: 'Final',
};

const SUPERVISORY = ['Receiver Ready', 'Receiver not Ready', 'Reject'];

const hex2 = (v: number) => v.toString(16).padStart(2, '0');

/**
 * llc_print(): returns the LLC header length, negative when the caller should
 * hex-dump the frame from `p` (tcpdump's "packet type not known").
 */
export function llcPrint(c: Cursor, p: number, length: number, caplen: number, src: string, dst: string): number {
  c.proto = 'llc';
  if (caplen < 3 || length < 3) {
    c.printTrunc();
    c.defaultPrint(p, caplen);
    return Math.min(caplen, length);
  }
  const dsapField = c.u8(p);
  const ssapField = c.u8(p + 1);
  let control = c.u8(p + 2);
  let isU: boolean;
  let hdrlen: number;
  if ((control & 3) === 3) {
    isU = true;
    hdrlen = 3;
  } else {
    if (caplen < 4 || length < 4) {
      c.printTrunc();
      c.defaultPrint(p, caplen);
      return Math.min(caplen, length);
    }
    control = c.u16le(p + 2);
    isU = false;
    hdrlen = 4;
  }
  const dsap = dsapField & ~1;
  const ssap = ssapField & ~1;
  if (c.eflag) {
    c.print(
      `LLC, dsap ${SAP_NAMES[dsap] ?? 'Unknown'} (0x${hex2(dsap)}) ${(dsapField & 1) !== 0 ? 'Group' : 'Individual'}` +
        `, ssap ${SAP_NAMES[ssap] ?? 'Unknown'} (0x${hex2(ssap)}) ${(ssapField & 1) !== 0 ? 'Response' : 'Command'}`,
    );
    c.print(isU ? `, ctrl 0x${hex2(control)}: ` : `, ctrl 0x${control.toString(16).padStart(4, '0')}: `);
  }
  const body = p + hdrlen;
  length -= hdrlen;
  caplen -= hdrlen;
  if (ssap === 0x06 && dsap === 0x06 && control === 0x03) {
    ipPrint(c, body, length);
    return hdrlen;
  }
  if (!c.eflag) {
    const d = SAP_NAMES[dsap] ?? `Unknown DSAP 0x${hex2(dsap)}`;
    if (ssap === dsap) c.print(`${src} > ${dst} ${d} `);
    else c.print(`${src} ${SAP_NAMES[ssap] ?? `Unknown SSAP 0x${hex2(ssap)}`} > ${dst} ${d} `);
  }
  const flags = (v: number) => FLAGS[v] ?? '?';
  if (isU) {
    const cmd = control & 0xef;
    c.print(`Unnumbered, ${U_CMDS[cmd] ?? hex2(cmd)}, Flags [${flags((ssapField & 1) | (control & 0x10))}]`);
    c.print(`, length ${length + hdrlen}`);
    if ((control & ~0x10) === 0xaf) {
      if (length === 0) return hdrlen;
      if (caplen < 1) {
        c.printTrunc();
        return hdrlen;
      }
      if (c.u8(body) === 0x81) {
        if (caplen < 3 || length < 3) {
          c.printTrunc();
          if (caplen > 0) c.defaultPrint(body, caplen);
        } else c.print(`: ${hex2(c.u8(body + 1))} ${hex2(c.u8(body + 2))}`);
        return hdrlen;
      }
    }
  } else if ((control & 1) === 1) {
    c.print(`Supervisory, ${SUPERVISORY[(control >> 2) & 3] ?? '?'}, rcv seq ${(control >> 9) & 0x7f}`);
    c.print(`, Flags [${flags((ssapField & 1) | (control & 0x100))}], length ${length + hdrlen}`);
    return hdrlen;
  } else {
    c.print(`Information, send seq ${(control >> 1) & 0x7f}, rcv seq ${(control >> 9) & 0x7f}`);
    c.print(`, Flags [${flags((ssapField & 1) | (control & 0x100))}], length ${length + hdrlen}`);
  }
  return -hdrlen;
}
