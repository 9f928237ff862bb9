/*
 * Socket files an adapter listens at (QEMU stream back-ends, vhost-user).
 *
 * clearSocketPath(path) makes room for a new listener without harming anyone:
 * an existing file that is not a socket is refused (EXISTS), a socket that
 * something still listens at is refused (BUSY: replacing it would cut off a
 * live service), and only a stale socket, one nobody answers at, is removed.
 * grantSocket(path, access) gives the new socket its owner, group and mode
 * (the requester's, shared with the switch's group; docs/security.md).
 */

import { chmodSync, lchownSync, lstatSync } from 'node:fs';
import { connect } from 'node:net';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { unlinkQuiet } from '../core/fs.js';
import type { SocketAccess } from './adapter.js';

/** True if something accepts connections at unix socket `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
}

/** Removes a stale socket at `path`; refuses a file of another kind or a live socket. */
export async function clearSocketPath(path: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return; // absent
  }
  if (!st.isSocket()) {
    throw new ValeError(
      ErrorCodes.EXISTS,
      `${path} exists and is not a socket: uvale never replaces it; choose another path or remove it yourself`,
    );
  }
  if (await answers(path)) {
    throw new ValeError(
      ErrorCodes.BUSY,
      `something listens at ${path} already: uvale does not take its place; stop it (or detach the port that listens there) or choose another path`,
    );
  }
  unlinkQuiet(path); // left by a process that exited
}

/** Sets a socket file's owner, group and mode (default: leave the owner, mode 0600). */
export function grantSocket(path: string, access: SocketAccess | undefined): void {
  try {
    if (access !== undefined) lchownSync(path, access.uid, access.gid);
    chmodSync(path, access?.mode ?? 0o600);
  } catch (e) {
    throw new ValeError(ErrorCodes.SYSTEM, `cannot set the owner and mode of ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
