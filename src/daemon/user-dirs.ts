/*
 * Each user's directory for sockets: <run dir>/users/UID/ (docs/security.md).
 *
 * A user other than the daemon's owner may have uvale listen (QEMU stream
 * back-ends, vhost-user) only at a plain name in its own directory. The
 * directories are the daemon's (mode 0711 for users/, 0755 for UID/), so
 * nobody else can plant a file or a link there: whatever is at such a path
 * uvale made. The sockets themselves belong to the user (socket-file.ts).
 */

import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCodes, ValeError } from '../core/errors.js';

/** A socket name: what may follow users/UID/. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

function ensureDir(path: string, mode: number): void {
  try {
    mkdirSync(path, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ValeError(ErrorCodes.SYSTEM, `cannot create ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  const st = lstatSync(path);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new ValeError(
      ErrorCodes.PERMISSION,
      `${path} is not a directory of the daemon's that only it can write; remove it and try again`,
    );
  }
  chmodSync(path, mode);
}

/** users/UID under `base` (created if needed). */
export function userDir(base: string, uid: number): string {
  ensureDir(base, 0o711);
  const dir = join(base, String(uid));
  ensureDir(dir, 0o755);
  return dir;
}

/** Throws PERMISSION unless `path` is a plain name directly in `dir`. */
export function checkInUserDir(path: string, dir: string, uid: number): void {
  const p = resolve(path);
  if (dirname(p) === dir && NAME.test(basename(p))) return;
  throw new ValeError(
    ErrorCodes.PERMISSION,
    `uid ${uid} may have uvale listen only in its own directory ${dir}/ (a plain name: letters, digits, '.', '_', '-'), not at ${path}; other paths, addresses and TAP interfaces are for root or the daemon's owner (docs/security.md)`,
  );
}
