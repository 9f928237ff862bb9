/*
 * Helpers for tests that need a daemon: a fresh run directory per test, a
 * daemon in this process or in a child process (for kill tests), the uvale
 * CLI, and polling for a condition with a deadline.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/uvale', import.meta.url));

export function tempRunDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `uvale-test-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A run-directory maker for one test file (call it at the file's top level):
 * every directory it makes is removed when the file's tests end, after
 * `uvale ctl --shutdown` on it when `shutdown` is set (tests that start daemons
 * as child processes).
 */
export function runDirs(opts: { shutdown?: boolean } = {}): (tag: string) => string {
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const c of cleanups) c();
  });
  return (tag: string): string => {
    const t = tempRunDir(tag);
    cleanups.push(() => {
      if (opts.shutdown === true) spawnSync(process.execPath, [BIN, 'ctl', '--shutdown', '--dir', t.dir]);
      t.cleanup();
    });
    return t.dir;
  };
}

/** Whether `cmd` is on the PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Runs `uvale args...`; resolves with exit code and output. */
export function uvale(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `uvale daemon --dir dir` as a child (inside network namespace `netns` if given) and waits for its "serving" line. */
export function spawnDaemon(dir: string, extra: string[] = [], netns?: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const inNs = netns === undefined ? [] : ['netns', 'exec', netns, process.execPath];
    const child = spawn(
      netns === undefined ? process.execPath : 'ip',
      [...inNs, BIN, 'daemon', '--dir', dir, ...extra],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    const t = setTimeout(() => reject(new Error(`daemon did not start: ${err}`)), 10000);
    child.stderr.on('data', (d) => {
      err += d;
      if (err.includes('serving')) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`daemon exited with ${code}: ${err}`));
    });
  });
}

export async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until the daemon of `dir` lists port `name` (a client process opened it). */
export async function waitPort(dir: string, name: string, ms = 10000): Promise<void> {
  const { DaemonClient } = await import('../../src/index.js');
  await until(
    async () => {
      try {
        const c = await DaemonClient.connect({ dir, autostart: false });
        try {
          const r = (await c.request('list')) as { ports: Array<{ name: string }> };
          return r.ports.some((p) => p.name === name);
        } finally {
          c.close();
        }
      } catch {
        return false;
      }
    },
    ms,
    `port ${name} to open`,
  );
}

/** Resolves when `child` exits; rejects if it runs longer than `ms`. */
export function exited(child: ChildProcess, ms = 60000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(child.exitCode);
      return;
    }
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${child.spawnargs.join(' ')} still running after ${ms} ms`));
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}
