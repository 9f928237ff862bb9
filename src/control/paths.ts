/*
 * Where a daemon lives: its run directory, control socket and lock file.
 *
 *   $UVALE_RUN_DIR, else $XDG_RUNTIME_DIR/uvale, else /run/uvale for root,
 *   else <tmpdir>/uvale-<uid> (a private per-user folder).
 *
 * One daemon serves one run directory; every client that uses the same
 * directory reaches the same switches.
 */

import { mkdirSync, statSync } from 'node:fs';
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
  };
}

/** Creates the run directory (mode 0700) if needed and checks that it is ours. */
export function ensureRunDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ValeError(ErrorCodes.SYSTEM, `cannot create run directory ${dir}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new ValeError(ErrorCodes.SYSTEM, `run directory ${dir} is not a directory`);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== uid) {
    throw new ValeError(ErrorCodes.SYSTEM, `run directory ${dir} belongs to uid ${st.uid}, not to us (${uid})`);
  }
}
