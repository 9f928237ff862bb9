/*
 * vxlan-tcp, vxlan-rtt, vxlan-60: two machines (network namespaces) joined
 * by VXLAN on a veth underlay, uvale on both sides, and the same with the
 * Linux kernel's vxlan device + bridge on both sides, built once and measured
 * round by round with the same commands:
 *
 *   uvale   [h1 TAP] ─ daemon A (ns xa) ═ veth 10.250.7.1 ─ 10.250.7.2 ═ daemon B (ns xb) ─ [TAP h2]
 *           10.199.20.1    switch vale-x: vx=vxlan:vni=42 + the TAP                 10.199.20.2
 *                          switch vale-y: vx=vxlan:vni=43 on port 4790 + pkt-gen ports (vxlan-60)
 *   Linux   [h1 veth] ─ bridge + vxlan id 42 (ns la) ═ veth 10.250.8.1 ─ 10.250.8.2 ═ (ns lb) ─ [veth h2]
 *           10.199.21.1                                                                   10.199.21.2
 *
 * Hosts have MTU 1450 (1500 minus VXLAN's 50) on both sides; offloads stay
 * at their defaults (the TAPs as the daemons configure them). IPv6 is off in
 * every namespace so that nothing but the measured traffic crosses.
 *
 *   vxlan-tcp  iperf3 -c H2 -t SECS -J from host 1: the receiver's goodput, Gbit/s
 *   vxlan-rtt  ping -c 100*SECS -i 0.01 H2 (./ping.ts): the average round trip, ms (details: per-ping p50, p90)
 *   vxlan-60   `uvale pkt-gen -f rx -N -T 250` on vale-y:r of daemon B, then
 *              `uvale pkt-gen -f tx -l 60 -D 02:00:00:00:00:02` on vale-y:g of
 *              daemon A (an unknown unicast MAC: each switch floods it to its
 *              one other port, the tunnel port floods it to its one remote);
 *              frames/s the receiver counted over SECS seconds after a 1 s
 *              warm-up. No reference: Linux has no pkt-gen, and its own
 *              small-frame rate is bound by the sender's one sendto per
 *              datagram (BENCHMARKS.md); the goal is absolute (1 M frames/s).
 *
 * Details kept per run: both daemons' share of a core, the tunnel ports'
 * datagrams and stalls for vxlan-60, iperf3's retransmits, ping's spread.
 * UVALE_BENCH_PROF=DIR runs both daemons under `node --cpu-prof` into DIR
 * (profiles are written when the clean-up stops them; see
 * bench/profile-summary.ts).
 */

import { DaemonClient } from '../../src/index.js';
import { BIN } from '../children.js';
import type { E2eFigure } from '../figures.js';
import type { E2eBench, Measurement, Outcome, System } from './e2e.js';
import { pingRtt } from './ping.js';
import {
  type Child,
  cleanup,
  cpuSecs,
  type Daemon,
  missing,
  run,
  sh,
  sleep,
  start,
  startDaemon,
  stop,
  until,
} from './procs.js';

const NS_PREFIX = 'uvb-';
const REPORT = / (\d+) pps \((\d+) pkts (\d+) bps in (\d+) usec\)/;
const HOST_MTU = '1450';

interface Hosts {
  ns1: string;
  ns2: string;
  addr2: string;
  server: Child | null;
}

type Obj = Record<string, unknown>;
const num = (o: unknown, ...path: string[]): number => {
  let v: unknown = o;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Obj)[p] : undefined;
  return typeof v === 'number' ? v : Number.NaN;
};

function newNs(ns: string): void {
  cleanup.netns(ns);
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  for (const k of ['all', 'default']) {
    sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`], true);
  }
}

/** A veth pair between two namespaces, each end addressed and up. */
function underlay(nsA: string, nsB: string, a: string, b: string): void {
  sh(['ip', 'link', 'add', 'xu', 'netns', nsA, 'type', 'veth', 'peer', 'name', 'xu', 'netns', nsB]);
  sh(['ip', '-n', nsA, 'addr', 'add', `${a}/24`, 'dev', 'xu']);
  sh(['ip', '-n', nsB, 'addr', 'add', `${b}/24`, 'dev', 'xu']);
  sh(['ip', '-n', nsA, 'link', 'set', 'xu', 'up']);
  sh(['ip', '-n', nsB, 'link', 'set', 'xu', 'up']);
}

/** Interface `ifname` of namespace `from` becomes host `ns`'s, with `addr`/24 and the tunnel's inner MTU. */
function hostIf(from: string, ifname: string, ns: string, addr: string): void {
  sh(['ip', '-n', from, 'link', 'set', ifname, 'netns', ns]);
  sh(['ip', '-n', ns, 'addr', 'add', `${addr}/24`, 'dev', ifname]);
  sh(['ip', '-n', ns, 'link', 'set', ifname, 'mtu', HOST_MTU, 'up']);
}

export class VxlanBench implements E2eBench {
  private readonly daemons: Daemon[] = [];
  private readonly hosts: Partial<Record<System, Hosts>> = {};

  constructor(private readonly secs: number) {}

  skip(): string | null {
    if (process.platform !== 'linux') return 'Linux only';
    if (process.getuid?.() !== 0) return 'needs root (TAP devices and network namespaces)';
    const tools = missing(['ip']);
    if (tools !== null) return tools;
    const probe = `${NS_PREFIX}${process.pid}-xprobe`;
    const r = sh(['ip', 'netns', 'add', probe], true);
    if (r.code !== 0) return `network namespaces are unavailable here (ip netns add: ${r.stderr.trim()})`;
    sh(['ip', 'netns', 'del', probe], true);
    return null;
  }

  systems(f: E2eFigure): readonly System[] {
    return f.name === 'vxlan-60' ? ['uvale'] : ['uvale', 'ref'];
  }

  async setup(figures: readonly E2eFigure[]): Promise<string | null> {
    const ns = (s: string): string => `${NS_PREFIX}${process.pid}-${s}`;
    for (const s of ['xa', 'xb', 'x1', 'x2']) newNs(ns(s));
    underlay(ns('xa'), ns('xb'), '10.250.7.1', '10.250.7.2');
    const prof = process.env.UVALE_BENCH_PROF;
    const node = prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`];
    const sides = [
      { ns: ns('xa'), host: ns('x1'), me: '10.250.7.1', peer: '10.250.7.2', h: '10.199.20.1', gen: 'g' },
      { ns: ns('xb'), host: ns('x2'), me: '10.250.7.2', peer: '10.250.7.1', h: '10.199.20.2', gen: 'r' },
    ];
    for (const [i, side] of sides.entries()) {
      const d = await startDaemon(`vx${i}`, side.ns, node);
      this.daemons.push(d);
      const c = await DaemonClient.connect({ dir: d.dir, autostart: false });
      try {
        await c.request('attach', { name: `vale-x:vx=vxlan:vni=42,local=${side.me},remote=${side.peer},tso` });
        await c.request('attach', { name: 'vale-x:xt' });
        hostIf(side.ns, 'xt', side.host, side.h);
        if (figures.some((f) => f.name === 'vxlan-60')) {
          await c.request('attach', {
            name: `vale-y:vx=vxlan:vni=43,local=${side.me}:4790,remote=${side.peer}:4790`,
          });
        }
      } finally {
        c.close();
      }
    }
    this.hosts.uvale = { ns1: ns('x1'), ns2: ns('x2'), addr2: '10.199.20.2', server: null };
    await this.connected('uvale');

    let refSkip: string | null = null;
    try {
      for (const s of ['la', 'lb', 'l1', 'l2']) newNs(ns(s));
      underlay(ns('la'), ns('lb'), '10.250.8.1', '10.250.8.2');
      for (const [n, me, peer, host, h] of [
        [ns('la'), '10.250.8.1', '10.250.8.2', ns('l1'), '10.199.21.1'],
        [ns('lb'), '10.250.8.2', '10.250.8.1', ns('l2'), '10.199.21.2'],
      ] as const) {
        const vx = ['vxlan', 'id', '42', 'local', me, 'remote', peer, 'dstport', '4789', 'dev', 'xu'];
        sh(['ip', '-n', n, 'link', 'add', 'vx0', 'type', ...vx]);
        sh(['ip', '-n', n, 'link', 'add', 'br0', 'type', 'bridge']);
        sh(['ip', '-n', n, 'link', 'set', 'vx0', 'master', 'br0', 'up']);
        sh(['ip', '-n', n, 'link', 'add', 'xh', 'type', 'veth', 'peer', 'name', 'xhb']);
        sh(['ip', '-n', n, 'link', 'set', 'xhb', 'master', 'br0', 'up']);
        sh(['ip', '-n', n, 'link', 'set', 'br0', 'up']);
        hostIf(n, 'xh', host, h);
      }
      this.hosts.ref = { ns1: ns('l1'), ns2: ns('l2'), addr2: '10.199.21.2', server: null };
      await this.connected('ref');
    } catch (e) {
      refSkip = `cannot build the Linux vxlan reference: ${(e as Error).message}`;
      delete this.hosts.ref;
    }

    if (figures.some((f) => f.needs.includes('iperf3'))) {
      for (const s of ['uvale', 'ref'] as const) {
        const h = this.hosts[s];
        if (h !== undefined) h.server = start(['ip', 'netns', 'exec', h.ns2, 'iperf3', '-s']);
      }
    }
    return refSkip;
  }

  /** Pings host 2 from host 1 until it answers, at most ~10 s. */
  private async connected(s: System): Promise<void> {
    const h = this.hosts[s] as Hosts;
    let last = '';
    for (let i = 0; i < 10; i++) {
      const r = await run(['ip', 'netns', 'exec', h.ns1, 'ping', '-c', '1', '-W', '1', h.addr2], 5000);
      if (r.code === 0) return;
      last = `${r.stdout}${r.stderr}`.trim();
    }
    throw new Error(`${s === 'uvale' ? 'uvale' : 'Linux vxlan'}: host 1 cannot ping ${h.addr2}: ${last}`);
  }

  async measure(f: E2eFigure, s: System): Promise<Outcome> {
    const h = this.hosts[s];
    if (h === undefined) return { error: `no ${s} network` };
    const pids = s === 'uvale' ? this.daemons.map((d) => d.child.proc.pid) : [];
    const c0 = pids.map(cpuSecs);
    const t0 = performance.now();
    const result =
      f.name === 'vxlan-tcp' ? await this.tcp(h) : f.name === 'vxlan-rtt' ? await this.rtt(h) : await this.gen();
    const wall = (performance.now() - t0) / 1000;
    if (!('error' in result)) {
      pids.forEach((p, i) => {
        result.detail[i === 0 ? 'daemon_a_cpu' : 'daemon_b_cpu'] = (cpuSecs(p) - (c0[i] as number)) / wall;
      });
    } else {
      const dead = this.daemons.find((d) => d.child.proc.exitCode !== null);
      if (dead !== undefined && s === 'uvale')
        return { error: `${result.error}; a daemon exited: ${dead.log().slice(-400)}` };
    }
    return result;
  }

  private async tcp(h: Hosts): Promise<Outcome> {
    let last = '';
    for (let attempt = 0; attempt < 8; attempt++) {
      const cmd = ['ip', 'netns', 'exec', h.ns1, 'iperf3', '-c', h.addr2, '-t', String(this.secs), '-J'];
      const r = await run(cmd, (this.secs + 30) * 1000);
      const i = r.stdout.indexOf('{');
      let j: Obj | null = null;
      try {
        j = i < 0 ? null : (JSON.parse(r.stdout.slice(i)) as Obj);
      } catch {
        j = null;
      }
      const err = j === null ? `no JSON (exit ${r.code ?? r.signal}): ${r.stderr.trim()}` : j.error;
      if (err === undefined && j !== null) {
        const gbps = num(j, 'end', 'sum_received', 'bits_per_second') / 1e9;
        if (!(gbps > 0)) return { error: 'iperf3 TCP received nothing' };
        return { value: gbps, detail: { retransmits: num(j, 'end', 'sum_sent', 'retransmits') } };
      }
      last = String(err);
      if (!/refused|busy|unable to (connect|receive|send)/i.test(last)) break;
      await sleep(300);
    }
    return { error: `iperf3: ${last.slice(0, 300)}` };
  }

  private async rtt(h: Hosts): Promise<Outcome> {
    return pingRtt(h.ns1, h.addr2, Math.max(50, Math.round(this.secs * 100)));
  }

  /** The tunnel port's extra counters on daemon i. */
  private async tunnel(i: number): Promise<Record<string, number>> {
    const c = await DaemonClient.connect({ dir: (this.daemons[i] as Daemon).dir, autostart: false });
    try {
      const r = await c.request('adapters', { kind: 'vxlan' });
      const a = r.adapters.find((x) => x.name === 'vale-y:vx');
      return a === undefined ? {} : ({ ...a.counters, ...a.extra } as Record<string, number>);
    } catch {
      return {};
    } finally {
      c.close();
    }
  }

  private async portOpen(i: number, name: string): Promise<void> {
    const dir = (this.daemons[i] as Daemon).dir;
    await until(
      async () => {
        const c = await DaemonClient.connect({ dir, autostart: false });
        try {
          const r = (await c.request('list')) as { ports: Array<{ name: string }> };
          return r.ports.some((p) => p.name === name);
        } finally {
          c.close();
        }
      },
      10_000,
      `${name} to open`,
    );
  }

  private async gen(): Promise<Outcome> {
    const [da, db] = this.daemons as [Daemon, Daemon];
    const warmup = 1;
    const rx = start([
      process.execPath,
      BIN,
      'pkt-gen',
      '-i',
      'vale-y:r',
      '-f',
      'rx',
      '-N',
      '-T',
      '250',
      '--dir',
      db.dir,
    ]);
    await this.portOpen(1, 'vale-y:r');
    const before = [await this.tunnel(0), await this.tunnel(1)];
    const tx = start([
      process.execPath,
      BIN,
      'pkt-gen',
      ...['-i', 'vale-y:g', '-f', 'tx', '-l', '60', '-D', '02:00:00:00:00:02', '--dir', da.dir],
    ]);
    const reports = (): string[] =>
      rx
        .err()
        .split('\n')
        .filter((l) => REPORT.test(l));
    const base = reports().length;
    await sleep((warmup + this.secs) * 1000 + 100);
    await Promise.all([stop(tx), stop(rx)]);
    const after = [await this.tunnel(0), await this.tunnel(1)];
    const lines = reports();
    // the receiver started before the generator: the report lines after the generator's warm-up
    const skip = base + Math.ceil((warmup * 1000) / 250) + 1;
    let pkts = 0;
    let usec = 0;
    for (const l of lines.slice(skip, skip + Math.floor((this.secs * 1000) / 250))) {
      const m = REPORT.exec(l) as RegExpExecArray;
      pkts += Number(m[2]);
      usec += Number(m[4]);
    }
    if (usec === 0 || pkts === 0) {
      const counters = JSON.stringify({ a: after[0], b: after[1] });
      return { error: `vxlan-60: nothing received; tunnels ${counters}; tx: ${tx.err().slice(-300)}` };
    }
    const d = (i: number, k: string): number => ((after[i] as Obj)[k] as number) - ((before[i] as Obj)[k] as number);
    const m: Measurement = {
      value: (pkts * 1e6) / usec,
      detail: {
        a_datagrams_out: d(0, 'datagramsOut'),
        a_send_stalls: d(0, 'sendStalls'),
        b_in_frames: d(1, 'inFrames'),
        b_in_drops: d(1, 'inDrops'),
      },
    };
    return m;
  }
}
