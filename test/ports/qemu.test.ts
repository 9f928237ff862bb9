/*
 * QEMU socket ports (src/ports/qemu): the spec grammar, the stream framing
 * parser, the shared port contract over a stream transport, and the faults
 * (bad framing, a vanished peer, redialing, a full socket). No QEMU here:
 * the far side is Node speaking QEMU's framing (test/qemu/ runs the real one).
 *
 * How the contract suite meets a QEMU port: each name the suite opens
 * ("vale0:a") gets an endpoint switch of its own (a fresh host) whose QEMU
 * port dials (",connect") a listening QEMU port on the switch under test, over
 * a unix stream; the suite's port is a netmap port on the endpoint switch:
 *
 *   a ─ vale0 (ep a) ─ QemuPort(connect) ═ unix stream ═ QemuPort(listen) ─ vale0 (under test) ─ ... ─ b
 *
 * So every frame crosses both directions of the adapter in both modes.
 */

import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connectPort, ErrorCodes, type NetmapPort, openPort, ValeHost } from '../../src/index.js';
import { type FrameSink, StreamDeframer } from '../../src/ports/qemu/framing.js';
import { QemuPort } from '../../src/ports/qemu/qemu-port.js';
import { absoluteUnixPath, parseQemuSpec, SPEC_FORMS } from '../../src/ports/qemu/spec.js';
import { C_DROP_RX_FULL } from '../../src/switch/counters.js';
import { USAGE } from '../../src/tools/ctl/main.js';
import { exited, spawnDaemon, until, uvale } from '../helpers/daemon.js';
import { assertCode, BROADCAST, frame, macN, put, putChain, Rng, receive, seqOf, split } from '../helpers/vale.js';
import { freeUdpPorts } from '../qemu/free-port.js';
import { type ComplianceEnv, portCompliance } from './compliance.js';

const tmp = mkdtempSync(join(tmpdir(), 'uvale-qemu-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const sockPath = (): string => join(tmp, `s${++seq}.sock`);

/** QEMU's stream framing of `frames`, concatenated. */
function framed(frames: readonly Uint8Array[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(f.length);
      return [h, Buffer.from(f)];
    }),
  );
}

/** A sink that collects frames (for the parser tests). */
class Collect implements FrameSink {
  frames: Buffer[] = [];
  private cur: Buffer[] = [];
  begin(): boolean {
    this.cur = [];
    return true;
  }
  data(src: Buffer, start: number, end: number): void {
    this.cur.push(Buffer.from(src.subarray(start, end)));
  }
  end(): void {
    this.frames.push(Buffer.concat(this.cur));
  }
}

/** Reads QEMU-framed frames from a Node socket. */
function reader(s: Socket): { frames: Buffer[] } {
  const out = { frames: [] as Buffer[] };
  const sink = new Collect();
  const d = new StreamDeframer();
  s.on('data', (c: Buffer) => {
    d.feed(c, sink);
    out.frames = sink.frames;
  });
  return out;
}

function connectUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path, () => resolve(s));
    s.once('error', reject);
  });
}

describe('QEMU port spec', () => {
  test('the forms parse', () => {
    assert.deepEqual(parseQemuSpec('stream:unix:/tmp/a:b.sock'), {
      kind: 'stream',
      qemu: 'stream',
      path: '/tmp/a:b.sock',
      connect: false,
      text: 'stream:unix:/tmp/a:b.sock',
    });
    assert.equal((parseQemuSpec('stream:unix:/x,connect') as { connect: boolean }).connect, true);
    assert.equal((parseQemuSpec('stream:unix:/x,listen') as { connect: boolean }).connect, false);
    const t = parseQemuSpec('stream:tcp:127.0.0.1:5555,connect');
    assert.deepEqual([t.kind, 'host' in t && t.host, 'port' in t && t.port], ['stream', '127.0.0.1', 5555]);
    const s6 = parseQemuSpec('socket:tcp:[::1]:80');
    assert.deepEqual(['host' in s6 && s6.host, s6.qemu], ['::1', 'socket']);
    const d = parseQemuSpec('dgram:udp:127.0.0.1:4000:127.0.0.1:4001');
    assert.deepEqual(d.kind === 'dgram' && [d.localHost, d.localPort, d.remoteHost, d.remotePort], [
      '127.0.0.1',
      4000,
      '127.0.0.1',
      4001,
    ]);
    assert.equal(parseQemuSpec('socket:udp:localhost:1:[::1]:2').kind, 'dgram');
  });

  test('bad specs say what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['tap:unix:/x', /unknown transport 'tap'/],
      ['stream', /needs an address type/],
      ['stream:unix:', /empty unix socket PATH/],
      ['stream:sctp:1:2', /unknown address type 'sctp'/],
      ['stream:tcp:127.0.0.1', /expected HOST:PORT/],
      ['stream:tcp:127.0.0.1:99999', /'99999' is not a port number/],
      ['stream:tcp:127.0.0.1:0,connect', /cannot connect to port 0/],
      ['stream:tcp:h:1:2', /unexpected ':2'/],
      ['stream:tcp:[::1:80', /unclosed '\['/],
      ['dgram:unix:/x', /Node cannot serve/],
      ['dgram:tcp:h:1', /dgram takes udp/],
      ['dgram:udp:h:1', /expected 2 HOST:PORT/],
      ['dgram:udp:h:1:h:0', /remote \(QEMU\) port must not be 0/],
      ['dgram:udp:h:1:h:2,connect', /applies to stream transports only/],
      ['stream:udp:h:1:h:2', /stream takes unix or tcp/],
    ];
    for (const [spec, re] of cases) assertCode(() => parseQemuSpec(spec), ErrorCodes.INVALID_ARG, re);
  });

  test('ctl --help documents every form; ctl makes a relative unix path absolute', () => {
    for (const f of SPEC_FORMS) assert.ok(USAGE.includes(f), f);
    assert.equal(
      absoluteUnixPath('vale0:a=stream:unix:vm.sock,connect', '/srv'),
      'vale0:a=stream:unix:/srv/vm.sock,connect',
    );
    assert.equal(absoluteUnixPath('vale0:a=stream:unix:/x', '/srv'), 'vale0:a=stream:unix:/x');
    assert.equal(absoluteUnixPath('vale0:a=stream:tcp:h:1', '/srv'), 'vale0:a=stream:tcp:h:1');
    assert.equal(absoluteUnixPath('vale0:tap0', '/srv'), 'vale0:tap0');
  });

  test('attach refuses a name without a switch, a missing spec, a taken port, a tiny ring', () => {
    const host = new ValeHost();
    assertCode(() => QemuPort.attach(host, 'vale0:vm1'), ErrorCodes.INVALID_ARG, /has no '=SPEC'/);
    assertCode(() => QemuPort.attach(host, 'vale0=stream:unix:/x'), ErrorCodes.INVALID_NAME, /names no switch/);
    const p = openPort('vale0:vm1', { host });
    assertCode(() => QemuPort.attach(host, `vale0:vm1=stream:unix:${sockPath()}`), ErrorCodes.BUSY, /already exists/);
    p.close();
    const small = new ValeHost({ 'dev.netmap.max_buffers': 32 });
    assertCode(() => QemuPort.attach(small, `vale0:vm1=stream:unix:${sockPath()}`), ErrorCodes.LIMIT, /max_buffers/);
    assert.deepEqual(host.listSwitches(), []);
  });
});

describe('StreamDeframer', () => {
  const rng = new Rng(3);
  const frames = [1, 14, 60, 1514, 2048, 2049, 9000, 65535].map((n) => Buffer.from(rng.bytes(n)));
  const wire = framed(frames);

  test('one read, then every split of the stream into two reads, then byte by byte', () => {
    const check = (chunks: Buffer[]): void => {
      const d = new StreamDeframer();
      const c = new Collect();
      for (const ch of chunks) assert.equal(d.feed(ch, c), null);
      assert.equal(c.frames.length, frames.length);
      for (let i = 0; i < frames.length; i++) assert.ok(c.frames[i]?.equals(frames[i] as Buffer), `frame ${i}`);
      assert.equal(d.midFrame, false);
    };
    check([wire]);
    // every boundary of a smaller stream (the big frames make every-split of the whole slow)
    const small = framed(frames.slice(0, 6));
    for (let k = 0; k <= small.length; k++) {
      const d = new StreamDeframer();
      const c = new Collect();
      d.feed(small.subarray(0, k), c);
      d.feed(small.subarray(k), c);
      assert.equal(c.frames.length, 6, `split at ${k}`);
      for (let i = 0; i < 6; i++) assert.ok(c.frames[i]?.equals(frames[i] as Buffer), `split at ${k}, frame ${i}`);
    }
    const d = new StreamDeframer();
    const c = new Collect();
    for (let k = 0; k < small.length; k++) d.feed(small, c, k, k + 1);
    assert.equal(c.frames.length, 6);
    // and the whole stream in random chunks
    const chunks: Buffer[] = [];
    for (let o = 0; o < wire.length; ) {
      const n = rng.int(1, 5000);
      chunks.push(wire.subarray(o, o + n));
      o += n;
    }
    check(chunks);
  });

  test('bad prefixes stop the stream with a reason; frames before them were delivered', () => {
    for (const [len, re] of [
      [0, /bad length prefix 0/],
      [65536, /bad length prefix 65536/],
      [0x47455420, /bad length prefix 1195725856/], // "GET " – garbage
    ] as const) {
      const d = new StreamDeframer();
      const c = new Collect();
      const h = Buffer.alloc(4);
      h.writeUInt32BE(len);
      const err = d.feed(Buffer.concat([framed([frames[2] as Buffer]), h, framed([frames[3] as Buffer])]), c);
      assert.match(err ?? '', re);
      assert.equal(c.frames.length, 1);
      assert.equal(d.feed(framed([frames[3] as Buffer]), c), err, 'dead until reset');
      d.reset();
      assert.equal(d.feed(framed([frames[3] as Buffer]), c), null);
      assert.equal(c.frames.length, 2);
    }
    const d = new StreamDeframer(1514);
    assert.match(d.feed(framed([frames[4] as Buffer]), new Collect()) ?? '', /more than 1514/);
  });

  test('a sink that refuses a frame skips exactly its bytes', () => {
    const d = new StreamDeframer();
    const c = new Collect();
    let n = 0;
    const sink: FrameSink = {
      begin: (len) => n++ % 2 === 0 && c.begin() && len > 0,
      data: (s, a, b) => c.data(s, a, b),
      end: () => c.end(),
    };
    for (let k = 0; k < wire.length; k += 777) d.feed(wire, sink, k, Math.min(k + 777, wire.length));
    assert.deepEqual(
      c.frames.map((f) => f.length),
      [1, 60, 2048, 9000],
    );
  });
});

interface QemuEnv extends ComplianceEnv {
  host: ValeHost;
  ports: QemuPort[];
}

/** The environment described at the top, over unix streams or TCP on loopback. */
function qemuEnv(transport: 'unix' | 'tcp' = 'unix'): QemuEnv {
  const host = new ValeHost();
  const ports: QemuPort[] = [];
  const endpoints = new Map<string, ValeHost>();
  let last = -1;
  const settle = async (): Promise<void> => {
    const sum = (): number => ports.reduce((s, q) => s + q.info().counters.inFrames + q.info().counters.outFrames, 0);
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      const now = sum();
      if (now === last) return;
      last = now;
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  return {
    host,
    ports,
    async open(name, opts) {
      let ep = endpoints.get(name);
      if (ep === undefined) {
        ep = new ValeHost();
        const sw = name.slice(0, name.indexOf(':'));
        const path = sockPath();
        const listen = transport === 'unix' ? `stream:unix:${path}` : 'socket:tcp:127.0.0.1:0';
        const main = QemuPort.attach(host, `${sw}:q${endpoints.size}=${listen}`);
        ports.push(main);
        await main.ready;
        const dial =
          transport === 'unix' ? `stream:unix:${path},connect` : `stream:tcp:127.0.0.1:${main.localPort},connect`;
        const far = QemuPort.attach(ep, `${sw}:far=${dial}`);
        ports.push(far);
        await until(() => main.connected && far.connected, 3000, 'the endpoint to connect');
        endpoints.set(name, ep);
      } else {
        await settle();
      }
      return openPort(name, { host: ep, ...opts });
    },
    async teardown() {
      for (const q of ports) q.close();
      assert.deepEqual(host.listSwitches(), [], 'every switch under test is gone once its QEMU ports are detached');
    },
  };
}

portCompliance('qemu stream (unix, uvale listening ⇄ uvale dialing, QEMU framing)', () => qemuEnv('unix'));
portCompliance('qemu socket/stream over TCP loopback (listening on port 0 ⇄ dialing)', () => qemuEnv('tcp'));

describe('QemuPort faults', { timeout: 60_000 }, () => {
  test('a bad length prefix closes only that connection (logged); the port and the switch go on', async () => {
    const host = new ValeHost();
    const logs: string[] = [];
    const path = sockPath();
    const q = QemuPort.attach(host, `vale0:vm=stream:unix:${path}`, { log: (l) => logs.push(l) });
    const p = openPort('vale0:p', { host });
    const r = openPort('vale0:r', { host });
    let s: Socket | null = null;
    try {
      await q.ready;
      s = await connectUnix(path);
      await until(() => q.connected, 2000, 'accept');
      const bad = Buffer.alloc(4);
      bad.writeUInt32BE(70000);
      s.write(Buffer.concat([framed([frame(BROADCAST, macN(7), { seq: 1 })]), bad]));
      const s1 = s;
      await until(() => s1.closed, 2000, 'the port to close the connection');
      await until(() => !q.connected, 2000, 'the port to drop the connection');
      assert.equal(q.attached, true);
      assert.equal(q.info().counters.errors, 1);
      assert.match(q.info().lastError, /bad length prefix 70000/);
      assert.ok(
        logs.some((l) => /connection closed: bad length prefix 70000/.test(l)),
        logs.join('|'),
      );
      assert.deepEqual((await receive(p, 1, 1000)).map(seqOf), [1], 'the frame before the bad prefix got through');
      await receive(r, 1, 1000);
      // the switch goes on, and a new connection works
      put(p, [frame(BROADCAST, macN(8), { seq: 2 })]);
      p.txsync();
      assert.deepEqual((await receive(r, 1, 1000)).map(seqOf), [2]);
      assert.equal(q.info().counters.outDrops, 1, 'the flooded frame had no peer to go to');
      s = await connectUnix(path);
      const got = reader(s);
      await until(() => q.connected, 2000, 'accept again');
      put(p, [frame(BROADCAST, macN(8), { seq: 3 })]);
      p.txsync();
      await until(() => got.frames.length === 1, 2000, 'the frame on the new connection');
      assert.equal(seqOf(got.frames[0] as Buffer), 3);
      // a second client at once is refused
      const s2 = await connectUnix(path);
      await until(() => s2.closed, 2000, 'the second client to be refused');
      assert.equal(q.info().extra.refused, 1);
    } finally {
      s?.destroy();
      q.close();
      q.close();
      p.close();
      r.close();
    }
    assert.deepEqual(host.listSwitches(), []);
  });

  test('frames split across many small reads (inside prefixes, across slot boundaries) land whole, in order', async () => {
    const host = new ValeHost();
    const path = sockPath();
    const q = QemuPort.attach(host, `vale0:vm=stream:unix:${path}`);
    const p = openPort('vale0:p', { host });
    let s: Socket | null = null;
    try {
      await q.ready;
      s = await connectUnix(path);
      const rng = new Rng(21);
      const want = [60, 2048, 2049, 4096, 9014, 65535, 42, 1514].map((len, i) =>
        frame(BROADCAST, macN(4), { seq: i, len, fill: rng.bytes(len) }),
      );
      const wire = framed(want);
      for (let o = 0; o < wire.length; ) {
        const k = o < 64 ? 1 : rng.int(1, 3000); // byte by byte through the first prefixes
        s.write(wire.subarray(o, o + k));
        o += k;
        await new Promise((r) => setTimeout(r, 0)); // one read each
      }
      const got = await receive(p, want.length, 3000);
      assert.deepEqual(got.map(seqOf), [0, 1, 2, 3, 4, 5, 6, 7]);
      for (let i = 0; i < want.length; i++) assert.ok(Buffer.from(want[i] as Uint8Array).equals(got[i] as Uint8Array));
      assert.equal(q.info().counters.inFrames, want.length);
      assert.equal(q.info().counters.errors, 0);
    } finally {
      s?.destroy();
      q.close();
      p.close();
    }
  });

  test('connect mode redials after the peer goes away, and frames flow again', async () => {
    const host = new ValeHost();
    const path = sockPath();
    const socks: Socket[] = [];
    const newServer = (): Promise<Server> =>
      new Promise((res) => {
        const srv = createServer((s) => socks.push(s));
        srv.listen(path, () => res(srv));
      });
    let srv = await newServer();
    const q = QemuPort.attach(host, `vale0:vm=stream:unix:${path},connect`);
    const p = openPort('vale0:p', { host });
    try {
      await until(() => socks.length === 1 && q.connected, 3000, 'the first dial');
      // the peer vanishes (as QEMU killed): its server and connection go away
      socks[0]?.destroy();
      await new Promise((r) => srv.close(r));
      await until(() => !q.connected, 2000, 'the port to notice');
      await new Promise((r) => setTimeout(r, 150)); // a few failed redials
      srv = await newServer();
      await until(() => socks.length === 2 && q.connected, 3000, 'the redial');
      const s = socks[1] as Socket;
      const got = reader(s);
      s.write(framed([frame(BROADCAST, macN(3), { seq: 10, len: 3000 })]));
      assert.deepEqual((await receive(p, 1, 2000)).map(seqOf), [10]);
      put(p, [frame(macN(3), macN(4), { seq: 11 })]);
      p.txsync();
      await until(() => got.frames.length === 1, 2000, 'the reply through the new connection');
      assert.equal(seqOf(got.frames[0] as Buffer), 11);
      assert.equal(q.info().extra.connects, 2);
      assert.equal(q.info().extra.disconnects, 1);
    } finally {
      q.close();
      p.close();
      for (const s of socks) s.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

  test('a peer that stops reading: no more drains, the RX ring fills, drops are counted; reading resumes it', async () => {
    const host = new ValeHost();
    const path = sockPath();
    const q = QemuPort.attach(host, `vale0:vm=stream:unix:${path}`, { rxSlots: 64 });
    const p = openPort('vale0:p', { host });
    let s: Socket | null = null;
    try {
      await q.ready;
      s = await connectUnix(path);
      s.pause();
      await until(() => q.connected, 2000, 'accept');
      let sent = 0;
      const big = new Rng(1).bytes(9000);
      for (let round = 0; round < 400 && q.vport.counters[C_DROP_RX_FULL] === 0; round++) {
        for (let i = 0; i < 8; i++) putChain(p, split(frame(BROADCAST, macN(1), { len: 9000, fill: big }), 2048));
        p.txsync();
        sent += 8;
        await new Promise((r) => setImmediate(r));
      }
      const drops = q.vport.counters[C_DROP_RX_FULL] as number;
      assert.ok(drops > 0, `the RX ring overflowed after ${sent} frames`);
      const written = q.info().counters.outFrames;
      assert.ok(written < sent, 'not everything was written');
      // the reader resumes: what was left in the ring is written, and the port works again
      let bytes = 0;
      s.on('data', (c: Buffer) => (bytes += c.length));
      s.resume();
      await until(() => q.info().counters.outFrames + drops === sent, 5000, 'written + dropped = sent');
      assert.equal(q.info().counters.inDrops, 0);
    } finally {
      s?.destroy();
      q.close();
      p.close();
    }
  });

  test('a stream write the kernel took whole leaves its buffer to the next batch; a queued one never is written over', async () => {
    const host = new ValeHost();
    const path = sockPath();
    const q = QemuPort.attach(host, `vale0:vm=stream:unix:${path}`);
    const p = openPort('vale0:p', { host });
    let s: Socket | null = null;
    // the buffers handed to the link, and a copy of each as it was then
    const link = (q as unknown as { link: { flush(out: Buffer): void } }).link;
    const flushed: Array<{ out: Buffer; copy: Buffer }> = [];
    let queued = false;
    const flush = link.flush.bind(link);
    link.flush = (out: Buffer): void => {
      flushed.push({ out, copy: Buffer.from(out) });
      flush(out);
      if (!(link as unknown as { released(): boolean }).released()) queued = true;
    };
    try {
      await q.ready;
      s = await connectUnix(path);
      await until(() => q.connected, 2000, 'accept');
      let got = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
      });
      const batch = async (round: number, n: number): Promise<void> => {
        // n frames of 200 bytes in one pass: one batch of n * 204 bytes (more than Buffer's pool)
        put(
          p,
          Array.from({ length: n }, (_, i) => frame(BROADCAST, macN(1), { len: 200, seq: round * 1000 + i })),
        );
        p.txsync();
        await new Promise((r) => setImmediate(r));
      };
      for (let round = 0; round < 4; round++) await batch(round, 40);
      await until(() => got.length >= 4 * 40 * 204, 3000, 'every frame to arrive');
      assert.equal(got.length, 4 * 40 * 204);
      assert.equal(flushed.length, 4);
      for (const f of flushed.slice(1)) assert.equal(f.out.buffer, flushed[0]?.out.buffer, 'the same buffer again');
      // the reader stops: writes queue in the socket, and the next batch may not be written into the queued one
      s.pause();
      const before = flushed.length;
      for (let round = 4; round < 80; round++) await batch(round, 40); // 600 KB: more than the socket holds
      s.resume();
      await until(
        () => got.length === q.info().counters.outBytes + 4 * q.info().counters.outFrames,
        5000,
        'all written',
      );
      assert.ok(flushed.length > before);
      assert.ok(queued, 'some write was queued in the socket');
      // what reached the reader is exactly what each batch held when it was handed over, in order
      assert.deepEqual(got, Buffer.concat(flushed.map((f) => f.copy)));
      let off = 0;
      for (let k = 0; off < got.length; k++) {
        assert.equal(got.readUInt32BE(off), 200);
        assert.equal(got.readUInt32BE(off + 4 + 14), Math.floor(k / 40) * 1000 + (k % 40), `frame ${k} in order`);
        off += 204;
      }
    } finally {
      s?.destroy();
      q.close();
      p.close();
    }
  });

  test('detaching while listening, dialing or redialing leaves nothing behind', async () => {
    const host = new ValeHost();
    const path = sockPath();
    const l = QemuPort.attach(host, `vale0:l=stream:unix:${path}`);
    l.close(); // before listen() completed
    await assert.rejects(l.ready, /detached before it was ready/);
    await new Promise((r) => setTimeout(r, 20));
    assert.throws(() => lstatSync(path), /ENOENT/, 'no socket file left');
    const d = QemuPort.attach(host, `vale0:d=stream:unix:${sockPath()},connect`);
    await until(() => d.info().lastError !== '', 2000, 'a failed dial');
    assert.match(d.info().lastError, /connect to unix .*ENOENT/);
    await new Promise((r) => setTimeout(r, 120)); // a few redials
    d.close();
    const d2 = QemuPort.attach(host, 'vale0:d=stream:tcp:127.0.0.1:9,connect');
    d2.close(); // while its first dial is in flight
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(d2.info().extra.connects, 0);
    assert.deepEqual(host.listSwitches(), []);
  });

  test('dgram over UDP loopback: one bare frame per datagram, both ways, jumbo too', async () => {
    const h1 = new ValeHost();
    const h2 = new ValeHost();
    const [pa1, pb1, pc1] = (await freeUdpPorts(3)) as [number, number, number];
    const a = QemuPort.attach(h1, `vale0:u=dgram:udp:127.0.0.1:${pa1}:127.0.0.1:${pb1}`);
    const b = QemuPort.attach(h2, `vale0:u=socket:udp:127.0.0.1:${pb1}:127.0.0.1:${pa1}`);
    const pa = openPort('vale0:p', { host: h1 });
    const pb = openPort('vale0:p', { host: h2 });
    const opened: NetmapPort[] = [pa, pb];
    try {
      await Promise.all([a.ready, b.ready]);
      const want = [60, 1514, 9000].map((len, i) => frame(BROADCAST, macN(1), { seq: i, len }));
      for (const f of want) putChain(pa, split(f, 2048));
      pa.txsync();
      const got = await receive(pb, 3, 3000);
      assert.deepEqual(got.map(seqOf), [0, 1, 2]);
      for (let i = 0; i < 3; i++) assert.ok(Buffer.from(want[i] as Uint8Array).equals(got[i] as Uint8Array));
      put(pb, [frame(macN(1), macN(2), { seq: 9 })]);
      pb.txsync();
      assert.deepEqual((await receive(pa, 1, 3000)).map(seqOf), [9]);
      assert.equal(a.info().counters.outFrames, 3);
      assert.equal(b.info().counters.inFrames, 3);
      // a port whose address is taken fails its attach, cleanly
      const c = QemuPort.attach(h1, `vale0:c=dgram:udp:127.0.0.1:${pa1}:127.0.0.1:${pc1}`);
      await assert.rejects(c.ready, /cannot bind/);
      assert.equal(c.attached, false);
      assert.equal(h1.getSwitch('vale0')?.find('c'), undefined);
    } finally {
      a.close();
      b.close();
      for (const p of opened) p.close();
    }
  });
});

describe('QEMU ports through the daemon (uvale ctl -a / -d)', { timeout: 60_000 }, () => {
  test('attach with a relative unix path, frames both ways, errors reported, detach', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvale-qemu-d-'));
    const daemon = await spawnDaemon(dir);
    const ports: NetmapPort[] = [];
    let s: Socket | null = null;
    try {
      const rel = `rel${process.pid}.sock`;
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        // run ctl in `tmp`, so the relative path lands there, not in the daemon's directory
        const cwd = process.cwd();
        process.chdir(tmp);
        const p = uvale(['ctl', '--dir', dir, '-a', `vale0:vm=stream:unix:${rel}`], { timeoutMs: 10_000 });
        process.chdir(cwd);
        resolve(p);
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /vale0:vm attached, port_idx 0/);
      const bad = await uvale([
        'ctl',
        '--dir',
        dir,
        '-a',
        `vale0:vm2=stream:unix:${join(tmp, 'no', 'such', 'x.sock')}`,
      ]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /cannot listen on unix .*no\/such\/x.sock: listen E/);
      const dup = await uvale(['ctl', '--dir', dir, '-a', `vale0:vm=stream:unix:${sockPath()}`]);
      assert.match(dup.stderr, /already exists/);
      const p = await connectPort('vale0:p', { dir });
      ports.push(p);
      s = await connectUnix(join(tmp, rel));
      const got = reader(s);
      s.write(framed([frame(BROADCAST, macN(5), { seq: 1, len: 5000 })]));
      assert.deepEqual((await receive(p, 1, 3000)).map(seqOf), [1]);
      put(p, [frame(macN(5), macN(6), { seq: 2 })]);
      p.txsync();
      await until(() => got.frames.length === 1, 3000, 'the frame through the daemon');
      assert.equal(seqOf(got.frames[0] as Buffer), 2);
      const list = await uvale(['ctl', '--dir', dir, '--json']);
      const listing = JSON.parse(list.stdout) as {
        ports: Array<{ name: string; kind: string }>;
        adapters: Array<{ name: string; kind: string; state: string }>;
      };
      const kinds = listing.ports.map((x) => `${x.name}/${x.kind}`);
      assert.deepEqual(kinds.sort(), ['vale0:p/shm', 'vale0:vm/qemu']);
      assert.deepEqual(
        listing.adapters.map((x) => `${x.name}/${x.kind}/${x.state}`),
        ['vale0:vm/stream/up'],
        'ctl --json lists the adapter with its kind',
      );
      const qs = await uvale(['ctl', '--dir', dir, '--qemu']);
      assert.match(qs.stdout, /^PORT +SPEC +MODE/);
      assert.match(qs.stdout, new RegExp(`vale0:vm +stream:unix:${tmp}/${rel} +listen +yes +1 +1 +1 +0 +0 +0 +-`));
      const d = await uvale(['ctl', '--dir', dir, '-d', 'vale0:vm']);
      assert.equal(d.code, 0, d.stderr);
      const s1 = s;
      await until(() => s1.closed, 3000, 'the detach to close the connection');
      assert.throws(() => lstatSync(join(tmp, rel)), /ENOENT/, 'the socket file went with the port');
    } finally {
      s?.destroy();
      for (const p of ports) p.close();
      daemon.kill('SIGTERM');
      await exited(daemon, 5000).catch(() => daemon.kill('SIGKILL'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
