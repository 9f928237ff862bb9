/*
 * TCP receive coalescing (src/switch/tcp-coalesce.ts) and TSO segmentation
 * into caller buffers (src/switch/tso-segment.ts). The coalesced frames are
 * cut again by the switch itself (a port with a virtio-net header sending to
 * one without: src/switch/offload.ts), which must give back the segments that
 * went in, byte for byte; segments that must not join (out of order, other
 * flags, another flow, a bad checksum, ...) are refused. A property test
 * runs random segment streams, with random faults, through the coalescer as
 * the tunnel port drives it and checks the round trip; another checks that
 * TsoSegmenter cuts as the switch does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type LocalPort, layout, openPort, ValeHost } from '../../src/index.js';
import { buildIpv4, buildIpv6, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, tcpHeader } from '../../src/pkt/build.js';
import { fold, sum16, verifyIpv4HeaderChecksum } from '../../src/pkt/checksum.js';
import { sum16Wide, sumBytes, sumIsWasm, sumMemory } from '../../src/pkt/sum16-wide.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6 } from '../../src/switch/offload.js';
import { TcpCoalescer } from '../../src/switch/tcp-coalesce.js';
import { TsoSegmenter } from '../../src/switch/tso-segment.js';
import { drain, putChain, split } from '../helpers/vale.js';

const HL = 12;
const TS = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);

interface Seg {
  v6?: boolean;
  seq: number;
  id?: number;
  flags?: number;
  payload: Uint8Array;
  sport?: number;
  options?: Uint8Array;
  ttl?: number;
}

function seg(s: Seg): Uint8Array {
  const l4 = tcpHeader({
    sport: s.sport ?? 40000,
    dport: 5201,
    seq: s.seq,
    ack: 77,
    flags: s.flags ?? TCP_ACK,
    options: s.options ?? TS,
    payload: s.payload,
  });
  const ip = { srcMac: '02:00:00:00:0a:01', dstMac: '02:00:00:00:0b:01', proto: 6, l4, pad: false, ttl: s.ttl };
  return s.v6
    ? buildIpv6({ ...ip, src: '2001:db8::a', dst: '2001:db8::b' })
    : buildIpv4({ ...ip, src: '10.0.0.1', dst: '10.0.0.2', id: s.id ?? 0 });
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A flow's segments: `n` payloads of `mss` bytes (the last `last` bytes), from sequence `seq0` and ID `id0`. */
function flow(v6: boolean, n: number, mss: number, last = mss, seq0 = 0xfffff000, id0 = 0xfffe): Uint8Array[] {
  return Array.from({ length: n }, (_, k) =>
    seg({
      v6,
      seq: (seq0 + k * mss) >>> 0,
      id: (id0 + k) & 0xffff,
      payload: bytes(k === n - 1 ? last : mss, k),
    }),
  );
}

/**
 * Runs `frames` through a coalescer as the tunnel port does (add; when refused, finish and start again,
 * or pass the frame on alone behind a zero header); returns the frames out, each with its header.
 */
function coalesce(
  frames: readonly Uint8Array[],
  c = new TcpCoalescer(HL),
  cap = HL + 65535,
  wasm = false,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  // the room: plain memory, or memory sum16Wide sums with its wasm kernel (as the tunnel port's)
  const buf = wasm ? sumBytes(cap + 5) : new Uint8Array(cap + 5);
  const end = (): void => {
    const n = c.finish();
    if (n > 0) out.push(buf.slice(2, 2 + n));
  };
  for (const f of frames) {
    if (c.segs !== 0) {
      if (c.add(f, 0, f.length)) continue;
      end();
    }
    c.begin(buf, 2, cap);
    if (c.add(f, 0, f.length)) continue;
    const alone = new Uint8Array(HL + f.length);
    alone.set(f, HL);
    out.push(alone);
  }
  end();
  return out;
}

/** What the switch gives a port without a header for each of `frames` (sent from a port with one). */
function viaSwitch(frames: readonly Uint8Array[]): Uint8Array[] {
  const host = new ValeHost();
  const [t, plain] = [
    openPort('vale-co:t', { host, vnetHdrLen: HL, rxSlots: 1024 }),
    openPort('vale-co:p', { host, rxSlots: 1024 }),
  ] as [LocalPort, LocalPort];
  const got: Uint8Array[] = [];
  try {
    for (const f of frames) {
      putChain(t, split(f, layout.NM_BUF_SIZE));
      t.txsync();
      for (const g of drain(plain)) got.push(new Uint8Array(g));
    }
    assert.equal(t.counters().dropOffload, 0, 'the switch could cut every frame');
  } finally {
    t.close();
    plain.close();
  }
  return got;
}

function le16(b: Uint8Array, o: number): number {
  return (b[o] as number) | ((b[o + 1] as number) << 8);
}

function assertSame(got: readonly Uint8Array[], want: readonly Uint8Array[], what: string): void {
  assert.equal(got.length, want.length, `${what}: frame count`);
  got.forEach((g, i) => {
    assert.ok(Buffer.from(g).equals(want[i] as Uint8Array), `${what}: frame ${i} differs`);
  });
}

test('segments of one flow in, one TSO frame out (IPv4 and IPv6), cut back into the same segments', () => {
  for (const v6 of [false, true]) {
    const segs = flow(v6, 40, 1398, 700);
    const c = new TcpCoalescer(HL);
    const out = coalesce(segs, c);
    assert.equal(out.length, 1, 'one frame');
    const f = out[0] as Uint8Array;
    const l4 = v6 ? 54 : 34;
    const hlen = l4 + 32;
    assert.equal(f.length, HL + hlen + 39 * 1398 + 700);
    assert.equal(f[0], VNET_HDR_F_NEEDS_CSUM);
    assert.equal(f[1], v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4);
    assert.deepEqual([le16(f, 2), le16(f, 4), le16(f, 6), le16(f, 8), le16(f, 10)], [hlen, 1398, l4, 16, 0]);
    const e = f.subarray(HL);
    const v = new DataView(e.buffer, e.byteOffset);
    if (v6) assert.equal(v.getUint16(18), e.length - 54, 'IPv6 payload length');
    else {
      assert.equal(v.getUint16(16), e.length - 14, 'IPv4 total length');
      assert.equal(v.getUint16(18), 0xfffe, "the first segment's IPv4 ID");
      assert.ok(verifyIpv4HeaderChecksum(e, 14), 'IPv4 header checksum');
    }
    assert.equal(v.getUint32(l4 + 4), 0xfffff000, "the first segment's sequence");
    assert.deepEqual([c.frames, c.segments, c.badCsum], [1, 40, 0]);
    assertSame(viaSwitch(out), segs, `v6 ${v6}`);
  }
});

test('PSH ends a frame (on its last segment), a short segment too; the frame stays under 64 KB', () => {
  const segs = flow(false, 10, 1000);
  segs[3] = seg({
    seq: 0xfffff000 + 3 * 1000,
    id: (0xfffe + 3) & 0xffff,
    flags: TCP_ACK | TCP_PSH,
    payload: bytes(1000, 3),
  });
  segs[6] = seg({ seq: 0xfffff000 + 6 * 1000, id: (0xfffe + 6) & 0xffff, payload: bytes(500, 6) });
  // 7..9 follow a short one: sequence from 6's end
  for (let k = 7; k < 10; k++) {
    segs[k] = seg({
      seq: 0xfffff000 + 6 * 1000 + 500 + (k - 7) * 1000,
      id: (0xfffe + k) & 0xffff,
      payload: bytes(1000, k),
    });
  }
  const out = coalesce(segs);
  assert.deepEqual(
    out.map((f) => f.length - HL - 66),
    [4000, 2500, 3000],
  );
  assert.equal((out[0] as Uint8Array)[HL + 34 + 13], TCP_ACK | TCP_PSH, 'PSH kept on the frame');
  assertSame(viaSwitch(out), segs, 'PSH and short');
  const many = flow(true, 100, 1400);
  const big = coalesce(many);
  assert.ok(big.length >= 3);
  for (const f of big) assert.ok(f.length - HL <= 65535, `${f.length} bytes`);
  assertSame(viaSwitch(big), many, '64 KB bound');
});

/** f with bit 0 of byte `at` flipped. */
function flip(f: Uint8Array, at: number): Uint8Array {
  f[at] ^= 1;
  return f;
}

test('out of order, other flags, another flow, other options or TTL, an ID gap, a bad checksum: not merged', () => {
  const base = (k: number, o: Partial<Seg> = {}): Uint8Array =>
    seg({ seq: 1000 + k * 100, id: 5 + k, payload: bytes(100, k), ...o });
  const cases: Array<[string, Uint8Array]> = [
    ['a gap in the sequence', base(1, { seq: 1000 + 2 * 100 })],
    ['a retransmission', base(1, { seq: 1000 })],
    ['FIN', base(1, { flags: TCP_ACK | TCP_FIN })],
    ['SYN', base(1, { flags: TCP_ACK | TCP_SYN })],
    ['CWR', base(1, { flags: TCP_ACK | 0x80 })],
    ['ECE', base(1, { flags: TCP_ACK | 0x40 })],
    ['no ACK', base(1, { flags: 0 })],
    ['another port', base(1, { sport: 40001 })],
    ['another timestamp', base(1, { options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2) })],
    ['another TTL', base(1, { ttl: 63 })],
    ['an IPv4 ID gap', base(1, { id: 7 })],
    ['a longer payload', base(1, { payload: bytes(101, 1) })],
    ['IPv6 after IPv4', base(1, { v6: true })],
    ['a bad IPv4 header checksum', flip(base(1), 14 + 11)],
  ];
  for (const [what, second] of cases) {
    const c = new TcpCoalescer(HL);
    const out = coalesce([base(0), second], c);
    assert.equal(out.length, 2, what);
    assert.equal(c.frames, 0, what);
    for (const f of out) assert.equal(f[1], 0, `${what}: no GSO`);
  }
  // a bad TCP checksum: refused and counted, even as a first segment (summed in plain and in wasm memory)
  for (const wasm of [false, true]) {
    for (const at of [14 + 20 + 3, 100, 14 + 20 + 32 + 99]) {
      const bad = base(1);
      bad[at] ^= 1;
      const c = new TcpCoalescer(HL);
      const out = coalesce([base(0), bad, base(2)], c, HL + 65535, wasm);
      assert.equal(out.length, 3, `byte ${at}`);
      assert.equal(c.badCsum, 1, `byte ${at}`);
      assert.equal(c.frames, 0, `byte ${at}`);
      // a bad first segment, then good ones: they join each other, the bad one stays alone
      const c2 = new TcpCoalescer(HL);
      const bad0 = base(0);
      bad0[at] ^= 0x80;
      const out2 = coalesce([bad0, base(1), base(2)], c2, HL + 65535, wasm);
      assert.deepEqual(
        out2.map((f) => f[1]),
        [0, VNET_HDR_GSO_TCPV4],
        `byte ${at}`,
      );
      assert.equal(c2.badCsum, 1);
    }
  }
  // padding, a fragment, UDP, a pure ACK: never start a frame
  const padded = seg({ seq: 1, payload: bytes(2, 1), options: new Uint8Array(0) });
  const fragment = base(0);
  fragment[14 + 6] |= 0x20;
  const ack = seg({ seq: 1, payload: new Uint8Array(0) });
  for (const f of [
    Uint8Array.from([...padded, 0, 0, 0, 0, 0, 0]),
    fragment,
    ack,
    buildIpv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, l4: new Uint8Array(40) }),
  ]) {
    const cc = new TcpCoalescer(HL);
    cc.begin(new Uint8Array(70000), 0, 70000);
    assert.equal(cc.add(f, 0, f.length), false);
  }
});

test('the room given bounds the frame', () => {
  const segs = flow(false, 10, 1000);
  const out = coalesce(segs, new TcpCoalescer(HL), HL + 66 + 3500);
  assert.deepEqual(
    out.map((f) => f.length - HL - 66),
    [3000, 3000, 3000, 1000],
  );
  assertSame(viaSwitch(out), segs, 'bounded');
});

/** One random segment stream: flows interleaved in runs, with faults. */
const streamArb = fc
  .record({
    v6: fc.boolean(),
    mss: fc.integer({ min: 1, max: 3000 }),
    seq0: fc.integer({ min: 0, max: 0xffffffff }),
    id0: fc.integer({ min: 0, max: 0xffff }),
    ops: fc.array(
      fc.record({
        kind: fc.constantFrom(
          'next',
          'next',
          'next',
          'next',
          'short',
          'psh',
          'gap',
          'id',
          'flow',
          'csum',
          'fin',
          'ack',
        ),
        len: fc.integer({ min: 1, max: 3000 }),
      }),
      { minLength: 1, maxLength: 60 },
    ),
  })
  .map(({ v6, mss, seq0, id0, ops }) => {
    const frames: Uint8Array[] = [];
    let seq = seq0;
    let id = id0;
    for (const op of ops) {
      const len = op.kind === 'short' ? Math.min(op.len, mss) : mss;
      const s: Seg = { v6, seq, id, payload: bytes(len, frames.length) };
      if (op.kind === 'psh') s.flags = TCP_ACK | TCP_PSH;
      if (op.kind === 'fin') s.flags = TCP_ACK | TCP_FIN;
      if (op.kind === 'gap') s.seq = (seq + 1) >>> 0;
      if (op.kind === 'id') s.id = (id + 2) & 0xffff;
      if (op.kind === 'flow') s.sport = 40001;
      if (op.kind === 'ack') s.payload = new Uint8Array(0);
      const f = seg(s);
      if (op.kind === 'csum') f[f.length - 1] ^= 0x40;
      frames.push(f);
      seq = (s.seq + s.payload.length) >>> 0;
      id = ((s.id ?? 0) + 1) & 0xffff;
    }
    return frames;
  });

test('property: whatever comes in, cutting what comes out gives back the same frames, byte for byte', () => {
  fc.assert(
    fc.property(streamArb, fc.integer({ min: 200, max: 65535 }), fc.boolean(), (frames, room, wasm) => {
      const out = coalesce(frames, new TcpCoalescer(HL), HL + room, wasm);
      for (const f of out) assert.ok(f.length - HL <= 65535);
      assertSame(viaSwitch(out), frames, 'round trip');
    }),
    { numRuns: 150 },
  );
});

test('property: TsoSegmenter cuts a TSO frame as the switch does', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.integer({ min: 1, max: 20000 }),
      fc.integer({ min: 1, max: 9000 }),
      fc.constantFrom(TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_PSH | TCP_FIN | 0x80),
      fc.integer({ min: 0, max: 3 }),
      (v6, n, mss, flags, where) => {
        const e = seg({ v6, seq: 0xffffff00, id: 0xfff0, flags, payload: bytes(n, n) });
        const l4 = v6 ? 54 : 34;
        const h = new Uint8Array(HL);
        h[0] = VNET_HDR_F_NEEDS_CSUM;
        h[1] = v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4;
        new DataView(h.buffer).setUint16(4, mss, true);
        new DataView(h.buffer).setUint16(6, l4, true);
        new DataView(h.buffer).setUint16(8, 16, true);
        // the frame in plain memory, or at an offset in memory sum16Wide sums with its wasm kernel
        const f =
          where === 0 ? Buffer.concat([h, e]) : sumBytes(HL + e.length + where).subarray(where, where + HL + e.length);
        f.set(h, 0);
        f.set(e, HL);
        const want = viaSwitch([f]);
        const s = new TsoSegmenter(128);
        const stride = 9200;
        const dst = new Uint8Array(128 * stride);
        const k = s.segment(f, HL, f.length, h[1] as number, mss, l4, dst, 0, stride, 128);
        if (want.length > 128) return assert.equal(k, -1);
        const got = Array.from({ length: k }, (_, i) => dst.slice(i * stride, i * stride + (s.lens[i] as number)));
        assertSame(got, want, 'segments');
      },
    ),
    { numRuns: 100 },
  );
});

test('property: sum16Wide gives sum16 folded, at any offset and length, in any buffer', () => {
  // plain memory, then wasm memory (the SIMD kernel): plain (sumBytes) and shared (an arena's), each
  // viewed from six byte offsets
  const shared = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  sumMemory(shared);
  const bufs = [
    ...Array.from({ length: 6 }, (_, i) => new Uint8Array(new ArrayBuffer(70000), i, 69000)),
    ...Array.from({ length: 6 }, (_, i) => sumBytes(70000).subarray(i, i + 69000)),
    ...Array.from({ length: 6 }, (_, i) => new Uint8Array(shared.buffer, i * 8000 + i, 69000)),
  ];
  for (const [i, b] of bufs.entries()) assert.equal(sumIsWasm(b), i >= 6);
  // the largest sums: every byte 0xff, up to 64 KB and beyond
  for (const b of bufs) {
    b.fill(0xff);
    for (const [off, len] of [
      [0, 69000],
      [1, 65535],
      [3, 32768 + 31],
      [2, 66000],
    ] as const) {
      assert.equal(fold(sum16Wide(b, off, len, 0xfffff)), fold(sum16(b, off, len, 0xfffff)));
    }
  }
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: bufs.length - 1 }),
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 66000 }),
      fc.integer({ min: 0, max: 0xfffff }),
      fc.integer(),
      (b, off, len, initial, seed) => {
        const buf = bufs[b] as Uint8Array;
        let x = seed;
        for (let i = off; i < off + len; i++) {
          x = (Math.imul(x, 1103515245) + 12345) | 0;
          buf[i] = len > 5000 && i % 3 === 0 ? 0xff : x >>> 24;
        }
        assert.equal(fold(sum16Wide(buf, off, len, initial)), fold(sum16(buf, off, len, initial)));
      },
    ),
    { numRuns: 600 },
  );
});
