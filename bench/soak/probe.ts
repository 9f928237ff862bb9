/*
 * What the soak samples from outside the daemon: its RSS and its open file
 * descriptors by type (/proc/PID/status and /proc/PID/fd), and the files in
 * its run directory. Linux only, as the daemon is.
 */

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface FdCounts {
  total: number;
  socket: number;
  memfd: number;
  eventfd: number;
  pipe: number;
  other: number;
}

export interface ProcSample {
  rssKiB: number;
  fds: FdCounts;
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

export function fdCounts(pid: number): FdCounts {
  const c: FdCounts = { total: 0, socket: 0, memfd: 0, eventfd: 0, pipe: 0, other: 0 };
  for (const n of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${n}`);
    } catch {
      continue; // closed while we looked
    }
    c.total++;
    if (target.startsWith('socket:')) c.socket++;
    else if (target.startsWith('/memfd:')) c.memfd++;
    else if (target.includes('eventfd')) c.eventfd++;
    else if (target.startsWith('pipe:')) c.pipe++;
    else c.other++;
  }
  return c;
}

export function sampleProc(pid: number): ProcSample {
  return { rssKiB: rssKiB(pid), fds: fdCounts(pid) };
}

/** The run directory's entries, sorted. */
export function dirEntries(dir: string): string[] {
  return readdirSync(dir).sort();
}
