/*
 * Properties of the parsers that read bytes or text from outside: port names
 * (against a model of README "Names"), QEMU's stream framing (against a model
 * stream cut at random places), the VDE join request, the pcap and pcapng
 * readers, and the packet decoders. Each either parses to what its model says
 * or refuses with its documented error; none throws anything else, loops, or
 * reads past the bytes it was given.
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { ErrorCodes } from '../../src/core/errors.js';
import { Decoder, summarize } from '../../src/pkt/decode.js';
import { PCAP_MAX_SNAPLEN, PcapReader, type PcapRecord } from '../../src/pkt/pcap.js';
import { openCapture, PcapngReader } from '../../src/pkt/pcapng.js';
import { type FrameSink, StreamDeframer } from '../../src/ports/qemu/framing.js';
import { encodeRequest, parseRequest, REQUEST_FIXED_LEN } from '../../src/ports/vde/protocol.js';
import { parsePortName, parseSwitchName } from '../../src/switch/name.js';
import { corpus } from '../pkt/corpus.js';
import { assertValeError, type FuzzProp, prop } from './registry.js';

// ---- port names ----

/**
 * README "Names", as a model: what parsePortName must return, or null for "refused". A name may
 * end with netmap's monitor suffix (/r, /t, /rt, /z: docs/monitors.md), outside the 15 characters.
 */
function nameModel(whole: string): { bridge: string; port: string; monitor: number } | null {
  const slash = whole.indexOf('/');
  const s = slash < 0 ? whole : whole.slice(0, slash);
  let monitor = 0;
  if (slash >= 0) {
    const f = whole.slice(slash + 1);
    if (f.length === 0 || [...f].some((c) => !'rtz'.includes(c)) || new Set(f).size !== f.length) return null;
    monitor = (f.includes('r') ? 1 : 0) | (f.includes('t') ? 2 : 0) || 3;
  }
  if (s.length === 0 || s.length > 15 || !s.startsWith('vale')) return null;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c < 0x21 || c > 0x7e) return null; // printable ASCII, no space
  }
  const colon = s.indexOf(':');
  if (colon < 0) return { bridge: 'vale', port: s, monitor };
  const port = s.slice(colon + 1);
  if (port === '') return null; // "vale-a:" names no port
  return { bridge: s.slice(0, colon), port, monitor };
}

/** Names built from the pieces that matter: the prefix, colons, printable, space, control, non-ASCII. */
const nameArb = fc.oneof(
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          'vale',
          'val',
          'VALE',
          ':',
          '::',
          'a',
          '0',
          '-',
          '_',
          ' ',
          '\t',
          '\0',
          '\x7f',
          '~',
          '!',
          'é',
          '/',
          '😀',
        ),
        fc.string({ unit: 'binary', maxLength: 3 }),
        fc.string({ maxLength: 6 }),
      ),
      { maxLength: 8 },
    )
    .map((a) => a.join('')),
  fc.string({ maxLength: 20 }).map((s) => `vale${s}`),
  // lengths around the 15-character limit (fast-check's default size keeps strings short)
  fc.string({ minLength: 8, maxLength: 14 }).map((s) => `vale${s}`),
  fc
    .tuple(fc.string({ minLength: 1, maxLength: 9 }), fc.string({ minLength: 1, maxLength: 9 }))
    .map(([b, p]) => `vale${b}:${p}`),
  // monitor suffixes, good and bad
  fc
    .tuple(
      fc.string({ maxLength: 6 }),
      fc.string({ maxLength: 6 }),
      fc.constantFrom('r', 't', 'rt', 'tr', 'z', 'rz', 'x', '', 'rr'),
    )
    .map(([b, p, f]) => `vale${b}:${p}/${f}`),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

const nameGrammar: FuzzProp = {
  name: 'name/grammar',
  runs: 3000,
  property: () =>
    prop(
      fc.property(nameArb, (s) => {
        const want = nameModel(s);
        let got: ReturnType<typeof parsePortName> | null = null;
        try {
          got = parsePortName(s);
        } catch (e) {
          assertValeError(e, ErrorCodes.INVALID_NAME, `parsePortName(${JSON.stringify(s)})`);
        }
        if (want === null) {
          assert.equal(got, null, `parsePortName(${JSON.stringify(s)}) accepted a name README refuses`);
          return;
        }
        assert.deepEqual(got, { full: s, ...want }, `parsePortName(${JSON.stringify(s)})`);
      }),
    ),
};

const switchName: FuzzProp = {
  name: 'name/switch',
  runs: 2000,
  property: () =>
    prop(
      fc.property(nameArb, (s) => {
        // a switch name is the part before the colon: a name "S:p" of at most 15 characters must fit
        const ok = nameModel(s) !== null && !s.includes(':') && !s.includes('/') && s.length <= 13;
        let got: string | null = null;
        try {
          got = parseSwitchName(s);
        } catch (e) {
          assertValeError(e, ErrorCodes.INVALID_NAME, `parseSwitchName(${JSON.stringify(s)})`);
        }
        assert.equal(got, ok ? s : null, `parseSwitchName(${JSON.stringify(s)})`);
        // every accepted switch name makes a valid port name with a one-character port
        if (ok) assert.deepEqual(parsePortName(`${s}:x`), { full: `${s}:x`, bridge: s, port: 'x', monitor: 0 });
      }),
    ),
};

// ---- QEMU stream framing ----

const QEMU_MAX = 300;

interface StreamCase {
  frames: Uint8Array[];
  /** What follows the frames: nothing, a bad length prefix (0 or > max) and garbage, or a cut frame. */
  tail: { kind: 'none' } | { kind: 'bad'; len: number; junk: Uint8Array } | { kind: 'cut'; bytes: Uint8Array };
  /** Chunk boundaries as fractions of the stream. */
  cuts: number[];
  /** Frames the sink refuses (by index). */
  refuse: boolean[];
}

const streamArb: fc.Arbitrary<StreamCase> = fc.record({
  frames: fc.array(fc.uint8Array({ minLength: 1, maxLength: QEMU_MAX }), { maxLength: 8 }),
  tail: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({
      kind: fc.constant('bad' as const),
      len: fc.oneof(fc.constant(0), fc.integer({ min: QEMU_MAX + 1, max: 0xffffffff })),
      junk: fc.uint8Array({ maxLength: 20 }),
    }),
    fc.record({ kind: fc.constant('cut' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
  ),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
  refuse: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
});

/** QEMU's framing read the obvious way: 4-byte big-endian length (1..max), then that many bytes. */
function streamModel(b: Uint8Array): { frames: Uint8Array[]; broken: boolean; mid: boolean } {
  const frames: Uint8Array[] = [];
  let i = 0;
  while (i < b.length) {
    if (b.length - i < 4) return { frames, broken: false, mid: true };
    const len = new DataView(b.buffer, b.byteOffset + i).getUint32(0, false);
    if (len === 0 || len > QEMU_MAX) return { frames, broken: true, mid: false };
    if (b.length - i - 4 < len) return { frames, broken: false, mid: true };
    frames.push(Uint8Array.from(b.subarray(i + 4, i + 4 + len)));
    i += 4 + len;
  }
  return { frames, broken: false, mid: false };
}

function prefixed(f: Uint8Array, len = f.length): Uint8Array {
  const b = new Uint8Array(4 + f.length);
  new DataView(b.buffer).setUint32(0, len >>> 0, false);
  b.set(f, 4);
  return b;
}

/** Records what a deframer hands its sink, checking the call order and ranges. */
class RecordingSink implements FrameSink {
  readonly frames: Uint8Array[] = [];
  readonly offered: number[] = [];
  private cur: number[] | null = null;
  private want = 0;
  private chunk: Buffer | null = null;
  private lo = 0;
  private hi = 0;
  constructor(private readonly refuse: boolean[]) {}
  setChunk(b: Buffer, lo: number, hi: number): void {
    this.chunk = b;
    this.lo = lo;
    this.hi = hi;
  }
  begin(len: number): boolean {
    assert.equal(this.cur, null, 'begin() inside a frame');
    assert.ok(len >= 1 && len <= QEMU_MAX, `begin(${len}) outside 1..max`);
    const take = !this.refuse[this.offered.length % this.refuse.length];
    this.offered.push(len);
    if (take) {
      this.cur = [];
      this.want = len;
    }
    return take;
  }
  data(src: Buffer, start: number, end: number): void {
    assert.ok(this.cur !== null, 'data() outside a frame');
    assert.equal(src, this.chunk, 'data() from another buffer');
    assert.ok(
      this.lo <= start && start < end && end <= this.hi,
      `data(${start}, ${end}) outside [${this.lo}, ${this.hi})`,
    );
    for (let i = start; i < end; i++) this.cur.push(src[i] as number);
    assert.ok(this.cur.length <= this.want, 'more data than the length prefix said');
  }
  end(): void {
    assert.ok(this.cur !== null, 'end() outside a frame');
    assert.equal(this.cur.length, this.want, 'end() before the whole frame');
    this.frames.push(Uint8Array.from(this.cur));
    this.cur = null;
  }
}

const qemuStream: FuzzProp = {
  name: 'qemu/stream',
  runs: 1500,
  property: () =>
    prop(
      fc.property(streamArb, fc.nat(7), (c, pad) => {
        const parts = c.frames.map((f) => prefixed(f));
        if (c.tail.kind === 'bad') parts.push(prefixed(c.tail.junk, c.tail.len));
        if (c.tail.kind === 'cut') parts.push(c.tail.bytes); // a length prefix or frame cut short
        const stream = Buffer.concat(parts);
        // chunks at arbitrary places, each fed from inside a larger buffer (start/end used)
        const cuts = [...new Set(c.cuts.map((x) => Math.floor(x * stream.length)))].sort((a, b) => a - b);
        const d = new StreamDeframer(QEMU_MAX);
        const sink = new RecordingSink(c.refuse);
        let err: string | null = null;
        let prev = 0;
        for (const at of [...cuts, stream.length]) {
          const chunk = Buffer.alloc(at - prev + 2 * pad, 0xa5);
          stream.copy(chunk, pad, prev, at);
          sink.setChunk(chunk, pad, pad + at - prev);
          const r = d.feed(chunk, sink, pad, pad + at - prev);
          if (err !== null) assert.equal(r, err, 'a broken stream stays broken with the same reason');
          err = r;
          prev = at;
        }
        // model: the stream cut into frames by a plain reading of the framing rule
        const want = streamModel(stream);
        assert.deepEqual(
          sink.offered,
          want.frames.map((f) => f.length),
          'frames offered to the sink',
        );
        assert.deepEqual(
          sink.frames,
          want.frames.filter((_, i) => !c.refuse[i % c.refuse.length]),
          'frames the sink took, intact and in order',
        );
        assert.equal(err !== null, want.broken, `error: ${err}`);
        if (!want.broken) assert.equal(d.midFrame, want.mid, 'midFrame');
        d.reset();
        assert.equal(d.error, null);
        assert.equal(d.midFrame, false);
      }),
    ),
};

/** Bytes with many zeros and length prefixes near the limit, as well as anything. */
const streamChunkArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .array(
      fc.oneof(
        fc.constantFrom(0, QEMU_MAX - 1, QEMU_MAX, QEMU_MAX + 1).map((n) => prefixed(new Uint8Array(0), n)),
        fc.uint8Array({ maxLength: 8 }),
        fc.constant(new Uint8Array(4)),
      ),
      { maxLength: 6 },
    )
    .map((ps) => Buffer.concat(ps)),
);

const qemuStreamBytes: FuzzProp = {
  name: 'qemu/stream-bytes',
  runs: 1500,
  property: () =>
    prop(
      fc.property(fc.array(streamChunkArb, { maxLength: 8 }), (chunks) => {
        // arbitrary bytes: frames are within the limit, or the stream stops with a reason
        const d = new StreamDeframer(QEMU_MAX);
        let inFrame = false;
        const sink: FrameSink = {
          begin: (len) => {
            assert.ok(!inFrame && len >= 1 && len <= QEMU_MAX);
            inFrame = true;
            return true;
          },
          data: () => assert.ok(inFrame),
          end: () => {
            assert.ok(inFrame);
            inFrame = false;
          },
        };
        for (const ch of chunks) d.feed(Buffer.from(ch), sink);
      }),
    ),
};

// ---- VDE join request ----

const vdeArb = fc.oneof(
  // a well-formed request, then one field or byte changed
  fc
    .record({
      path: fc.string({ minLength: 1, maxLength: 107, unit: 'grapheme-ascii' }).filter((p) => !p.includes('\0')),
      port: fc.integer({ min: 0, max: 0xffffff }),
      description: fc.string({ maxLength: 140, unit: 'binary-ascii' }),
      mutate: fc.option(fc.tuple(fc.nat(400), fc.integer({ min: 0, max: 255 }))),
      cut: fc.option(fc.nat(400)),
    })
    .map(({ path, port, description, mutate, cut }) => {
      const b = Uint8Array.from(encodeRequest(path, { port, description }));
      if (mutate !== null && mutate[0] < b.length) b[mutate[0]] = mutate[1];
      return { bytes: cut === null ? b : b.subarray(0, cut), path, port, description, mutated: mutate !== null };
    }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes, path: '', port: -1, description: '', mutated: true })),
);

const vdeJoin: FuzzProp = {
  name: 'vde/join',
  runs: 2000,
  property: () =>
    prop(
      fc.property(vdeArb, (c) => {
        const r = parseRequest(c.bytes);
        if ('error' in r) {
          assert.equal(typeof r.error, 'string');
          assert.ok(r.error.length > 0);
          assert.ok(!c.mutated ? c.bytes.length < REQUEST_FIXED_LEN : true, `refused a good request: ${r.error}`);
          return;
        }
        assert.ok(c.bytes.length >= REQUEST_FIXED_LEN, 'accepted a short request');
        assert.ok(r.port >= 0 && r.port <= 0xffffff);
        assert.ok(r.path.length > 0 && !r.path.includes('\0'));
        assert.ok(r.description.length <= 128 && !r.description.includes('\0'));
        if (!c.mutated) {
          const nul = c.description.indexOf('\0');
          const want = (nul < 0 ? c.description : c.description.slice(0, nul)).slice(0, 128);
          assert.deepEqual(r, {
            port: c.port,
            path: c.path,
            description: want.slice(0, c.bytes.length - REQUEST_FIXED_LEN),
          });
        }
        // bytes past the description's 128 never change the answer
        const longer = new Uint8Array(c.bytes.length + 16);
        longer.set(c.bytes);
        longer.fill(0x41, c.bytes.length);
        if (c.bytes.length >= REQUEST_FIXED_LEN + 128) assert.deepEqual(parseRequest(longer), r);
      }),
    ),
};

// ---- pcap / pcapng ----

/** Bytes of a pcap file: a valid header (either byte order, either time unit) and records, then changes. */
const pcapArb = fc
  .record({
    le: fc.boolean(),
    nsec: fc.boolean(),
    snaplen: fc.oneof(fc.constant(0), fc.constant(65535), fc.integer({ min: 0, max: 0xffffffff })),
    records: fc.array(
      fc.record({
        data: fc.uint8Array({ maxLength: 80 }),
        caplenDelta: fc.integer({ min: -3, max: 3 }),
        bad: fc.boolean(),
      }),
      { maxLength: 6 },
    ),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.option(fc.nat()),
  })
  .map((c) => {
    const parts: number[] = [];
    const u32 = (v: number) => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, v >>> 0, c.le);
      parts.push(...b);
    };
    const u16 = (v: number) => {
      const b = new Uint8Array(2);
      new DataView(b.buffer).setUint16(0, v, c.le);
      parts.push(...b);
    };
    u32(c.nsec ? 0xa1b23c4d : 0xa1b2c3d4);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(c.snaplen);
    u32(1);
    for (const r of c.records) {
      u32(1);
      u32(2);
      u32(c.records.length > 0 && r.bad ? r.data.length + r.caplenDelta : r.data.length);
      u32(r.data.length);
      parts.push(...r.data);
    }
    const b = Uint8Array.from(parts);
    for (const [at, v] of c.flips) if (b.length > 0) b[at % b.length] = v;
    return c.cut === null ? b : b.subarray(0, c.cut % (b.length + 1));
  });

/** Reads every record, or stops at the documented error. */
function drainReader(bytes: Uint8Array, open: (b: Uint8Array) => { next(): PcapRecord | undefined }): PcapRecord[] {
  const out: PcapRecord[] = [];
  let r: { next(): PcapRecord | undefined };
  try {
    r = open(bytes);
  } catch (e) {
    assertValeError(e, ErrorCodes.PROTOCOL, 'open');
    return out;
  }
  for (let i = 0; ; i++) {
    assert.ok(i <= bytes.length, 'more records than bytes: a loop');
    let rec: PcapRecord | undefined;
    try {
      rec = r.next();
    } catch (e) {
      assertValeError(e, ErrorCodes.PROTOCOL, 'next');
      assert.equal(r.next(), undefined, 'a reader that failed stays at the end');
      return out;
    }
    if (rec === undefined) return out;
    // every record is inside the file and within the snaplen limit
    assert.ok(rec.caplen <= PCAP_MAX_SNAPLEN && rec.data.length === rec.caplen);
    assert.equal(rec.data.buffer, bytes.buffer, 'record data is a view of the file');
    assert.ok(
      rec.data.byteOffset >= bytes.byteOffset && rec.data.byteOffset + rec.caplen <= bytes.byteOffset + bytes.length,
    );
    out.push(rec);
  }
}

const pcapReader: FuzzProp = {
  name: 'pcap/reader',
  runs: 2000,
  property: () =>
    prop(
      fc.property(fc.oneof(pcapArb, fc.uint8Array({ maxLength: 200 })), (bytes) => {
        const recs = drainReader(bytes, (b) => new PcapReader(b));
        // records come in file order without overlap
        for (let i = 1; i < recs.length; i++) {
          const a = recs[i - 1] as PcapRecord;
          assert.ok((recs[i] as PcapRecord).fileOffset >= a.fileOffset + 16 + a.caplen);
        }
        // openCapture on the same bytes gives the same records
        assert.deepEqual(
          drainReader(bytes, openCapture).map((r) => r.fileOffset),
          recs.map((r) => r.fileOffset),
        );
      }),
    ),
};

/** A pcapng file: SHB, IDBs (maybe with if_tsresol), packet blocks of every kind, unknown blocks; then changes. */
const pcapngArb = fc
  .record({
    le: fc.boolean(),
    blocks: fc.array(
      fc.record({
        type: fc.constantFrom(0x0a0d0d0a, 1, 2, 3, 6, 5, 0x0bad, 1),
        body: fc.uint8Array({ maxLength: 48 }),
        tsresol: fc.option(fc.integer({ min: 0, max: 255 })),
        ifId: fc.nat(3),
        caplen: fc.option(fc.nat(70)),
      }),
      { maxLength: 7 },
    ),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.option(fc.nat()),
  })
  .map((c) => {
    const out: number[] = [];
    const w32 = (a: number[], v: number) => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, v >>> 0, c.le);
      a.push(...b);
    };
    const block = (type: number, body: number[]) => {
      while (body.length % 4 !== 0) body.push(0);
      const len = 12 + body.length;
      w32(out, type);
      w32(out, len);
      out.push(...body);
      w32(out, len);
    };
    const shb = (): number[] => {
      const b: number[] = [];
      w32(b, 0x1a2b3c4d);
      b.push(...(c.le ? [1, 0, 0, 0] : [0, 1, 0, 0]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
      return b;
    };
    block(0x0a0d0d0a, shb());
    for (const k of c.blocks) {
      const body: number[] = [];
      if (k.type === 0x0a0d0d0a) body.push(...shb());
      else if (k.type === 1) {
        body.push(...(c.le ? [1, 0, 0, 0] : [0, 1, 0, 0]));
        w32(body, 0);
        if (k.tsresol !== null) body.push(...(c.le ? [9, 0, 1, 0] : [0, 9, 0, 1]), k.tsresol, 0, 0, 0);
      } else if (k.type === 6 || k.type === 2) {
        w32(body, k.ifId);
        w32(body, 1);
        w32(body, 2);
        w32(body, k.caplen ?? k.body.length);
        w32(body, k.body.length);
      } else if (k.type === 3) w32(body, k.caplen ?? k.body.length);
      body.push(...k.body);
      block(k.type, body);
    }
    const b = Uint8Array.from(out);
    for (const [at, v] of c.flips) b[at % b.length] = v;
    return c.cut === null ? b : b.subarray(0, c.cut % (b.length + 1));
  });

const pcapngReader: FuzzProp = {
  name: 'pcapng/reader',
  runs: 2000,
  property: () =>
    prop(
      fc.property(fc.oneof(pcapngArb, fc.uint8Array({ maxLength: 200 })), (bytes) => {
        const recs = drainReader(bytes, (b) => new PcapngReader(b));
        for (const r of recs) {
          assert.ok(Number.isFinite(r.tsSec) && r.tsSec >= 0);
          assert.ok(Number.isInteger(r.tsFrac) && r.tsFrac >= 0 && r.tsFrac < 1e9, `tsFrac ${r.tsFrac}`);
        }
        for (let i = 1; i < recs.length; i++)
          assert.ok((recs[i] as PcapRecord).fileOffset > (recs[i - 1] as PcapRecord).fileOffset);
      }),
    ),
};

// ---- packet decoders ----

let corpusFrames: Uint8Array[] | null = null;
function corpusArb(): fc.Arbitrary<Uint8Array> {
  if (corpusFrames === null) corpusFrames = corpus().map((c) => c.frame);
  const frames = corpusFrames;
  // a corpus frame with bytes changed, cut or extended: gets past the first checks into every printer
  return fc
    .record({
      i: fc.nat(frames.length - 1),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      cut: fc.option(fc.nat()),
      extra: fc.uint8Array({ maxLength: 40 }),
    })
    .map(({ i, flips, cut, extra }) => {
      const f = frames[i] as Uint8Array;
      const b = new Uint8Array(f.length + extra.length);
      b.set(f);
      b.set(extra, f.length);
      for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
      return cut === null ? b : b.subarray(0, cut % (b.length + 1));
    });
}

const decodeNeverThrows: FuzzProp = {
  name: 'decode/bytes',
  runs: 2000,
  property: () =>
    prop(
      fc.property(
        fc.oneof(corpusArb(), fc.uint8Array({ maxLength: 128 })),
        fc.nat(200),
        fc.nat(300),
        fc.record({ link: fc.boolean(), absoluteTcpSeq: fc.boolean(), suppressDefaultPrint: fc.boolean() }),
        (frame, capCut, origExtra, opts) => {
          const caplen = Math.min(frame.length, capCut);
          // the decoder sees the frame inside a larger buffer whose bytes past caplen are junk:
          // the text must not depend on them (nothing read past the captured bytes)
          const buf = new Uint8Array(caplen + 64).fill(0x5a);
          buf.set(frame.subarray(0, caplen));
          const d = new Decoder(opts);
          const a = d.decodeFull(buf, 0, caplen, caplen + origExtra);
          buf.fill(0xc3, caplen);
          const b = new Decoder(opts).decodeFull(buf, 0, caplen, caplen + origExtra);
          assert.equal(a.text, b.text, 'the summary depends on bytes past caplen');
          assert.ok(!a.text.includes('[|decode error]'), `an unexpected exception inside a printer: ${a.text}`);
          assert.ok(a.linkHeaderLength >= 0 && a.linkHeaderLength <= caplen);
          // the stateless form agrees with a fresh decoder's first answer (absolute sequence numbers)
          summarize(buf, 0, caplen, caplen + origExtra, { link: opts.link });
        },
      ),
    ),
};

export const PARSER_PROPS: FuzzProp[] = [
  nameGrammar,
  switchName,
  qemuStream,
  qemuStreamBytes,
  vdeJoin,
  pcapReader,
  pcapngReader,
  decodeNeverThrows,
];
