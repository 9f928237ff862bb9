/*
 * Helpers for tests that build Linux networks: whether they can run here
 * (root, /dev/net/tun, the ip command), short unique interface and namespace
 * names, and bounded runs of ip / ping / iperf3 that never hang a test.
 *
 * Every name carries this process's pid, so a leftover from a crashed run
 * never collides with a new one, and cleanup() removes by exact name.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Why TAP/namespace tests cannot run here, or null when they can. */
export function netSkipReason(extra: string[] = []): string | null {
  if (process.platform !== 'linux') return 'Linux only';
  if (process.getuid?.() !== 0) return 'needs root (TAP devices and network namespaces; CI runs as root)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun on this machine';
  for (const cmd of ['ip', ...extra]) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
      return `${cmd} is not installed (CI installs it: .ci/run)`;
    }
  }
  return null;
}

/** A short tag unique to this process (base 36 of the pid), for names of at most 15 bytes. */
export const PID_TAG = (process.pid % 46656).toString(36);

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command synchronously (ip, sysctl); throws with its stderr unless `ok` says failure is fine. */
export function sh(args: string[], opts: { ok?: boolean; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 10_000 });
  const res = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (opts.ok !== true && r.status !== 0) {
    throw new Error(`${args.join(' ')} failed (${r.status ?? r.signal}): ${res.stderr.trim()}`);
  }
  return res;
}

/** `ip ARGS...`. */
export function ip(...args: string[]): RunResult {
  return sh(['ip', ...args]);
}

/** Runs `args` inside network namespace `ns`, asynchronously, killed after `timeoutMs`. */
export function nsRun(ns: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', ns, ...args], timeoutMs);
}

/** Runs a command asynchronously (the event loop keeps turning), killed after `timeoutMs`. */
export function run(args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(args[0] as string, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Stops a child we started (SIGTERM, then SIGKILL) and waits for it, at most `ms`. */
export async function stopChild(child: ChildProcess, ms = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await done;
  clearTimeout(t);
}

/** True when interface `name` exists in the root namespace (or in `ns`). */
export function linkExists(name: string, ns?: string): boolean {
  const args = ns === undefined ? ['link', 'show', name] : ['-n', ns, 'link', 'show', name];
  return sh(['ip', ...args], { ok: true }).code === 0;
}

/**
 * Makes an interface silent before it comes up: no IPv6 (router
 * solicitations, MLD) and no multicast (IGMP reports), so the kernel sends no
 * frames of its own into the switch. For interfaces that carry test frames
 * only, not IP.
 */
export function quiet(ifname: string, ns?: string): void {
  const pre = ns === undefined ? [] : ['ip', 'netns', 'exec', ns];
  sh([...pre, 'sysctl', '-qw', `net.ipv6.conf.${ifname}.disable_ipv6=1`], { ok: true });
  sh([...pre, 'ip', 'link', 'set', 'dev', ifname, 'multicast', 'off']);
}

/** Records cleanups (run in reverse order, each one even if another fails). */
export class Cleanup {
  private readonly steps: Array<() => void | Promise<void>> = [];

  add(step: () => void | Promise<void>): void {
    this.steps.push(step);
  }

  /** Deletes namespace `ns` when run (its interfaces go with it; taps are destroyed). */
  netns(ns: string): void {
    this.add(() => {
      sh(['ip', 'netns', 'del', ns], { ok: true });
    });
  }

  /** Deletes link `name` (in the root namespace) when run, if it still exists. */
  link(name: string): void {
    this.add(() => {
      sh(['ip', 'link', 'del', name], { ok: true });
    });
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length > 0) {
      const s = this.steps.pop() as () => void | Promise<void>;
      try {
        await s();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** A tshark capture started by startTshark. */
export interface Capture {
  /** Waits for tshark to end (at most `ms`), stops it, and returns its output lines split at tabs. */
  rows(ms: number): Promise<string[][]>;
  /** All it printed so far, stdout then the tail of stderr (for assertion messages). */
  text(): string;
}

/** Starts `tshark ARGS` in namespace `ns` (pushed on `children` for clean-up) and resolves once it captures. */
export function startTshark(ns: string, args: string[], children: ChildProcess[]): Promise<Capture> {
  const cap = spawn('ip', ['netns', 'exec', ns, 'tshark', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(cap);
  let out = '';
  let err = '';
  const done = new Promise<void>((r) => cap.on('close', () => r()));
  const capture: Capture = {
    async rows(ms) {
      await Promise.race([done, new Promise((r) => setTimeout(r, ms))]);
      await stopChild(cap);
      return out
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t'));
    },
    text: () => `${out}${err.slice(-300)}`,
  };
  cap.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tshark did not start in 15 s: ${err}`)), 15_000);
    cap.stderr.on('data', (d) => {
      err += d;
      if (err.includes('Capturing on')) {
        clearTimeout(t);
        resolve(capture);
      }
    });
  });
}
