/*
 * stream-60: 60-byte frames through uvale's QEMU stream ports, against
 * vde2's vde_switch on the same traffic. One C program (bench/c/framegen.c,
 * compiled here with `cc -O2`) is the generator and the counter for both:
 *
 *   uvale       framegen gen ──unix stream──► port vale-e2e:g ─ daemon ─ port vale-e2e:c ──unix stream──► framegen cnt
 *               (each frame behind QEMU's 4-byte big-endian length; both ports `stream:unix:PATH`,
 *               uvale listening, as `uvale ctl -a vale-e2e:g=stream:unix:PATH` makes them)
 *   vde_switch  framegen gen ──datagrams──► vde_switch -s DIR ──datagrams──► framegen cnt
 *               (both join DIR/ctl with the VDE protocol, as QEMU -netdev vde and every
 *               libvdeplug client do: one unix datagram per frame, vde_switch's own transport)
 *   wire        framegen gen ──unix stream──► framegen cnt (no switch: what the two programs
 *               can move together, measured in every round to show they are not the limit)
 *
 * The counter announces its MAC first, so each switch learns it and the
 * generator's frames are unicast to a learned address. The counter opens its
 * window 0.5 s after the first frame and counts for SECS seconds; the figure
 * is frames per second received. Details per run: frames/s the generator got
 * accepted, frames lost inside the window (sequence gaps: the switch dropped
 * them), and the shares of a core used by the generator, the counter and the
 * switch (the daemon, or vde_switch).
 *
 * Needs cc; vde_switch for the reference (else uvale is measured alone).
 * Runs without root: unix sockets only, in a private temporary directory.
 * UVALE_BENCH_PROF=DIR runs the daemon under `node --cpu-prof` into DIR.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient } from '../../src/index.js';
import { REPO } from '../children.js';
import type { E2eFigure } from '../figures.js';
import type { E2eBench, Outcome, System } from './e2e.js';
import { type Child, cleanup, cpuShare, type Daemon, has, start, startDaemon, stop, until } from './procs.js';

const SWITCH = 'vale-e2e';
const SOURCE = join(REPO, 'bench', 'c', 'framegen.c');
const WARMUP = 0.5;

interface Line {
  role: string;
  fps: number;
  secs: number;
  cpu_secs: number;
  frames?: number;
  lost?: number;
  sent?: number;
}

function lastJson(out: string): Line | null {
  const line = out.trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as Line;
    return typeof j.fps === 'number' ? j : null;
  } catch {
    return null;
  }
}

export class StreamBench implements E2eBench {
  private bin = '';
  private dir = '';
  private daemon: Daemon | null = null;
  private vde: Child | null = null;

  constructor(private readonly secs: number) {}

  skip(): string | null {
    if (process.platform !== 'linux') return 'Linux only';
    if (!has('cc')) return 'cc is not installed (the generator and counter are C)';
    return null;
  }

  systems(): readonly System[] {
    return ['uvale', 'ref', 'wire'];
  }

  async setup(_figures: readonly E2eFigure[]): Promise<string | null> {
    this.dir = cleanup.tempDir('stream');
    this.bin = join(this.dir, 'framegen');
    const cc = spawnSync('cc', ['-O2', '-o', this.bin, SOURCE], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc -O2 ${SOURCE} failed: ${cc.error?.message ?? cc.stderr}`);

    const prof = process.env.UVALE_BENCH_PROF; // a directory: the daemon runs under node --cpu-prof into it
    const d = await startDaemon(
      'stream',
      undefined,
      prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`],
    );
    this.daemon = d;
    const client = await DaemonClient.connect({ dir: d.dir, autostart: false });
    try {
      for (const p of ['g', 'c']) {
        await client.request('attach', { name: `${SWITCH}:${p}=stream:unix:${join(this.dir, `${p}.sock`)}` });
      }
    } finally {
      client.close();
    }

    if (!has('vde_switch')) return 'vde_switch is not installed (apt-get install vde2)';
    const vdeDir = join(this.dir, 'vde');
    // in the foreground with its console on a pipe we hold open: stopped by its pid in the clean-up
    this.vde = start(['vde_switch', '-s', vdeDir], { stdin: 'pipe' });
    try {
      await until(
        () => existsSync(join(vdeDir, 'ctl')) || this.vde?.proc.exitCode !== null,
        10_000,
        'vde_switch to listen',
      );
    } catch (e) {
      return `vde_switch did not start: ${(e as Error).message}`;
    }
    if (this.vde.proc.exitCode !== null) return `vde_switch exited: ${this.vde.err().trim().slice(-300)}`;
    return null;
  }

  /** Waits until neither stream port has a connection (the last run's have been closed), at most 3 s. */
  private async portsIdle(): Promise<void> {
    const d = this.daemon as Daemon;
    await until(
      async () => {
        const c = await DaemonClient.connect({ dir: d.dir, autostart: false });
        try {
          const r = await c.request('adapters', { kind: 'stream' });
          return r.adapters.every((q) => q.state !== 'up');
        } finally {
          c.close();
        }
      },
      3000,
      'the stream ports to be free',
    );
  }

  async measure(_f: E2eFigure, s: System): Promise<Outcome> {
    try {
      if (s === 'uvale') {
        await this.portsIdle();
        const pid = this.daemon?.child.proc.pid;
        const { result, share } = await cpuShare(pid, () =>
          this.pair(['qemu', join(this.dir, 'c.sock')], ['qemu', join(this.dir, 'g.sock')]),
        );
        if (!('error' in result)) result.detail.switch_cpu = share;
        else if (this.daemon?.child.proc.exitCode !== null) {
          return { error: `${result.error}; the uvale daemon exited: ${this.daemon?.log().trim().slice(-300)}` };
        }
        return result;
      }
      if (s === 'ref') {
        const vdeDir = join(this.dir, 'vde');
        const { result, share } = await cpuShare(this.vde?.proc.pid, () => this.pair(['vde', vdeDir], ['vde', vdeDir]));
        if (!('error' in result)) result.detail.switch_cpu = share;
        if ('error' in result && this.vde?.proc.exitCode !== null) {
          return { error: `${result.error}; vde_switch exited: ${this.vde?.err().trim().slice(-300)}` };
        }
        return result;
      }
      const wire = join(this.dir, 'w.sock');
      return await this.pair(['listen', wire], ['qemu', wire]);
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  /** Starts the counter, then (once it is ready) the generator; stops the generator when the counter is done. */
  private async pair(cnt: [string, string], gen: [string, string]): Promise<Outcome> {
    const common = ['--size', '60'];
    const c = start([this.bin, 'cnt', ...cnt, ...common, '--warmup', String(WARMUP), '--secs', String(this.secs)]);
    try {
      await until(() => c.out().includes('ready') || c.proc.exitCode !== null, 5000, 'the counter to connect');
    } catch (e) {
      await stop(c);
      throw e;
    }
    if (c.proc.exitCode !== null) {
      const cd = await c.exited;
      return { error: `counter: ${cd.stderr.trim() || `exit ${cd.code ?? cd.signal}`}` };
    }
    const g = start([this.bin, 'gen', ...gen, ...common, '--secs', String(WARMUP + this.secs + 20)]);
    const limit = setTimeout(() => c.proc.kill('SIGKILL'), (WARMUP + this.secs + 20) * 1000);
    const cd = await c.exited;
    clearTimeout(limit);
    const gd = await stop(g);
    const cl = lastJson(cd.stdout);
    const gl = lastJson(gd.stdout);
    if (cl === null) return { error: `counter: ${cd.stderr.trim() || `exit ${cd.code ?? cd.signal}`}` };
    if (gl === null) return { error: `generator: ${gd.stderr.trim() || `exit ${gd.code ?? gd.signal}`}` };
    const frames = cl.frames ?? 0;
    const lost = cl.lost ?? 0;
    return {
      value: cl.fps,
      detail: {
        sent_fps: gl.fps,
        loss_pct: frames + lost > 0 ? (100 * lost) / (frames + lost) : 0,
        gen_cpu: gl.cpu_secs / gl.secs,
        cnt_cpu: cl.cpu_secs / cl.secs,
      },
    };
  }
}
