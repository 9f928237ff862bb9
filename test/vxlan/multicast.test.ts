/*
 * A multicast underlay: three uvale daemons in network namespaces (as root),
 * each with `vxlan:vni=42,local=ADDR,group=239.1.1.42,dev=ul` and a TAP host,
 * on one Linux bridge (IGMP snooping off, so the group reaches every port):
 *
 *   vymh1 ─ TAP ═ daemon (vym1, 10.250.10.1) ─┐
 *   vymh2 ─ TAP ═ daemon (vym2, 10.250.10.2) ─┼─ bridge in vymu
 *   vymh3 ─ TAP ═ daemon (vym3, 10.250.10.3) ─┘
 *
 * No daemon names another: floods go once to the group, each daemon learns
 * the others' addresses from what arrives, and known unicast then goes to
 * one peer's own address. Checked: ping between every pair, one datagram per
 * flood (not one per peer), the fdbs (peers' unicast addresses), and the
 * underlay seen by tshark (destination 239.1.1.42 for floods).
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { AdapterInfo, FdbInfo } from '../../src/control/types.js';
import { spawnDaemon, tempRunDir, uvale } from '../helpers/daemon.js';
import { Cleanup, ip, netSkipReason, nsRun, PID_TAG, type RunResult, sh, startTshark, stopChild } from '../tap/net.js';

const skip = netSkipReason(['ping']);
const GROUP = '239.1.1.42';
const N = [1, 2, 3] as const;

if (skip !== null) {
  test('multicast underlay', { skip }, () => {});
} else {
  describe('three uvale daemons on one multicast group', () => {
    const ns = (s: string): string => `vym${s}-${PID_TAG}`;
    const cleanup = new Cleanup();
    const children: ChildProcess[] = [];
    const rd = N.map((i) => tempRunDir(`vym${i}`));
    const ctl = (i: number, ...args: string[]): Promise<RunResult> =>
      uvale(['ctl', ...args, '--dir', (rd[i - 1] as { dir: string }).dir]);
    const under = (i: number): string => `10.250.10.${i}`;
    const host = (i: number): string => `10.199.40.${i}`;
    const info = async (i: number): Promise<AdapterInfo> => {
      const r = await ctl(i, '--adapters', 'vxlan', '--json');
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as AdapterInfo[])[0] as AdapterInfo;
    };

    before(async () => {
      for (const r of rd) cleanup.add(r.cleanup);
      const all = ['u', ...N.map(String), ...N.map((i) => `h${i}`)];
      for (const s of all) {
        cleanup.netns(ns(s));
        ip('netns', 'add', ns(s));
        ip('-n', ns(s), 'link', 'set', 'lo', 'up');
        sh(['ip', 'netns', 'exec', ns(s), 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'], { ok: true });
        sh(['ip', 'netns', 'exec', ns(s), 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'], { ok: true });
      }
      ip('-n', ns('u'), 'link', 'add', 'ubr', 'type', 'bridge', 'mcast_snooping', '0');
      ip('-n', ns('u'), 'link', 'set', 'ubr', 'up');
      for (const i of N) {
        ip('link', 'add', 'ul', 'netns', ns(String(i)), 'type', 'veth', 'peer', 'name', `u${i}`, 'netns', ns('u'));
        ip('-n', ns('u'), 'link', 'set', `u${i}`, 'master', 'ubr', 'up');
        ip('-n', ns(String(i)), 'addr', 'add', `${under(i)}/24`, 'dev', 'ul');
        ip('-n', ns(String(i)), 'link', 'set', 'ul', 'up');
        children.push(await spawnDaemon((rd[i - 1] as { dir: string }).dir, [], ns(String(i))));
        let r = await ctl(i, '-a', `valem:vx=vxlan:vni=42,local=${under(i)},group=${GROUP},dev=ul`);
        assert.equal(r.code, 0, r.stderr);
        r = await ctl(i, '-a', `valem:vymt${i}`);
        assert.equal(r.code, 0, r.stderr);
        ip('-n', ns(String(i)), 'link', 'set', `vymt${i}`, 'netns', ns(`h${i}`));
        ip('-n', ns(`h${i}`), 'addr', 'add', `${host(i)}/24`, 'dev', `vymt${i}`);
        ip('-n', ns(`h${i}`), 'link', 'set', `vymt${i}`, 'mtu', '1450', 'up');
      }
      cleanup.add(async () => {
        for (const i of N) await ctl(i, '--shutdown');
        await Promise.all(children.map((c) => stopChild(c)));
      });
    });

    after(() => cleanup.run());

    test('every pair pings; each flood is one datagram to the group', async () => {
      const before = await info(1);
      // host 1's first ping to host 2 starts with an ARP broadcast: one datagram, to the group
      let r = await nsRun(ns('h1'), ['ping', '-c', '3', '-i', '0.2', '-W', '2', host(2)], 20_000);
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      const after = await info(1);
      assert.equal(after.counters.inDrops, 0);
      // frames out of port 1: 1 ARP request (flood) + 3 echo requests (unicast) + at most 1 ARP reply
      const out = after.counters.outFrames - before.counters.outFrames;
      const dg = (after.extra.datagramsOut as number) - (before.extra.datagramsOut as number);
      assert.ok(out >= 4, `${out} frames out`);
      assert.equal(dg, out, 'one datagram per frame: floods once to the group, not once per peer');
      for (const [a, b] of [
        [1, 3],
        [2, 3],
        [3, 1],
      ] as const) {
        r = await nsRun(ns(`h${a}`), ['ping', '-c', '3', '-i', '0.2', '-W', '2', host(b)], 20_000);
        assert.equal(r.code, 0, `h${a} -> h${b}: ${r.stdout}${r.stderr}`);
      }
      assert.equal((await info(2)).counters.inDrops, 0);
    });

    test('each daemon learned the other hosts behind the other daemons’ own addresses', async () => {
      const macs = N.map(
        (i) =>
          (
            JSON.parse(sh(['ip', '-n', ns(`h${i}`), '-j', 'link', 'show', `vymt${i}`]).stdout) as Array<{
              address: string;
            }>
          )[0]?.address,
      );
      for (const i of N) {
        const r = await ctl(i, '--fdb', 'valem:vx', '--json');
        assert.equal(r.code, 0, r.stderr);
        const e = JSON.parse(r.stdout) as FdbInfo[];
        for (const j of N) {
          if (j === i) continue;
          assert.ok(
            e.some((x) => x.mac === macs[j - 1] && x.remote === `${under(j)}:4789`),
            `daemon ${i}: host ${j} behind ${under(j)}: ${r.stdout}`,
          );
        }
        assert.ok(!e.some((x) => x.remote.startsWith(GROUP)), 'nothing is learned behind the group');
      }
    });

    test('tshark: floods go to the group, unicast to a peer', {
      skip: netSkipReason(['tshark']) ?? false,
    }, async () => {
      sh(['ip', '-n', ns('h1'), 'neigh', 'flush', 'all']);
      const cap = await startTshark(
        ns('u'),
        [
          ...['-l', '-i', 'ubr', '-a', 'duration:20', '-c', '40'],
          ...['-d', 'udp.port==4789,vxlan', '-Y', 'vxlan', '-T', 'fields', '-e', 'ip.dst', '-e', 'vxlan.vni'],
        ],
        children,
      );
      await new Promise((r) => setTimeout(r, 1000));
      // twice, the second time with an empty ARP cache (a broadcast) well after tshark started
      for (let k = 0; k < 2; k++) {
        sh(['ip', '-n', ns('h1'), 'neigh', 'flush', 'all']);
        await nsRun(ns('h1'), ['ping', '-c', '2', '-i', '0.2', '-W', '2', host(3)]);
      }
      const rows = await cap.rows(1500);
      const out = cap.text();
      assert.ok(rows.length >= 4, out);
      assert.ok(
        rows.some((r) => r[0]?.split(',')[0] === GROUP),
        `a flood to the group: ${out}`,
      );
      assert.ok(
        rows.some((r) => r[0]?.split(',')[0] === under(3)),
        `unicast to daemon 3: ${out}`,
      );
      for (const r of rows) assert.equal(r[1], '42');
    });
  });
}
