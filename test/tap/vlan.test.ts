/*
 * VLANs with real peers (docs/vlans.md). This kernel has no 802.1Q module, so
 * the peers are:
 *
 *   scapy + tshark   802.1Q frames crafted with scapy and written into TAP
 *                    interfaces attached with `uvale ctl -a`, VLAN modes set
 *                    with `uvale ctl --vlan`; what uvale delivers is captured
 *                    by tcpdump on the host side (-Q in: the frames uvale
 *                    wrote into the TAP) and read back with `tshark -r`.
 *   Open vSwitch     its userspace datapath (datapath_type=netdev, started
 *                    here without systemd, in a private run directory): an
 *                    OVS bridge with access ports (tag=10, tag=20, internal
 *                    ports) and a trunk port (trunks=10,20) on uvale's trunk
 *                    TAP, so OVS tags and strips on one side and uvale on the
 *                    other, and each must read the other's tags.
 *
 * Needs root, /dev/net/tun, ip, tcpdump, tshark, python3 with scapy (and OVS
 * for the second group); skipped with the reason otherwise. Names start with
 * "vl" and carry this process's pid tag; everything is removed in after().
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempRunDir, uvale } from '../helpers/daemon.js';
import { Cleanup, ip, netSkipReason, PID_TAG, quiet, run, sh, stopChild } from './net.js';

/** A python3 that has scapy (Debian's python3-scapy is for /usr/bin/python3). */
const PYTHON = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import scapy.all'], { stdio: 'ignore' }).status === 0,
);
const skip =
  netSkipReason(['tcpdump', 'tshark']) ?? (PYTHON === undefined ? 'python3 with scapy is not installed' : null);
const noOvs = skip ?? netSkipReason(['ovs-vsctl', 'ovsdb-server', 'ovs-vswitchd', 'ovsdb-tool']);
const SW = 'vale-vl';
const ETHERTYPE_TEST = 0x88b5;

/** One frame as tshark reads it: source MAC, VID (-1 untagged), PCP, payload text. */
interface Seen {
  src: string;
  vid: number;
  pcp: number;
  payload: string;
}

/** Captures what arrives on interfaces (tcpdump -Q in) until stop(); stop() returns tshark's reading per interface. */
async function capture(ifs: string[], dir: string): Promise<() => Promise<Map<string, Seen[]>>> {
  const children: Array<[string, ChildProcess, string]> = [];
  for (const i of ifs) {
    const file = join(dir, `${i}.pcap`);
    const c = spawn('tcpdump', ['-U', '-n', '-Q', 'in', '-i', i, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`tcpdump on ${i} did not start: ${err}`)), 5000);
      c.stderr?.on('data', (d) => {
        err += d;
        if (err.includes('listening on')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    children.push([i, c, file]);
  }
  return async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const out = new Map<string, Seen[]>();
    for (const [i, c, file] of children) {
      await stopChild(c);
      const r = sh([
        'tshark',
        '-r',
        file,
        '-T',
        'fields',
        '-E',
        'separator=/t',
        '-e',
        'eth.src',
        '-e',
        'vlan.id',
        '-e',
        'vlan.priority',
        '-e',
        'data.data',
      ]);
      const rows = r.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const [src, vid, pcp, data] = l.split('\t');
          return {
            src: src ?? '',
            vid: vid === undefined || vid === '' ? -1 : Number(vid),
            pcp: pcp === undefined || pcp === '' ? -1 : Number(pcp),
            payload: Buffer.from(data ?? '', 'hex').toString('latin1'),
          };
        })
        .filter((s) => s.payload.startsWith('vl-'));
      out.set(i, rows);
    }
    return out;
  };
}

/** Sends frames with scapy: each [interface, src MAC, VID or null, PCP, payload]. */
async function scapySend(frames: Array<[string, string, number | null, number, string]>): Promise<void> {
  const lines = frames.map(([i, src, vid, pcp, payload]) => {
    const l2 =
      vid === null
        ? `Ether(dst='ff:ff:ff:ff:ff:ff', src='${src}', type=${ETHERTYPE_TEST})`
        : `Ether(dst='ff:ff:ff:ff:ff:ff', src='${src}')/Dot1Q(vlan=${vid}, prio=${pcp}, type=${ETHERTYPE_TEST})`;
    return `sendp(${l2}/Raw(b'${payload}'), iface='${i}', verbose=False)`;
  });
  const r = await run([
    PYTHON as string,
    '-c',
    ['from scapy.all import Ether, Dot1Q, Raw, sendp', ...lines].join('\n'),
  ]);
  assert.equal(r.code, 0, r.stderr);
}

/** A uvale daemon in its own run directory with TAP ports on SW, and the cleanup of all of it. */
class Setup {
  readonly dir: string;
  readonly cap: string;
  readonly cleanup = new Cleanup();

  constructor(tag: string) {
    const t = tempRunDir(tag);
    this.dir = t.dir;
    this.cap = mkdtempSync(join(tmpdir(), 'uvale-vl-cap-'));
    this.cleanup.add(t.cleanup);
    this.cleanup.add(() => rmSync(this.cap, { recursive: true, force: true }));
    this.cleanup.add(async () => {
      await this.ctl('--shutdown');
    });
  }

  ctl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return uvale(['ctl', ...args, '--dir', this.dir], { timeoutMs: 15_000 });
  }

  /** Attaches a new TAP `name` to SW with VLAN `mode`, quiet and up. */
  async tap(name: string, mode: string): Promise<void> {
    const a = await this.ctl('-a', `${SW}:${name}`);
    assert.equal(a.code, 0, a.stderr);
    this.cleanup.link(name);
    const v = await this.ctl('--vlan', `${SW}:${name}=${mode}`);
    assert.equal(v.code, 0, v.stderr);
    quiet(name);
    ip('link', 'set', name, 'up');
  }

  async counters(name: string): Promise<Record<string, number>> {
    const r = await this.ctl('--stats', `${SW}:${name}`, '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).counters;
  }
}

const tapName = (x: string): string => `vl${PID_TAG}${x}`;

describe('VLANs: scapy frames in, tshark reads what uvale delivered', { skip: skip ?? false }, () => {
  const s = new Setup('vlan-scapy');
  const [trunk, a10, a20] = [tapName('t'), tapName('a'), tapName('b')];
  before(async () => {
    await s.tap(trunk, 'trunk:10,20');
    await s.tap(a10, 'access:10');
    await s.tap(a20, 'access:20');
  });
  after(() => s.cleanup.run());

  test('ctl --vlans lists the settings', async () => {
    const r = await s.ctl('--vlans', '--json');
    assert.deepEqual(
      JSON.parse(r.stdout).map((v: { name: string; mode: string }) => `${v.name}=${v.mode}`),
      [`${SW}:${trunk}=trunk:10,20`, `${SW}:${a10}=access:10`, `${SW}:${a20}=access:20`],
    );
  });

  test('ctl --vlan: a bad mode or an unknown switch is refused with its code', async () => {
    const bad = await s.ctl('--vlan', `${SW}:${a10}=access:4095`);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /VALE_ERR_INVALID_ARG/);
    const none = await s.ctl('--vlan', `vale-vlnone:x=access:1`);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /VALE_ERR_NOT_FOUND/);
    const syntax = await s.ctl('--vlan', `${SW}:${a10}`);
    assert.notEqual(syntax.code, 0);
    assert.match(syntax.stderr, /SWITCH:PORT=MODE/);
  });

  test('trunk in: each VID to its access port untagged; VID 30 and untagged dropped, counted', async () => {
    const stop = await capture([trunk, a10, a20], s.cap);
    const before = await s.counters(trunk);
    await scapySend([
      [trunk, '02:00:00:00:0a:01', 10, 0, 'vl-ten'],
      [trunk, '02:00:00:00:0a:01', 20, 3, 'vl-twenty'],
      [trunk, '02:00:00:00:0a:01', 30, 0, 'vl-thirty'],
      [trunk, '02:00:00:00:0a:01', null, 0, 'vl-untagged'],
    ]);
    const got = await stop();
    assert.deepEqual(got.get(a10), [{ src: '02:00:00:00:0a:01', vid: -1, pcp: -1, payload: 'vl-ten' }]);
    assert.deepEqual(got.get(a20), [{ src: '02:00:00:00:0a:01', vid: -1, pcp: -1, payload: 'vl-twenty' }]);
    assert.deepEqual(got.get(trunk), []);
    const after = await s.counters(trunk);
    assert.equal((after.dropVlanVid ?? 0) - (before.dropVlanVid ?? 0), 1);
    assert.equal((after.dropVlanUntagged ?? 0) - (before.dropVlanUntagged ?? 0), 1);
  });

  test('access in: tagged with the port VID on the trunk only; a tagged frame on an access port is dropped', async () => {
    const stop = await capture([trunk, a10, a20], s.cap);
    await scapySend([
      [a10, '02:00:00:00:0b:01', null, 0, 'vl-from-ten'],
      [a20, '02:00:00:00:0c:01', null, 0, 'vl-from-twenty'],
      [a10, '02:00:00:00:0b:01', 20, 0, 'vl-sneaky'],
    ]);
    const got = await stop();
    assert.deepEqual(got.get(trunk), [
      { src: '02:00:00:00:0b:01', vid: 10, pcp: 0, payload: 'vl-from-ten' },
      { src: '02:00:00:00:0c:01', vid: 20, pcp: 0, payload: 'vl-from-twenty' },
    ]);
    assert.deepEqual(got.get(a10), []);
    assert.deepEqual(got.get(a20), []);
    assert.equal((await s.counters(a10)).dropVlanTagged, 1);
  });

  test('ctl --mac shows the VID of each learnt MAC', async () => {
    const r = await s.ctl('--mac', SW, '--json');
    const seen = JSON.parse(r.stdout).map((e: { mac: string; vid: number }) => `${e.mac}@${e.vid}`);
    for (const m of ['02:00:00:00:0a:01@10', '02:00:00:00:0a:01@20', '02:00:00:00:0b:01@10', '02:00:00:00:0c:01@20'])
      assert.ok(seen.includes(m), `${m} in ${seen.join(' ')}`);
  });
});

describe('VLANs: Open vSwitch (userspace datapath) as the peer', { skip: noOvs ?? false }, () => {
  const s = new Setup('vlan-ovs');
  const ovsDir = mkdtempSync(join(tmpdir(), 'uvale-vl-ovs-'));
  const db = `unix:${ovsDir}/db.sock`;
  const br = tapName('br');
  const [trunk, a10, a20, o10, o20] = [tapName('v'), tapName('c'), tapName('d'), tapName('o1'), tapName('o2')];
  const env = { ...process.env, OVS_RUNDIR: ovsDir, OVS_LOGDIR: ovsDir, OVS_DBDIR: ovsDir };
  const vsctl = (...args: string[]): void => {
    const r = spawnSync('ovs-vsctl', [`--db=${db}`, '--timeout=10', ...args], { encoding: 'utf8', env });
    assert.equal(r.status, 0, `ovs-vsctl ${args.join(' ')}: ${r.stderr}`);
  };
  const daemonize = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 20_000 });
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
  };

  before(async () => {
    s.cleanup.add(() => rmSync(ovsDir, { recursive: true, force: true }));
    await s.tap(trunk, 'trunk:10,20');
    await s.tap(a10, 'access:10');
    await s.tap(a20, 'access:20');
    daemonize('ovsdb-tool', ['create', `${ovsDir}/conf.db`, '/usr/share/openvswitch/vswitch.ovsschema']);
    daemonize('ovsdb-server', [
      `${ovsDir}/conf.db`,
      `--remote=punix:${ovsDir}/db.sock`,
      `--pidfile=${ovsDir}/ovsdb.pid`,
      `--log-file=${ovsDir}/ovsdb.log`,
      '--detach',
    ]);
    s.cleanup.add(() => stopPidfile(`${ovsDir}/ovsdb.pid`));
    vsctl('--no-wait', 'init');
    daemonize('ovs-vswitchd', [
      db,
      `--pidfile=${ovsDir}/vswitchd.pid`,
      `--log-file=${ovsDir}/vswitchd.log`,
      '--detach',
    ]);
    s.cleanup.add(() => stopPidfile(`${ovsDir}/vswitchd.pid`));
    // OVS's internal ports are TAP devices that outlive it: removed by name
    for (const l of [br, o10, o20]) s.cleanup.link(l);
    s.cleanup.add(() => {
      spawnSync('ovs-vsctl', [`--db=${db}`, '--timeout=5', '--if-exists', 'del-br', br], { env });
    });
    vsctl('add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev');
    vsctl('add-port', br, trunk, 'trunks=10,20');
    vsctl('add-port', br, o10, 'tag=10', '--', 'set', 'interface', o10, 'type=internal');
    vsctl('add-port', br, o20, 'tag=20', '--', 'set', 'interface', o20, 'type=internal');
    for (const l of [o10, o20]) {
      quiet(l);
      ip('link', 'set', l, 'up');
    }
    // OVS opens its ports asynchronously: wait until a frame crosses both switches
    for (let i = 0; i < 50; i++) {
      const stop = await capture([a10], s.cap);
      await scapySend([[o10, '02:00:00:00:99:01', null, 0, 'vl-probe']]);
      if ((await stop()).get(a10)?.length === 1) return;
    }
    assert.fail('no frame crossed from OVS to uvale');
  });
  after(() => s.cleanup.run());

  test('OVS access → OVS trunk → uvale trunk → uvale access, and back; the tags on the trunk are 802.1Q VID 10 and 20', async () => {
    const stop = await capture([a10, a20, o10, o20, trunk], s.cap);
    await scapySend([
      [o10, '02:00:00:00:10:01', null, 0, 'vl-ovs10'],
      [o20, '02:00:00:00:20:01', null, 0, 'vl-ovs20'],
      [a10, '02:00:00:00:10:02', null, 0, 'vl-uvale10'],
      [a20, '02:00:00:00:20:02', null, 0, 'vl-uvale20'],
    ]);
    const got = await stop();
    const payloads = (i: string): string[] => (got.get(i) ?? []).map((x) => `${x.payload}/${x.vid}`);
    // OVS tagged, uvale stripped
    assert.deepEqual(payloads(a10), ['vl-ovs10/-1']);
    assert.deepEqual(payloads(a20), ['vl-ovs20/-1']);
    // uvale tagged, OVS stripped
    assert.deepEqual(payloads(o10), ['vl-uvale10/-1']);
    assert.deepEqual(payloads(o20), ['vl-uvale20/-1']);
    // what uvale wrote onto the trunk link, as tshark reads it
    assert.deepEqual(payloads(trunk), ['vl-uvale10/10', 'vl-uvale20/20']);
  });

  test('unicast after learning stays in its VLAN on both switches', async () => {
    // uvale's a10 host answers OVS's o10 host by MAC (learnt by both switches in VID 10 above)
    const stop = await capture([a20, o10, o20], s.cap);
    const r = await run([
      PYTHON as string,
      '-c',
      `from scapy.all import Ether, Raw, sendp\nsendp(Ether(dst='02:00:00:00:10:01', src='02:00:00:00:10:02', type=${ETHERTYPE_TEST})/Raw(b'vl-reply'), iface='${a10}', verbose=False)`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await stop();
    assert.deepEqual(
      (got.get(o10) ?? []).map((x) => x.payload),
      ['vl-reply'],
    );
    assert.deepEqual(got.get(o20), []);
    assert.deepEqual(got.get(a20), []);
  });
});

/** Stops the daemon whose pid is in `file` (SIGTERM), if it runs. */
function stopPidfile(file: string): void {
  let pid = 0;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return; // never started
  }
  if (Number.isInteger(pid) && pid > 1) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
