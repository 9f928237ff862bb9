/*
 * vhost-user as a hostile front-end speaks it: the message codec
 * (src/ports/vhost-user/protocol.ts) and the back-end's state machine
 * (backend.ts), with real fds.
 *
 *   vhost/reader    messages of every request with right and wrong payload
 *                   sizes, flags and fields, and junk, read as the port reads
 *                   them (at most `want` bytes at a time, never across a
 *                   sendmsg, fds arriving with their bytes): each message is
 *                   what a model of the wire format decodes, or the reader
 *                   throws ValeError PROTOCOL and the connection ends; at most
 *                   one message is buffered; every fd is either in the message
 *                   its bytes came with or handed back by takeFds()
 *   vhost/backend   a sequence of such messages carrying eventfds and memfds
 *                   (memory tables that fit their fd, that run past it, that
 *                   overlap; ring sizes, addresses and kicks in and out of
 *                   range) on one connection, while a second connection goes
 *                   through a correct set-up: the hostile one gets replies
 *                   (REPLY flag, its request) or a ValeError PROTOCOL /
 *                   NOT_SUPPORTED that ends it; the other one ends with both
 *                   rings started; when both are closed, no fd and no mapping
 *                   of guest memory is left
 *   vhost/port      the same hostile messages sent on a real socket to a
 *                   vhost-user port (src/ports/vhost-user/vhost-port.ts),
 *                   then a hang-up: the port ends that connection only and
 *                   never throws; the next front-end is answered, and once
 *                   the port is closed no fd is left
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { ErrorCodes, ValeError } from '../../src/core/errors.js';
import { OFFERED_FEATURES, VhostUserBackend } from '../../src/ports/vhost-user/backend.js';
import {
  bit,
  encodeRequest,
  FLAG_NEED_REPLY,
  FLAG_REPLY,
  HEADER_SIZE,
  MAX_PAYLOAD,
  type Message,
  MessageReader,
  ProtocolFeature,
  Req,
} from '../../src/ports/vhost-user/protocol.js';
import { VhostUserPort } from '../../src/ports/vhost-user/vhost-port.js';
import { ValeHost } from '../../src/switch/host.js';
import {
  closeFd,
  createEventfd,
  createMemfd,
  streamConnect,
  streamRecv,
  streamSend,
  streamSendFds,
} from '../../src/sys/index.js';
import { le } from '../helpers/vhost.js';
import { type FuzzProp, prop } from './registry.js';

const P53 = 2n ** 53n;
const MEM_SIZE = 65536;
const UVA = 0x7f00_0000_0000;
const MEMFD_NAME = 'uvale-fz-vhost';

// ---- what a front-end may send ----

const REQS = Object.values(Req) as number[];
const u64Arb = fc.oneof(
  fc.constantFrom(0n, 1n, 0x100n, 0x101n, 0x1ffn, OFFERED_FEATURES, bit(ProtocolFeature.REPLY_ACK), P53 - 1n, P53),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const ringIdx = fc.oneof(fc.constantFrom(0, 1), fc.constantFrom(2, 0xff, 0xffffffff));
const numArb = fc.oneof(fc.constantFrom(0, 1, 3, 8, 256, 32768, 65536, 0xffffffff), fc.nat(0xffff));
/** A user address in the region (rings fit), near its end, or anywhere. */
const uaddrArb = fc.oneof(
  fc.nat(MEM_SIZE / 64 - 1).map((k) => BigInt(UVA + 64 * k)),
  fc.constantFrom(BigInt(UVA), BigInt(UVA + MEM_SIZE - 2), BigInt(UVA + 1), 0n, P53, 2n ** 64n - 1n),
);
const regionArb = fc.record({
  guest: fc.oneof(fc.constantFrom(0n, 0x10000n, P53 - 1n, P53), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  size: fc.oneof(
    fc.constantFrom(BigInt(MEM_SIZE), 4096n, 0n, BigInt(MEM_SIZE + 1), P53),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  ),
  user: fc.oneof(fc.constantFrom(BigInt(UVA), BigInt(UVA + 4096)), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  offset: fc.oneof(fc.constantFrom(0n, 4096n, 100n, BigInt(MEM_SIZE)), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
});

interface Send {
  request: number;
  payload: Uint8Array;
  needReply: boolean;
  /** Header changes: flags replaced, size replaced. */
  flags: number | null;
  size: number | null;
  /** fds sent with it: eventfds ('e') and memfds ('m'). */
  fds: ('e' | 'm')[];
}

const payloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: u64Arb.map((v) => le([8, v])) },
  { weight: 2, arbitrary: fc.tuple(ringIdx, numArb).map(([i, n]) => le([4, i], [4, n])) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(ringIdx, fc.constantFrom(0, 1), uaddrArb, uaddrArb, uaddrArb, u64Arb)
      .map(([i, f, d, u, a, l]) => le([4, i], [4, f], [8, d], [8, u], [8, a], [8, l])),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.nat(3), fc.constantFrom(8, 9, 0xffffffff)), fc.array(regionArb, { maxLength: 3 }))
      .map(([n, rs]) =>
        le(
          [4, n],
          [4, 0],
          ...rs.flatMap(
            (r) =>
              [
                [8, r.guest],
                [8, r.size],
                [8, r.user],
                [8, r.offset],
              ] as [8, bigint][],
          ),
        ),
      ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
);

const sendArb: fc.Arbitrary<Send> = fc.record({
  request: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...REQS) }, { weight: 1, arbitrary: fc.nat(60) }),
  payload: payloadArb,
  needReply: fc.boolean(),
  flags: fc.option(fc.oneof(fc.constantFrom(0, 2, 3, 5, 9, 0x1 | FLAG_REPLY), fc.nat()), { freq: 10 }),
  size: fc.option(fc.oneof(fc.nat(80), fc.constantFrom(MAX_PAYLOAD, MAX_PAYLOAD + 1, 0xffffffff)), { freq: 10 }),
  fds: fc.array(fc.constantFrom('e' as const, 'm' as const), { maxLength: 3 }),
});

function bytesOf(s: Send): Uint8Array {
  const b = encodeRequest(s.request, s.payload, s.needReply);
  const dv = new DataView(b.buffer);
  if (s.flags !== null) dv.setUint32(4, s.flags >>> 0, true);
  if (s.size !== null) dv.setUint32(8, s.size >>> 0, true);
  return b;
}

// ---- a model of the wire format (protocol.ts's header comment) ----

const SIZES: Record<number, 'none' | 'u64' | 'log' | 'state' | 'addr' | 'mem'> = {
  [Req.GET_FEATURES]: 'none',
  [Req.SET_OWNER]: 'none',
  [Req.RESET_OWNER]: 'none',
  [Req.SET_LOG_FD]: 'none',
  [Req.GET_PROTOCOL_FEATURES]: 'none',
  [Req.GET_QUEUE_NUM]: 'none',
  [Req.GET_MAX_MEM_SLOTS]: 'none',
  [Req.SET_FEATURES]: 'u64',
  [Req.SET_VRING_KICK]: 'u64',
  [Req.SET_VRING_CALL]: 'u64',
  [Req.SET_VRING_ERR]: 'u64',
  [Req.SET_PROTOCOL_FEATURES]: 'u64',
  [Req.SEND_RARP]: 'u64',
  [Req.NET_SET_MTU]: 'u64',
  [Req.SET_LOG_BASE]: 'log',
  [Req.SET_VRING_NUM]: 'state',
  [Req.SET_VRING_BASE]: 'state',
  [Req.GET_VRING_BASE]: 'state',
  [Req.SET_VRING_ENABLE]: 'state',
  [Req.SET_VRING_ADDR]: 'addr',
  [Req.SET_MEM_TABLE]: 'mem',
};

/** 'header' / 'payload' for a message the reader must refuse, else the kind it decodes to. */
function modelDecode(b: Uint8Array): 'header' | 'payload' | Message['kind'] {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const req = dv.getUint32(0, true);
  const flags = dv.getUint32(4, true);
  const size = dv.getUint32(8, true);
  if ((flags & 3) !== 1 || (flags & FLAG_REPLY) !== 0 || size > MAX_PAYLOAD) return 'header';
  const p = new DataView(b.buffer, b.byteOffset + HEADER_SIZE, size);
  const u53 = (o: number) => p.getBigUint64(o, true) < P53;
  switch (SIZES[req]) {
    case undefined:
      return 'raw';
    case 'none':
      return size === 0 || size === 8 ? 'none' : 'payload';
    case 'u64':
      return size === 8 ? 'u64' : 'payload';
    case 'log':
      return size >= 8 ? 'u64' : 'payload';
    case 'state':
      return size === 8 ? 'state' : 'payload';
    case 'addr':
      return size === 40 && u53(8) && u53(16) && u53(24) ? 'addr' : 'payload';
    case 'mem': {
      if (size < 8) return 'payload';
      const n = p.getUint32(0, true);
      if (n > 8 || size < 8 + 32 * n) return 'payload';
      for (let i = 0; i < n; i++) for (let f = 0; f < 4; f++) if (!u53(8 + 32 * i + 8 * f)) return 'payload';
      return 'mem';
    }
  }
}

/** The stream of a connection: each send's bytes (cut by the payload the header announces) with its fds. */
interface Segment {
  bytes: Uint8Array;
  fds: number[];
}

/**
 * Reads `segs` as the port does: at most reader.want bytes per read, never across a segment (a
 * sendmsg), a segment's fds with its first read. Calls onMessage per message; returns the error
 * that ended the connection, or null.
 */
function readAll(
  r: MessageReader,
  segs: Segment[],
  onMessage: (m: Message, raw: Uint8Array) => void,
  raw: number[] = [],
): { error: unknown; fdsIn: number[] } {
  const fdsIn: number[] = [];
  try {
    for (const s of segs) {
      let at = 0;
      let first = true;
      while (at < s.bytes.length) {
        const n = Math.min(r.want, s.bytes.length - at);
        const chunk = s.bytes.subarray(at, at + n);
        const fds = first ? s.fds : [];
        first = false;
        fdsIn.push(...fds);
        r.push(chunk, fds);
        raw.push(...chunk);
        at += n;
        assert.ok(r.pending <= HEADER_SIZE + MAX_PAYLOAD, `${r.pending} bytes buffered`);
        for (let m = r.next(); m !== null; m = r.next()) {
          const size = HEADER_SIZE + new DataView(Uint8Array.from(raw).buffer).getUint32(8, true);
          onMessage(m, Uint8Array.from(raw.splice(0, size)));
        }
      }
    }
  } catch (e) {
    return { error: e, fdsIn };
  }
  return { error: null, fdsIn };
}

function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof ValeError && codes.includes(e.code);
}

const reader: FuzzProp = {
  name: 'vhost/reader',
  runs: 3000,
  property: () =>
    prop(
      fc.property(
        fc.array(fc.oneof(sendArb.map(bytesOf), fc.uint8Array({ maxLength: 40 })), { maxLength: 8 }),
        (sends) => {
          // fake fd numbers: the reader only carries them
          let nextFd = 1000;
          const segs = sends.map((bytes) => ({ bytes, fds: [nextFd++, nextFd++].slice(0, bytes.length % 3) }));
          const r = new MessageReader();
          const inMessages: number[] = [];
          const { error, fdsIn } = readAll(r, segs, (m, raw) => {
            const want = modelDecode(raw);
            assert.equal(m.kind, want, 'decoded kind');
            assert.equal(m.needReply, (new DataView(raw.buffer).getUint32(4, true) & FLAG_NEED_REPLY) !== 0);
            assert.equal(m.request, new DataView(raw.buffer).getUint32(0, true));
            inMessages.push(...m.fds);
          });
          if (error !== null) {
            assert.ok(isCode(error, ErrorCodes.PROTOCOL), `not a ValeError PROTOCOL: ${String(error)}`);
          }
          const back = r.takeFds();
          assert.deepEqual(
            [...inMessages, ...back].sort(),
            [...fdsIn].sort(),
            'every fd is in a message or handed back',
          );
          // the rest of the stream after the error is not read: the connection ends
        },
      ),
    ),
};

// ---- the back-end ----

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function memfdMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(MEMFD_NAME)).length;
}

function newFd(kind: 'e' | 'm'): number {
  return kind === 'e' ? createEventfd() : createMemfd(MEMFD_NAME, MEM_SIZE, { seals: 0 });
}

/** A correct set-up, step by step: features, memory, both rings (size, addresses, base, kick). */
function goodSteps(): Send[] {
  const s = (request: number, payload: Uint8Array, fds: ('e' | 'm')[] = []): Send => ({
    request,
    payload,
    needReply: false,
    flags: null,
    size: null,
    fds,
  });
  const steps: Send[] = [
    s(Req.SET_OWNER, new Uint8Array(0)),
    s(Req.GET_FEATURES, new Uint8Array(0)),
    s(Req.SET_FEATURES, le([8, OFFERED_FEATURES])),
    s(Req.SET_MEM_TABLE, le([4, 1], [4, 0], [8, 0], [8, MEM_SIZE], [8, UVA], [8, 0]), ['m']),
  ];
  for (const i of [0, 1]) {
    const base = UVA + i * 0x4000;
    steps.push(
      s(Req.SET_VRING_NUM, le([4, i], [4, 64])),
      s(Req.SET_VRING_ADDR, le([4, i], [4, 0], [8, base], [8, base + 0x2000], [8, base + 0x1000], [8, 0])),
      s(Req.SET_VRING_BASE, le([4, i], [4, 0])),
      s(Req.SET_VRING_CALL, le([8, i]), ['e']),
      s(Req.SET_VRING_KICK, le([8, i]), ['e']),
      s(Req.SET_VRING_ENABLE, le([4, i], [4, 1])),
    );
  }
  return steps;
}

/** One connection: a reader and a back-end. */
class Conn {
  readonly reader = new MessageReader();
  readonly backend = new VhostUserBackend();
  /** Bytes read and not yet part of a whole message. */
  private readonly raw: number[] = [];
  ended: unknown = null;
  replies = 0;

  /** Sends `s` (opening its fds); the connection ends at the first error. */
  send(s: Send): void {
    if (this.ended !== null) return;
    const fds = s.fds.map(newFd);
    const { error } = readAll(
      this.reader,
      [{ bytes: bytesOf(s), fds }],
      (m) => {
        const reply = this.backend.handle(m);
        if (reply !== null) {
          const dv = new DataView(reply.buffer, reply.byteOffset);
          assert.equal(dv.getUint32(0, true), m.request, 'a reply names its request');
          assert.equal(dv.getUint32(4, true), 1 | FLAG_REPLY, 'a reply has REPLY and version 1');
          assert.equal(dv.getUint32(8, true), reply.length - HEADER_SIZE);
          this.replies++;
        }
      },
      this.raw,
    );
    if (error !== null) {
      assert.ok(
        isCode(error, ErrorCodes.PROTOCOL, ErrorCodes.NOT_SUPPORTED),
        `not a ValeError PROTOCOL or NOT_SUPPORTED: ${String((error as Error)?.stack ?? error)}`,
      );
      this.end(error);
    }
  }

  /** The port's disconnect(): the reader's fds closed, the back-end released. */
  end(why: unknown): void {
    if (this.ended !== null) return;
    this.ended = why;
    for (const f of this.reader.takeFds()) closeFd(f);
    this.backend.close();
  }
}

const backend: FuzzProp = {
  name: 'vhost/backend',
  runs: 150,
  property: () =>
    prop(
      fc.property(fc.boolean(), fc.array(sendArb, { maxLength: 12 }), fc.nat(), (setUp, hostile, cut) => {
        const fds0 = openFds();
        const maps0 = memfdMappings();
        const good = new Conn();
        const bad = new Conn();
        const steps = goodSteps();
        // the hostile one sometimes starts from a correct set-up (cut short anywhere), to reach started rings
        const plan = setUp ? [...steps.slice(0, cut % (steps.length + 1)), ...hostile] : hostile;
        try {
          for (let k = 0; k < Math.max(plan.length, steps.length); k++) {
            if (k < plan.length) bad.send(plan[k] as Send);
            if (k < steps.length) good.send(steps[k] as Send);
          }
          assert.equal(good.ended, null, `the correct connection ended: ${String(good.ended)}`);
          assert.equal(good.replies, 1, 'GET_FEATURES answered');
          for (const i of [0, 1]) assert.ok(good.backend.ring(i).started, `good ring ${i} started`);
        } finally {
          bad.end('test over');
          good.end('test over');
        }
        assert.equal(openFds(), fds0, 'fds left open after both connections ended');
        assert.equal(memfdMappings(), maps0, 'guest memory left mapped after both connections ended');
      }),
    ),
};

/** Resolves once `cond()` holds; fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const port: FuzzProp = {
  name: 'vhost/port',
  runs: 40,
  property: () =>
    prop(
      fc.asyncProperty(fc.boolean(), fc.array(sendArb, { maxLength: 10 }), fc.nat(), async (setUp, hostile, cut) => {
        const dir = mkdtempSync(join(tmpdir(), 'uvale-fz-vu-'));
        const sock = join(dir, 'vu.sock');
        const fds0 = openFds();
        const host = new ValeHost();
        const logs: string[] = [];
        const p = VhostUserPort.attach(host, 'vale-fz:vu', sock, { log: (l) => logs.push(l) });
        const extra = () => p.info().extra as { connects: number; disconnects: number };
        try {
          const steps = goodSteps();
          const plan = setUp ? [...steps.slice(0, cut % (steps.length + 1)), ...hostile] : hostile;
          const c1 = streamConnect(sock);
          for (const s of plan) {
            const b = bytesOf(s);
            const fds = s.fds.map(newFd);
            // the peer may have closed already: a failed send is fine, the port's answer is what matters
            if (fds.length > 0) streamSendFds(c1, b, b.length, fds);
            else streamSend(c1, b, b.length);
            for (const f of fds) closeFd(f);
          }
          closeFd(c1);
          await until(() => extra().connects === 1 && extra().disconnects === 1, 2000, 'the first connection to end');
          assert.equal(p.connected, false);
          // the next front-end is answered
          const c2 = streamConnect(sock);
          try {
            await until(() => p.connected, 2000, 'the second connection');
            const req = encodeRequest(Req.GET_FEATURES, new Uint8Array(0));
            assert.equal(streamSend(c2, req, req.length), req.length);
            const buf = new Uint8Array(64);
            const got = new Int32Array(4);
            let n = -1;
            await until(
              () => {
                n = streamRecv(c2, buf, 64, got);
                return n >= 0;
              },
              2000,
              'the reply to GET_FEATURES',
            );
            assert.equal(n, HEADER_SIZE + 8, `the next front-end is answered (${logs.join('; ')})`);
          } finally {
            closeFd(c2);
          }
        } finally {
          p.close();
          rmSync(dir, { recursive: true, force: true });
        }
        assert.equal(openFds(), fds0, 'fds left open after the port closed');
      }),
    ),
};

export const VHOST_PROPS: FuzzProp[] = [reader, backend, port];
