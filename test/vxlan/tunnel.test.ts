/*
 * VXLAN and Geneve ports (src/ports/vxlan) between uvale switches in this
 * process, over real UDP on loopback: three sites whose tunnel ports name
 * each other, netmap clients on each. Flooding reaches every remote,
 * learning makes unicast go to one, ageing forgets, the MTU drops what does
 * not fit, jumbo frames cross as chains, IPv6 and Geneve work alike, and
 * every kind of bad datagram is counted in its own reason and nothing else
 * moves.
 */

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, test } from 'node:test';
import { type NetmapPort, openPort, ValeHost } from '../../src/index.js';
import { parseMac } from '../../src/pkt/ether.js';
import type { AttachContext } from '../../src/ports/adapter.js';
import { parseTunnelSpec } from '../../src/ports/vxlan/spec.js';
import { TunnelPort } from '../../src/ports/vxlan/tunnel-port.js';
import { until } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, macN, putChain, receive, send, split, srcOf } from '../helpers/vale.js';

/** 127.N.M.x: loopback addresses of this process (all of 127/8 is local on Linux). */
const NET = `127.${(process.pid >> 8) & 0xff}.${process.pid & 0xff}`;

interface Site {
  host: ValeHost;
  tun: TunnelPort;
  nm: NetmapPort;
  mac: string;
}

function ctx(host: ValeHost): AttachContext {
  return { host, log: () => {}, onTraffic: () => {}, onGone: () => {} };
}

function site(spec: string, n: number, host = new ValeHost()): Site {
  const tun = TunnelPort.attach(ctx(host), 'valevx:tun', parseTunnelSpec(spec));
  const nm = openPort('valevx:nm', { host });
  return { host, tun, nm, mac: macN(n) };
}

function extra(s: Site, k: string): number {
  return s.tun.info().extra[k] as number;
}

async function settle(sites: Site[]): Promise<void> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    const now = sites.map((s) => JSON.stringify(s.tun.info().counters)).join();
    if (now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('three uvale VTEPs on loopback (IPv4, default port 4789)', () => {
  const addr = [1, 2, 3].map((i) => `${NET}.${i}`);
  const others = (i: number) =>
    addr
      .filter((_, k) => k !== i)
      .map((a) => `remote=${a}`)
      .join(',');
  const sites = [0, 1, 2].map((i) => site(`vxlan:vni=42,local=${addr[i]},${others(i)}`, i + 1));
  const [a, b, c] = sites as [Site, Site, Site];
  after(() => {
    for (const s of sites) {
      s.nm.close();
      s.tun.close();
    }
  });

  test('a broadcast reaches both other sites (head-end replication), byte for byte', async () => {
    const f = frame(BROADCAST, a.mac, { seq: 1, len: 333 });
    send(a.nm, [f]);
    const [gb] = await receive(b.nm, 1);
    const [gc] = await receive(c.nm, 1);
    assert.ok(Buffer.from(f).equals(gb as Uint8Array), 'b got the frame');
    assert.ok(Buffer.from(f).equals(gc as Uint8Array), 'c got the frame');
    assert.equal(extra(a, 'datagramsOut'), 2);
    assert.equal(a.tun.info().counters.outFrames, 1);
    assert.deepEqual(
      b.tun.fdbList().map((e) => [e.mac, e.remote, e.type]),
      [[a.mac, `${addr[0]}:4789`, 'learned']],
      'b learned a behind site a',
    );
  });

  test('a learned MAC gets unicast to its one remote only', async () => {
    const before = extra(b, 'datagramsOut');
    send(b.nm, [frame(a.mac, b.mac, { seq: 2 })]);
    const got = await receive(a.nm, 1);
    assert.equal(got.length, 1);
    assert.equal(srcOf(got[0] as Uint8Array), b.mac);
    assert.equal(extra(b, 'datagramsOut'), before + 1, 'one datagram');
    await settle(sites);
    assert.equal(drain(c.nm).length, 0, 'c saw nothing');
    // and back: a learned b from that frame
    send(a.nm, [frame(b.mac, a.mac, { seq: 3 })]);
    assert.equal((await receive(b.nm, 1)).length, 1);
    await settle(sites);
    assert.equal(drain(c.nm).length, 0);
    assert.equal(c.tun.info().counters.inFrames, 1, 'c only ever got the broadcast');
  });

  test('an unknown unicast MAC is flooded; a multicast one too', async () => {
    send(a.nm, [frame(macN(99), a.mac, { seq: 4 }), frame('01:00:5e:00:00:01', a.mac, { seq: 5 })]);
    assert.equal((await receive(b.nm, 2)).length, 2);
    assert.equal((await receive(c.nm, 2)).length, 2);
  });

  test('ageing: a learned entry older than uvale.vxlan_ageing is flooded to again', async () => {
    a.host.settings.set('uvale.vxlan_ageing', 1);
    try {
      await new Promise((r) => setTimeout(r, 1100));
      send(a.nm, [frame(b.mac, a.mac, { seq: 6 })]);
      assert.equal((await receive(b.nm, 1)).length, 1);
      assert.equal((await receive(c.nm, 1)).length, 1, 'c got it: b was forgotten');
      assert.equal(a.tun.fdbList().length, 0);
    } finally {
      a.host.settings.set('uvale.vxlan_ageing', 300);
    }
  });

  test('static entries: listed, never aged or overwritten by learning, deletable', async () => {
    const m = parseMac(macN(50));
    a.tun.fdbAdd(m, addr[2] as string);
    assert.deepEqual(
      a.tun.fdbList().map((e) => [e.mac, e.remote, e.type]),
      [[macN(50), `${addr[2]}:4789`, 'static']],
    );
    // site b sends from MAC 50: a must not move it to b
    send(b.nm, [frame(BROADCAST, macN(50), { seq: 7 })]);
    await receive(a.nm, 1);
    assert.equal(a.tun.fdbList().find((e) => e.mac === macN(50))?.type, 'static');
    send(a.nm, [frame(macN(50), a.mac, { seq: 8 })]);
    assert.equal((await receive(c.nm, 1)).length, 1);
    await settle(sites);
    assert.equal(drain(b.nm).length, 0, 'only c');
    assert.equal(a.tun.fdbDelete(m), true);
    assert.equal(a.tun.fdbDelete(m), false);
    drain(c.nm);
  });

  test('frames over the underlay MTU (1500 - 36 = 1464 bytes) are dropped and counted; 1464 crosses', async () => {
    send(a.nm, [frame(BROADCAST, a.mac, { len: 1465, seq: 9 }), frame(BROADCAST, a.mac, { len: 1464, seq: 10 })]);
    const got = await receive(b.nm, 1);
    assert.equal(got[0]?.length, 1464);
    await settle(sites);
    assert.equal(extra(a, 'dropTooBig'), 1);
    assert.equal(a.tun.info().counters.outDrops, 1);
    drain(c.nm);
  });

  test('bad datagrams: each counted in its reason, nothing delivered, other traffic unaffected', async () => {
    // from b's address (a known remote by address), to c
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, addr[1], r));
    const stranger = createSocket('udp4');
    await new Promise<void>((r) => stranger.bind(0, `${NET}.9`, r));
    const good = (vni: number, flags = 0x08, inner = 60): Buffer => {
      const d = Buffer.alloc(8 + inner);
      d[0] = flags;
      d.writeUIntBE(vni, 4, 3);
      Buffer.from(frame(BROADCAST, macN(77), { len: Math.max(inner, 14) }).subarray(0, inner)).copy(d, 8);
      return d;
    };
    const to = (sock: Socket, d: Buffer): Promise<void> => new Promise((r) => sock.send(d, 4789, addr[2], () => r()));
    const before = c.tun.info();
    await to(s, Buffer.from([8, 0, 0]));
    await to(s, good(42, 0x00));
    await to(s, good(43));
    await to(s, good(42, 0x08, 13));
    await to(stranger, good(42));
    await to(s, good(42, 0x08, 3000));
    await until(
      () => {
        const e = c.tun.info().extra;
        return (
          (e.dropTruncated as number) +
            (e.dropFlags as number) +
            (e.dropVni as number) +
            (e.dropRunt as number) +
            (e.dropUnknownRemote as number) +
            (e.dropOversize as number) ===
          6
        );
      },
      2000,
      'six drops',
    );
    const e = c.tun.info().extra;
    assert.deepEqual([e.dropTruncated, e.dropFlags, e.dropVni, e.dropRunt, e.dropUnknownRemote], [1, 1, 1, 1, 1]);
    const after = c.tun.info();
    assert.equal(after.counters.inDrops, before.counters.inDrops + 6);
    assert.equal(after.counters.inFrames, before.counters.inFrames);
    assert.equal(
      c.tun.fdbList().find((x) => x.mac === macN(77)),
      undefined,
      'nothing learned from them',
    );
    assert.equal(drain(c.nm).length, 0);
    // a flood of garbage, then a good frame still crosses
    for (let i = 0; i < 2000; i++) s.send(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8]), 4789, addr[2]);
    send(a.nm, [frame(BROADCAST, a.mac, { seq: 11 })]);
    assert.equal((await receive(c.nm, 1, 3000)).length, 1);
    await settle(sites);
    assert.ok((c.tun.info().extra.dropFlags as number) >= 1);
    s.close();
    stranger.close();
    drain(b.nm);
  });
});

describe('more underlays', () => {
  const all: Site[] = [];
  after(() => {
    for (const s of all) {
      s.nm.close();
      s.tun.close();
    }
  });

  test('IPv6 (::1, two ports): frames cross both ways; learning works', async () => {
    const p = 30000 + (process.pid % 20000);
    const a = site(`vxlan:vni=7,local=[::1]:${p},remote=[::1]:${p + 1}`, 1);
    const b = site(`vxlan:vni=7,local=[::1]:${p + 1},remote=[::1]:${p}`, 2);
    all.push(a, b);
    send(a.nm, [frame(BROADCAST, a.mac, { seq: 1 })]);
    assert.equal((await receive(b.nm, 1)).length, 1);
    send(b.nm, [frame(a.mac, b.mac, { seq: 2 })]);
    assert.equal((await receive(a.nm, 1)).length, 1);
    assert.deepEqual(
      b.tun.fdbList().map((e) => e.remote),
      [`[::1]:${p}`],
    );
    // IPv6 overhead: 1500 - 56 = 1444
    send(a.nm, [frame(BROADCAST, a.mac, { len: 1445 })]);
    await settle([a, b]);
    assert.equal(a.tun.info().extra.dropTooBig, 1);
  });

  test('Geneve, mtu=9000: 8000-byte frames cross as chains, bit-exact; bad Geneve headers are counted', async () => {
    const a = site(`geneve:vni=5,local=${NET}.21,remote=${NET}.22,mtu=9000`, 1);
    const b = site(`geneve:vni=5,local=${NET}.22,remote=${NET}.21,mtu=9000`, 2);
    all.push(a, b);
    const big = frame(BROADCAST, a.mac, { len: 8000, seq: 3 });
    putChain(a.nm, split(big, 2048));
    a.nm.txsync();
    const [g] = await receive(b.nm, 1);
    assert.ok(Buffer.from(big).equals(g as Uint8Array), 'bit-exact');
    putChain(b.nm, split(frame(a.mac, b.mac, { len: 8964 }), 2048));
    b.nm.txsync();
    assert.equal((await receive(a.nm, 1))[0]?.length, 8964);
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, `${NET}.21`, r));
    const d = (b0: number, b1: number, proto: number, opt: number[] = []): Buffer => {
      const x = Buffer.alloc(8 + opt.length + 60);
      x[0] = b0;
      x[1] = b1;
      x.writeUInt16BE(proto, 2);
      x.writeUIntBE(5, 4, 3);
      Buffer.from(opt).copy(x, 8);
      return x;
    };
    for (const x of [
      d(0x40, 0, 0x6558),
      d(1, 0, 0x6558, [0, 1, 2, 3]).subarray(0, 10),
      d(1, 0, 0x6558, [0, 1, 2, 5]),
      d(0, 0, 0x0800),
      d(0, 0x40, 0x6558),
      d(0, 0x80, 0x6558),
    ]) {
      await new Promise<void>((r) => s.send(x, 6081, `${NET}.22`, () => r()));
    }
    await until(() => b.tun.info().counters.inDrops === 6, 2000, 'six drops');
    const e = b.tun.info().extra;
    assert.deepEqual(
      [e.dropVersion, e.dropTruncated, e.dropOptLen, e.dropProto, e.dropCritical, e.dropOam],
      [1, 1, 1, 1, 1, 1],
    );
    // a Geneve datagram with a good option carries its frame
    const ok = d(1, 0, 0x6558, [0, 1, 2, 0]);
    Buffer.from(frame(BROADCAST, macN(9), { seq: 4 })).copy(ok, 12);
    await new Promise<void>((r) => s.send(ok.subarray(0, 72), 6081, `${NET}.22`, () => r()));
    const [o] = await receive(b.nm, 1);
    assert.equal(srcOf(o as Uint8Array), macN(9));
    s.close();
  });

  test('learn-remotes: a peer that is not configured is learned and answered by unicast; floods have nowhere to go', async () => {
    const a = site(`vxlan:vni=9,local=${NET}.41,learn-remotes`, 1);
    const b = site(`vxlan:vni=9,local=${NET}.42,remote=${NET}.41`, 2);
    all.push(a, b);
    send(a.nm, [frame(BROADCAST, a.mac, { seq: 1 })]);
    await settle([a, b]);
    assert.equal(a.tun.info().extra.dropNoRemote, 1, 'a flood with no remote is counted');
    send(b.nm, [frame(BROADCAST, b.mac, { seq: 2 })]);
    assert.equal((await receive(a.nm, 1)).length, 1);
    assert.equal(a.tun.info().extra.learnedRemotes, 1);
    assert.deepEqual(
      a.tun.fdbList().map((e) => [e.mac, e.remote, e.type]),
      [[b.mac, `${NET}.42:4789`, 'learned']],
    );
    send(a.nm, [frame(b.mac, a.mac, { seq: 3 })]);
    assert.equal((await receive(b.nm, 1)).length, 1, 'the unicast reply reached the learned remote');
  });

  test('spec errors are INVALID_ARG naming the problem; group= parses (multicast, with dev=); a taken port is BUSY', () => {
    for (const [spec, re] of [
      ['vxlan:vni=1,local=127.0.0.1', /remote= is missing/],
      ['vxlan:local=127.0.0.1,remote=127.0.0.2', /vni= is missing/],
      ['vxlan:vni=16777216,local=127.0.0.1,remote=127.0.0.2', /vni/],
      ['vxlan:vni=1,local=127.0.0.1,remote=::1', /family/],
      ['vxlan:vni=1,local=127.0.0.1,remote=127.0.0.2,remote=127.0.0.2', /twice/],
      ['vxlan:vni=1,local=host.example,remote=127.0.0.2', /numeric/],
      ['vxlan:vni=1,local=127.0.0.1,remote=127.0.0.2,mtu=100', /mtu/],
      ['vxlan:vni=1,local=127.0.0.1,remote=127.0.0.2,colour=red', /unknown option/],
      ['vxlan:vni=1,local=127.0.0.1,group=239.1.1.1', /needs dev=/],
      ['vxlan:vni=1,local=127.0.0.1,group=10.1.1.1,dev=eth0', /not a multicast address/],
      ['vxlan:vni=1,local=127.0.0.1,group=239.1.1.1,dev=eth0,remote=127.0.0.2', /exclude each other/],
      ['vxlan:vni=1,local=127.0.0.1,remote=127.0.0.2,dev=eth0', /only for group/],
      ['vxlan:vni=1,local=127.0.0.1,group=[ff05::1],dev=eth0', /family/],
      ['vxlan:vni=1,local=127.0.0.1,group=239.1.1.1,dev=a/b', /interface name/],
    ] as const) {
      assert.throws(
        () => parseTunnelSpec(spec),
        (e: Error & { code?: string }) => e.code === 'VALE_ERR_INVALID_ARG' && re.test(e.message),
        spec,
      );
    }
    const g = parseTunnelSpec('geneve:vni=1,local=127.0.0.1,group=239.1.1.1,dev=eth0');
    assert.deepEqual(
      [g.group?.text, g.group?.port, g.dev, g.learnRemotes, g.remotes.length],
      ['239.1.1.1', 6081, 'eth0', true, 0],
    );
    assert.throws(
      () =>
        TunnelPort.attach(
          ctx(new ValeHost()),
          'valevx:m',
          parseTunnelSpec(`vxlan:vni=1,local=${NET}.31:0,group=239.1.1.1,dev=vynone0`),
        ),
      (e: Error & { code?: string }) => e.code === 'VALE_ERR_NOT_FOUND' && /vynone0/.test(e.message),
    );
    const s = parseTunnelSpec('vxlan:vni=1,local=127.0.0.1:0,learn-remotes');
    assert.deepEqual([s.remotes.length, s.learnRemotes, s.local.port], [0, true, 0]);
    const host = new ValeHost();
    const t = TunnelPort.attach(ctx(host), 'valevx:t', parseTunnelSpec(`vxlan:vni=1,local=${NET}.31,remote=${NET}.32`));
    try {
      assert.throws(
        () => TunnelPort.attach(ctx(host), 'valevx:t', parseTunnelSpec(`vxlan:vni=1,local=${NET}.33,remote=${NET}.32`)),
        (e: Error & { code?: string }) => e.code === 'VALE_ERR_BUSY',
      );
      assert.throws(
        () => TunnelPort.attach(ctx(host), 'valevx:u', parseTunnelSpec(`vxlan:vni=1,local=${NET}.31,remote=${NET}.32`)),
        (e: Error & { code?: string }) => e.code === 'VALE_ERR_SYSTEM' && /EADDRINUSE/.test(e.message),
      );
      assert.equal(host.getSwitch('valevx')?.list().length, 1, 'the failed attaches left no port');
    } finally {
      t.close();
      t.close();
    }
    // the address is free again
    TunnelPort.attach(ctx(host), 'valevx:t', parseTunnelSpec(`vxlan:vni=1,local=${NET}.31,remote=${NET}.32`)).close();
  });
});
