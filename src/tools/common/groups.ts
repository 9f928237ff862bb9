/* Group names to ids, read from /etc/group (Node has no getgrnam). */

import { readFileSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../../core/errors.js';

export function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  let text = '';
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    // fall through: unknown group
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  throw new ValeError(ErrorCodes.NOT_FOUND, `unknown group '${name}'`);
}
