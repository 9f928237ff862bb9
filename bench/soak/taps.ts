/*
 * TAP hosts for the soak (bench/soak/harness.ts): pairs of Linux TAP
 * interfaces attached to the soak's switches through the daemon, each moved
 * into a network namespace of its own and used as an IP host, pinging its
 * pair with mixed sizes (up to jumbo frames, MTU 9000).
 *
 * A host is made the way the daemon is meant to be used: `attach SW:TAP`
 * creates the TAP in the root namespace, then it is moved into its namespace,
 * given a fixed MAC, MTU 9000, multicast off and an address, brought up, and
 * given permanent ARP entries: one for its pair, one for a made-up address on
 * its own MAC. The namespace has IPv6 off (all and default), so no router
 * solicitation or MLD, and with static ARP the host sends nothing but what the
 * soak makes it send: the traffic is deterministic. A ping to the made-up
 * address is the host's announcement (a frame to itself: the switch learns
 * its MAC and drops the frame as VALE does), done before its pair may send to
 * it; the soak waits until the daemon has counted that frame.
 *
 * Why so careful: the soak's other ports count any frame not in their own
 * format as corrupt, so a TAP host's frame must never be flooded. Hence the
 * announcement, MACs chosen so they share no learning-table bucket with
 * another MAC of their switch (mac-table.ts: colliding MACs take turns and
 * the loser is flooded), and a pair's pings stopped before either end is
 * detached (the switch forgets a detached port's MACs) and started again only
 * once both ends are back and announced. Stopped pings may leave frames in a
 * TAP's queue for a loaded daemon; two rounds of announcements behind them
 * (counted as frames to the host's own port, dropNoDest) show they were read
 * before a detach or a check's counting window.
 *
 * Traffic: per direction two `ping -i 0.02`, one small (56..1472 B) and one
 * large (1473..8972 B: a chain of buffers on the switch), sizes drawn anew
 * each start; ping checks every reply's data and checksum, and any "wrong
 * data byte", "BAD CHECKSUM" or "DUP!" is counted bad. A ping that exits on
 * its own is a fault. A check (probe()) pings 3 times each way, all replies
 * required (each waited for up to 5 s: on a loaded machine the daemon may
 * stall past ping's usual second), and the daemon's counters must show
 * exactly those frames.
 *
 * Detach (churn) closes the daemon's fd: the TAP, created by the daemon,
 * vanishes with it, out of its namespace too; re-attach makes a new one and
 * sets it up again. Namespaces and TAP names carry the soak's prefix and this
 * process's pid; destroySync() deletes the namespaces (their TAPs go with
 * them) on any exit, and leftovers() says what is still there.
 */

import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import type { PortStats, StatsSnapshot } from '../../src/control/types.js';
import { rthash } from '../../src/switch/hash.js';
import type { Rng } from '../../test/helpers/vale.js';
import { netSkipReason } from '../../test/tap/net.js';

export interface TapHost {
  ns: string;
  tap: string;
  /** SWITCH:TAP. */
  port: string;
  mac: string;
  addr: string;
  /** A made-up address whose ARP entry is the host's own MAC: pinging it announces the host. */
  self: string;
  attached: boolean;
  reattachAt: number;
}

export interface TapPair {
  sw: string;
  hosts: [TapHost, TapHost];
  pings: Ping[];
}

interface Ping {
  child: ChildProcess;
  what: string;
  stopping: boolean;
  done: Promise<void>;
}

export interface TapCounts {
  replies: number;
  bad: number;
  probes: number;
  starts: number;
}

type Request = (op: string, args: Record<string, unknown>) => Promise<unknown>;

const SMALL = [56, 200, 1000, 1472];
const LARGE = [1473, 3000, 6000, 8000, 8972];
const MTU = 9000;
const PROBES = 3;

/** Why the soak runs without TAP hosts here, or null when it can have them. */
export function tapSkipReason(): string | null {
  return netSkipReason(['ping']);
}

/** MAC text → the learning table's bucket (switch/hash.ts, as forward.ts reads it). */
export function macBucket(mac: string): number {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16));
  const a = (b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24) | 0;
  return rthash(a, (b[4] as number) | ((b[5] as number) << 8));
}

export class TapHosts {
  readonly pairs: TapPair[] = [];
  readonly counts: TapCounts = { replies: 0, bad: 0, probes: 0, starts: 0 };
  /** Faults seen between checks (a ping that exited, bad replies); the next check reports them. */
  readonly faults: string[] = [];
  /** Traffic runs between checks; a pair sends only while both its hosts are attached. */
  running = false;
  private readonly namespaces: string[] = [];
  private readonly tag: string;

  /**
   * `switches` are the soak's switches, `used` the MACs already on each (no
   * TAP MAC may share a bucket with them).
   */
  constructor(
    private readonly request: Request,
    private readonly stats: () => Promise<StatsSnapshot>,
    private readonly rng: Rng,
    prefix: string,
    n: number,
    switches: string[],
    used: Map<string, string[]>,
  ) {
    // a port name is at most 15 bytes, so with a switch like vale-sk0 the TAP's name has 6:
    // the prefix, 2 characters of this process's pid, the pair, its end
    this.tag = `${prefix}${(process.pid % 1296).toString(36).padStart(2, '0')}`;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const sw = switches[k % switches.length] as string;
      const buckets = new Set((used.get(sw) ?? []).map(macBucket));
      const host = (i: 0 | 1): TapHost => {
        let mac: string;
        do mac = tapMac(m++);
        while (buckets.has(macBucket(mac)));
        buckets.add(macBucket(mac));
        const end = i === 0 ? 'a' : 'b';
        const tap = `${this.tag}${k.toString(36)}${end}`;
        return {
          ns: `${this.tag}n${k}${end}`,
          tap,
          port: `${sw}:${tap}`,
          mac,
          addr: `10.211.${k}.${i + 1}`,
          self: `10.211.${k}.${i + 101}`,
          attached: false,
          reattachAt: 0,
        };
      };
      this.pairs.push({ sw, hosts: [host(0), host(1)], pings: [] });
    }
  }

  get hosts(): TapHost[] {
    return this.pairs.flatMap((p) => p.hosts);
  }

  /** Creates the namespaces (IPv6 off) and attaches every host; traffic starts with start(). */
  async setup(): Promise<void> {
    for (const h of this.hosts) {
      await ipc(['netns', 'add', h.ns]);
      this.namespaces.push(h.ns);
      await ipc([
        'netns',
        'exec',
        h.ns,
        'sysctl',
        '-qw',
        'net.ipv6.conf.all.disable_ipv6=1',
        'net.ipv6.conf.default.disable_ipv6=1',
      ]);
    }
    for (const h of this.hosts) await this.attach(h);
  }

  /** Attaches host h through the daemon, sets it up in its namespace and announces it. */
  async attach(h: TapHost): Promise<void> {
    const pair = this.pairOf(h);
    const peer = pair.hosts[0] === h ? pair.hosts[1] : pair.hosts[0];
    await this.request('attach', { name: h.port });
    h.attached = true;
    await ipc(['link', 'set', 'dev', h.tap, 'netns', h.ns]);
    await ipc(
      ['-n', h.ns, '-batch', '-'],
      [
        `link set dev ${h.tap} address ${h.mac} mtu ${MTU} multicast off`,
        `addr add ${h.addr}/24 dev ${h.tap}`,
        `link set dev ${h.tap} up`,
        `neigh replace ${peer.addr} lladdr ${peer.mac} dev ${h.tap} nud permanent`,
        `neigh replace ${h.self} lladdr ${h.mac} dev ${h.tap} nud permanent`,
      ].join('\n'),
    );
    const bad = await this.announce([h]);
    if (bad.length > 0) throw new Error(bad.join('; '));
    if (this.running && peer.attached) this.startPair(pair);
  }

  /**
   * Stops h's pair's traffic and waits until the daemon has read every frame
   * its hosts had queued (quiesce), then detaches h (its TAP vanishes with the
   * daemon's fd): a frame to h read after that would be flooded.
   */
  async detach(h: TapHost): Promise<void> {
    const pair = this.pairOf(h);
    await this.stopPair(pair);
    await this.quiesce(pair.hosts);
    await this.request('detach', { name: h.port });
    h.attached = false;
  }

  /**
   * Each host pings its own MAC once; resolves when the daemon has counted
   * every such frame as one to its own port (dropNoDest: so the switch has
   * learnt the MAC, and has read every frame the host queued before it), or
   * after 10 s with the hosts whose frame it did not count, in words.
   */
  async announce(hosts: TapHost[]): Promise<string[]> {
    const tx = async () => {
      const m = portMap(await this.stats());
      return hosts.map((h) => m.get(h.port)?.counters.dropNoDest ?? -1);
    };
    const before = await tx();
    await Promise.all(
      hosts.map((h) => run(['ip', 'netns', 'exec', h.ns, 'ping', '-n', '-c', '1', '-W', '0.05', h.self])),
    );
    const end = Date.now() + 10_000;
    for (;;) {
      const now = await tx();
      if (now.every((n, i) => n > (before[i] as number))) return [];
      if (Date.now() > end) {
        const out: string[] = [];
        hosts.forEach((h, i) => {
          if ((now[i] as number) > (before[i] as number)) return;
          out.push(
            now[i] === -1
              ? `TAP host ${h.port}: its port is not on the switch`
              : `TAP host ${h.port}: its announcement did not reach the switch in 10 s`,
          );
        });
        return out;
      }
      await sleep(20);
    }
  }

  start(): void {
    this.running = true;
    for (const p of this.pairs) if (p.hosts.every((h) => h.attached)) this.startPair(p);
  }

  /** Stops every pair's traffic and waits until the daemon has read what the hosts queued. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.pairs.map((p) => this.stopPair(p)));
    await this.quiesce(this.hosts);
  }

  /**
   * With the pings stopped, frames may still wait in a TAP's queue for the
   * daemon. Two rounds of announcements (FIFO behind them): the first is
   * counted once every frame queued before it was read and forwarded, which
   * may have made a host reply; the second is counted after those replies.
   */
  private async quiesce(hosts: TapHost[]): Promise<void> {
    const live = hosts.filter((h) => h.attached);
    for (let round = 0; round < 2; round++) {
      const bad = await this.announce(live);
      if (bad.length > 0) throw new Error(bad.join('; '));
    }
  }

  /**
   * Pings PROBES times each way in every pair (one direction small, the
   * other jumbo, swapped by `round`); what did not come back, in words.
   */
  async probe(round: number): Promise<string[]> {
    const out: string[] = [];
    const jobs: Promise<void>[] = [];
    for (const p of this.pairs) {
      for (const i of [0, 1] as const) {
        const from = p.hosts[i];
        const to = p.hosts[1 - i] as TapHost;
        const size = (i + round) % 2 === 0 ? 8000 : 56;
        jobs.push(
          run(
            [
              'ip',
              'netns',
              'exec',
              from.ns,
              'ping',
              '-n',
              '-c',
              String(PROBES),
              '-i',
              '0.2',
              '-W',
              '5',
              '-s',
              String(size),
              to.addr,
            ],
            20_000,
          ).then((r) => {
            const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
            const got = m === null ? 0 : Number(m[2]);
            this.counts.probes += got;
            if (r.code !== 0 || got !== PROBES || /DUP!|wrong data|BAD CHECKSUM/.test(r.stdout)) {
              out.push(
                `TAP pair ${from.port} -> ${to.port}: ${got} of ${PROBES} ${size}-byte pings answered (exit ${r.code}) ${lastLine(r.stdout + r.stderr)}`,
              );
            }
          }),
        );
      }
    }
    await Promise.all(jobs);
    return out;
  }

  /**
   * Over a window holding only the probes: each TAP sent exactly what its pair
   * received, PROBES requests plus PROBES replies, nothing else.
   */
  verify(s0: StatsSnapshot, s1: StatsSnapshot): string[] {
    const a = portMap(s0);
    const b = portMap(s1);
    const d = (port: string, c: string) => (b.get(port)?.counters[c] ?? 0) - (a.get(port)?.counters[c] ?? 0);
    const out: string[] = [];
    for (const p of this.pairs) {
      for (const i of [0, 1] as const) {
        const from = p.hosts[i].port;
        const to = (p.hosts[1 - i] as TapHost).port;
        const tx = d(from, 'txPackets');
        const rx = d(to, 'rxPackets');
        if (tx !== 2 * PROBES || rx !== 2 * PROBES) {
          out.push(`TAP ${from} sent ${tx} frames in the probe window, ${to} received ${rx} (expected ${2 * PROBES})`);
        }
      }
    }
    return out;
  }

  /** TAP devices and namespaces of this soak still there (root namespace and its own). */
  leftovers(): string[] {
    const out: string[] = [];
    const mine = (text: string) =>
      text
        .split('\n')
        .map((l) => /^\d+: ([^:@ ]+)/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined && this.isTap(n));
    for (const n of mine(sh(['ip', '-o', 'link', 'show']))) out.push(`TAP ${n} in the root namespace`);
    const nsList = sh(['ip', 'netns', 'list']);
    for (const ns of this.namespaces) {
      if (!new RegExp(`^${ns}( |$)`, 'm').test(nsList)) continue;
      for (const n of mine(sh(['ip', '-n', ns, '-o', 'link', 'show']))) out.push(`TAP ${n} in namespace ${ns}`);
    }
    return out;
  }

  /** Namespaces of this soak that still exist. */
  namespacesLeft(): string[] {
    const nsList = sh(['ip', 'netns', 'list']);
    return this.namespaces.filter((ns) => new RegExp(`^${ns}( |$)`, 'm').test(nsList));
  }

  /** Kills every ping and deletes the namespaces (their TAPs go with them); synchronous, for any exit. */
  destroySync(): void {
    this.running = false;
    for (const p of this.pairs) for (const g of p.pings) g.child.kill('SIGKILL');
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  }

  private isTap(ifname: string): boolean {
    return this.hosts.some((h) => h.tap === ifname);
  }

  private pairOf(h: TapHost): TapPair {
    return this.pairs.find((p) => p.hosts.includes(h)) as TapPair;
  }

  private startPair(p: TapPair): void {
    if (p.pings.length > 0) return;
    for (const i of [0, 1] as const) {
      const from = p.hosts[i];
      const to = p.hosts[1 - i] as TapHost;
      for (const size of [this.rng.pick(SMALL), this.rng.pick(LARGE)]) p.pings.push(this.ping(from, to, size));
    }
  }

  private async stopPair(p: TapPair): Promise<void> {
    const pings = p.pings;
    p.pings = [];
    for (const g of pings) {
      g.stopping = true;
      g.child.kill('SIGINT');
      // a ping that does not stop would hang the soak
      const t = setTimeout(() => g.child.kill('SIGKILL'), 3000);
      void g.done.then(() => clearTimeout(t));
    }
    await Promise.all(pings.map((g) => g.done));
  }

  /** A ping that runs until stopped, counting replies and bad ones from its output. */
  private ping(from: TapHost, to: TapHost, size: number): Ping {
    this.counts.starts++;
    const what = `ping -s ${size} ${from.port} -> ${to.port}`;
    const child = spawn(
      'ip',
      ['netns', 'exec', from.ns, 'ping', '-n', '-i', '0.02', '-W', '1', '-s', String(size), to.addr],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let rest = '';
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop() as string;
      for (const l of lines) {
        if (/DUP!|wrong data|BAD CHECKSUM/.test(l)) {
          this.counts.bad++;
          if (this.faults.length < 20) this.faults.push(`${what}: ${l.trim()}`);
        } else if (l.includes(' bytes from ')) this.counts.replies++;
      }
    });
    child.stderr.on('data', (d) => (err += d));
    const g: Ping = { child, what, stopping: false, done: Promise.resolve() };
    g.done = new Promise<void>((resolve) => {
      child.on('close', (code, signal) => {
        if (!g.stopping) this.faults.push(`${what} exited by itself (${code ?? signal}): ${err.trim()}`);
        resolve();
      });
    });
    return g;
  }
}

function tapMac(n: number): string {
  return `02:5a:01:00:${((n >>> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

function portMap(s: StatsSnapshot): Map<string, PortStats> {
  const m = new Map<string, PortStats>();
  for (const sw of s.switches) for (const p of sw.ports) m.set(p.name, p);
  return m;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ip ARGS`, asynchronously; throws with its stderr when it fails. */
function ipc(args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, { timeout: 10_000 }, (e, _out, stderr) => {
      if (e) reject(new Error(`ip ${args.join(' ')} failed: ${String(stderr).trim() || e.message}`));
      else resolve();
    });
    if (input !== undefined) child.stdin?.end(`${input}\n`);
  });
}

/** A command's exit code and output, asynchronously, killed after `ms`. */
function run(args: string[], ms = 5000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(args[0] as string, args.slice(1), { timeout: ms }, (e, stdout, stderr) => {
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : null;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function sh(args: string[]): string {
  return spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
}
