/*
 * uvale ↔ Open vSwitch (userspace datapath) as VTEPs of one segment, in
 * network namespaces (as root):
 *
 *   vyh1: host 1 ─ TAP ═ uvale A (vya, vale-x: vxlan vni 42, remotes B, O) ─┐
 *   vyh2: host 2 ─ TAP ═ uvale B (vyb, vale-x: vxlan vni 42, remotes A, O;   ├─ underlay: a Linux bridge in vyu,
 *   vyh3: host 3 ─ TAP ═           vale-g: geneve vni 43, remote O)          │  10.250.9.0/24
 *   vyo:  OVS host (internal port) ─ OVS br-int: vxlan to A, vxlan to B,     ─┘
 *         geneve to B; br-phy holds the underlay veth and O's address
 *
 * Three VTEPs on VXLAN (head-end replication across three: a flood from A
 * reaches B and OVS), and Geneve between uvale B and OVS. OVS's two vxlan
 * ports are `protected` (no forwarding between them: split horizon, as a
 * full mesh of VTEPs needs), so the segment has no loop; the geneve port is
 * not, so OVS also bridges host 3's Geneve segment to the VXLAN one.
 *
 * Ping between the OVS host and each uvale host, host 1 ↔ host 3 across
 * OVS (VXLAN in, Geneve out), the fdbs, and the underlay seen by tshark's
 * VXLAN and Geneve dissectors. Every underlay veth has TX checksum offload
 * off: OVS's userspace datapath drops tunnel packets whose checksum a veth
 * left partial (docs/vxlan.md). Skipped with the reason when OVS cannot
 * start here.
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { AdapterInfo, FdbInfo } from '../../src/control/types.js';
import { spawnDaemon, tempRunDir, until, uvale } from '../helpers/daemon.js';
import { type Ovs, ovsSkipReason, startOvs } from '../helpers/ovs.js';
import { Cleanup, ip, netSkipReason, nsRun, PID_TAG, type RunResult, sh, startTshark, stopChild } from '../tap/net.js';

const skip = netSkipReason(['ping', 'ethtool', 'bridge']) ?? ovsSkipReason();
const noTshark = netSkipReason(['tshark']);

const U = { a: '10.250.9.1', b: '10.250.9.2', o: '10.250.9.3' };
const H = { h1: '10.199.30.1', h2: '10.199.30.2', o: '10.199.30.3', h3: '10.199.30.4' };

if (skip !== null) {
  test('uvale ↔ Open vSwitch', { skip }, () => {});
} else {
  describe('uvale ↔ Open vSwitch: VXLAN across three VTEPs, Geneve', () => {
    const ns = {
      u: `vyu-${PID_TAG}`,
      a: `vya-${PID_TAG}`,
      b: `vyb-${PID_TAG}`,
      o: `vyo-${PID_TAG}`,
      h1: `vyh1-${PID_TAG}`,
      h2: `vyh2-${PID_TAG}`,
      h3: `vyh3-${PID_TAG}`,
    };
    const cleanup = new Cleanup();
    const children: ChildProcess[] = [];
    const rd = { a: tempRunDir('vya'), b: tempRunDir('vyb') };
    const ctl = (d: 'a' | 'b', ...args: string[]): Promise<RunResult> => uvale(['ctl', ...args, '--dir', rd[d].dir]);
    let ovs: Ovs | null = null;
    let ovsSkip: string | null = null;
    const ping = (from: string, to: string, n = 3): Promise<RunResult> =>
      nsRun(from, ['ping', '-c', String(n), '-i', '0.2', '-W', '2', to], 30_000);
    /** Pings until one answer (OVS resolves its tunnel neighbours on the first packets), then n more must all come back. */
    const reach = async (from: string, to: string): Promise<void> => {
      let r: RunResult = { code: null, stdout: '', stderr: '' };
      for (let i = 0; i < 10; i++) {
        r = await nsRun(from, ['ping', '-c', '1', '-W', '1', to], 10_000);
        if (r.code === 0) break;
      }
      r = await ping(from, to);
      assert.equal(r.code, 0, `ping ${from} -> ${to}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, / 3 received/);
    };
    const info = async (d: 'a' | 'b', name: string): Promise<AdapterInfo> => {
      const r = await ctl(d, '--adapters', '--json');
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as AdapterInfo[]).find((x) => x.name === name) as AdapterInfo;
    };
    /** Frames the OVS host's kernel received on its internal port (OVS floods broadcasts to it). */
    const ovsHostRx = (): number =>
      (
        JSON.parse(sh(['ip', '-n', ns.o, '-j', '-s', 'link', 'show', 'vyoh']).stdout) as Array<{
          stats64: { rx: { packets: number } };
        }>
      )[0]?.stats64.rx.packets ?? Number.NaN;

    before(async () => {
      cleanup.add(rd.a.cleanup);
      cleanup.add(rd.b.cleanup);
      for (const n of Object.values(ns)) {
        cleanup.netns(n);
        ip('netns', 'add', n);
        ip('-n', n, 'link', 'set', 'lo', 'up');
        sh(['ip', 'netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'], { ok: true });
        sh(['ip', 'netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'], { ok: true });
      }
      // the underlay: a bridge in vyu, a veth to each VTEP, checksums done in software
      ip('-n', ns.u, 'link', 'add', 'ubr', 'type', 'bridge');
      ip('-n', ns.u, 'link', 'set', 'ubr', 'up');
      for (const s of ['a', 'b', 'o'] as const) {
        ip('link', 'add', 'ul', 'netns', ns[s], 'type', 'veth', 'peer', 'name', `u${s}`, 'netns', ns.u);
        ip('-n', ns.u, 'link', 'set', `u${s}`, 'master', 'ubr', 'up');
        sh(['ip', 'netns', 'exec', ns.u, 'ethtool', '-K', `u${s}`, 'tx', 'off']);
        sh(['ip', 'netns', 'exec', ns[s], 'ethtool', '-K', 'ul', 'tx', 'off']);
        ip('-n', ns[s], 'link', 'set', 'ul', 'up');
        if (s !== 'o') ip('-n', ns[s], 'addr', 'add', `${U[s]}/24`, 'dev', 'ul');
      }
      // uvale A and B
      for (const s of ['a', 'b'] as const) {
        const d = await spawnDaemon(rd[s].dir, [], ns[s]);
        children.push(d);
        const other = s === 'a' ? U.b : U.a;
        let r = await ctl(s, '-a', `vale-x:vx=vxlan:vni=42,local=${U[s]},remote=${other},remote=${U.o}`);
        assert.equal(r.code, 0, r.stderr);
        const taps: Array<[string, string, string]> = [
          [`vale-x:vyt${s}`, s === 'a' ? ns.h1 : ns.h2, s === 'a' ? H.h1 : H.h2],
        ];
        if (s === 'b') {
          r = await ctl(s, '-a', `vale-g:gn=geneve:vni=43,local=${U.b},remote=${U.o}`);
          assert.equal(r.code, 0, r.stderr);
          taps.push(['vale-g:vytg', ns.h3, H.h3]);
        }
        for (const [port, host, addr] of taps) {
          r = await ctl(s, '-a', port);
          assert.equal(r.code, 0, r.stderr);
          const tap = port.split(':')[1] as string;
          ip('-n', ns[s], 'link', 'set', tap, 'netns', host);
          ip('-n', host, 'addr', 'add', `${addr}/24`, 'dev', tap);
          ip('-n', host, 'link', 'set', tap, 'mtu', '1450', 'up');
        }
      }
      cleanup.add(async () => {
        for (const d of ['a', 'b'] as const) await ctl(d, '--shutdown');
        await Promise.all(children.map((c) => stopChild(c)));
      });
      // Open vSwitch in vyo
      const o = await startOvs(`vyo${PID_TAG}`, ns.o);
      if (typeof o === 'string') {
        ovsSkip = `Open vSwitch did not start: ${o}`;
        return;
      }
      ovs = o;
      cleanup.add(() => o.stop());
      o.vsctl('add-br', 'brp', '--', 'set', 'bridge', 'brp', 'datapath_type=netdev');
      o.vsctl('add-port', 'brp', 'ul');
      ip('-n', ns.o, 'addr', 'add', `${U.o}/24`, 'dev', 'brp');
      ip('-n', ns.o, 'link', 'set', 'brp', 'up');
      o.vsctl('add-br', 'bri', '--', 'set', 'bridge', 'bri', 'datapath_type=netdev');
      for (const [port, type, remote, key] of [
        ['vxa', 'vxlan', U.a, '42'],
        ['vxb', 'vxlan', U.b, '42'],
        ['gnb', 'geneve', U.b, '43'],
      ] as const) {
        o.vsctl(
          'add-port',
          'bri',
          port,
          '--',
          'set',
          'interface',
          port,
          `type=${type}`,
          `options:remote_ip=${remote}`,
          `options:key=${key}`,
        );
      }
      o.vsctl('set', 'port', 'vxa', 'protected=true');
      o.vsctl('set', 'port', 'vxb', 'protected=true');
      o.vsctl('add-port', 'bri', 'vyoh', '--', 'set', 'interface', 'vyoh', 'type=internal');
      await until(() => sh(['ip', '-n', ns.o, 'link', 'show', 'vyoh'], { ok: true }).code === 0, 10_000, 'vyoh');
      ip('-n', ns.o, 'addr', 'add', `${H.o}/24`, 'dev', 'vyoh');
      ip('-n', ns.o, 'link', 'set', 'vyoh', 'mtu', '1450', 'up');
    });

    after(() => cleanup.run());

    test('uvale A ↔ uvale B over VXLAN (the uvale side of the mesh)', async () => {
      await reach(ns.h1, H.h2);
    });

    test('the OVS host ↔ host 1 (uvale A) and host 2 (uvale B) over VXLAN', async (t) => {
      if (ovs === null) return t.skip(ovsSkip ?? 'no OVS');
      await reach(ns.o, H.h1);
      await reach(ns.o, H.h2);
      await reach(ns.h1, H.o);
      // uvale learned the OVS host's MAC behind OVS's address
      const mac = (
        JSON.parse(sh(['ip', '-n', ns.o, '-j', 'link', 'show', 'vyoh']).stdout) as Array<{ address: string }>
      )[0]?.address;
      for (const d of ['a', 'b'] as const) {
        const r = await ctl(d, '--fdb', 'vale-x:vx', '--json');
        const e = JSON.parse(r.stdout) as FdbInfo[];
        assert.ok(
          e.some((x) => x.mac === mac && x.remote.startsWith(`${U.o}:`) && x.type === 'learned'),
          `${d}: ${mac} behind ${U.o} in ${r.stdout}`,
        );
      }
    });

    test('head-end replication across three: a flood from uvale A reaches B and OVS once each', async (t) => {
      if (ovs === null) return t.skip(ovsSkip ?? 'no OVS');
      const o = ovs;
      const before = {
        a: await info('a', 'vale-x:vx'),
        b: await info('b', 'vale-x:vx'),
        o: ovsHostRx(),
      };
      // broadcasts from host 1: ARP requests for an address nobody has
      await nsRun(ns.h1, ['ping', '-c', '1', '-W', '1', '10.199.30.98']);
      await new Promise((r) => setTimeout(r, 500));
      const afterA = await info('a', 'vale-x:vx');
      const afterB = await info('b', 'vale-x:vx');
      // a flood is one frame out and two datagrams (B, OVS); a unicast (an ARP refresh, say) one and one
      const frames = afterA.counters.outFrames - before.a.counters.outFrames;
      const dgs = (afterA.extra.datagramsOut as number) - (before.a.extra.datagramsOut as number);
      const floods = dgs - frames;
      assert.ok(
        floods >= 1 && floods <= frames,
        `host 1's broadcasts were replicated: ${frames} frames, ${dgs} datagrams`,
      );
      assert.ok(afterB.counters.inFrames - before.b.counters.inFrames >= floods, 'B got each');
      assert.ok(ovsHostRx() - before.o >= floods, `OVS flooded them to its host: ${o.log().slice(-300)}`);
    });

    test('Geneve: the OVS host ↔ host 3 (uvale B), and host 1 ↔ host 3 through OVS', async (t) => {
      if (ovs === null) return t.skip(ovsSkip ?? 'no OVS');
      await reach(ns.o, H.h3);
      await reach(ns.h3, H.o);
      await reach(ns.h1, H.h3);
      const g = await info('b', 'vale-g:gn');
      assert.ok(g.counters.inFrames > 0 && g.counters.outFrames > 0);
      assert.equal(g.counters.inDrops, 0);
    });

    test('tshark decodes the underlay: VXLAN VNI 42 and Geneve VNI 43', { skip: noTshark ?? false }, async (t) => {
      if (ovs === null) return t.skip(ovsSkip ?? 'no OVS');
      const cap = await startTshark(
        ns.u,
        [
          ...['-i', 'ubr', '-a', 'duration:20', '-c', '8'],
          ...['-d', 'udp.port==4789,vxlan', '-d', 'udp.port==6081,geneve', '-Y', 'vxlan || geneve'],
          ...['-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'vxlan.vni', '-e', 'geneve.vni', '-e', 'icmp.type'],
        ],
        children,
      );
      await new Promise((r) => setTimeout(r, 1000));
      await ping(ns.o, H.h1, 2);
      await ping(ns.o, H.h3, 2);
      const rows = await cap.rows(5000);
      const out = cap.text();
      const vx = rows.filter((r) => r[2] !== '');
      const gn = rows.filter((r) => r[3] !== '');
      assert.ok(vx.length >= 2, `VXLAN seen: ${out}`);
      assert.ok(gn.length >= 2, `Geneve seen: ${out}`);
      // tshark prints Geneve's VNI in hex, VXLAN's in decimal; ip.src/dst: outer, then inner
      for (const r of vx) assert.equal(Number(r[2]), 42, r.join(' '));
      for (const r of gn) assert.equal(Number(r[3]), 43, r.join(' '));
      const outer = (r: string[], i: number): string => (r[i] ?? '').split(',')[0] as string;
      assert.ok(
        vx.some((r) => outer(r, 0) === U.a && outer(r, 1) === U.o),
        `uvale A → OVS: ${out}`,
      );
      assert.ok(
        gn.some((r) => outer(r, 0) === U.b && outer(r, 1) === U.o),
        `uvale B → OVS (Geneve): ${out}`,
      );
    });
  });
}
