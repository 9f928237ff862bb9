/*
 * uvale ↔ the Linux kernel's vxlan device, in network namespaces (as root):
 *
 *   vxh1-P: host 1 ── TAP ═ uvale daemon in vxa-P (vxlan port) ─┐
 *                                                    veth underlay (IPv4, then IPv6)
 *   vxh2-P: host 2 ── veth ── Linux bridge ── vx0 (ip link add type vxlan) in vxb-P ─┘
 *
 * Ping both ways, iperf3 TCP both ways for a few seconds, the underlay seen
 * by tshark's VXLAN dissector (VNI 42), and the fdbs on both sides (uvale's
 * `ctl --fdb`, the kernel's `bridge fdb`). Skipped, with the reason, without
 * root, ip, ping, iperf3, ethtool or the kernel's vxlan; tshark only gates
 * its check. The IPv6 run gives uvale's port `tso` (docs/vxlan.md): the
 * segments Linux sends are coalesced into TSO frames for the TAP (host 1's
 * kernel takes them: iperf3 works), and host 1's TSO frames are cut by the
 * port itself.
 *
 * TX checksum offload is turned off on side B's underlay veth (ethtool -K
 * vxub tx off): a veth hands the kernel's partial checksums across as they
 * are, so a datagram reaching a user-space socket would carry an inner TCP
 * checksum never completed (a NIC, or a device without the offload,
 * completes it). docs/vxlan.md says the same to users.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { FdbInfo } from '../../src/control/types.js';
import { spawnDaemon, tempRunDir, uvale } from '../helpers/daemon.js';
import { Cleanup, ip, netSkipReason, nsRun, PID_TAG, type RunResult, sh, startTshark, stopChild } from '../tap/net.js';

const skip = netSkipReason(['ping', 'iperf3', 'bridge', 'ethtool']) ?? vxlanSkip();
const noTshark = netSkipReason(['tshark']);

/** Why the kernel cannot make a vxlan device here, or null. */
function vxlanSkip(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  const name = `vxk${PID_TAG}`;
  const r = sh(['ip', 'link', 'add', name, 'type', 'vxlan', 'id', '1', 'dstport', '4789'], { ok: true });
  if (r.code !== 0) return `the kernel has no vxlan device: ${r.stderr.trim()}`;
  sh(['ip', 'link', 'del', name], { ok: true });
  return null;
}

interface Family {
  name: string;
  a: string;
  b: string;
  /** `ip addr add` prefix length, and extra flags. */
  plen: string;
  flags: string[];
  /** The inner MTU: 1500 - 50 (IPv4) or - 70 (IPv6). */
  mtu: number;
  /** How uvale writes the addresses in a spec. */
  spec: (x: string) => string;
  /** uvale's port with `tso`. */
  tso: boolean;
}

const FAMILIES: Family[] = [
  { name: 'IPv4', a: '10.250.42.1', b: '10.250.42.2', plen: '24', flags: [], mtu: 1450, spec: (x) => x, tso: false },
  {
    name: 'IPv6',
    a: 'fd00:42::1',
    b: 'fd00:42::2',
    plen: '64',
    flags: ['nodad'],
    mtu: 1430,
    spec: (x) => x,
    tso: true,
  },
];

if (skip !== null) {
  test('uvale ↔ Linux vxlan', { skip }, () => {});
} else {
  for (const [fi, fam] of FAMILIES.entries()) {
    describe(`uvale ↔ Linux vxlan, ${fam.name} underlay`, () => {
      const tag = `${PID_TAG}${fi}`;
      const ns = { a: `vxa-${tag}`, b: `vxb-${tag}`, h1: `vxh1-${tag}`, h2: `vxh2-${tag}` };
      const h1 = '10.199.42.1';
      const h2 = '10.199.42.2';
      const cleanup = new Cleanup();
      const children: ChildProcess[] = [];
      const rd = tempRunDir(`vx${fi}`);
      const ctl = (...args: string[]): Promise<RunResult> => uvale(['ctl', ...args, '--dir', rd.dir]);
      const tap = `vxt${tag}`;

      before(async () => {
        cleanup.add(rd.cleanup);
        for (const n of Object.values(ns)) {
          cleanup.netns(n);
          ip('netns', 'add', n);
          ip('-n', n, 'link', 'set', 'lo', 'up');
        }
        // the underlay
        ip('link', 'add', 'vxua', 'netns', ns.a, 'type', 'veth', 'peer', 'name', 'vxub', 'netns', ns.b);
        ip('-n', ns.a, 'addr', 'add', `${fam.a}/${fam.plen}`, 'dev', 'vxua', ...fam.flags);
        ip('-n', ns.b, 'addr', 'add', `${fam.b}/${fam.plen}`, 'dev', 'vxub', ...fam.flags);
        ip('-n', ns.a, 'link', 'set', 'vxua', 'up');
        ip('-n', ns.b, 'link', 'set', 'vxub', 'up');
        sh(['ip', 'netns', 'exec', ns.b, 'ethtool', '-K', 'vxub', 'tx', 'off']);
        // side B: Linux vxlan on a bridge, a veth host
        ip(
          '-n',
          ns.b,
          'link',
          'add',
          'vx0',
          'type',
          'vxlan',
          'id',
          '42',
          'local',
          fam.b,
          'remote',
          fam.a,
          'dstport',
          '4789',
          'dev',
          'vxub',
        );
        ip('-n', ns.b, 'link', 'add', 'vxbr', 'type', 'bridge');
        ip('-n', ns.b, 'link', 'set', 'vx0', 'master', 'vxbr', 'up');
        ip('link', 'add', 'vxhb', 'netns', ns.b, 'type', 'veth', 'peer', 'name', 'vxh', 'netns', ns.h2);
        ip('-n', ns.b, 'link', 'set', 'vxhb', 'master', 'vxbr', 'up');
        ip('-n', ns.b, 'link', 'set', 'vxbr', 'up');
        ip('-n', ns.h2, 'addr', 'add', `${h2}/24`, 'dev', 'vxh');
        ip('-n', ns.h2, 'link', 'set', 'vxh', 'mtu', String(fam.mtu), 'up');
        // side A: a uvale daemon in vxa with the VXLAN port and a TAP host moved to vxh1
        const d = await spawnDaemon(rd.dir, [], ns.a);
        children.push(d);
        cleanup.add(async () => {
          await ctl('--shutdown');
          await Promise.all(children.map((c) => stopChild(c)));
        });
        let r = await ctl(
          '-a',
          `valevx:vx=vxlan:vni=42,local=${fam.spec(fam.a)},remote=${fam.spec(fam.b)}${fam.tso ? ',tso' : ''}`,
        );
        assert.equal(r.code, 0, r.stderr);
        r = await ctl('-a', `valevx:${tap}`);
        assert.equal(r.code, 0, r.stderr);
        ip('-n', ns.a, 'link', 'set', tap, 'netns', ns.h1);
        ip('-n', ns.h1, 'addr', 'add', `${h1}/24`, 'dev', tap);
        ip('-n', ns.h1, 'link', 'set', tap, 'mtu', String(fam.mtu), 'up');
      });

      after(() => cleanup.run());

      test('ping both ways', async () => {
        for (const [from, to] of [
          [ns.h1, h2],
          [ns.h2, h1],
        ] as const) {
          const r = await nsRun(from, ['ping', '-c', '3', '-i', '0.2', '-W', '2', to], 20_000);
          assert.equal(r.code, 0, `ping ${from} -> ${to}: ${r.stdout}${r.stderr}`);
          assert.match(r.stdout, / 3 received/);
        }
        // full-size frames cross; with host 1's MTU raised, one byte more is dropped by uvale and counted
        const big = fam.mtu - 28;
        const r = await nsRun(ns.h1, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(big), h2]);
        assert.equal(r.code, 0, `ping -s ${big}: ${r.stdout}${r.stderr}`);
        const tooBig = async (): Promise<number> =>
          JSON.parse((await ctl('--adapters', 'vxlan', '--json')).stdout)[0].extra.dropTooBig as number;
        const before = await tooBig();
        ip('-n', ns.h1, 'link', 'set', tap, 'mtu', '1500');
        try {
          const over = await nsRun(ns.h1, ['ping', '-c', '1', '-W', '1', '-M', 'do', '-s', String(big + 1), h2]);
          assert.notEqual(over.code, 0, 'one byte over the inner MTU does not cross');
        } finally {
          ip('-n', ns.h1, 'link', 'set', tap, 'mtu', String(fam.mtu));
        }
        assert.equal(await tooBig(), before + 1, 'counted as dropTooBig');
      });

      test('the fdbs: uvale learned host 2 behind the kernel; the kernel learned host 1 behind uvale', async () => {
        const r = await ctl('--fdb', 'valevx:vx', '--json');
        assert.equal(r.code, 0, r.stderr);
        const e = JSON.parse(r.stdout) as FdbInfo[];
        const mac2 = sh(['ip', '-n', ns.h2, '-j', 'link', 'show', 'vxh']).stdout;
        const m2 = (JSON.parse(mac2) as Array<{ address: string }>)[0]?.address;
        const want = fam.name === 'IPv4' ? `${fam.b}:4789` : `[${fam.b}]:4789`;
        assert.ok(
          e.some((x) => x.mac === m2 && x.remote === want && x.type === 'learned'),
          `host 2's ${m2} behind ${want} in ${r.stdout}`,
        );
        const k = sh(['bridge', '-n', ns.b, 'fdb', 'show', 'dev', 'vx0']).stdout;
        assert.match(k, new RegExp(`dst ${fam.a.replace(/\./g, '\\.')}`), k);
      });

      test('iperf3 TCP both ways', async () => {
        const server = spawn('ip', ['netns', 'exec', ns.h2, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
        children.push(server);
        const rates: number[] = [];
        for (const extra of [[], ['-R']]) {
          let last: RunResult = { code: null, stdout: '', stderr: '' };
          for (let i = 0; i < 20; i++) {
            last = await nsRun(ns.h1, ['iperf3', '-c', h2, '-p', '5201', '-t', '3', '-J', ...extra], 30_000);
            if (!/refused|busy/i.test(last.stdout + last.stderr)) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          assert.equal(last.code, 0, `iperf3 ${extra.join(' ')}: ${last.stdout.slice(0, 1500)}${last.stderr}`);
          const j = JSON.parse(last.stdout) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
          assert.ok(j.end.sum_received.bytes > 1_000_000, 'more than a megabyte crossed');
          rates.push(j.end.sum_received.bits_per_second / 1e9);
        }
        await stopChild(server);
        const info = JSON.parse((await ctl('--adapters', 'vxlan', '--json')).stdout)[0];
        process.stdout.write(
          `# ${fam.name} underlay: iperf3 uvale→Linux ${rates[0]?.toFixed(2)} Gbit/s, Linux→uvale ${rates[1]?.toFixed(2)} Gbit/s; ` +
            `tunnel counters ${JSON.stringify(info.counters)} tooBig ${info.extra.dropTooBig} stalls ${info.extra.sendStalls}` +
            ` coalesced ${info.extra.tcpCoalesced} (${info.extra.tcpSegments} segments)\n`,
        );
        if (fam.tso) {
          assert.ok(info.extra.tcpCoalesced > 0, 'segments from Linux were coalesced');
          assert.deepEqual([info.extra.tcpBadCsum, info.extra.dropOffload], [0, 0]);
        }
      });

      test('tshark decodes the underlay as VXLAN, VNI 42', { skip: noTshark ?? false }, async () => {
        const cap = await startTshark(
          ns.a,
          [
            ...['-i', 'vxua', '-a', 'duration:20', '-c', '4', '-d', 'udp.port==4789,vxlan'],
            ...['-T', 'fields', '-e', 'vxlan.vni', '-e', 'eth.type', '-Y', 'vxlan'],
          ],
          children,
        );
        await nsRun(ns.h1, ['ping', '-c', '4', '-i', '0.2', '-W', '2', h2]);
        const rows = await cap.rows(5000);
        assert.ok(rows.length >= 2, `tshark saw VXLAN: ${cap.text()}`);
        for (const r of rows) assert.equal(r[0], '42', r.join(' '));
      });
    });
  }
}
