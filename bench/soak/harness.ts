/*
 * The soak: one daemon in a run directory of its own, ports on several
 * switches, traffic of mixed sizes between them, and churn, checked every
 * period. Used by `npm run soak` (bench/soak/run.ts, minutes) and by
 * test/soak/soak.test.ts (seconds).
 *
 * Population, per switch: `pairs` client processes (bench/soak/client.ts),
 * each holding two netmap ports that send to each other, plus one QEMU stream
 * pair and one QEMU dgram pair driven from here (bench/soak/peers.ts). With 4
 * switches and 6 pairs that is 4 x (12 + 4) = 64 ports. As root, `tapPairs`
 * pairs of TAP hosts in network namespaces join them, pair k on switch k mod
 * switches, pinging each other (bench/soak/taps.ts); without root or `ip`
 * the soak says why and runs without them.
 *
 * Churn, one event every `churnMs`: a client SIGKILLed, SIGSTOPped (CONTed
 * later), closing gracefully; a QEMU port detached (attached again later); a
 * setting changed live through sysctl-set; a TAP detached (its pair's pings
 * stopped first), re-attached later, moved into its namespace again and set up
 * again; the first event after each check is a TAP detach. Dead clients come
 * back as new processes on the same port names.
 *
 * A check, every `periodSec`: churn stops, stopped clients continue, dead
 * ones are replaced, so the population is the same at every check; then
 *   1. traffic pauses and every RX ring is drained; each client port's
 *      daemon counters equal what the client counted (txPackets = frames it
 *      sent, rxPackets = frames it received), and no frame was corrupt;
 *   2. every port announces itself, every pair sends probes both ways and
 *      each end must receive them all (TAP pairs: 3 pings each way, and each
 *      TAP's counters show exactly those frames, its pair's the same); over
 *      that window, per switch, frames in = frames out + drops by reason
 *      (sums of the port counters);
 *   3. the daemon's RSS and open fds (by type) are within bounds of the
 *      first check (the baseline, taken after warm-up), and the run directory
 *      holds the files it held then.
 * Any drift throws with what drifted. After the run everything is closed
 * and the daemon must be back to its idle fds (no memfd, no port socket), no
 * TAP device may be left, and the namespaces are deleted (on any exit, also
 * on SIGINT/SIGTERM).
 */

import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PortStats, StatsSnapshot } from '../../src/control/types.js';
import { DaemonClient } from '../../src/index.js';
import { spawnDaemon } from '../../test/helpers/daemon.js';
import { Rng } from '../../test/helpers/vale.js';
import { DgramPeer, freeUdpPort, type Peer, StreamPeer } from './peers.js';
import { dirEntries, type ProcSample, sampleProc } from './probe.js';
import { TapHosts, tapSkipReason } from './taps.js';

const CLIENT = fileURLToPath(new URL('./client.js', import.meta.url));

export interface SoakOptions {
  seconds: number;
  periodSec: number;
  switches: number;
  pairs: number;
  /** Milliseconds between churn events. */
  churnMs: number;
  /** Frames per port per tick, and the tick. */
  burst: number;
  tickMs: number;
  seed: number;
  /** RSS may grow this much over the baseline (KiB). */
  rssSlackKiB: number;
  /** Open fds may exceed the baseline by this many. */
  fdSlack: number;
  /** The run goes on past `seconds` until this many checks were made (a loaded machine is slow). */
  minChecks: number;
  prefix: string;
  /** Pairs of TAP hosts in network namespaces (bench/soak/taps.ts); 0, or not root, for none. */
  tapPairs: number;
  log: (line: string) => void;
}

export const DEFAULTS: SoakOptions = {
  seconds: 60,
  periodSec: 60,
  switches: 4,
  pairs: 6,
  churnMs: 1000,
  burst: 8,
  tickMs: 5,
  seed: 1,
  rssSlackKiB: 64 * 1024,
  fdSlack: 8,
  minChecks: 0,
  prefix: 'sk',
  tapPairs: 2,
  log: (l) => process.stderr.write(`${l}\n`),
};

export interface Sample extends ProcSample {
  t: number;
  ports: number;
  frames: number;
}

export interface SoakResult {
  samples: Sample[];
  baseline: Sample;
  idle: ProcSample;
  events: Record<string, number>;
  frames: number;
  bytes: number;
  checks: number;
  ports: number;
  /** TAP ports among `ports`, and why there are none when there are none. */
  tapPorts: number;
  tapSkipped: string | null;
  /** Ping replies the TAP hosts got between checks, and probe replies at checks. */
  tapReplies: number;
  tapProbes: number;
  runDir: string[];
}

interface Slot {
  sw: string;
  names: [string, string];
  macs: [string, string];
  child: ChildProcess | null;
  stopped: boolean;
  respawnAt: number;
  waiters: Map<string, (m: Record<string, unknown>) => void>;
}

interface QemuPair {
  sw: string;
  names: [string, string];
  specs: [string, string];
  peers: [Peer, Peer];
  attached: [boolean, boolean];
  reattachAt: [number, number];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DROP_COUNTERS = ['dropRxFull', 'dropRunt', 'dropNoDest', 'dropFrags', 'dropOversize', 'dropOffload'] as const;

class SoakError extends Error {}

export async function runSoak(partial: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { ...DEFAULTS, ...partial };
  const rng = new Rng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), `uvale-${o.prefix}-soak-`));
  const sockDir = mkdtempSync(join(tmpdir(), `uvale-${o.prefix}-qemu-`));
  const tapSkipped = o.tapPairs > 0 ? tapSkipReason() : 'no TAP pairs asked for (--tap-pairs 0)';
  const tapPairs = tapSkipped === null ? Math.min(o.tapPairs, 36) : 0; // TAP names have one character for the pair
  // ports on the fullest switch; live max_ports changes never go below it
  const perSwitch = 2 * o.pairs + 4 + 2 * Math.ceil(tapPairs / o.switches);
  const maxPorts = Math.max(24, perSwitch);
  const liveSettings = LIVE_SETTINGS.map(([n, v]): [string, number[]] =>
    n === 'dev.netmap.max_ports' ? [n, [...v.filter((x) => x >= perSwitch && x < maxPorts), maxPorts]] : [n, v],
  );
  const daemon = await spawnDaemon(dir, [
    '--sysctl',
    `dev.netmap.max_ports=${maxPorts}`,
    '--sysctl',
    `dev.netmap.max_bridges=${Math.max(4, o.switches)}`,
  ]);
  daemon.stderr?.resume(); // dev.netmap.verbose=1 logs; never let the pipe fill
  const pid = daemon.pid as number;
  const events: Record<string, number> = {};
  const count = (e: string) => (events[e] = (events[e] ?? 0) + 1);
  const slots: Slot[] = [];
  const qemu: QemuPair[] = [];
  let taps: TapHosts | null = null;
  let ctl: DaemonClient | null = null;
  const start = Date.now();
  const lastTx = new Map<string, number>();
  let frames = 0;
  let bytes = 0;
  const lastBytes = new Map<string, number>();

  const request = async <T>(op: string, args: Record<string, unknown> = {}): Promise<T> => {
    if (ctl === null) ctl = await DaemonClient.connect({ dir, autostart: false });
    // biome-ignore lint/suspicious/noExplicitAny: the op is a string here; the daemon checks it
    return (await (ctl.request as any)(op, args)) as T;
  };
  const stats = () => request<StatsSnapshot>('stats');
  /** Adds the frames moved since the last look, port by port (a port that came back starts again at 0). */
  const account = (s: StatsSnapshot): void => {
    for (const sw of s.switches) {
      for (const p of sw.ports) {
        const tx = p.counters.txPackets ?? 0;
        const by = p.counters.txBytes ?? 0;
        const prev = lastTx.get(p.name) ?? 0;
        const prevB = lastBytes.get(p.name) ?? 0;
        frames += tx >= prev ? tx - prev : tx;
        bytes += by >= prevB ? by - prevB : by;
        lastTx.set(p.name, tx);
        lastBytes.set(p.name, by);
      }
    }
  };

  const spawnClient = (s: Slot): Promise<void> => {
    const child = fork(CLIENT, [], {
      env: {
        ...process.env,
        UVALE_SOAK_CLIENT: '1',
        UVALE_SOAK_DIR: dir,
        UVALE_SOAK_PORTS: s.names.join(','),
        UVALE_SOAK_MACS: s.macs.join(','),
        UVALE_SOAK_BURST: String(o.burst),
        UVALE_SOAK_PERIOD_MS: String(o.tickMs),
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    s.child = child;
    s.stopped = false;
    s.waiters = new Map();
    child.on('message', (m: Record<string, unknown>) => {
      const w = s.waiters.get(m.op as string);
      if (w !== undefined) {
        s.waiters.delete(m.op as string);
        w(m);
      }
    });
    child.on('exit', () => {
      if (s.child === child) s.child = null;
    });
    // node's start-up on a loaded machine (2 cores shared) can take tens of seconds
    return ask(s, null, 'ready', 60_000).then(() => undefined);
  };

  const ask = (s: Slot, msg: object | null, answer: string, ms = 20_000): Promise<Record<string, unknown>> => {
    const child = s.child;
    if (child === null) return Promise.reject(new SoakError(`client ${s.names.join('+')} is not running`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new SoakError(`client ${s.names.join('+')} did not answer '${answer}' in ${ms} ms`)),
        ms,
      );
      s.waiters.set(answer, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      if (msg !== null) child.send(msg);
    });
  };

  const fail = (what: string): never => {
    throw new SoakError(`soak (seed ${o.seed}): ${what}`);
  };

  // Ctrl-C or kill: no namespace, TAP, process or directory may outlive the soak
  const onSignal = (sig: NodeJS.Signals): void => {
    for (const s of slots) s.child?.kill('SIGKILL');
    for (const q of qemu) for (const p of q.peers) p.stop();
    taps?.destroySync();
    daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(sockDir, { recursive: true, force: true });
    process.stderr.write(`soak: ${sig}, cleaned up\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // --- population
    for (let w = 0; w < o.switches; w++) {
      const sw = `vale-${o.prefix}${w}`;
      for (let k = 0; k < o.pairs; k++) {
        const n = w * 64 + k * 2;
        slots.push({
          sw,
          names: [`${sw}:c${k}a`, `${sw}:c${k}b`],
          macs: [mac(n), mac(n + 1)],
          child: null,
          stopped: false,
          respawnAt: 0,
          waiters: new Map(),
        });
      }
      const base = w * 64 + 40;
      const sPath = [join(sockDir, `s${w}a`), join(sockDir, `s${w}b`)];
      const sa = new StreamPeer(mac(base), sPath[0] as string);
      const sb = new StreamPeer(mac(base + 1), sPath[1] as string);
      qemu.push({
        sw,
        names: [`${sw}:qs0`, `${sw}:qs1`],
        specs: [`stream:unix:${sPath[0]}`, `stream:unix:${sPath[1]}`],
        peers: [sa, sb],
        attached: [false, false],
        reattachAt: [0, 0],
      });
      const [u0, u1, p0, p1] = await Promise.all([freeUdpPort(), freeUdpPort(), freeUdpPort(), freeUdpPort()]);
      const da = new DgramPeer(mac(base + 2), p0, u0);
      const db = new DgramPeer(mac(base + 3), p1, u1);
      qemu.push({
        sw,
        names: [`${sw}:qd0`, `${sw}:qd1`],
        specs: [`dgram:udp:127.0.0.1:${u0}:127.0.0.1:${p0}`, `dgram:udp:127.0.0.1:${u1}:127.0.0.1:${p1}`],
        peers: [da, db],
        attached: [false, false],
        reattachAt: [0, 0],
      });
    }
    for (const q of qemu) {
      q.peers[0].peerMac = q.peers[1].mac;
      q.peers[1].peerMac = q.peers[0].mac;
    }
    if (tapPairs > 0) {
      const used = new Map<string, string[]>();
      for (const s of slots) used.set(s.sw, [...(used.get(s.sw) ?? []), ...s.macs]);
      for (const q of qemu) used.set(q.sw, [...(used.get(q.sw) ?? []), ...q.peers.map((p) => macText(p.mac))]);
      const switches = [...new Set(slots.map((s) => s.sw))];
      taps = new TapHosts(request, stats, rng, o.prefix, tapPairs, switches, used);
    } else {
      o.log(`soak: no TAP hosts: ${tapSkipped}`);
    }
    // the daemon's idle state: what it must come back to when every port is gone
    await stats();
    const idle = sampleProc(pid);
    // the run directory: its socket and lock, and sysctl.json once a setting was changed
    const idleDir = [...dirEntries(dir), 'sysctl.json'].sort();
    const dirOk = (files: string[]) => files.every((f) => idleDir.includes(f)) && files.length >= idleDir.length - 1;

    const attachQemu = async (q: QemuPair, i: number): Promise<void> => {
      await request('attach', { name: `${q.names[i]}=${q.specs[i]}` });
      q.attached[i] = true;
      const p = q.peers[i] as Peer;
      if (p instanceof StreamPeer) p.dial();
      if (p instanceof DgramPeer) p.attached = true;
    };
    const detachQemu = async (q: QemuPair, i: number): Promise<void> => {
      const p = q.peers[i] as Peer;
      if (p instanceof DgramPeer) p.attached = false;
      await request('detach', { name: q.names[i] });
      q.attached[i] = false;
    };

    // spawn in small groups: node startup is the cost
    for (let i = 0; i < slots.length; i += 4) await Promise.all(slots.slice(i, i + 4).map(spawnClient));
    for (const q of qemu) for (const i of [0, 1]) await attachQemu(q, i);
    await until(() => qemu.every((q) => q.peers.every((p) => p.up())), 5000, 'QEMU peers to connect');
    await taps?.setup();
    for (const q of qemu) for (const p of q.peers) p.start(Math.max(1, o.burst >> 1), o.tickMs * 2);
    taps?.start();
    // the run's length counts from here: starting 24 node processes on a loaded machine takes long
    const ready = Date.now();
    const tapPorts = tapPairs * 2;
    const nports = slots.length * 2 + qemu.length * 2 + tapPorts;
    o.log(
      `soak: daemon ${pid}, ${o.switches} switches, ${nports} ports (${slots.length * 2} netmap in ${slots.length} clients, ${qemu.length} QEMU pairs, ${tapPairs} TAP pairs in namespaces), ${o.seconds} s, check every ${o.periodSec} s`,
    );

    // --- churn
    let tapDue = false;
    const live = () => slots.filter((s) => s.child !== null && !s.stopped);
    const churn = async (): Promise<void> => {
      const now = Date.now();
      // the first event after a check detaches a TAP, so every period has one; then 1 in 11
      const e = tapDue && taps !== null ? 10 : rng.int(0, taps === null ? 9 : 10);
      tapDue = false;
      if (e === 10 && taps !== null) {
        const attached = taps.hosts.filter((h) => h.attached);
        if (attached.length > 0) {
          const h = rng.pick(attached);
          await taps.detach(h);
          h.reattachAt = now + rng.int(200, 1500);
          count('tap-detach');
        }
      } else if (e <= 1 && live().length > 0) {
        const s = rng.pick(live());
        s.child?.kill('SIGKILL');
        s.child = null;
        s.respawnAt = now + rng.int(200, 1500);
        count('sigkill');
      } else if (e <= 3 && live().length > 0) {
        const s = rng.pick(live());
        s.child?.kill('SIGSTOP');
        s.stopped = true;
        count('sigstop');
        setTimeout(
          () => {
            if (s.stopped && s.child !== null) {
              s.child.kill('SIGCONT');
              s.stopped = false;
              count('sigcont');
            }
          },
          rng.int(300, 2500),
        );
      } else if (e <= 4 && live().length > 0) {
        const s = rng.pick(live());
        await ask(s, { op: 'close' }, 'closed').catch(() => undefined);
        s.child?.kill('SIGKILL'); // it exits by itself; make sure
        s.child = null;
        s.respawnAt = now + rng.int(100, 1000);
        count('leave');
      } else if (e <= 6) {
        const q = rng.pick(qemu);
        const i = rng.int(0, 1);
        if (q.attached[i]) {
          await detachQemu(q, i);
          q.reattachAt[i] = now + rng.int(200, 1500);
          count('detach');
        }
      } else {
        const [name, values] = rng.pick(liveSettings);
        await request('sysctl-set', { set: `${name}=${rng.pick(values)}` });
        count('sysctl');
      }
    };
    const revive = async (all: boolean): Promise<void> => {
      const now = Date.now();
      for (const s of slots) {
        if (s.child === null && (all || now >= s.respawnAt)) {
          await spawnClient(s);
          count('join');
        }
        if (all && s.stopped && s.child !== null) {
          s.child.kill('SIGCONT');
          s.stopped = false;
          count('sigcont');
        }
      }
      for (const q of qemu) {
        for (const i of [0, 1]) {
          if (!q.attached[i] && (all || now >= (q.reattachAt[i] as number))) {
            await attachQemu(q, i);
            count('attach');
          }
        }
      }
      for (const h of taps?.hosts ?? []) {
        if (!h.attached && (all || now >= h.reattachAt)) {
          await taps?.attach(h);
          count('tap-attach');
        }
      }
    };

    // --- checks
    const samples: Sample[] = [];
    let baseline: Sample | null = null;
    let checks = 0;
    const check = async (): Promise<void> => {
      await taps?.stop();
      await revive(true);
      await until(() => qemu.every((q) => q.peers.every((p) => p.up())), 5000, 'QEMU peers to reconnect');
      const clients = slots.filter((s) => s.child !== null);
      // 1. pause, drain, compare counts
      for (const q of qemu) for (const p of q.peers) p.sending = false;
      await Promise.all(clients.map((s) => ask(s, { op: 'pause' }, 'paused')));
      await sleep(100);
      const drained = await Promise.all(clients.map((s) => ask(s, { op: 'drain' }, 'drained')));
      // TAP hosts learnt again (MAC ageing) before the window: it then holds their probes only
      const drift: string[] = taps === null ? [] : await taps.announce(taps.hosts);
      const s0 = await stats();
      account(s0);
      const byName = portMap(s0);
      clients.forEach((s, k) => {
        const d = drained[k] as { sent: number[]; recv: number[]; bad: number };
        if (d.bad !== 0) drift.push(`${s.names.join('+')}: ${d.bad} corrupt frames`);
        s.names.forEach((n, i) => {
          const p = byName.get(n);
          if (p === undefined) {
            drift.push(`${n}: not on its switch`);
            return;
          }
          if (p.counters.txPackets !== d.sent[i])
            drift.push(`${n}: daemon txPackets ${p.counters.txPackets}, client sent ${d.sent[i]}`);
          if (p.counters.rxPackets !== d.recv[i])
            drift.push(`${n}: daemon rxPackets ${p.counters.rxPackets}, client received ${d.recv[i]}`);
        });
      });
      for (const q of qemu)
        for (const p of q.peers) if (p.counts.bad !== 0) drift.push(`QEMU peer: ${p.counts.bad} corrupt frames`);
      if (taps !== null) {
        if (taps.counts.bad !== 0) drift.push(`TAP hosts: ${taps.counts.bad} bad ping replies`);
        drift.push(...taps.faults.splice(0));
      }
      // 2. announce, probe, per-switch identity
      await Promise.all(clients.map((s) => ask(s, { op: 'announce' }, 'announced')));
      for (const q of qemu) for (const p of q.peers) p.announce();
      await sleep(200);
      const before = qemu.map((q) => q.peers.map((p) => p.counts.probes));
      const probeN = 4;
      const probed = Promise.all(clients.map((s) => ask(s, { op: 'probe', n: probeN }, 'probed')));
      const tapProbed = taps?.probe(checks) ?? Promise.resolve([]);
      for (const q of qemu) for (const p of q.peers) p.probe(probeN);
      const got = await probed;
      drift.push(...(await tapProbed));
      await until(
        () => qemu.every((q, k) => q.peers.every((p, i) => p.counts.probes - (before[k]?.[i] as number) >= probeN)),
        3000,
        'QEMU probes',
      ).catch(() => undefined);
      clients.forEach((s, k) => {
        const g = (got[k] as { got: number[] }).got;
        g.forEach((n, i) => {
          if (n !== probeN) drift.push(`pair ${s.names.join('<->')}: ${s.names[i]} received ${n} of ${probeN} probes`);
        });
      });
      qemu.forEach((q, k) => {
        q.peers.forEach((p, i) => {
          const n = p.counts.probes - (before[k]?.[i] as number);
          if (n !== probeN) {
            drift.push(`QEMU pair ${q.names.join('<->')}: ${q.names[i]} received ${n} of ${probeN} probes`);
          }
        });
      });
      await sleep(100);
      const s1 = await stats();
      for (const sw of s1.switches) {
        const old = s0.switches.find((x) => x.name === sw.name);
        let din = 0;
        let dout = 0;
        let ddrop = 0;
        for (const p of sw.ports) {
          const q = old?.ports.find((x) => x.name === p.name);
          const d = (c: string) => (p.counters[c] ?? 0) - (q?.counters[c] ?? 0);
          din += d('txPackets');
          dout += d('rxPackets');
          for (const c of DROP_COUNTERS) ddrop += d(c);
        }
        if (din !== dout + ddrop)
          drift.push(`switch ${sw.name}: over the probe window ${din} frames in, ${dout} out + ${ddrop} dropped`);
      }
      if (taps !== null) drift.push(...taps.verify(s0, s1));
      account(s1);
      // 3. process and run directory
      const ports = s1.switches.reduce((n, sw) => n + sw.ports.length, 0);
      if (ports !== nports) drift.push(`${ports} ports on the switches, expected ${nports}`);
      const sample: Sample = { t: Math.round((Date.now() - start) / 1000), ports, frames, ...sampleProc(pid) };
      samples.push(sample);
      if (baseline === null) baseline = sample;
      else {
        if (sample.rssKiB > baseline.rssKiB + o.rssSlackKiB)
          drift.push(`RSS ${sample.rssKiB} KiB, baseline ${baseline.rssKiB} KiB (bound +${o.rssSlackKiB} KiB)`);
        if (sample.fds.total > baseline.fds.total + o.fdSlack)
          drift.push(
            `${sample.fds.total} fds open, baseline ${baseline.fds.total} (bound +${o.fdSlack}): ${JSON.stringify(sample.fds)} vs ${JSON.stringify(baseline.fds)}`,
          );
        if (sample.fds.memfd > baseline.fds.memfd)
          drift.push(`${sample.fds.memfd} memfds, baseline ${baseline.fds.memfd} with the same ports`);
      }
      const files = dirEntries(dir);
      if (!dirOk(files)) drift.push(`run directory holds [${files.join(' ')}], expected [${idleDir.join(' ')}]`);
      checks++;
      o.log(
        `soak: t=${sample.t}s check ${checks}: RSS ${(sample.rssKiB / 1024).toFixed(1)} MiB, fds ${sample.fds.total} (socket ${sample.fds.socket}, memfd ${sample.fds.memfd}), ${ports} ports, ${frames} frames, events ${JSON.stringify(events)}`,
      );
      if (drift.length > 0) fail(`drift at t=${sample.t}s:\n  ${drift.join('\n  ')}`);
      for (const q of qemu) for (const p of q.peers) p.sending = true;
      await Promise.all(clients.map((s) => ask(s, { op: 'resume' }, 'resumed')));
      taps?.start();
    };

    // warm-up: traffic without churn, then the baseline check
    await sleep(Math.min(5000, o.periodSec * 1000));
    await check();
    tapDue = true;
    const end = ready + o.seconds * 1000;
    let nextCheck = Date.now() + o.periodSec * 1000;
    while (Date.now() < end || checks < o.minChecks) {
      await sleep(o.churnMs);
      await revive(false);
      await churn();
      if (Date.now() >= nextCheck || Date.now() >= end) {
        await check();
        nextCheck = Date.now() + o.periodSec * 1000;
        tapDue = true;
      }
    }

    // --- wind down: everything closes, the daemon returns to idle
    for (const s of slots) await ask(s, { op: 'close' }, 'closed').catch(() => undefined);
    for (const q of qemu) {
      for (const i of [0, 1]) if (q.attached[i]) await detachQemu(q, i);
      for (const p of q.peers) p.stop();
    }
    if (taps !== null) {
      await taps.stop();
      for (const h of taps.hosts) if (h.attached) await taps.detach(h);
    }
    await until(
      async () => (await stats()).switches.every((sw) => sw.ports.length === 0),
      5000,
      'every port to close',
    ).catch(() => undefined);
    const last = await stats();
    const left = last.switches.flatMap((sw) => sw.ports.map((p) => p.name));
    const after = sampleProc(pid);
    const problems: string[] = [];
    if (left.length > 0) problems.push(`ports left open: ${left.join(' ')}`);
    if (taps !== null) {
      // every TAP went with the daemon's fd; then the namespaces go, and must be gone
      await until(() => taps?.leftovers().length === 0, 3000, 'TAP devices to vanish').catch(() => undefined);
      for (const l of taps.leftovers()) problems.push(`${l} after its port was detached`);
      taps.destroySync();
      for (const ns of taps.namespacesLeft()) problems.push(`namespace ${ns} left after the run`);
    }
    if (after.fds.memfd !== idle.fds.memfd)
      problems.push(`${after.fds.memfd} memfds open after every port closed (idle: ${idle.fds.memfd})`);
    if (after.fds.total > idle.fds.total + 2)
      problems.push(
        `${after.fds.total} fds open after every port closed (idle: ${idle.fds.total}): ${JSON.stringify(after.fds)} vs ${JSON.stringify(idle.fds)}`,
      );
    const files = dirEntries(dir);
    if (!dirOk(files))
      problems.push(`run directory holds [${files.join(' ')}] after the run, expected [${idleDir.join(' ')}]`);
    if (problems.length > 0) fail(`after the run:\n  ${problems.join('\n  ')}`);
    o.log(
      `soak: done, ${frames} frames (${(bytes / 1e9).toFixed(2)} GB) in ${checks} checks, events ${JSON.stringify(events)}; idle again: ${JSON.stringify(after.fds)}`,
    );
    return {
      samples,
      baseline: baseline as unknown as Sample,
      idle,
      events,
      frames,
      bytes,
      checks,
      ports: nports,
      tapPorts,
      tapSkipped,
      tapReplies: taps?.counts.replies ?? 0,
      tapProbes: taps?.counts.probes ?? 0,
      runDir: files,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    taps?.destroySync();
    for (const s of slots) {
      if (s.child !== null) {
        s.child.kill('SIGCONT');
        s.child.kill('SIGKILL');
      }
    }
    for (const q of qemu) for (const p of q.peers) p.stop();
    (ctl as DaemonClient | null)?.close();
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
    rmSync(sockDir, { recursive: true, force: true });
  }
}

/** Settings the churn changes live, and the values it picks from. */
const LIVE_SETTINGS: ReadonlyArray<[string, number[]]> = [
  ['uvale.mac_ageing', [0, 60, 300]],
  ['dev.netmap.bridge', [64, 256, 1024]],
  ['dev.netmap.verbose', [0, 1]],
  ['dev.netmap.max_ports', [16, 20, 24]],
  ['dev.netmap.max_buffers', [1024, 2048]],
  ['uvale.busy_poll', [0, 50]],
];

function portMap(s: StatsSnapshot): Map<string, PortStats> {
  const m = new Map<string, PortStats>();
  for (const sw of s.switches) for (const p of sw.ports) m.set(p.name, p);
  return m;
}

function mac(n: number): string {
  return `02:5a:00:00:${((n >>> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

function macText(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new SoakError(`soak: timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}
