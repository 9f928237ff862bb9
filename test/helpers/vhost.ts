/*
 * What the hand-made vhost-user front-ends of the tests share: little-endian
 * fields as the protocol and the virtio rings lay them out, a minimal
 * front-end (handshake, putTx) for tests that only need frames to flow, and
 * withGuest: a switch with a vhost-user port and such a front-end, set up and
 * torn down around a test.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalPort, type OpenPortOptions, openPort, ValeHost } from '../../src/index.js';
import { bit, encodeRequest, Feature, Req } from '../../src/ports/vhost-user/protocol.js';
import { VhostUserPort } from '../../src/ports/vhost-user/vhost-port.js';
import {
  closeFd,
  createEventfd,
  createMemfd,
  mapFdRange,
  streamConnect,
  streamSend,
  streamSendFds,
} from '../../src/sys/index.js';

export const MB = 1 << 20;

/** Concatenates little-endian fields of 2, 4 or 8 bytes. */
export function le(...fields: [2 | 4 | 8, number | bigint][]): Uint8Array {
  const out: number[] = [];
  for (const [w, v] of fields) {
    let x = BigInt(v);
    for (let i = 0; i < w; i++) {
      out.push(Number(x & 0xffn));
      x >>= 8n;
    }
  }
  return new Uint8Array(out);
}

/** The Internet checksum of b, written in the tests independently of src/pkt. */
export function inetSum(b: Uint8Array, start = 0, end = b.length, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** A TCP/IPv4 frame with `payload` bytes of pattern; its TCP checksum field holds the pseudo-header sum. */
export function tcpFrame(payload: number, seq: number): Uint8Array {
  const f = new Uint8Array(54 + payload);
  f.set([2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00]);
  const ip = 14;
  f.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], ip);
  const tot = 20 + 20 + payload;
  f[ip + 2] = tot >> 8;
  f[ip + 3] = tot & 0xff;
  const tcp = 34;
  f.set([0x30, 0x39, 0x00, 0x50], tcp);
  f[tcp + 4] = seq >>> 24;
  f[tcp + 5] = (seq >>> 16) & 0xff;
  f[tcp + 6] = (seq >>> 8) & 0xff;
  f[tcp + 7] = seq & 0xff;
  f[tcp + 12] = 0x50;
  f[tcp + 13] = 0x18; // PSH ACK
  f[tcp + 14] = 0xff;
  for (let i = 0; i < payload; i++) f[54 + i] = (i * 7 + (i >> 8)) & 0xff;
  const pseudo = inetSum(f, 26, 34, 6 + 20 + payload);
  f[tcp + 16] = pseudo >> 8;
  f[tcp + 17] = pseudo & 0xff;
  return f;
}

/** Where the hand-made front-end of `handshake` puts its rings and TX buffers (guest addresses = memfd offsets). */
export const FE = {
  /** Front-end (user) address of guest address 0. */
  uva: 0x7f00_0000_0000,
  num: 64,
  rings: [
    { desc: 0x0000, avail: 0x1000, used: 0x2000 },
    { desc: 0x4000, avail: 0x5000, used: 0x6000 },
  ],
  /** TX buffer i (12-byte header, then the frame) at txBuf + 2048 * i. */
  txBuf: 0x40000,
} as const;

/** What `handshake` negotiates beyond the defaults (VERSION_1 only, rings enabled from the start). */
export interface HandshakeOptions {
  /** A back-end that refuses a message (SET_MEM_TABLE) may end the connection: stop sending, no error. */
  refusable?: boolean;
  /** Feature bits for SET_FEATURES (default: VIRTIO_F_VERSION_1 only). */
  features?: bigint;
  /** Protocol feature bits: sent with SET_PROTOCOL_FEATURES after SET_FEATURES when given. */
  protocolFeatures?: bigint;
  /** Send SET_VRING_ENABLE 1 for each ring (needed once protocol features are negotiated). */
  enable?: boolean;
}

/**
 * What a front-end sends to start both rings over one region of `size` bytes of `memfd` (at guest address 0):
 * SET_FEATURES (VERSION_1 only unless told), SET_PROTOCOL_FEATURES if asked, SET_OWNER, SET_MEM_TABLE, then per
 * ring NUM, ADDR, BASE, CALL, KICK (and ENABLE if asked). @returns the socket and the kick and call eventfds.
 */
export function handshake(
  sock: string,
  memfd: number,
  size: number,
  opts: HandshakeOptions = {},
): { conn: number; kicks: number[]; calls: number[] } {
  const conn = streamConnect(sock);
  let refused = false;
  const req = (r: number, payload: Uint8Array, fds: number[] = []) => {
    if (refused) return;
    const m = encodeRequest(r, payload);
    const n = fds.length > 0 ? streamSendFds(conn, m, m.length, fds) : streamSend(conn, m, m.length);
    // a back-end that refuses a message (SET_MEM_TABLE) ends the connection: EPIPE or ECONNRESET from then on
    if (opts.refusable === true && (n === -32 || n === -104)) refused = true;
    else if (n !== m.length) throw new Error(`request ${r}: sent ${n} of ${m.length} bytes`);
  };
  const kicks = [createEventfd(), createEventfd()];
  const calls = [createEventfd(), createEventfd()];
  req(Req.SET_FEATURES, le([8, opts.features ?? bit(Feature.F_VERSION_1)]));
  if (opts.protocolFeatures !== undefined) req(Req.SET_PROTOCOL_FEATURES, le([8, opts.protocolFeatures]));
  req(Req.SET_OWNER, new Uint8Array(0));
  req(Req.SET_MEM_TABLE, le([4, 1], [4, 0], [8, 0], [8, size], [8, FE.uva], [8, 0]), [memfd]);
  for (let i = 0; i < 2; i++) {
    const r = FE.rings[i]!;
    req(Req.SET_VRING_NUM, le([4, i], [4, FE.num]));
    req(
      Req.SET_VRING_ADDR,
      le([4, i], [4, 0], [8, FE.uva + r.desc], [8, FE.uva + r.used], [8, FE.uva + r.avail], [8, 0]),
    );
    req(Req.SET_VRING_BASE, le([4, i], [4, 0]));
    req(Req.SET_VRING_CALL, le([8, i]), [calls[i]!]);
    req(Req.SET_VRING_KICK, le([8, i]), [kicks[i]!]);
    if (opts.enable === true) req(Req.SET_VRING_ENABLE, le([4, i], [4, 1]));
  }
  return { conn, kicks, calls };
}

/** Writes descriptor `i` of ring `ring` (0 RX, 1 TX) of the `FE` layout. */
export function setDesc(
  dv: DataView,
  ring: number,
  i: number,
  addr: number,
  len: number,
  flags: number,
  next: number,
): void {
  const o = FE.rings[ring]!.desc + 16 * i;
  dv.setBigUint64(o, BigInt(addr), true);
  dv.setUint32(o + 8, len, true);
  dv.setUint16(o + 12, flags, true);
  dv.setUint16(o + 14, next, true);
}

/**
 * Puts `f` (after a zeroed 12-byte header) in TX buffer `n % num` and makes it available: descriptor, avail entry,
 * avail idx n + 1. The caller kicks.
 */
export function putTx(mem: Uint8Array, n: number, f: Uint8Array): void {
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  const r = FE.rings[1]!;
  const i = n % FE.num;
  const addr = FE.txBuf + 2048 * i;
  mem.fill(0, addr, addr + 12);
  mem.set(f, addr + 12);
  const d = r.desc + 16 * i;
  dv.setBigUint64(d, BigInt(addr), true);
  dv.setUint32(d + 8, 12 + f.length, true);
  dv.setUint16(d + 12, 0, true);
  dv.setUint16(d + 14, 0, true);
  dv.setUint16(r.avail + 4 + 2 * i, i, true);
  dv.setUint16(r.avail + 2, (n + 1) & 0xffff, true);
}

/** What withGuest gives its body. */
export interface Guest {
  host: ValeHost;
  /** The vhost-user port `vale-TAG:vm`. */
  port: VhostUserPort;
  /** Its log lines. */
  logs: string[];
  /** 1 MB of guest memory (a memfd at guest address 0), and a view of it. */
  mem: Uint8Array;
  dv: DataView;
  /** The front-end's socket and eventfds (handshake). */
  fe: { conn: number; kicks: number[]; calls: number[] };
  /** Opens netmap port `vale-TAG:NAME` on the same switch, closed after the body. */
  open(name: string, opts?: OpenPortOptions): LocalPort;
}

/**
 * Runs `body` with a switch `vale-TAG` whose port `vm` is a vhost-user port started by `handshake` over 1 MB of
 * guest memory (rings up, `queueSizes` 64,64, waited for), then closes everything. `before` sees the port before
 * the front-end connects.
 */
export async function withGuest(
  tag: string,
  opts: { settings?: Record<string, number>; handshake?: HandshakeOptions; before?: (port: VhostUserPort) => void },
  body: (g: Guest) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-'));
  const sock = join(dir, 'vm.sock');
  const host = new ValeHost(opts.settings ?? {});
  const logs: string[] = [];
  const port = VhostUserPort.attach(host, `vale-${tag}:vm`, sock, { log: (l) => logs.push(l) });
  opts.before?.(port);
  const opened: LocalPort[] = [];
  const memfd = createMemfd('uvale-test-guest', MB, { seals: 0 });
  const m = mapFdRange(memfd, MB, 0);
  const fe = handshake(sock, memfd, MB, opts.handshake);
  try {
    // the port takes the messages in its own turns of the event loop (a loaded machine may need a while)
    for (let i = 0; i < 200 && port.info().extra?.queueSizes !== '64,64'; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(port.info().extra?.queueSizes, '64,64', `${port.info().lastError} ${logs.join(' | ')}`);
    await body({
      host,
      port,
      logs,
      mem: m.bytes,
      dv: new DataView(m.bytes.buffer, m.bytes.byteOffset, MB),
      fe,
      open: (name, o = {}) => {
        const p = openPort(`vale-${tag}:${name}`, { ...o, host });
        opened.push(p);
        return p;
      },
    });
  } finally {
    closeFd(fe.conn);
    await new Promise((r) => setTimeout(r, 20));
    for (const p of opened) p.close();
    port.close();
    m.unmap();
    closeFd(memfd);
    for (const fd of [...fe.kicks, ...fe.calls]) closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
