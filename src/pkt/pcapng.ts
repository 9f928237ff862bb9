/*
 * A pcapng reader (read-only; the writer side is classic pcap, pcap.ts).
 *
 * Walks the blocks of a file held in memory: Section Header (byte order per
 * section), Interface Description (linktype, snaplen, if_tsresol), Enhanced
 * and Simple Packet Blocks (and the obsolete Packet Block); every other block
 * is skipped. Time stamps are converted to seconds + nanoseconds whatever the
 * interface's resolution. As in pcap.ts every length is checked against the
 * bytes present and each block consumes at least 12 bytes, so malformed input
 * ends in ValeError(PROTOCOL), never in a crash or a loop.
 */

import * as fs from 'node:fs';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { PCAP_MAX_SNAPLEN, PcapReader, type PcapRecord } from './pcap.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 1;
export const PCAPNG_PB = 2;
export const PCAPNG_SPB = 3;
export const PCAPNG_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export interface PcapngInterface {
  linktype: number;
  snaplen: number;
  /** Time stamp units per second (10^6 unless if_tsresol says otherwise). */
  unitsPerSec: bigint;
}

/** A packet: PcapRecord with a nanosecond fraction, plus its interface. */
export interface PcapngRecord extends PcapRecord {
  interfaceId: number;
  linktype: number;
}

function bad(msg: string): ValeError {
  return new ValeError(ErrorCodes.PROTOCOL, msg);
}

export class PcapngReader implements Iterable<PcapngRecord> {
  /** Time stamps come out as seconds + nanoseconds. */
  readonly nanosecond = true;
  readonly interfaces: PcapngInterface[] = [];
  readonly #b: Uint8Array;
  readonly #v: DataView;
  #pos = 0;
  #le = true;

  constructor(bytes: Uint8Array) {
    this.#b = bytes;
    this.#v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 12 || this.#v.getUint32(0, false) !== PCAPNG_SHB) {
      throw bad('not a pcapng file (no section header block)');
    }
  }

  static fromFile(path: string): PcapngReader {
    return new PcapngReader(fs.readFileSync(path));
  }

  /** The next packet, or undefined at the end of the file. */
  next(): PcapngRecord | undefined {
    for (;;) {
      const b = this.#b;
      const p = this.#pos;
      if (p === b.length) return undefined;
      if (p + 12 > b.length) return this.#fail(`truncated block header at offset ${p}`);
      const type = this.#v.getUint32(p, this.#le);
      if (type === PCAPNG_SHB) {
        const magic = this.#v.getUint32(p + 8, false);
        if (magic === BYTE_ORDER_MAGIC) this.#le = false;
        else if (magic === 0x4d3c2b1a) this.#le = true;
        else return this.#fail(`bad byte-order magic in section header at offset ${p}`);
        this.interfaces.length = 0;
      }
      const len = this.#v.getUint32(p + 4, this.#le);
      if (len < 12 || len % 4 !== 0) return this.#fail(`bad block length ${len} at offset ${p}`);
      if (p + len > b.length)
        return this.#fail(`truncated block at offset ${p}: length ${len}, ${b.length - p} bytes left`);
      if (this.#v.getUint32(p + len - 4, this.#le) !== len)
        return this.#fail(`block at offset ${p}: trailing length differs`);
      this.#pos = p + len;
      const body = p + 8;
      const bodyLen = len - 12;
      switch (type) {
        case PCAPNG_SHB:
          if (bodyLen < 16) return this.#fail(`short section header at offset ${p}`);
          break;
        case PCAPNG_IDB:
          if (bodyLen < 8) return this.#fail(`short interface description at offset ${p}`);
          this.interfaces.push({
            linktype: this.#v.getUint16(body, this.#le),
            snaplen: this.#v.getUint32(body + 4, this.#le),
            unitsPerSec: this.#tsresol(body + 8, bodyLen - 8),
          });
          break;
        case PCAPNG_EPB:
        case PCAPNG_PB: {
          if (bodyLen < 20) return this.#fail(`short packet block at offset ${p}`);
          const id = type === PCAPNG_EPB ? this.#v.getUint32(body, this.#le) : this.#v.getUint16(body, this.#le);
          const ifc = this.interfaces[id];
          if (ifc === undefined) return this.#fail(`packet block at offset ${p} names unknown interface ${id}`);
          const ts =
            (BigInt(this.#v.getUint32(body + 4, this.#le)) << 32n) | BigInt(this.#v.getUint32(body + 8, this.#le));
          const caplen = this.#v.getUint32(body + 12, this.#le);
          const origLen = this.#v.getUint32(body + 16, this.#le);
          if (caplen > bodyLen - 20 || caplen > PCAP_MAX_SNAPLEN) {
            return this.#fail(`packet block at offset ${p}: caplen ${caplen} exceeds the block`);
          }
          return this.#record(p, id, ifc, ts, caplen, origLen, body + 20);
        }
        case PCAPNG_SPB: {
          if (bodyLen < 4) return this.#fail(`short simple packet block at offset ${p}`);
          const ifc = this.interfaces[0];
          if (ifc === undefined) return this.#fail(`simple packet block at offset ${p} before any interface`);
          const origLen = this.#v.getUint32(body, this.#le);
          let caplen = Math.min(origLen, bodyLen - 4);
          if (ifc.snaplen > 0) caplen = Math.min(caplen, ifc.snaplen);
          return this.#record(p, 0, ifc, undefined, caplen, origLen, body + 4);
        }
        default:
          break; // name resolution, statistics, custom blocks...
      }
    }
  }

  *[Symbol.iterator](): Iterator<PcapngRecord> {
    for (let r = this.next(); r !== undefined; r = this.next()) yield r;
  }

  #fail(msg: string): never {
    this.#pos = this.#b.length;
    throw bad(msg);
  }

  #record(
    p: number,
    interfaceId: number,
    ifc: PcapngInterface,
    ts: bigint | undefined,
    caplen: number,
    origLen: number,
    data: number,
  ): PcapngRecord {
    let tsSec = 0;
    let tsFrac = 0;
    if (ts !== undefined) {
      tsSec = Number(ts / ifc.unitsPerSec);
      tsFrac = Number(((ts % ifc.unitsPerSec) * 1000000000n) / ifc.unitsPerSec);
    }
    return {
      tsSec,
      tsFrac,
      caplen,
      origLen,
      data: this.#b.subarray(data, data + caplen),
      fileOffset: p,
      interfaceId,
      linktype: ifc.linktype,
    };
  }

  /** if_tsresol (option 9) among the IDB options, as units per second. */
  #tsresol(off: number, len: number): bigint {
    let o = off;
    const end = off + len;
    while (o + 4 <= end) {
      const code = this.#v.getUint16(o, this.#le);
      const olen = this.#v.getUint16(o + 2, this.#le);
      if (code === 0) break;
      if (code === 9 && olen >= 1 && o + 5 <= end) {
        const r = this.#b[o + 4];
        const exp = BigInt(r & 0x7f);
        if (exp > 63n) this.#fail('if_tsresol out of range');
        return (r & 0x80) !== 0 ? 1n << exp : 10n ** exp;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    return 1000000n;
  }
}

/**
 * Opens pcap or pcapng bytes, whichever they are. Both readers yield records
 * via next(); `nanosecond` tells the unit of tsFrac.
 */
export function openCapture(bytes: Uint8Array): PcapReader | PcapngReader {
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false) === PCAPNG_SHB) {
    return new PcapngReader(bytes);
  }
  return new PcapReader(bytes);
}
