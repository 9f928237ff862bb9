/*
 * TAP interfaces attached through the daemon (`uvale ctl -a`), as hosts in
 * network namespaces: ARP and ping between them, broadcast, a capture port,
 * iperf3, jumbo frames, offloads (64 KB TCP segments across the switch, and
 * segmented for a host without offloads), a vde_plug host next to a TAP host,
 * two switches joined by `uvale bridge`, and the faults (a TAP deleted under
 * the daemon, attaching what is not a TAP).
 *
 * Each host is made the way the daemon is meant to be used: the TAP is
 * created in the root namespace by `uvale ctl -a SWITCH:TAP`, then moved into
 * the host's namespace, addressed and brought up there; the daemon keeps
 * serving its fd (docs/wire-formats.md, TAP file descriptors).
 *
 * Needs root, /dev/net/tun, ip and ping (iperf3 for one test); skipped with
 * the reason otherwise (CI runs as root and installs them). Every group uses
 * its own run directory and namespaces named uvt-<pid>-hN, and removes them,
 * its children and its daemon in after(), whatever happened.
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, tempRunDir, until, uvale, waitPort } from '../helpers/daemon.js';
import { Cleanup, ip, linkExists, netSkipReason, nsRun, PID_TAG, type RunResult, sh, stopChild } from './net.js';

const skip = netSkipReason(['ping']);
const noIperf = netSkipReason(['iperf3']);
const noVdePlug = netSkipReason(['vde_plug']);
const BRIDGE_TOOL = fileURLToPath(new URL('../../src/tools/bridge/main.js', import.meta.url));
const SUBNET = '10.199.7';

let tapSeq = 0;
let nsSeq = 0;

interface NetHost {
  ns: string;
  tap: string;
  addr: string;
  port: string;
}

/** A network of hosts on the switches of one daemon (its own run directory), and its cleanup. */
class Net {
  readonly dir: string;
  readonly hosts: NetHost[] = [];
  readonly cleanup = new Cleanup();
  private readonly children: ChildProcess[] = [];

  constructor(tag: string) {
    const t = tempRunDir(tag);
    this.dir = t.dir;
    // registered first, so it runs last: the daemon is gone by then
    this.cleanup.add(t.cleanup);
    this.cleanup.add(() => this.shutdown());
  }

  /** Attaches a new TAP to `sw` through the daemon and makes it host N's interface, at SUBNET.N. */
  async addHost(sw: string, n: number, mtu = 1500, ctlArgs: string[] = []): Promise<NetHost> {
    const tap = `v${PID_TAG}${(++tapSeq).toString(36)}`;
    const ns = `uvt-${process.pid}-h${++nsSeq}`;
    const port = `${sw}:${tap}`;
    const r = await this.ctl('-a', port, ...ctlArgs);
    assert.equal(r.code, 0, `ctl -a ${port}: ${r.stderr}`);
    this.cleanup.netns(ns);
    ip('netns', 'add', ns);
    ip('link', 'set', tap, 'netns', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${SUBNET}.${n}/24`, 'dev', tap);
    ip('-n', ns, 'link', 'set', tap, 'mtu', String(mtu), 'up');
    const h = { ns, tap, addr: `${SUBNET}.${n}`, port };
    this.hosts.push(h);
    return h;
  }

  ctl(...args: string[]): Promise<RunResult> {
    return uvale(['ctl', ...args, '--dir', this.dir], { timeoutMs: 15_000 });
  }

  /** Starts `uvale ARGS --dir DIR` in the background; stopped by cleanup. */
  spawnUvale(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
    const child = spawn(process.execPath, [BIN, ...args, '--dir', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (err += d));
    return { child, out: () => out, err: () => err };
  }

  /** Starts `args` in namespace `ns` in the background; stopped by cleanup. */
  spawnIn(ns: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: 'ignore' });
    this.children.push(child);
    return child;
  }

  daemonLog(): string {
    try {
      return readFileSync(`${this.dir}/uvale.log`, 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops our children, then the daemon (ctl --shutdown), and waits for it to exit. */
  private async shutdown(): Promise<void> {
    await Promise.all(this.children.map((c) => stopChild(c)));
    let pid = 0;
    try {
      pid = Number(readFileSync(`${this.dir}/uvale.lock`, 'utf8'));
    } catch {
      return; // no daemon ever ran here
    }
    await this.ctl('--shutdown');
    if (pid > 0) await until(() => !alive(pid), 10_000, `daemon ${pid} to exit`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs iperf3 from `from` to a server on `to` (started here); returns its JSON report. */
async function iperf3(
  net: Net,
  from: NetHost,
  to: NetHost,
  port: number,
  args: string[],
): Promise<Record<string, unknown>> {
  net.spawnIn(to.ns, ['iperf3', '-s', '-p', String(port)]);
  let last: RunResult = { code: null, stdout: '', stderr: '' };
  for (let i = 0; i < 20; i++) {
    last = await nsRun(from.ns, ['iperf3', '-c', to.addr, '-p', String(port), '-t', '2', '-J', ...args], 20_000);
    // iperf3 -J reports a server not listening yet in its JSON, sometimes with exit code 0
    if (!/refused|busy/i.test(last.stdout + last.stderr)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(last.code, 0, `iperf3 ${args.join(' ')}: ${last.stdout.slice(0, 2000)}${last.stderr}`);
  const j = JSON.parse(last.stdout) as Record<string, unknown>;
  assert.equal(j.error, undefined, String(j.error));
  return j;
}

interface TcpReport {
  end: { sum_received: { bits_per_second: number; bytes: number } };
}
interface UdpReport {
  end: { sum: { bits_per_second: number; lost_percent: number; packets: number } };
}

/** ping from `from` to `addr`; asserts every probe was answered. */
async function ping(from: NetHost, addr: string, extra: string[] = []): Promise<string> {
  const r = await nsRun(from.ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', ...extra, addr], 20_000);
  assert.equal(r.code, 0, `ping ${from.addr} -> ${addr}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, / 3 received/);
  return r.stdout;
}

if (skip !== null) {
  test('TAP hosts in network namespaces', { skip }, () => {});
} else {
  describe('three hosts on one switch, through the daemon', () => {
    const net = new Net('tapns');
    let h1: NetHost;
    let h2: NetHost;
    let h3: NetHost;
    before(async () => {
      h1 = await net.addHost('vale0', 1);
      h2 = await net.addHost('vale0', 2);
      h3 = await net.addHost('vale0', 3);
    });
    after(() => net.cleanup.run());

    test('the TAPs are ports of kind tap on the switch', async () => {
      const r = await net.ctl('--json');
      const { ports } = JSON.parse(r.stdout) as { ports: Array<{ name: string; kind: string }> };
      assert.deepEqual(
        ports.map((p) => [p.name, p.kind]),
        [h1, h2, h3].map((h) => [h.port, 'tap']),
      );
    });

    test('ARP and ping between every pair', async () => {
      await Promise.all([ping(h1, h2.addr), ping(h1, h3.addr), ping(h2, h3.addr)]);
    });

    test('a broadcast reaches every host; a capture port sees the flooded frames', async () => {
      const cap = net.spawnUvale(['tcpdump', '-n', '-i', 'vale0:cap']);
      await waitPort(net.dir, 'vale0:cap');
      for (const h of [h1, h2, h3]) ip('-n', h.ns, 'neigh', 'flush', 'all');
      for (const h of [h2, h3]) {
        sh(['ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_broadcasts=0']);
      }
      const r = await nsRun(h1.ns, ['ping', '-b', '-c', '2', '-i', '0.2', '-W', '2', `${SUBNET}.255`], 20_000);
      assert.match(r.stdout, new RegExp(`from ${h2.addr.replaceAll('.', '\\.')}:`), r.stdout);
      assert.match(r.stdout, new RegExp(`from ${h3.addr.replaceAll('.', '\\.')}:`), r.stdout);
      await ping(h2, h3.addr);
      const esc = (s: string): string => s.replaceAll('.', '\\.');
      await until(
        () => cap.out().includes(`who-has ${h3.addr} tell ${h2.addr}`),
        5000,
        `the capture to show h2's ARP request:\n${cap.out()}`,
      );
      await stopChild(cap.child);
      const out = cap.out();
      assert.match(out, new RegExp(`${esc(h1.addr)} > ${esc(SUBNET)}\\.255: ICMP echo request`), out);
      assert.match(out, new RegExp(`ARP, Request who-has ${esc(h1.addr)} tell ${esc(h2.addr)}`), out);
      assert.doesNotMatch(out, new RegExp(`${esc(h2.addr)} > ${esc(h3.addr)}: ICMP`), 'known unicast is not flooded');
    });

    test('iperf3 TCP and UDP between two hosts', { skip: noIperf ?? false }, async (t) => {
      const tcp = (await iperf3(net, h1, h2, 5201, [])) as unknown as TcpReport;
      const tcpBps = tcp.end.sum_received.bits_per_second;
      assert.ok(tcpBps > 0, 'TCP moved data');
      const udp = (await iperf3(net, h1, h2, 5201, ['-u', '-b', '200M'])) as unknown as UdpReport;
      assert.ok(udp.end.sum.bits_per_second > 0, 'UDP moved data');
      t.diagnostic(
        `TCP ${(tcpBps / 1e9).toFixed(2)} Gbit/s; UDP at 200 Mbit/s offered: ` +
          `${(udp.end.sum.bits_per_second / 1e6).toFixed(0)} Mbit/s, ${udp.end.sum.lost_percent.toFixed(2)}% lost`,
      );
    });

    test('MTU 9000: a jumbo ping with DF set crosses the switch as fragment chains', async () => {
      for (const h of [h1, h2]) ip('-n', h.ns, 'link', 'set', h.tap, 'mtu', '9000');
      try {
        await ping(h1, h2.addr, ['-s', '8972', '-M', 'do']);
      } finally {
        for (const h of [h1, h2]) ip('-n', h.ns, 'link', 'set', h.tap, 'mtu', '1500');
      }
    });

    // last: it takes h3 away
    test('a TAP deleted under the daemon is detached with a logged reason; the others still forward', async () => {
      ip('-n', h3.ns, 'link', 'del', h3.tap);
      await until(async () => !(await net.ctl()).stdout.includes(h3.port), 5000, `${h3.port} to leave the switch`);
      assert.match(net.daemonLog(), new RegExp(`${h3.port}: detached: interface ${h3.tap} gone \\(read: EBADFD`));
      await ping(h1, h2.addr);
      const r = await net.ctl('-d', h3.port);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /VALE_ERR_NOT_FOUND/);
    });
  });

  describe('offloads: 64 KB TCP segments across the switch, segmented for a host without offloads', () => {
    const net = new Net('tapoff');
    let h1: NetHost;
    let h2: NetHost;
    let h3: NetHost;
    before(async () => {
      h1 = await net.addHost('vale0', 1);
      h2 = await net.addHost('vale0', 2);
      h3 = await net.addHost('vale0', 3, 1500, ['--no-offload']);
    });
    after(() => net.cleanup.run());

    /** The counters of every port, by name. */
    const counters = async (): Promise<Map<string, Record<string, number>>> => {
      const st = JSON.parse((await net.ctl('--stats', '--json')).stdout) as {
        switches: Array<{ ports: Array<{ name: string; counters: Record<string, number> }> }>;
      };
      return new Map(st.switches.flatMap((s) => s.ports).map((p) => [p.name, p.counters]));
    };
    const delta = (a: Record<string, number>, b: Record<string, number>, k: string): number =>
      (b[k] as number) - (a[k] as number);

    test('ctl -g shows the 12-byte virtio-net header of a TAP with offloads, none without, and the I/O path', async () => {
      for (const [h, len] of [
        [h1, 12],
        [h3, 0],
      ] as const) {
        const g = JSON.parse((await net.ctl('-g', h.port, '--json')).stdout) as { vnet_hdr_len: number; io: string };
        assert.equal(g.vnet_hdr_len, len, h.port);
        assert.equal(g.io, 'uring', `${h.port}: TAPs use io_uring by default (docs/io-uring.md)`);
      }
    });

    test('between two hosts with offloads, TCP crosses in frames far larger than the MTU', {
      skip: noIperf ?? false,
    }, async (t) => {
      const before = await counters();
      const r = (await iperf3(net, h1, h2, 5202, [])) as unknown as TcpReport;
      const after = await counters();
      const b1 = before.get(h1.port) as Record<string, number>;
      const a1 = after.get(h1.port) as Record<string, number>;
      const avg = delta(b1, a1, 'txBytes') / delta(b1, a1, 'txPackets');
      assert.ok(avg > 4000, `h1 sent ${avg.toFixed(0)} bytes per frame on average: TSO segments crossed whole`);
      assert.equal(delta(b1, a1, 'dropOffload'), 0);
      t.diagnostic(
        `TCP ${(r.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s, ${avg.toFixed(0)} B per frame`,
      );
    });

    test('TCP both ways and UDP between a host with offloads and one without: the switch segments and checksums', {
      skip: noIperf ?? false,
    }, async (t) => {
      const before = await counters();
      const up = (await iperf3(net, h1, h3, 5203, [])) as unknown as TcpReport;
      const down = (await iperf3(net, h1, h3, 5203, ['-R'])) as unknown as TcpReport;
      // UDP with checksum offload: h3's kernel drops any datagram whose checksum the switch got wrong
      const udp = (await iperf3(net, h1, h3, 5203, ['-u', '-b', '100M', '-l', '1400'])) as unknown as UdpReport;
      const after = await counters();
      const b1 = before.get(h1.port) as Record<string, number>;
      const a1 = after.get(h1.port) as Record<string, number>;
      const b3 = before.get(h3.port) as Record<string, number>;
      const a3 = after.get(h3.port) as Record<string, number>;
      assert.ok(up.end.sum_received.bytes > 1e6 && down.end.sum_received.bytes > 1e6, 'TCP moved data both ways');
      assert.ok(udp.end.sum.lost_percent < 5, `UDP lost ${udp.end.sum.lost_percent}% (bad checksums are dropped)`);
      const rxAvg = delta(b3, a3, 'rxBytes') / delta(b3, a3, 'rxPackets');
      assert.ok(rxAvg <= 1514, `h3 (no offloads) got ${rxAvg.toFixed(0)} bytes per frame: only MTU-sized frames`);
      const txAvg = delta(b1, a1, 'txBytes') / delta(b1, a1, 'txPackets');
      assert.ok(
        txAvg > 1526,
        `h1 sent ${txAvg.toFixed(0)} bytes per frame: larger than MTU + header, so they were segmented`,
      );
      assert.equal(delta(b1, a1, 'dropOffload'), 0);
      t.diagnostic(
        `TCP h1->h3 ${(up.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s, ` +
          `h3->h1 ${(down.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s; UDP lost ${udp.end.sum.lost_percent.toFixed(2)}%`,
      );
    });
  });

  describe('a VDE client and a TAP host on one switch', { skip: noVdePlug ?? false }, () => {
    const net = new Net('tapvde');
    after(() => net.cleanup.run());

    test("vde_plug joins the daemon's VDE switch with a TAP in a namespace; it and a TAP host ping each other", async () => {
      // the daemon serves the VDE join protocol on vale0 (uvale daemon --vde DIR:SWITCH)
      const vdeDir = `${net.dir}/vde`;
      const d = net.spawnUvale(['daemon', '--vde', `${vdeDir}:vale0`]);
      await until(() => existsSync(`${vdeDir}/ctl`), 10_000, `the VDE switch in ${vdeDir}:\n${d.err()}`);
      const h1 = await net.addHost('vale0', 1);
      // host 2 is plain VDE: vde_plug in its namespace between the switch and a tap it creates there
      const ns = `uvt-${process.pid}-vde`;
      const tap = `vp${PID_TAG}`;
      net.cleanup.netns(ns);
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      net.spawnIn(ns, ['vde_plug', `vde://${vdeDir}`, `tap://${tap}`]);
      await until(() => linkExists(tap, ns), 10_000, `vde_plug to create ${tap} in ${ns}`);
      ip('-n', ns, 'addr', 'add', `${SUBNET}.2/24`, 'dev', tap);
      ip('-n', ns, 'link', 'set', tap, 'up');
      const h2: NetHost = { ns, tap, addr: `${SUBNET}.2`, port: '' };
      await ping(h1, h2.addr);
      await ping(h2, h1.addr);
      const { ports } = JSON.parse((await net.ctl('--json')).stdout) as {
        ports: Array<{ name: string; kind: string }>;
      };
      assert.deepEqual(
        ports.map((p) => p.kind).sort(),
        ['tap', 'vde'],
        `the switch has the TAP and the VDE client: ${JSON.stringify(ports)}`,
      );
    });
  });

  describe('uvale ctl -a / -d', () => {
    const net = new Net('tapctl');
    after(() => net.cleanup.run());

    test('attach creates the TAP and keeps an auto-started daemon up; detach removes it', async () => {
      const tap = `v${PID_TAG}${(++tapSeq).toString(36)}`;
      net.cleanup.link(tap);
      const a = await net.ctl('-a', `vale0:${tap}`);
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stdout, new RegExp(`vale0:${tap} attached, port_idx 0`));
      assert.ok(linkExists(tap));
      const pid = Number(readFileSync(`${net.dir}/uvale.lock`, 'utf8'));
      // the daemon's idle exit is 2 s: with a TAP attached it must not go
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(alive(pid), 'the daemon stays while a TAP is attached');
      assert.match((await net.ctl()).stdout, new RegExp(`vale0:${tap} bridge_idx 0 port_idx 0`));
      const twice = await net.ctl('-a', `vale0:${tap}`);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /already attached.*VALE_ERR_BUSY/);
      const other = await net.ctl('-a', `vale1:${tap}`);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /VALE_ERR_BUSY/);
      const d = await net.ctl('-d', `vale0:${tap}`);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(linkExists(tap), false, 'the TAP the daemon created is gone');
      const again = await net.ctl('-d', `vale0:${tap}`);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /VALE_ERR_NOT_FOUND/);
      await until(() => !alive(pid), 8000, 'the idle daemon to exit once nothing is attached');
    });

    test('what is not a TAP is refused clearly; a persistent TAP stays after detach', async () => {
      const lo = await net.ctl('-a', 'vale0:lo');
      assert.equal(lo.code, 1);
      assert.match(lo.stderr, /interface lo exists and is not a TAP device.*VALE_ERR_INVALID_ARG/);
      const noSwitch = await net.ctl('-a', 'vale0');
      assert.equal(noSwitch.code, 1);
      assert.match(noSwitch.stderr, /VALE_ERR_INVALID_NAME/);
      const tap = `p${PID_TAG}${(++tapSeq).toString(36)}`;
      ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
      net.cleanup.link(tap);
      assert.equal((await net.ctl('-a', `vale0:${tap}`)).code, 0);
      assert.equal((await net.ctl('-d', `vale0:${tap}`)).code, 0);
      assert.ok(linkExists(tap), 'a TAP the daemon did not create is left in place');
    });
  });

  describe('two switches joined by uvale bridge', () => {
    const missing = existsSync(BRIDGE_TOOL) ? null : 'uvale bridge (src/tools/bridge) is not there yet';
    const net = new Net('tapbr');
    after(() => net.cleanup.run());

    test('ping crosses vale1 -> bridge -> vale2; a capture on a third port sees the flood', {
      skip: missing ?? false,
    }, async () => {
      const h4 = await net.addHost('vale1', 4);
      const h5 = await net.addHost('vale2', 5);
      const br = net.spawnUvale(['bridge', '-i', 'vale1:up', '-i', 'vale2:up']);
      await until(() => br.err().includes('ready'), 10_000, `uvale bridge to start: ${br.err()}`);
      const cap = net.spawnUvale(['tcpdump', '-n', '-i', 'vale2:cap']);
      await waitPort(net.dir, 'vale2:cap');
      await ping(h4, h5.addr);
      await until(() => cap.out().includes(`who-has ${h5.addr} tell ${h4.addr}`), 5000, 'the ARP request on vale2');
      await stopChild(br.child);
      assert.match(br.out(), /vale1:up --> vale2:up: [1-9]\d* packets/);
    });
  });
}
