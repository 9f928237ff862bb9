/*
 * tap-tcp, tap-udp-60, tap-rtt: two hosts (network namespaces) talking
 * through uvale, and the same two hosts through the Linux bridge, both built
 * once and measured round by round with the same commands:
 *
 *   uvale   uvb-<pid>-u1 [TAP ub<tag>t1] ── uvale daemon, switch vale-b   ── [TAP ub<tag>t2] uvb-<pid>-u2
 *           10.199.10.1                     (TAPs attached with the daemon's          10.199.10.2
 *                                            `attach`, as `uvale ctl -a` does,
 *                                            then moved into the namespaces)
 *   bridge  uvb-<pid>-b1 [veth] ── ub<tag>v1b ─ bridge ub<tag>br ─ ub<tag>v2b ── [veth] uvb-<pid>-b2
 *           10.199.11.1                                                           10.199.11.2
 *
 * Both sides keep their defaults (the veths' offloads on, the TAPs as the
 * daemon configures them); IPv6 is off in the four namespaces so that no
 * router solicitations or DAD cross the switches while measuring.
 *
 *   tap-tcp     iperf3 -c H2 -t SECS -J from host 1 (iperf3 -s on host 2):
 *               the receiver's goodput, Gbit/s
 *   tap-udp-60  iperf3 -c H2 -u -l 18 -b 0 -t SECS -J: 18 B payload + 8 UDP +
 *               20 IP + 14 Ethernet = 60-byte frames, as fast as one sender
 *               can; frames/s received = (packets - lost) / seconds as the
 *               server counted them
 *   tap-rtt     ping -c 100*SECS -i 0.01 H2 (./ping.ts): the average round trip, ms (details: per-ping p50, p90)
 *
 * tap-rtt also measures, in every round, a floor ("wire"): a third pair of
 * hosts (uvb-<pid>-w1/w2, 10.199.12.1/2) on two TAPs joined by
 * bench/c/taprelay.c, a C loop that copies each frame from one TAP fd to the
 * other. Its round trip is what any userspace switch with TAP ports pays here
 * for waking a process twice per ping; it needs cc (else it is left out).
 *
 * Details kept per run: TCP retransmits and both ends' CPU (iperf3's own
 * figures), UDP frames/s sent and loss, ping's min/max/mdev and loss, and for
 * uvale the daemon's share of a core during the run (/proc/PID/stat).
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient } from '../../src/index.js';
import { REPO } from '../children.js';
import type { E2eFigure } from '../figures.js';
import type { E2eBench, Measurement, Outcome, System } from './e2e.js';
import { pingRtt } from './ping.js';
import {
  type Child,
  cleanup,
  cpuShare,
  type Daemon,
  has,
  missing,
  run,
  sh,
  sleep,
  start,
  startDaemon,
  until,
} from './procs.js';

const SWITCH = 'vale-b'; // port names (switch:tap) are at most 15 characters
/** A short tag unique to this process (base 36 of the pid), for interface names of at most 15 bytes. */
const TAG = (process.pid % 46656).toString(36);
const NS_PREFIX = 'uvb-';

interface Hosts {
  ns1: string;
  ns2: string;
  addr2: string;
  server: Child | null;
}

/** Deletes namespaces left by an earlier bench run that was killed (uvb-<pid>-... whose pid is gone). */
function sweepStale(): void {
  const list = sh(['ip', 'netns', 'list'], true).stdout;
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(ns);
    if (m === null) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) sh(['ip', 'netns', 'del', ns], true);
  }
}

/** Moves `ifname` into a new namespace `ns` and gives it `addr`/24; the namespace is deleted by the clean-up. */
function makeHost(ns: string, ifname: string, addr: string): void {
  cleanup.netns(ns);
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'set', ifname, 'netns', ns]);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  for (const k of ['all', 'default']) {
    sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`], true);
  }
  sh(['ip', '-n', ns, 'addr', 'add', `${addr}/24`, 'dev', ifname]);
  sh(['ip', '-n', ns, 'link', 'set', ifname, 'up']);
}

/** Parses iperf3 -J output (anything before the first '{' is a warning). */
function parseIperf(stdout: string): Record<string, unknown> | null {
  const i = stdout.indexOf('{');
  if (i < 0) return null;
  try {
    return JSON.parse(stdout.slice(i)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

type Obj = Record<string, unknown>;
const num = (o: unknown, ...path: string[]): number => {
  let v: unknown = o;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Obj)[p] : undefined;
  return typeof v === 'number' ? v : Number.NaN;
};

export class TapBench implements E2eBench {
  private daemon: Daemon | null = null;
  private readonly hosts: Partial<Record<System, Hosts>> = {};

  constructor(private readonly secs: number) {}

  skip(): string | null {
    if (process.platform !== 'linux') return 'Linux only';
    if (process.getuid?.() !== 0) return 'needs root (TAP devices and network namespaces)';
    if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun on this machine';
    const tools = missing(['ip']);
    if (tools !== null) return tools;
    // a container may be root without the right to make namespaces
    const probe = `${NS_PREFIX}${process.pid}-probe`;
    const r = sh(['ip', 'netns', 'add', probe], true);
    if (r.code !== 0) return `network namespaces are unavailable here (ip netns add: ${r.stderr.trim()})`;
    sh(['ip', 'netns', 'del', probe], true);
    return null;
  }

  systems(f: E2eFigure): readonly System[] {
    return f.name === 'tap-rtt' && this.hosts.wire !== undefined ? ['uvale', 'ref', 'wire'] : ['uvale', 'ref'];
  }

  async setup(figures: readonly E2eFigure[]): Promise<string | null> {
    sweepStale();
    const d = await startDaemon('tap');
    this.daemon = d;
    const ns = (s: string): string => `${NS_PREFIX}${process.pid}-${s}`;

    // uvale: the daemon creates each TAP (as `uvale ctl -a vale-b:TAP`); it is moved into its host's namespace
    const client = await DaemonClient.connect({ dir: d.dir, autostart: false });
    try {
      for (const i of [1, 2]) {
        const tap = `ub${TAG}t${i}`;
        cleanup.link(tap); // in case it is still in the root namespace
        await client.request('attach', { name: `${SWITCH}:${tap}` });
        makeHost(ns(`u${i}`), tap, `10.199.10.${i}`);
      }
    } finally {
      client.close();
    }
    this.hosts.uvale = { ns1: ns('u1'), ns2: ns('u2'), addr2: '10.199.10.2', server: null };
    await this.connected('uvale');

    // the reference: the Linux bridge with a veth pair per host
    let refSkip: string | null = null;
    try {
      const br = `ub${TAG}br`;
      cleanup.link(br);
      sh(['ip', 'link', 'add', br, 'type', 'bridge']);
      sh(['ip', 'link', 'set', br, 'up']);
      for (const i of [1, 2]) {
        const v = `ub${TAG}v${i}`;
        cleanup.link(`${v}b`);
        sh(['ip', 'link', 'add', v, 'type', 'veth', 'peer', 'name', `${v}b`]);
        sh(['ip', 'link', 'set', `${v}b`, 'master', br]);
        sh(['ip', 'link', 'set', `${v}b`, 'up']);
        makeHost(ns(`b${i}`), v, `10.199.11.${i}`);
      }
      this.hosts.ref = { ns1: ns('b1'), ns2: ns('b2'), addr2: '10.199.11.2', server: null };
      await this.connected('ref');
    } catch (e) {
      refSkip = `cannot build the Linux bridge reference: ${(e as Error).message}`;
      delete this.hosts.ref;
    }

    if (figures.some((f) => f.name === 'tap-rtt')) {
      const why = await this.relay(ns);
      if (why !== null) process.stderr.write(`bench: tap-rtt: no relay floor (${why})\n`);
    }

    if (figures.some((f) => f.needs.includes('iperf3'))) {
      for (const s of ['uvale', 'ref'] as const) {
        const h = this.hosts[s];
        if (h !== undefined) h.server = start(['ip', 'netns', 'exec', h.ns2, 'iperf3', '-s']);
      }
    }
    return refSkip;
  }

  /** Two hosts on TAPs joined by bench/c/taprelay.c (the floor for tap-rtt); returns why not, or null. */
  private async relay(ns: (s: string) => string): Promise<string | null> {
    if (!has('cc')) return 'cc is not installed';
    const dir = cleanup.tempDir('taprelay');
    const bin = join(dir, 'taprelay');
    const src = join(REPO, 'bench', 'c', 'taprelay.c');
    const cc = spawnSync('cc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
    if (cc.status !== 0) return `cc -O2 ${src} failed: ${cc.error?.message ?? cc.stderr}`;
    const taps = [`ub${TAG}w1`, `ub${TAG}w2`];
    const r = start([bin, ...taps]);
    try {
      await until(() => r.out().includes('ready') || r.proc.exitCode !== null, 5000, 'taprelay');
      if (r.proc.exitCode !== null) return `taprelay exited: ${r.err().trim()}`;
      for (const i of [1, 2]) makeHost(ns(`w${i}`), taps[i - 1] as string, `10.199.12.${i}`);
      this.hosts.wire = { ns1: ns('w1'), ns2: ns('w2'), addr2: '10.199.12.2', server: null };
      await this.connected('wire');
      return null;
    } catch (e) {
      delete this.hosts.wire;
      return (e as Error).message;
    }
  }

  /** Pings host 2 from host 1 until it answers (ARP learnt on both sides), at most ~10 s. */
  private async connected(s: System): Promise<void> {
    const h = this.hosts[s] as Hosts;
    let last = '';
    for (let i = 0; i < 10; i++) {
      const r = await run(['ip', 'netns', 'exec', h.ns1, 'ping', '-c', '1', '-W', '1', h.addr2], 5000);
      if (r.code === 0) return;
      last = `${r.stdout}${r.stderr}`.trim();
    }
    const who = s === 'uvale' ? 'uvale' : s === 'ref' ? 'Linux bridge' : 'taprelay';
    throw new Error(`${who}: host 1 cannot ping ${h.addr2}: ${last}`);
  }

  async measure(f: E2eFigure, s: System): Promise<Outcome> {
    const h = this.hosts[s];
    if (h === undefined) return { error: `no ${s} network` };
    const pid = s === 'uvale' ? this.daemon?.child.proc.pid : undefined;
    const { result, share } = await cpuShare(pid, () => this.once(f, h));
    if (!('error' in result) && s === 'uvale') result.detail.daemon_cpu = share;
    if ('error' in result && s === 'uvale' && this.daemon !== null && this.daemon.child.proc.exitCode !== null) {
      return { error: `${result.error}; the uvale daemon exited: ${this.daemon.log().slice(-400)}` };
    }
    return result;
  }

  private once(f: E2eFigure, h: Hosts): Promise<Outcome> {
    if (f.name === 'tap-tcp') return this.tcp(h);
    if (f.name === 'tap-udp-60') return this.udp(h);
    return this.rtt(h);
  }

  /** One iperf3 client run from host 1; retried while the server is not up yet. */
  private async iperf(h: Hosts, args: string[]): Promise<Obj | { error: string }> {
    let last = '';
    for (let attempt = 0; attempt < 8; attempt++) {
      const cmd = ['ip', 'netns', 'exec', h.ns1, 'iperf3', '-c', h.addr2, '-t', String(this.secs), '-J', ...args];
      const r = await run(cmd, (this.secs + 30) * 1000);
      const j = parseIperf(r.stdout);
      const err = j === null ? `no JSON (exit ${r.code ?? r.signal}): ${r.stderr.trim()}` : j.error;
      if (err === undefined) return j as Obj;
      last = String(err);
      if (!/refused|busy|unable to (connect|receive|send)/i.test(last)) break;
      await sleep(300);
    }
    return { error: `iperf3 ${args.join(' ')}: ${last.slice(0, 300)}` };
  }

  private async tcp(h: Hosts): Promise<Outcome> {
    const j = await this.iperf(h, []);
    if ('error' in j) return j as { error: string };
    const gbps = num(j, 'end', 'sum_received', 'bits_per_second') / 1e9;
    if (!(gbps > 0)) return { error: 'iperf3 TCP received nothing' };
    const m: Measurement = {
      value: gbps,
      detail: {
        retransmits: num(j, 'end', 'sum_sent', 'retransmits'),
        sender_cpu: num(j, 'end', 'cpu_utilization_percent', 'host_total') / 100,
        receiver_cpu: num(j, 'end', 'cpu_utilization_percent', 'remote_total') / 100,
      },
    };
    return m;
  }

  private async udp(h: Hosts): Promise<Outcome> {
    const j = await this.iperf(h, ['-u', '-l', '18', '-b', '0']);
    if ('error' in j) return j as { error: string };
    const rcvd = num(j, 'end', 'sum_received', 'packets') - num(j, 'end', 'sum_received', 'lost_packets');
    const fps = rcvd / num(j, 'end', 'sum_received', 'seconds');
    if (!(fps > 0)) return { error: 'iperf3 UDP: nothing received' };
    return {
      value: fps,
      detail: {
        sent_fps: num(j, 'end', 'sum_sent', 'packets') / num(j, 'end', 'sum_sent', 'seconds'),
        loss_pct: num(j, 'end', 'sum_received', 'lost_percent'),
        sender_cpu: num(j, 'end', 'cpu_utilization_percent', 'host_total') / 100,
      },
    };
  }

  private async rtt(h: Hosts): Promise<Outcome> {
    return pingRtt(h.ns1, h.addr2, Math.max(50, Math.round(this.secs * 100)));
  }
}
