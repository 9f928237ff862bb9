/*
 * A second local user for tests of who may do what: created once with
 * useradd (root only), in its own group, and commands run as it with runuser.
 * Tests that need it skip with a reason when not root or without useradd.
 */

import { execFileSync, spawn } from 'node:child_process';
import { BIN } from './daemon.js';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user `name` (created if absent, no home, no login shell), or a reason it cannot be had. */
export function testUser(name: string): TestUser | string {
  if (process.getuid?.() !== 0) return 'needs root to create a second user';
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('useradd', ['--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name], {
        stdio: 'ignore',
      });
    } catch (e) {
      return `useradd ${name} failed: ${(e as Error).message}`;
    }
  }
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { name, uid, gid };
}

/** Runs `uvale args...` as `user`; resolves with exit code and output. */
export function uvaleAs(
  user: TestUser,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', user.name, '--', process.execPath, BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The group `name` (created if absent) with `members` in it as a supplementary group; its gid, or a reason. */
export function testGroup(name: string, members: readonly TestUser[]): number | string {
  if (process.getuid?.() !== 0) return 'needs root to create a group';
  try {
    execFileSync('getent', ['group', name], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('groupadd', [name], { stdio: 'ignore' });
    } catch (e) {
      return `groupadd ${name} failed: ${(e as Error).message}`;
    }
  }
  for (const m of members) {
    try {
      execFileSync('usermod', ['-a', '-G', name, m.name], { stdio: 'ignore' });
    } catch (e) {
      return `usermod -a -G ${name} ${m.name} failed: ${(e as Error).message}`;
    }
  }
  return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
}
