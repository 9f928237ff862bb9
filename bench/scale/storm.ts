/*
 * A broadcast storm against the control socket: `ports` daemon ports on one
 * switch, held by `flooders` child processes (bench/scale/flooder.ts), every
 * one flooding 60-byte broadcast frames as fast as it can, so every frame is
 * copied to every other port. Meanwhile the control path is timed the way
 * `uvale ctl` uses it: connect to the run directory's socket, the `list`
 * request, close (the real client, DaemonClient), `samples` times, 50 ms
 * apart; the same before the storm for comparison. The flooders run at nice
 * 19, so the figure is the daemon's own scheduling of forwarding against its
 * control socket, not the kernel's of the daemon against the flooders on a
 * shared machine. Also `uvale ctl` itself
 * (a new process: node's start-up included) a few times each way.
 *
 *   node dist/bench/scale/storm.js [--ports 16] [--flooders 2] [--samples 20] [--slots N]
 *
 * prints one JSON line: idle and storm latencies (ms, median and max), the
 * storm's rate (frames into the switch per second, from the daemon's
 * counters) and copies out per second.
 */

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StatsSnapshot } from '../../src/control/types.js';
import { DaemonClient } from '../../src/index.js';
import { BIN, spawnDaemon } from '../../test/helpers/daemon.js';
import { summarize } from '../stats.js';

const FLOODER = fileURLToPath(new URL('./flooder.js', import.meta.url));

export interface StormOptions {
  ports: number;
  flooders: number;
  samples: number;
  /** Slots per ring of the flooding ports (0: the default geometry). */
  slots: number;
  /** Extra daemon arguments (e.g. --sysctl settings). */
  daemonArgs: string[];
  /** Run the flooders at nice 19 (the figure) or as equals of the daemon (the test: the worst case). */
  nice: boolean;
}

export interface StormResult {
  ports: number;
  slots: number;
  idle_ms: number[];
  storm_ms: number[];
  idle_cli_ms: number[];
  storm_cli_ms: number[];
  /** Frames into the switch per second during the storm, and copies delivered or dropped for full rings. */
  fps_in: number;
  copies_per_sec: number;
  /** The daemon's CPU seconds per wall second during the storm (1 = a whole core). */
  daemon_cpu: number;
}

/** utime + stime of `pid` in seconds (/proc/PID/stat, USER_HZ = 100). */
function cpuSecs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One control round trip as `uvale ctl` does it: connect, list, close (ms). */
async function ctlOnce(dir: string): Promise<number> {
  const t0 = performance.now();
  const c = await DaemonClient.connect({ dir, autostart: false });
  try {
    await c.request('list');
  } finally {
    c.close();
  }
  return performance.now() - t0;
}

/** `uvale ctl --dir DIR`, a new process, wall time (ms). */
function cliOnce(dir: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, 'ctl', '--dir', dir], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`uvale ctl exited ${code}`)),
    );
  });
}

async function sampleCtl(dir: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await ctlOnce(dir));
    await sleep(50);
  }
  return out;
}

function counted(s: StatsSnapshot): { tx: number; out: number } {
  let tx = 0;
  let out = 0;
  for (const sw of s.switches) {
    for (const p of sw.ports) {
      tx += p.counters.txPackets ?? 0;
      out += (p.counters.rxPackets ?? 0) + (p.counters.dropRxFull ?? 0);
    }
  }
  return { tx, out };
}

export async function measureStorm(partial: Partial<StormOptions> = {}): Promise<StormResult> {
  const o: StormOptions = { ports: 16, flooders: 2, samples: 20, slots: 0, daemonArgs: [], nice: true, ...partial };
  const dir = mkdtempSync(join(tmpdir(), 'uvale-storm-'));
  const limits = ['--sysctl', `dev.netmap.max_ports=${Math.max(16, o.ports)}`];
  if (o.slots > 1024) limits.push('--sysctl', `dev.netmap.max_buffers=${o.slots}`);
  const daemon = await spawnDaemon(dir, [...limits, ...o.daemonArgs]);
  daemon.stderr?.resume();
  const kids: ChildProcess[] = [];
  try {
    const idle = await sampleCtl(dir, o.samples);
    const idleCli = [await cliOnce(dir), await cliOnce(dir), await cliOnce(dir)];
    const per = Math.ceil(o.ports / o.flooders);
    const ready: Array<Promise<void>> = [];
    for (let f = 0; f < o.flooders; f++) {
      const names: string[] = [];
      for (let i = f * per; i < Math.min(o.ports, (f + 1) * per); i++) names.push(`vale-storm:${i}`);
      const kid = fork(FLOODER, [], {
        env: {
          ...process.env,
          UVALE_FLOOD: '1',
          UVALE_FLOOD_DIR: dir,
          UVALE_FLOOD_PORTS: names.join(','),
          UVALE_FLOOD_SLOTS: String(o.slots),
        },
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      });
      kids.push(kid);
      // the flooders run at nice 19: the question is whether the daemon starves its own control
      // socket, not whether the kernel gives the daemon a core while 4 spinning flooders want it
      if (o.nice) setPriority(kid.pid as number, 19);
      ready.push(
        new Promise((resolve, reject) => {
          kid.stdout?.on('data', (d) => String(d).includes('ready') && resolve());
          kid.on('exit', (code) => reject(new Error(`flooder exited ${code}`)));
        }),
      );
    }
    await Promise.all(ready);
    await sleep(1000);
    const c = await DaemonClient.connect({ dir, autostart: false });
    const s0 = counted((await c.request('stats')) as StatsSnapshot);
    const t0 = performance.now();
    const cpu0 = cpuSecs(daemon.pid as number);
    c.close();
    const storm = await sampleCtl(dir, o.samples);
    const stormCli = [await cliOnce(dir), await cliOnce(dir), await cliOnce(dir)];
    const c2 = await DaemonClient.connect({ dir, autostart: false });
    const s1 = counted((await c2.request('stats')) as StatsSnapshot);
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuSecs(daemon.pid as number) - cpu0;
    c2.close();
    return {
      ports: o.ports,
      slots: o.slots,
      idle_ms: idle,
      storm_ms: storm,
      idle_cli_ms: idleCli,
      storm_cli_ms: stormCli,
      fps_in: (s1.tx - s0.tx) / secs,
      copies_per_sec: (s1.out - s0.out) / secs,
      daemon_cpu: cpu / secs,
    };
  } finally {
    for (const k of kids) k.kill('SIGKILL');
    daemon.kill('SIGKILL');
    await new Promise((r) =>
      daemon.exitCode !== null || daemon.signalCode !== null ? r(null) : daemon.once('exit', r),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

export function median(xs: readonly number[]): number {
  return summarize(xs).median;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      ports: { type: 'string', default: '16' },
      flooders: { type: 'string', default: '2' },
      samples: { type: 'string', default: '20' },
      slots: { type: 'string', default: '0' },
      'no-nice': { type: 'boolean' },
    },
  });
  measureStorm({
    ports: Number(values.ports),
    flooders: Number(values.flooders),
    samples: Number(values.samples),
    slots: Number(values.slots),
    nice: values['no-nice'] !== true,
  })
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((e) => {
      process.stderr.write(`storm: ${(e as Error).stack}\n`);
      process.exitCode = 1;
    });
}
