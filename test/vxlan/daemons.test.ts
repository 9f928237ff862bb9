/*
 * Two uvale daemons (child processes, each with its own run directory) joined
 * by VXLAN on 127.0.0.1 with different UDP ports, plus a third VTEP played by
 * a node:dgram socket that only counts what reaches it. Everything goes
 * through the CLI (`uvale ctl -a`, `--fdb`, `--adapters --json`) and netmap
 * clients of each daemon: flooding reaches both remotes, unicast after
 * learning reaches only its one, the fdb listing matches, static entries
 * are added and removed, and bad datagrams are each counted in their reason.
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { AdapterInfo, FdbInfo } from '../../src/control/types.js';
import { connectPort, type NetmapPort } from '../../src/index.js';
import { spawnDaemon, tempRunDir, until, uvale } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, macN, receive, send, srcOf } from '../helpers/vale.js';
import { stopChild } from '../tap/net.js';

const BASE = 40000 + (process.pid % 5000) * 3;
const [PA, PB, PC] = [BASE, BASE + 1, BASE + 2];
const LO = '127.0.0.1';

describe('uvale ↔ uvale: two daemons over VXLAN on loopback', () => {
  const dirs = [tempRunDir('vxa'), tempRunDir('vxb')];
  const daemons: ChildProcess[] = [];
  const ports: NetmapPort[] = [];
  const fake = createSocket('udp4');
  const fakeGot: Buffer[] = [];
  let a: NetmapPort;
  let b: NetmapPort;
  const ctl = (i: number, ...args: string[]) => uvale(['ctl', ...args, '--dir', (dirs[i] as { dir: string }).dir]);
  const info = async (i: number): Promise<AdapterInfo> => {
    const r = await ctl(i, '--adapters', 'vxlan', '--json');
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as AdapterInfo[])[0] as AdapterInfo;
  };
  const fdb = async (i: number): Promise<FdbInfo[]> => {
    const r = await ctl(i, '--fdb', i === 0 ? 'valea:vx' : 'valeb:vx', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as FdbInfo[];
  };
  const quiet = async (): Promise<void> => {
    let last = '';
    for (let k = 0; k < 40; k++) {
      const now = JSON.stringify([(await info(0)).counters, (await info(1)).counters, fakeGot.length]);
      if (now === last) return;
      last = now;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    fake.on('message', (m) => fakeGot.push(m));
    await new Promise<void>((r) => fake.bind(PC, LO, r));
    for (const t of dirs) daemons.push(await spawnDaemon(t.dir));
    let r = await ctl(0, '-a', `valea:vx=vxlan:vni=42,local=${LO}:${PA},remote=${LO}:${PB},remote=${LO}:${PC}`);
    assert.equal(r.code, 0, r.stderr);
    r = await ctl(1, '-a', `valeb:vx=vxlan:vni=42,local=${LO}:${PB},remote=${LO}:${PA}`);
    assert.equal(r.code, 0, r.stderr);
    a = await connectPort('valea:c', { dir: (dirs[0] as { dir: string }).dir });
    b = await connectPort('valeb:c', { dir: (dirs[1] as { dir: string }).dir });
    ports.push(a, b);
  });

  after(async () => {
    for (const p of ports) p.close();
    fake.close();
    for (const d of daemons) await stopChild(d);
    for (const t of dirs) t.cleanup();
  });

  test('a broadcast from A floods to B and to the third VTEP; B learns A', async () => {
    send(a, [frame(BROADCAST, macN(1), { seq: 1 })]);
    const got = await receive(b, 1, 3000);
    assert.equal(got.length, 1);
    assert.equal(srcOf(got[0] as Uint8Array), macN(1));
    await until(() => fakeGot.length === 1, 3000, 'the third VTEP');
    const d = fakeGot[0] as Buffer;
    assert.deepEqual([...d.subarray(0, 8)], [8, 0, 0, 0, 0, 0, 42, 0], 'a VXLAN header, VNI 42');
    assert.equal(d.length, 8 + 60);
    const e = await fdb(1);
    assert.deepEqual(
      e.map((x) => [x.mac, x.remote, x.type]),
      [[macN(1), `${LO}:${PA}`, 'learned']],
    );
    assert.ok((e[0] as FdbInfo).age >= 0 && (e[0] as FdbInfo).age < 5);
  });

  test('after learning, unicast reaches only its one remote; counters match', async () => {
    send(b, [frame(macN(1), macN(2), { seq: 2 })]);
    assert.equal((await receive(a, 1, 3000)).length, 1);
    // A learned macN(2) behind B: a unicast to it must not reach the third VTEP
    send(a, [frame(macN(2), macN(1), { seq: 3 })]);
    assert.equal((await receive(b, 1, 3000)).length, 1);
    await quiet();
    assert.equal(fakeGot.length, 1, 'the third VTEP got only the broadcast');
    assert.deepEqual(
      (await fdb(0)).map((x) => [x.mac, x.remote, x.type]),
      [[macN(2), `${LO}:${PB}`, 'learned']],
    );
    const ia = await info(0);
    assert.equal(ia.counters.outFrames, 2);
    assert.equal(ia.extra.datagramsOut, 3, 'two for the flood, one for the unicast');
    assert.equal(ia.counters.inFrames, 1);
    assert.equal(ia.extra.fdbSize, 1);
    const ib = await info(1);
    assert.deepEqual([ib.counters.inFrames, ib.counters.outFrames, ib.counters.inDrops], [2, 1, 0]);
  });

  test('ctl --fdb adds a static entry (it wins over flooding) and del= removes it', async () => {
    let r = await ctl(0, '--fdb', 'valea:vx', `${macN(3)}=${LO}:${PC}`);
    assert.equal(r.code, 0, r.stderr);
    const list = await ctl(0, '--fdb', 'valea:vx');
    assert.match(list.stdout, new RegExp(`${macN(3)}\\s+${LO}:${PC}\\s+static`));
    send(a, [frame(macN(3), macN(1), { seq: 4 })]);
    await until(() => fakeGot.length === 2, 3000, 'the unicast to the static remote');
    await quiet();
    assert.equal(drain(b).length, 0, 'B did not get it');
    r = await ctl(0, '--fdb', 'valea:vx', `del=${macN(3)}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      (await fdb(0)).find((x) => x.mac === macN(3)),
      undefined,
    );
    r = await ctl(0, '--fdb', 'valea:vx', `del=${macN(3)}`);
    assert.notEqual(r.code, 0, 'deleting it again fails');
    r = await ctl(0, '--fdb', 'valea:c');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a vxlan or geneve port/);
    r = await ctl(0, '--fdb', 'valea:vx', 'ff:ff:ff:ff:ff:ff=127.0.0.1');
    assert.notEqual(r.code, 0, 'a multicast MAC cannot be static');
  });

  test('bad datagrams from a known remote: each counted in its reason, nothing reaches the switch', async () => {
    const before = await info(0);
    const dg = (flags: number, vni: number, inner: number): Buffer => {
      const d = Buffer.alloc(8 + inner);
      d[0] = flags;
      d.writeUIntBE(vni, 4, 3);
      if (inner >= 14) Buffer.from(frame(BROADCAST, macN(66), { len: inner })).copy(d, 8);
      return d;
    };
    for (const d of [Buffer.from([8, 0, 0, 0]), dg(0, 42, 60), dg(8, 41, 60), dg(8, 42, 10)]) {
      await new Promise<void>((r) => fake.send(d, PA, LO, () => r()));
    }
    await until(async () => (await info(0)).counters.inDrops === before.counters.inDrops + 4, 3000, 'four drops');
    const after = await info(0);
    for (const k of ['dropTruncated', 'dropFlags', 'dropVni', 'dropRunt']) {
      assert.equal(after.extra[k], (before.extra[k] as number) + 1, k);
    }
    assert.equal(after.counters.inFrames, before.counters.inFrames);
    assert.equal(drain(a).length, 0);
    // a good datagram from the third VTEP still crosses, and teaches A
    await new Promise<void>((r) => fake.send(dg(8, 42, 60), PA, LO, () => r()));
    assert.equal((await receive(a, 1, 3000)).length, 1);
    assert.deepEqual((await fdb(0)).find((x) => x.mac === macN(66))?.remote, `${LO}:${PC}`);
  });
});
