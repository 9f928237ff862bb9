/*
 * Processes and clean-up for the end-to-end figures (bench/e2e/tap.ts,
 * bench/e2e/stream.ts): which tools exist, bounded runs of a command,
 * background children, a uvale daemon in a private run directory, and a
 * clean-up list that runs whatever happens.
 *
 * Everything the e2e figures make (namespaces, links, daemons, children,
 * temporary directories) is registered with `cleanup` as soon as it exists.
 * The steps are synchronous (kill by pid, `ip ... del`, rm), so the same list
 * runs at the end of a group, on an exception, on SIGINT/SIGTERM (then the
 * runner exits 130/143) and, as a last resort, on process exit. Processes are
 * only ever stopped by the pid we started, never by name.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../children.js';

/** True when `cmd` is on the PATH. */
export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v '${cmd}'`], { stdio: 'ignore' }).status === 0;
}

/** The first of `cmds` that is not installed, as a skip reason, or null. */
export function missing(cmds: readonly string[]): string | null {
  for (const c of cmds) if (!has(c)) return `${c} is not installed`;
  return null;
}

export interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command synchronously (ip, sysctl); throws with its stderr unless `ok`. */
export function sh(args: readonly string[], ok = false): Done {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8', timeout: 15_000 });
  const d = { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (!ok && r.status !== 0) {
    throw new Error(`${args.join(' ')} failed (${r.error?.message ?? r.status ?? r.signal}): ${d.stderr.trim()}`);
  }
  return d;
}

/** A background child: its output so far, and its end. */
export interface Child {
  proc: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<Done>;
}

/** Starts `args` in the background; it is killed (by pid) by the clean-up if still running. */
export function start(args: readonly string[], opts: { stdin?: 'pipe' | 'ignore' } = {}): Child {
  const proc = spawn(args[0] as string, args.slice(1), { stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => {
    err += d;
    if (err.length > 65536) err = err.slice(-32768);
  });
  proc.stdin?.on('error', () => {});
  const exited = new Promise<Done>((resolve) => {
    proc.once('error', (e) => resolve({ code: null, signal: null, stdout: out, stderr: `${err}${e.message}` }));
    proc.once('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }));
  });
  cleanup.kill(proc);
  return { proc, out: () => out, err: () => err, exited };
}

/** Runs `args` to the end, killed after `timeoutMs`. */
export async function run(args: readonly string[], timeoutMs: number): Promise<Done> {
  const c = start(args);
  const t = setTimeout(() => c.proc.kill('SIGKILL'), timeoutMs);
  const d = await c.exited;
  clearTimeout(t);
  return d;
}

/** SIGTERM, then SIGKILL after `ms`; resolves when the child has exited. */
export async function stop(c: Child, ms = 3000): Promise<Done> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) {
    c.proc.kill('SIGTERM');
    const t = setTimeout(() => c.proc.kill('SIGKILL'), ms);
    const d = await c.exited;
    clearTimeout(t);
    return d;
  }
  return c.exited;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `pred()` holds, at most `ms`; throws naming `what`. */
export async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** True while `pid` runs (a zombie, which our blocked event loop has not reaped yet, does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** Blocks this thread for `ms` (clean-up steps are synchronous, so they can run in an exit handler). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Kills `pid` (SIGTERM, then SIGKILL after `ms`), synchronously. */
function killPid(pid: number, ms: number): void {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < ms && alive(pid); waited += 20) pause(20);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Clean-up steps, run last-registered first; each runs once, whatever the others do. */
class Cleanup {
  private steps: Array<{ what: string; fn: () => void }> = [];
  private armed = false;

  add(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }

  /** Stops a child we started, by its pid, if it is still running. */
  kill(proc: ChildProcess): void {
    this.add(`kill ${proc.spawnargs[0]} (pid ${proc.pid})`, () => {
      if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) killPid(proc.pid, 2000);
    });
  }

  /** Deletes network namespace `ns` (its veths and TAPs go with it). */
  netns(ns: string): void {
    this.add(`ip netns del ${ns}`, () => {
      if (existsSync(`/run/netns/${ns}`)) sh(['ip', 'netns', 'del', ns], true);
    });
  }

  /** Deletes link `name` of the root namespace, if it exists. */
  link(name: string): void {
    this.add(`ip link del ${name}`, () => {
      if (sh(['ip', 'link', 'show', name], true).code === 0) sh(['ip', 'link', 'del', name], true);
    });
  }

  /** A temporary directory, removed by the clean-up. */
  tempDir(tag: string): string {
    const dir = mkdtempSync(join(tmpdir(), `uvale-bench-${tag}-`));
    this.add(`rm -r ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Runs every step (newest first); returns the failures as text. */
  runAll(): string[] {
    const failed: string[] = [];
    while (this.steps.length > 0) {
      const s = this.steps.pop() as { what: string; fn: () => void };
      try {
        s.fn();
      } catch (e) {
        failed.push(`${s.what}: ${(e as Error).message}`);
      }
    }
    return failed;
  }

  /**
   * Runs the steps on SIGINT/SIGTERM (then exits 130/143) and on exit, until
   * disarm(). Only armed while the e2e figures run: the engine figures block
   * the event loop in spawnSync, where a handler would delay Ctrl-C.
   */
  arm(): void {
    if (this.armed) return;
    this.armed = true;
    process.on('SIGINT', this.onInt);
    process.on('SIGTERM', this.onTerm);
    process.on('exit', this.onExit);
  }

  disarm(): void {
    if (!this.armed) return;
    this.armed = false;
    process.off('SIGINT', this.onInt);
    process.off('SIGTERM', this.onTerm);
    process.off('exit', this.onExit);
  }

  private readonly onSignal = (sig: string, code: number): void => {
    process.stderr.write(`\nbench: ${sig}: cleaning up\n`);
    for (const f of this.runAll()) process.stderr.write(`bench: clean-up: ${f}\n`);
    process.exit(code);
  };
  private readonly onInt = (): void => this.onSignal('SIGINT', 130);
  private readonly onTerm = (): void => this.onSignal('SIGTERM', 143);
  private readonly onExit = (): void => {
    this.runAll();
  };
}

export const cleanup = new Cleanup();

/** A uvale daemon of our own in a private run directory: `uvale daemon --dir DIR`. */
export interface Daemon {
  dir: string;
  child: Child;
  log(): string;
}

/** Settings (NAME=VALUE) every daemon of the bench starts with (run.ts: --sysctl); none by default. */
export const daemonSysctl: string[] = [];

/**
 * Starts `uvale daemon --dir DIR` (inside network namespace `netns` if given: `ip netns exec` execs
 * node, so the pid is the daemon's; `node` = extra node options) and waits until it serves; stopped
 * (SIGTERM, by pid) by the clean-up.
 */
export async function startDaemon(tag: string, netns?: string, node: readonly string[] = []): Promise<Daemon> {
  const dir = join(cleanup.tempDir(tag), 'run');
  const sysctl = daemonSysctl.flatMap((a) => ['--sysctl', a]);
  const inNs = netns === undefined ? [] : ['ip', 'netns', 'exec', netns];
  const child = start([...inNs, process.execPath, ...node, BIN, 'daemon', '--dir', dir, ...sysctl]);
  try {
    await until(
      () => child.err().includes('serving') || child.proc.exitCode !== null,
      15_000,
      'the uvale daemon to serve',
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${child.err().slice(-400)}`);
  }
  if (child.proc.exitCode !== null) throw new Error(`the uvale daemon exited: ${child.err().slice(-400)}`);
  return { dir, child, log: () => child.err() };
}

let clkTck = 0;

/** CPU seconds (user + system) process `pid` has used so far, from /proc/PID/stat; NaN if unknown. */
export function cpuSecs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  if (clkTck === 0) clkTck = Number(sh(['getconf', 'CLK_TCK'], true).stdout.trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return (Number(f[11]) + Number(f[12])) / clkTck; // utime, stime: fields 14, 15
  } catch {
    return Number.NaN;
  }
}

/** Share of one core `pid` used while `fn` ran (CPU seconds / wall seconds), with fn's result. */
export async function cpuShare<T>(
  pid: number | undefined,
  fn: () => Promise<T>,
): Promise<{ result: T; share: number }> {
  const c0 = cpuSecs(pid);
  const t0 = performance.now();
  const result = await fn();
  const share = (cpuSecs(pid) - c0) / ((performance.now() - t0) / 1000);
  return { result, share };
}
