/*
 * Shared test helpers: frames, a seeded PRNG, and the two ring loops every
 * test repeats (fill TX slots, drain RX slots). They use only the public ring
 * API (NetmapRing on a NetmapPort), so they work for every transport.
 */

import assert from 'node:assert/strict';
import { layout, type NetmapPort, type NetmapRing, parseMac } from '../../src/index.js';

/** Small deterministic PRNG (mulberry32): same seed, same sequence. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 0x100000000;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** A seeded source of floats in [0, 1), so failures reproduce. */
export function seeded(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.float();
}

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';
/** EtherType used by test frames (IEEE local experimental). */
export const TEST_ETHERTYPE = 0x88b5;

/** A locally administered unicast MAC numbered n: 02:00:00:00:hi:lo. */
export function macN(n: number): string {
  return `02:00:00:00:${((n >>> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

export interface FrameOpts {
  /** Total frame length (default 60). */
  len?: number;
  /** Sequence number written big-endian at offset 14 (needs len >= 18). */
  seq?: number;
  /** Tag byte written at offset 18 (needs len >= 19), e.g. the sender's id. */
  tag?: number;
  /** Fill for bytes after the header fields (default: a pattern derived from seq). */
  fill?: Uint8Array;
}

/** An Ethernet frame dst, src, TEST_ETHERTYPE, then seq/tag and a fill pattern. */
export function frame(dst: string, src: string, opts: FrameOpts = {}): Uint8Array {
  const len = opts.len ?? 60;
  const f = new Uint8Array(len);
  const hdr = new Uint8Array(14);
  hdr.set(parseMac(dst), 0);
  hdr.set(parseMac(src), 6);
  hdr[12] = TEST_ETHERTYPE >>> 8;
  hdr[13] = TEST_ETHERTYPE & 0xff;
  f.set(hdr.subarray(0, Math.min(14, len)));
  const seq = opts.seq ?? 0;
  if (opts.fill !== undefined) {
    f.set(opts.fill.subarray(0, Math.max(0, len - 14)), Math.min(14, len));
  } else {
    for (let i = 14; i < len; i++) f[i] = (seq * 31 + i) & 0xff;
  }
  if (opts.seq !== undefined && len >= 18) new DataView(f.buffer).setUint32(14, opts.seq >>> 0);
  if (opts.tag !== undefined && len >= 19) f[18] = opts.tag;
  return f;
}

/** The sequence number written by frame(). */
export function seqOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14);
}

/** Destination / source MAC of a frame as text. */
export function dstOf(f: Uint8Array): string {
  return [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
export function srcOf(f: Uint8Array): string {
  return [...f.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Writes one slot at the ring's cur and advances head = cur. Does not sync.
 * `flags` defaults to 0 (NS_MOREFRAG for a non-final fragment).
 */
export function putSlot(ring: NetmapRing, data: Uint8Array, flags = 0): void {
  assert.ok(ring.space() > 0, `TX ring ${ring.ringId} is full`);
  const s = ring.cur;
  ring.bufView(s).set(data.subarray(0, Math.min(data.length, ring.bufSize)));
  ring.setLen(s, data.length);
  ring.setFlags(s, flags);
  ring.head = ring.cur = ring.next(s);
}

/** Queues frames (single slots) on TX ring `r` of `port`. Does not sync. */
export function put(port: NetmapPort, frames: readonly Uint8Array[], r = 0): void {
  const ring = port.txRings[r] as NetmapRing;
  for (const f of frames) putSlot(ring, f);
}

/** Queues one frame as a fragment chain (MOREFRAG on all but the last). Does not sync. */
export function putChain(port: NetmapPort, fragments: readonly Uint8Array[], r = 0): void {
  const ring = port.txRings[r] as NetmapRing;
  fragments.forEach((f, i) => {
    putSlot(ring, f, i < fragments.length - 1 ? layout.NS_MOREFRAG : 0);
  });
}

/** Splits `data` into fragments of at most `size` bytes. */
export function split(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += size) out.push(data.subarray(o, Math.min(o + size, data.length)));
  return out;
}

/** Queues frames on TX ring r and txsyncs. */
export function send(port: NetmapPort, frames: readonly Uint8Array[], r = 0): void {
  put(port, frames, r);
  port.txsync();
}

export interface RxSlot {
  len: number;
  flags: number;
  data: Uint8Array;
}

/** rxsync, copy out every slot the switch has delivered on ring r, release them, rxsync again. */
export function drainSlots(port: NetmapPort, r = 0): RxSlot[] {
  port.rxsync();
  const ring = port.rxRings[r] as NetmapRing;
  const out: RxSlot[] = [];
  while (!ring.empty()) {
    const s = ring.cur;
    out.push({ len: ring.len(s), flags: ring.flags(s), data: ring.frame(s).slice() });
    ring.head = ring.cur = ring.next(s);
  }
  port.rxsync();
  return out;
}

/** Reassembles slots into frames, checking the RX fragment flags on the way. */
export function assemble(slots: readonly RxSlot[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let count = 0;
  for (const s of slots) {
    const nfrags = s.flags >>> layout.NS_RFRAGS_SHIFT;
    if (parts.length === 0) count = nfrags;
    assert.equal(nfrags, count, 'every slot of a frame carries the same fragment count');
    parts.push(s.data);
    const more = (s.flags & layout.NS_MOREFRAG) !== 0;
    assert.equal(s.flags & 0xff & ~layout.NS_MOREFRAG, 0, `unexpected low flags 0x${s.flags.toString(16)}`);
    if (!more) {
      assert.equal(parts.length, count, 'fragment count matches the chain');
      frames.push(Buffer.concat(parts));
      parts = [];
    }
  }
  assert.equal(parts.length, 0, 'no unfinished chain at the end of the ring');
  return frames;
}

/** Drains ring r of `port` and returns whole frames. */
export function drain(port: NetmapPort, r = 0): Uint8Array[] {
  return assemble(drainSlots(port, r));
}

/** Drains every RX ring of `port`; returns frames per ring. */
export function drainAll(port: NetmapPort): Uint8Array[][] {
  return port.rxRings.map((_, r) => drain(port, r));
}

/**
 * Waits (with poll) until `count` frames were received on ring r, or `ms` pass.
 * For transports that deliver asynchronously; works for in-process ports too.
 */
export async function receive(port: NetmapPort, count: number, ms = 2000, r = 0): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    out.push(...drain(port, r));
    if (out.length >= count) return out;
    const left = deadline - Date.now();
    if (left <= 0) return out;
    await port.poll({ timeout: left });
  }
}

/** Asserts `fn` throws (or rejects with) a ValeError with `code`. */
export function assertCode(fn: () => unknown, code: string, msg?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, String(e));
    if (msg !== undefined) assert.match((e as Error).message, msg);
    return true;
  });
}

export async function assertRejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, String(e));
    return true;
  });
}

/** Hex of a frame's first bytes, for readable failures. */
export function hex(b: Uint8Array, n = 24): string {
  return Buffer.from(b.subarray(0, n)).toString('hex');
}

/**
 * `rounds` rounds of `perRound` broadcast frames of the given sizes (random
 * bytes from `seed`), put as chains of 2048-byte fragments, from `a` to `b` and
 * back in turn; each round must arrive whole, in order and bit-exact.
 */
export async function bounceChains(
  a: NetmapPort,
  b: NetmapPort,
  rounds: number,
  perRound: number,
  sizes: readonly number[],
  seed: number,
): Promise<void> {
  const rng = new Rng(seed);
  let seq = 0;
  for (let round = 0; round < rounds; round++) {
    const [src, dst] = round % 2 === 0 ? [a, b] : [b, a];
    const want: Uint8Array[] = [];
    for (let i = 0; i < perRound; i++) {
      const len = sizes[(round + i) % sizes.length] as number;
      const f = frame(BROADCAST, macN(1 + (round % 2)), { seq: seq++, len, fill: rng.bytes(len) });
      want.push(f);
      putChain(src, split(f, 2048));
    }
    src.txsync();
    const got = await receive(dst, want.length, 3000);
    assert.deepEqual(got.map(seqOf), want.map(seqOf), `round ${round}: all frames, in order`);
    for (let i = 0; i < want.length; i++) {
      assert.ok(Buffer.from(want[i] as Uint8Array).equals(got[i] as Uint8Array), `round ${round} frame ${i}`);
    }
  }
}
