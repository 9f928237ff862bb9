/*
 * One cross-process measurement: a uvale daemon, `uvale pkt-gen -f rx` on
 * vale-bd:1 and `uvale pkt-gen -f tx` on vale-bd:0, three processes on the
 * machine's cores, as users run them. The rate is what the receiver counts:
 * its periodic report lines (pkt-gen -N -T 250, raw numbers) inside the timed
 * window, summed. Prints one JSON line shaped like engine-js's result
 * (impl "daemon"). The generator sends to a unicast MAC nobody announced, so
 * the switch floods it to its one other port (the same delivery as unicast
 * between two ports).
 *
 *   node dist/bench/daemon/daemon-child.js --size 60 --warmup 1 --secs 2 [--sysctl NAME=VALUE]...
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DaemonClient } from '../../src/index.js';

const BIN = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'uvale');
const REPORT = / (\d+) pps \((\d+) pkts (\d+) bps in (\d+) usec\)/;

function start(args: string[], dir: string): { child: ChildProcess; err: () => string } {
  const child = spawn(process.execPath, [BIN, ...args, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  child.stdout?.on('data', (d) => (err += d));
  return { child, err: () => err };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a child has used so far, from /proc (0 if gone). */
function cpuOf(child: ChildProcess): number {
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}
const CLK_TCK = 100;

/** Times a child has gone to sleep so far (voluntary context switches: futex waits, epoll waits). */
function sleepsOf(child: ChildProcess): number {
  try {
    const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

async function portOpen(dir: string, name: string): Promise<void> {
  const end = Date.now() + 10000;
  while (Date.now() < end) {
    try {
      const c = await DaemonClient.connect({ dir, autostart: false });
      const r = (await c.request('list')) as { ports: Array<{ name: string }> };
      c.close();
      if (r.ports.some((p) => p.name === name)) return;
    } catch {
      // not up yet
    }
    await sleep(20);
  }
  throw new Error(`${name} did not open`);
}

function exit(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      warmup: { type: 'string' },
      secs: { type: 'string' },
      slots: { type: 'string' },
      sysctl: { type: 'string', multiple: true },
    },
  });
  const size = Number(values.size ?? 60);
  const warmup = Number(values.warmup ?? 1);
  const secs = Number(values.secs ?? 2);
  // larger rings: the pkt-gens ask for them (-C), the daemon allows them (max_buffers)
  const slots = values.slots === undefined ? [] : ['-C', values.slots];
  const limit = values.slots === undefined ? [] : ['--sysctl', `dev.netmap.max_buffers=${values.slots}`];
  const dir = mkdtempSync(join(tmpdir(), 'uvale-bench-daemon-'));
  const procs: ChildProcess[] = [];
  try {
    const extra = (values.sysctl ?? []).flatMap((v) => ['--sysctl', v]);
    const d = start(['daemon', ...limit, ...extra], dir);
    procs.push(d.child);
    const rx = start(['pkt-gen', '-i', 'vale-bd:1', '-f', 'rx', '-N', '-T', '250', ...slots], dir);
    procs.push(rx.child);
    await portOpen(dir, 'vale-bd:1');
    const tx = start(
      ['pkt-gen', '-i', 'vale-bd:0', '-f', 'tx', '-l', String(size), '-D', '02:00:00:00:00:02', ...slots],
      dir,
    );
    procs.push(tx.child);
    const t0 = Date.now();
    // CPU each process spends in the timed window (about: the window is the receiver's report lines)
    await sleep(warmup * 1000 + 250);
    const c0 = [d.child, tx.child, rx.child].map(cpuOf);
    const s0 = [d.child, tx.child, rx.child].map(sleepsOf);
    await sleep(secs * 1000);
    const c1 = [d.child, tx.child, rx.child].map(cpuOf);
    const s1 = [d.child, tx.child, rx.child].map(sleepsOf);
    await sleep(100);
    tx.child.kill('SIGINT');
    rx.child.kill('SIGINT');
    await Promise.all([exit(tx.child), exit(rx.child)]);
    // report lines ending inside [t0 + warmup, t0 + warmup + secs]
    const lines = rx
      .err()
      .split('\n')
      .filter((l) => REPORT.test(l));
    const skip = Math.ceil((warmup * 1000) / 250) + 1; // the receiver starts before the generator
    let pkts = 0;
    let usec = 0;
    for (const l of lines.slice(skip, skip + Math.floor((secs * 1000) / 250))) {
      const m = REPORT.exec(l) as RegExpExecArray;
      pkts += Number(m[2]);
      usec += Number(m[4]);
    }
    if (usec === 0 || pkts === 0) throw new Error(`no traffic measured; rx said: ${rx.err().slice(-400)}`);
    const mpps = pkts / usec;
    void t0;
    process.stdout.write(
      `${JSON.stringify({
        impl: 'daemon',
        topo: 'daemon',
        size,
        batch: 512,
        frames_in: pkts,
        frames_out: pkts,
        secs: usec / 1e6,
        cpu_secs: usec / 1e6,
        mpps,
        gbps: (mpps * size * 8) / 1000,
        checked: 0,
        mismatches: 0,
        drops: 0,
        // CPU seconds per process over `secs` of the window, and ns of it per frame received
        cpu: { daemon: c1[0] - c0[0], tx: c1[1] - c0[1], rx: c1[2] - c0[2] },
        // times each process went to sleep, per million frames received
        sleeps_per_mframe: {
          daemon: Math.round((s1[0] - s0[0]) / (mpps * secs || 1)),
          tx: Math.round((s1[1] - s0[1]) / (mpps * secs || 1)),
          rx: Math.round((s1[2] - s0[2]) / (mpps * secs || 1)),
        },
        ns_per_frame: {
          daemon: Math.round(((c1[0] - c0[0]) * 1e9) / ((mpps * 1e6 * secs) | 1)),
          tx: Math.round(((c1[1] - c0[1]) * 1e9) / ((mpps * 1e6 * secs) | 1)),
          rx: Math.round(((c1[2] - c0[2]) * 1e9) / ((mpps * 1e6 * secs) | 1)),
        },
      })}\n`,
    );
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`daemon bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
