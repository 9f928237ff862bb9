/*
 * vhost-60 and vhost-1514: DPDK's testpmd as a virtio-user front-end in
 * `txonly` mode (64-byte, or 1514-byte, frames) into a vhost-user port of the
 * uvale daemon, against DPDK's own vhost PMD on the same traffic:
 *
 *   uvale      testpmd txonly (virtio_user0) ──vhost-user──► port vale-e2e-vh:vm ─ daemon ─
 *              port vale-e2e-vh:rx ──► `uvale pkt-gen -f rx` (frames/s from its reports)
 *   reference  testpmd txonly (virtio_user0) ──vhost-user──► testpmd rxonly (net_vhost0),
 *              frames/s from its Rx-pps statistics
 *
 * The generator busy-polls one core (lcore 1); everything else shares the
 * other. uvale's side is notification-driven (kicks through eventfds), so it
 * sleeps when there is nothing to do; the reference's receiver busy-polls
 * core 0 (a third busy poller would collapse the run on two cores, which is
 * why no figure here has polling at both ends of a switch). Every run starts
 * a fresh generator; each figure skips the first half second of traffic and
 * then averages over SECS seconds of reports. Details: the generator's
 * Tx-pps (what the vhost side accepted), the switch's share of a core.
 *
 * UVALE_BENCH_PROF=DIR runs the daemon under `node --cpu-prof` into DIR.
 * UVALE_BENCH_VHOST_CPU=N pins the daemon and the receiving pkt-gen (every
 * thread) to CPU N with taskset, as DPDK pins the reference's receiver to
 * lcore 0: unpinned, the scheduler may run them on the generator's core and
 * stall it (not the default: earlier figures were taken unpinned).
 *
 * Needs root (no hugepages: --no-huge -m 512) and dpdk-testpmd (Debian
 * dpdk-dev).
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient } from '../../src/index.js';
import { BIN } from '../children.js';
import type { E2eFigure } from '../figures.js';
import type { E2eBench, Outcome, System } from './e2e.js';
import {
  type Child,
  cleanup,
  cpuSecs,
  cpuShare,
  type Daemon,
  has,
  sh,
  sleep,
  start,
  startDaemon,
  stop,
  until,
} from './procs.js';

const TESTPMD = 'dpdk-testpmd';
const SWITCH = 'vale-e2e-vh';
/** Reports skipped before the window opens (pkt-gen reports every REPORT_MS, testpmd every second). */
const REPORT_MS = 500;

/** The frame size of a figure (vhost-60 sends testpmd's 64-byte frames: it cannot send 60). */
export function vhostFrameSize(f: E2eFigure): number {
  return f.name === 'vhost-1514' ? 1514 : 64;
}

/** Arguments common to every testpmd here: no PCI, no hugepages, a private file prefix, cores 0 and 1. */
function eal(tag: string, mainLcore: number, vdev: string): string[] {
  return [
    '--no-pci',
    '--no-huge',
    '-m',
    '512',
    `--file-prefix=uvb-${tag}-${process.pid}`,
    '-l',
    '0,1',
    '--main-lcore',
    String(mainLcore),
    '--vdev',
    vdev,
    '--',
    '--total-num-mbufs=16384',
    '--nb-cores=1',
    '--stats-period',
    '1',
  ];
}

/** The values of `Rx-pps:` (or `Tx-pps:`) in testpmd's periodic statistics, in order. */
function ppsSeries(out: string, which: 'Rx' | 'Tx'): number[] {
  const re = new RegExp(`${which}-pps:\\s+(\\d+)`, 'g');
  return [...out.matchAll(re)].map((m) => Number(m[1]));
}

/** From the first non-zero value, skips `skip` values and averages the next `n`; NaN when there are too few. */
function windowMean(xs: readonly number[], skip: number, n: number): number {
  const first = xs.findIndex((x) => x > 0);
  if (first < 0 || xs.length < first + skip + n) return Number.NaN;
  const w = xs.slice(first + skip, first + skip + n);
  return w.reduce((a, b) => a + b, 0) / n;
}

/** pkt-gen's reports (-N): frames and microseconds per interval. */
function pktgenSeries(err: string): { pkts: number; usec: number; batch: number }[] {
  return [...err.matchAll(/pps \((\d+(?:\.\d+)?) pkts .*? in (\d+) usec\) (\d+(?:\.\d+)?) avg_batch/g)].map((m) => ({
    pkts: Number(m[1]),
    usec: Number(m[2]),
    batch: Number(m[3]),
  }));
}

/** Context switches of `pid`'s main thread so far (voluntary: it slept; involuntary: it was preempted). */
function ctxSwitches(pid: number | undefined): { vol: number; invol: number } {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      vol: Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1]),
      invol: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1]),
    };
  } catch {
    return { vol: Number.NaN, invol: Number.NaN };
  }
}

/** With UVALE_BENCH_VHOST_CPU set, pins every thread of `pid` to that CPU (header). */
function pin(pid: number | undefined): void {
  const cpu = process.env.UVALE_BENCH_VHOST_CPU;
  if (cpu === undefined || cpu === '' || pid === undefined) return;
  sh(['taskset', '-a', '-p', '-c', cpu, String(pid)]);
}

export class VhostBench implements E2eBench {
  private dir = '';
  private daemon: Daemon | null = null;

  constructor(private readonly secs: number) {}

  skip(): string | null {
    if (process.platform !== 'linux') return 'Linux only';
    if (process.getuid?.() !== 0) return 'needs root (DPDK without hugepages still needs it)';
    if (!has(TESTPMD)) return `${TESTPMD} is not installed (apt-get install dpdk-dev)`;
    return null;
  }

  systems(): readonly System[] {
    return ['uvale', 'ref'];
  }

  async setup(_figures: readonly E2eFigure[]): Promise<string | null> {
    this.dir = cleanup.tempDir('vhost');
    const prof = process.env.UVALE_BENCH_PROF; // a directory: the daemon runs under node --cpu-prof into it
    const d = await startDaemon('vhost', undefined, prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]);
    this.daemon = d;
    pin(d.child.proc.pid);
    const client = await DaemonClient.connect({ dir: d.dir, autostart: false });
    try {
      // testpmd's --no-huge memory cannot be sealed against shrinking: trust it (docs/vhost-user.md).
      await client.request('sysctl-set', { set: 'uvale.vhost_unsealed=1' });
      await client.request('attach', { name: `${SWITCH}:vm=vhost-user:${join(this.dir, 'vm.sock')}` });
    } finally {
      client.close();
    }
    return null;
  }

  /** Waits until the vhost-user port has no front-end (the last run's generator is gone), at most 5 s. */
  private async portIdle(): Promise<void> {
    const d = this.daemon as Daemon;
    await until(
      async () => {
        const c = await DaemonClient.connect({ dir: d.dir, autostart: false });
        try {
          const r = await c.request('adapters', { kind: 'vhost-user' });
          return r.adapters.every((q) => q.state !== 'up');
        } finally {
          c.close();
        }
      },
      5000,
      'the vhost-user port to be free',
    );
  }

  /** The vhost-user port's frames in and kicks so far (its counters only grow over the daemon's life). */
  private async portCounts(): Promise<{ frames: number; kicks: number }> {
    const d = this.daemon as Daemon;
    const c = await DaemonClient.connect({ dir: d.dir, autostart: false });
    try {
      const r = await c.request('adapters', { kind: 'vhost-user' });
      const a = r.adapters[0];
      return { frames: Number(a?.counters.inFrames ?? Number.NaN), kicks: Number(a?.extra?.kicks ?? Number.NaN) };
    } finally {
      c.close();
    }
  }

  private generator(sock: string, size: number): Child {
    return start([
      TESTPMD,
      ...eal('gen', 0, `virtio_user0,path=${sock},queues=1`),
      '--forward-mode=txonly',
      `--txpkts=${size}`,
    ]);
  }

  async measure(f: E2eFigure, s: System): Promise<Outcome> {
    const size = vhostFrameSize(f);
    const children: Child[] = [];
    try {
      if (s === 'uvale') {
        await this.portIdle();
        const d = this.daemon as Daemon;
        const rx = start([
          process.execPath,
          BIN,
          'pkt-gen',
          '-i',
          `${SWITCH}:rx`,
          '-f',
          'rx',
          '-N',
          '-T',
          String(REPORT_MS),
          '--dir',
          d.dir,
        ]);
        children.push(rx);
        pin(rx.proc.pid);
        await until(() => rx.err().includes('main_thread') || rx.proc.exitCode !== null, 10_000, 'pkt-gen to report');
        const c0 = await this.portCounts();
        const cpu0 = cpuSecs(rx.proc.pid) + cpuSecs(d.child.proc.pid);
        const rxCpu0 = cpuSecs(rx.proc.pid);
        const dcs0 = ctxSwitches(d.child.proc.pid);
        const rcs0 = ctxSwitches(rx.proc.pid);
        const t0 = performance.now();
        const gen = this.generator(join(this.dir, 'vm.sock'), size);
        children.push(gen);
        const perSec = 1000 / REPORT_MS;
        const need = Math.ceil(perSec * (this.secs + 0.5));
        const { share } = await cpuShare(d.child.proc.pid, () =>
          until(
            () => {
              const xs = pktgenSeries(rx.err());
              const first = xs.findIndex((x) => x.pkts > 0);
              return (first >= 0 && xs.length >= first + 1 + need) || gen.proc.exitCode !== null;
            },
            30_000 + this.secs * 2000,
            'pkt-gen to receive for the window',
          ),
        );
        const rxShare = (cpuSecs(rx.proc.pid) - rxCpu0) / ((performance.now() - t0) / 1000);
        const cpu1 = cpuSecs(rx.proc.pid) + cpuSecs(d.child.proc.pid);
        const dcs1 = ctxSwitches(d.child.proc.pid);
        const rcs1 = ctxSwitches(rx.proc.pid);
        const c1 = await this.portCounts();
        const kf = (c1.frames - c0.frames) / 1000;
        if (gen.proc.exitCode !== null) return { error: `testpmd exited: ${gen.out().slice(-400)}` };
        const xs = pktgenSeries(rx.err());
        const first = xs.findIndex((x) => x.pkts > 0);
        // skip the first (partial) report and the warm-up half second, then SECS seconds of reports
        const w = xs.slice(first + 1 + Math.round(perSec * 0.5), first + 1 + need);
        const fps = (w.reduce((a, x) => a + x.pkts, 0) / w.reduce((a, x) => a + x.usec, 0)) * 1e6;
        const sent = windowMean(ppsSeries(gen.out(), 'Tx'), 1, Math.max(1, Math.floor(this.secs) - 1));
        const batches = w.map((x) => x.batch).sort((a, b) => a - b);
        return this.result(f, fps, size, {
          sent_fps: sent,
          switch_cpu: share,
          rx_cpu: rxShare,
          // frames through the port per CPU-second of the daemon and the receiver together (the whole run)
          fps_per_cpu: (c1.frames - c0.frames) / (cpu1 - cpu0),
          frames_per_kick: (c1.frames - c0.frames) / Math.max(1, c1.kicks - c0.kicks),
          rx_batch: batches[batches.length >> 1] ?? Number.NaN,
          // per thousand frames: the daemon's sleeps (voluntary) and preemptions, the receiver's sleeps
          daemon_sleeps_per_kf: (dcs1.vol - dcs0.vol) / kf,
          daemon_preempt_per_kf: (dcs1.invol - dcs0.invol) / kf,
          rx_sleeps_per_kf: (rcs1.vol - rcs0.vol) / kf,
        });
      }
      // reference: DPDK's vhost PMD in a second testpmd (server), the same generator dialing it
      const sock = join(this.dir, `ref-${Date.now()}.sock`);
      const rcv = start([TESTPMD, ...eal('ref', 1, `net_vhost0,iface=${sock},queues=1`), '--forward-mode=rxonly']);
      children.push(rcv);
      await until(() => existsSync(sock) || rcv.proc.exitCode !== null, 20_000, 'testpmd (vhost PMD) to listen');
      if (rcv.proc.exitCode !== null) return { error: `testpmd (vhost) exited: ${rcv.out().slice(-400)}` };
      const gen = this.generator(sock, size);
      children.push(gen);
      const n = Math.max(1, Math.round(this.secs));
      await until(
        () => {
          const xs = ppsSeries(rcv.out(), 'Rx');
          const first = xs.findIndex((x) => x > 0);
          return (first >= 0 && xs.length >= first + 1 + n) || gen.proc.exitCode !== null;
        },
        30_000 + this.secs * 2000,
        'the vhost PMD to receive for the window',
      );
      if (gen.proc.exitCode !== null) return { error: `testpmd exited: ${gen.out().slice(-400)}` };
      const fps = windowMean(ppsSeries(rcv.out(), 'Rx'), 1, n);
      const sent = windowMean(ppsSeries(gen.out(), 'Tx'), 1, Math.max(1, n - 1));
      return this.result(f, fps, size, { sent_fps: sent });
    } catch (e) {
      return { error: (e as Error).message };
    } finally {
      for (const c of children.reverse()) await stop(c);
      await sleep(100);
    }
  }

  private result(f: E2eFigure, fps: number, size: number, detail: Record<string, number>): Outcome {
    if (!(fps > 0)) return { error: 'no frames in the window' };
    const value = f.field === 'gbps' ? (fps * size * 8) / 1e9 : fps;
    return { value, detail: { fps, ...detail } };
  }
}
