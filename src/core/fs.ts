/*
 * Small file-system helpers shared by the adapters and the daemon (node:fs
 * underneath; nothing here is on a data path).
 */

import { unlinkSync } from 'node:fs';

/** Removes `path` if it is there; a missing file (or any other failure) is not an error. */
export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already, or not ours to remove
  }
}
