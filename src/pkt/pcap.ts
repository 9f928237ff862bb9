/*
 * Classic libpcap files: a buffered writer and a bounds-checked reader.
 *
 * Writer: the 24-byte global header (magic 0xa1b2c3d4 for microsecond or
 * 0xa1b23c4d for nanosecond stamps, version 2.4, thiszone 0, sigfigs 0,
 * snaplen, linktype 1 = EN10MB), then per frame a 16-byte record header (ts
 * seconds, ts fraction, caplen, origlen) and caplen bytes. Everything is
 * written in the host's byte order, as libpcap does; readers detect it from
 * the magic. Records are staged in one buffer and leave in large writes: to a
 * file descriptor with fs.writeSync (flush() returns when the bytes are in the
 * kernel), or as chunks to a Node Writable.
 *
 * Reader: parses a whole file held in memory, either byte order, microsecond
 * or nanosecond magic. Every length is checked against the bytes present and
 * against the snaplen before use and every record consumes at least 16 bytes,
 * so garbage ends in ValeError(PROTOCOL), never in a crash or a loop. Record
 * data are views into the input (no copies).
 */

import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { ErrorCodes, ValeError } from '../core/errors.js';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_DEFAULT_SNAPLEN = 65535;
/** libpcap's largest snaplen (MAXIMUM_SNAPLEN); bigger record lengths are garbage. */
export const PCAP_MAX_SNAPLEN = 262144;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A time stamp: seconds and the fraction in the file's unit (µs, or ns for nanosecond files). */
export interface PcapTimestamp {
  sec: number;
  frac: number;
}

export interface PcapWriterOptions {
  /** Longest stored frame; longer frames are cut (origLen keeps the wire length). Default 65535. */
  snaplen?: number;
  /** Default 1 (Ethernet). */
  linktype?: number;
  /** Nanosecond stamps (magic 0xa1b23c4d). Default microseconds. */
  nanosecond?: boolean;
  /** Staging buffer size; default 64 KiB. */
  bufferSize?: number;
}

/** Now, as epoch seconds + µs (or ns). */
export function nowTimestamp(nanosecond = false): PcapTimestamp {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const rem = ms - sec * 1000;
  const frac = nanosecond ? Math.min(999999999, Math.floor(rem * 1e6)) : Math.min(999999, Math.floor(rem * 1e3));
  return { sec, frac };
}

type Sink = { kind: 'fd'; fd: number; owned: boolean } | { kind: 'stream'; stream: Writable };

export class PcapWriter {
  readonly snaplen: number;
  readonly linktype: number;
  readonly nanosecond: boolean;
  readonly #sink: Sink;
  #buf: Buffer;
  #view: DataView;
  #pos = 0;
  #closed = false;
  /** Records written so far. */
  records = 0;

  private constructor(sink: Sink, opts: PcapWriterOptions, writeHeader: boolean) {
    const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > PCAP_MAX_SNAPLEN) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `snaplen must be 1..${PCAP_MAX_SNAPLEN}`);
    }
    const size = Math.max(opts.bufferSize ?? 65536, PCAP_GLOBAL_HEADER_LEN + PCAP_RECORD_HEADER_LEN);
    this.snaplen = snaplen;
    this.linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    this.nanosecond = opts.nanosecond === true;
    this.#sink = sink;
    this.#buf = Buffer.allocUnsafe(size);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
    if (writeHeader) this.#header();
  }

  /** Writes to an open file descriptor (not closed by close() unless `owned`). */
  static toFd(fd: number, opts: PcapWriterOptions = {}, owned = false): PcapWriter {
    return new PcapWriter({ kind: 'fd', fd, owned }, opts, true);
  }

  /** Writes to a Node Writable (a file stream, a socket, process.stdout). */
  static toStream(stream: Writable, opts: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter({ kind: 'stream', stream }, opts, true);
  }

  /**
   * Creates (or truncates) `path`. With `append`, opens it O_APPEND and adds
   * records after an existing header, which must be ours (same byte order,
   * stamp unit and linktype); an empty file gets a header.
   */
  static open(path: string, opts: PcapWriterOptions & { append?: boolean } = {}): PcapWriter {
    if (opts.append !== true) return PcapWriter.toFd(fs.openSync(path, 'w'), opts, true);
    const fd = fs.openSync(path, 'a+');
    try {
      const size = fs.fstatSync(fd).size;
      if (size === 0) return new PcapWriter({ kind: 'fd', fd, owned: true }, opts, true);
      const head = Buffer.alloc(PCAP_GLOBAL_HEADER_LEN);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      const h = parsePcapHeader(head.subarray(0, n));
      const want = opts.nanosecond === true;
      if (h.littleEndian !== HOST_LE || h.nanosecond !== want || h.linktype !== (opts.linktype ?? LINKTYPE_ETHERNET)) {
        throw new ValeError(ErrorCodes.INVALID_ARG, `${path}: existing pcap header does not match this writer`);
      }
      return new PcapWriter({ kind: 'fd', fd, owned: true }, { ...opts, snaplen: opts.snaplen ?? h.snaplen }, false);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  #header(): void {
    const v = this.#view;
    v.setUint32(0, this.nanosecond ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC, HOST_LE);
    v.setUint16(4, PCAP_VERSION_MAJOR, HOST_LE);
    v.setUint16(6, PCAP_VERSION_MINOR, HOST_LE);
    v.setInt32(8, 0, HOST_LE);
    v.setUint32(12, 0, HOST_LE);
    v.setUint32(16, this.snaplen, HOST_LE);
    v.setUint32(20, this.linktype, HOST_LE);
    this.#pos = PCAP_GLOBAL_HEADER_LEN;
  }

  /**
   * Appends one frame, buf[off, off+len), captured at `ts` (default now) and
   * `origLen` bytes long on the wire (default len). Stores at most snaplen bytes.
   */
  write(buf: Uint8Array, off = 0, len = buf.length - off, ts?: PcapTimestamp, origLen = len): void {
    if (this.#closed) throw new ValeError(ErrorCodes.CLOSED, 'pcap writer is closed');
    const t = ts ?? nowTimestamp(this.nanosecond);
    const have = Math.max(0, Math.min(len, buf.length - off));
    const caplen = Math.min(have, this.snaplen);
    const need = PCAP_RECORD_HEADER_LEN + caplen;
    if (this.#pos + need > this.#buf.length) {
      this.flush();
      if (need > this.#buf.length) this.#grow(need);
    }
    const v = this.#view;
    const p = this.#pos;
    v.setUint32(p, t.sec >>> 0, HOST_LE);
    v.setUint32(p + 4, t.frac >>> 0, HOST_LE);
    v.setUint32(p + 8, caplen, HOST_LE);
    v.setUint32(p + 12, Math.max(origLen, have) >>> 0, HOST_LE);
    this.#buf.set(buf.subarray(off, off + caplen), p + PCAP_RECORD_HEADER_LEN);
    this.#pos = p + need;
    this.records++;
  }

  #grow(n: number): void {
    this.#buf = Buffer.allocUnsafe(n);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /**
   * Hands the staged bytes to the sink. For a file descriptor they are written
   * before this returns; for a stream, returns the stream's write() result
   * (false = wait for 'drain').
   */
  flush(): boolean {
    if (this.#pos === 0) return true;
    const n = this.#pos;
    this.#pos = 0;
    if (this.#sink.kind === 'fd') {
      let done = 0;
      while (done < n) done += fs.writeSync(this.#sink.fd, this.#buf, done, n - done);
      return true;
    }
    return this.#sink.stream.write(Buffer.from(this.#buf.subarray(0, n)));
  }

  /** Flushes, then closes the descriptor it owns or ends the stream. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    const sink = this.#sink;
    if (sink.kind === 'fd') {
      if (sink.owned) fs.closeSync(sink.fd);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      sink.stream.once('error', reject);
      sink.stream.end(() => resolve());
    });
  }
}

export interface PcapHeader {
  /** Magic as written (0xa1b2c3d4 or 0xa1b23c4d), after byte-order detection. */
  magic: number;
  littleEndian: boolean;
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  thiszone: number;
  sigfigs: number;
  snaplen: number;
  linktype: number;
}

export interface PcapRecord {
  tsSec: number;
  /** Microseconds, or nanoseconds in a nanosecond file. */
  tsFrac: number;
  caplen: number;
  origLen: number;
  /** The captured bytes: a view into the file buffer. */
  data: Uint8Array;
  /** Offset of the record header in the file. */
  fileOffset: number;
}

function protocolError(msg: string): ValeError {
  return new ValeError(ErrorCodes.PROTOCOL, msg);
}

/** Parses and checks the 24-byte global header. */
export function parsePcapHeader(bytes: Uint8Array): PcapHeader {
  if (bytes.length < 4) throw protocolError(`truncated pcap file header (${bytes.length} of 24 bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const be = v.getUint32(0, false);
  const le = v.getUint32(0, true);
  let littleEndian: boolean;
  let magic: number;
  if (be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC) {
    littleEndian = false;
    magic = be;
  } else if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC) {
    littleEndian = true;
    magic = le;
  } else if (be === PCAPNG_SHB_TYPE) {
    throw protocolError('this is a pcapng file, not a classic pcap file');
  } else {
    throw protocolError(`not a pcap file (magic 0x${be.toString(16).padStart(8, '0')})`);
  }
  if (bytes.length < PCAP_GLOBAL_HEADER_LEN) {
    throw protocolError(`truncated pcap file header (${bytes.length} of 24 bytes)`);
  }
  const h: PcapHeader = {
    magic,
    littleEndian,
    nanosecond: magic === PCAP_MAGIC_NSEC,
    versionMajor: v.getUint16(4, littleEndian),
    versionMinor: v.getUint16(6, littleEndian),
    thiszone: v.getInt32(8, littleEndian),
    sigfigs: v.getUint32(12, littleEndian),
    snaplen: v.getUint32(16, littleEndian),
    linktype: v.getUint32(20, littleEndian),
  };
  if (h.versionMajor !== PCAP_VERSION_MAJOR) {
    throw protocolError(`unsupported pcap version ${h.versionMajor}.${h.versionMinor}`);
  }
  return h;
}

/** Iterates the records of a pcap file held in memory. */
export class PcapReader implements Iterable<PcapRecord> {
  readonly header: PcapHeader;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #maxCaplen: number;
  #pos = PCAP_GLOBAL_HEADER_LEN;

  constructor(bytes: Uint8Array) {
    this.header = parsePcapHeader(bytes);
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const s = this.header.snaplen;
    // A zero snaplen (some writers) means "no limit": use libpcap's maximum.
    this.#maxCaplen = s === 0 ? PCAP_MAX_SNAPLEN : Math.min(s, PCAP_MAX_SNAPLEN);
  }

  static fromFile(path: string): PcapReader {
    return new PcapReader(fs.readFileSync(path));
  }

  /** True if tsFrac is in nanoseconds (magic 0xa1b23c4d), else microseconds. */
  get nanosecond(): boolean {
    return this.header.nanosecond;
  }

  /** The next record, or undefined at the end of the file. */
  next(): PcapRecord | undefined {
    const b = this.#bytes;
    const p = this.#pos;
    if (p === b.length) return undefined;
    if (p + PCAP_RECORD_HEADER_LEN > b.length) {
      this.#pos = b.length;
      throw protocolError(`truncated record header at offset ${p} (${b.length - p} of 16 bytes)`);
    }
    const le = this.header.littleEndian;
    const v = this.#view;
    const tsSec = v.getUint32(p, le);
    const tsFrac = v.getUint32(p + 4, le);
    const caplen = v.getUint32(p + 8, le);
    const origLen = v.getUint32(p + 12, le);
    if (caplen > this.#maxCaplen) {
      this.#pos = b.length;
      throw protocolError(`record at offset ${p}: caplen ${caplen} is bigger than the snaplen ${this.#maxCaplen}`);
    }
    const data = p + PCAP_RECORD_HEADER_LEN;
    if (data + caplen > b.length) {
      this.#pos = b.length;
      throw protocolError(`truncated record at offset ${p}: caplen ${caplen}, ${b.length - data} bytes left`);
    }
    this.#pos = data + caplen;
    return { tsSec, tsFrac, caplen, origLen, data: b.subarray(data, data + caplen), fileOffset: p };
  }

  *[Symbol.iterator](): Iterator<PcapRecord> {
    for (let r = this.next(); r !== undefined; r = this.next()) yield r;
  }
}

/** Parses a whole pcap file: its header and every record (throws ValeError(PROTOCOL) if malformed). */
export function readPcap(bytes: Uint8Array): { header: PcapHeader; records: PcapRecord[] } {
  const r = new PcapReader(bytes);
  return { header: r.header, records: [...r] };
}
