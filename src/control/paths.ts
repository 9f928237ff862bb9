/*
 * Where a daemon lives: its run directory, control socket and lock file.
 *
 *   $UVALE_RUN_DIR, else $XDG_RUNTIME_DIR/uvale, else /run/uvale for root,
 *   else <tmpdir>/uvale-<uid> (a private per-user folder).
 *
 * One daemon serves one run directory; every client that uses the same
 * directory reaches the same switches.
 */

import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, ValeError } from '../core/errors.js';

export interface RunPaths {
  dir: string;
  socket: string;
  lock: string;
  log: string;
  /** Settings kept across daemon restarts (uvale sysctl name=value). */
  settings: string;
  /** users/UID/: where a user other than the daemon's owner may have uvale listen (docs/security.md). */
  users: string;
}

export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UVALE_RUN_DIR) return env.UVALE_RUN_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'uvale');
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (uid === 0) return '/run/uvale';
  return join(tmpdir(), `uvale-${uid}`);
}

export function runPaths(dir: string = runDir()): RunPaths {
  return {
    dir,
    socket: join(dir, 'uvale.sock'),
    lock: join(dir, 'uvale.lock'),
    log: join(dir, 'uvale.log'),
    settings: join(dir, 'sysctl.json'),
    users: join(dir, 'users'),
  };
}

/**
 * Creates the run directory (mode 0700) if needed and checks it (docs/security.md):
 * a real directory (not a link), owned by us, that neither its group nor others
 * can write to, since the daemon creates its socket, lock and settings there.
 * With `group`, the daemon's members get in: root-or-owner:group, mode 0750
 * (they reach the 0660 socket; they can create nothing there).
 */
export function ensureRunDir(dir: string, group?: number): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw runDirError(dir, 'cannot create', e);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory())
    throw new ValeError(ErrorCodes.SYSTEM, `run directory ${dir} is not a directory (or is a link)`);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== uid) {
    throw new ValeError(
      ErrorCodes.PERMISSION,
      `run directory ${dir} belongs to uid ${st.uid}, not to us (${uid}); use your own (UVALE_RUN_DIR) or ask its owner for access (uvale daemon --group)`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new ValeError(
      ErrorCodes.PERMISSION,
      `run directory ${dir} is writable by its group or others (mode ${(st.mode & 0o777).toString(8)}): anyone could plant files there; chmod go-w ${dir}, or use another`,
    );
  }
  if (group !== undefined) {
    try {
      chownSync(dir, uid, group);
      chmodSync(dir, 0o750);
    } catch (e) {
      throw runDirError(dir, `cannot give group ${group} access to`, e);
    }
  }
}

function runDirError(dir: string, what: string, e: unknown): ValeError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new ValeError(
      ErrorCodes.PERMISSION,
      `${what} run directory ${dir}: ${(e as Error).message}; run as its owner or root, use your own (UVALE_RUN_DIR=...), or reach a daemon started with --group`,
      { cause: e },
    );
  }
  return new ValeError(ErrorCodes.SYSTEM, `${what} run directory ${dir}: ${(e as Error).message}`, { cause: e });
}
