/* User and group names to ids and back, read from /etc/passwd and /etc/group (Node has no getpwnam/getgrnam). */

import { readFileSync } from 'node:fs';
import { ErrorCodes, ValeError } from '../../core/errors.js';

/** [name, id] of every entry of an /etc/passwd or /etc/group style file. */
function entries(path: string): Array<[string, number]> {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Array<[string, number]> = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] !== undefined && f[0] !== '' && f[2] !== undefined && /^\d+$/.test(f[2])) out.push([f[0], Number(f[2])]);
  }
  return out;
}

function idOf(path: string, what: string, name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const e = entries(path).find(([n]) => n === name);
  if (e === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `unknown ${what} '${name}'`);
  return e[1];
}

function nameOf(path: string, id: number): string {
  return entries(path).find(([, i]) => i === id)?.[0] ?? String(id);
}

export function groupId(name: string): number {
  return idOf('/etc/group', 'group', name);
}

export function userId(name: string): number {
  return idOf('/etc/passwd', 'user', name);
}

/** The group's name, or its number if it has none. */
export function groupName(gid: number): string {
  return nameOf('/etc/group', gid);
}

/** The user's name, or its number if it has none. */
export function userName(uid: number): string {
  return nameOf('/etc/passwd', uid);
}
