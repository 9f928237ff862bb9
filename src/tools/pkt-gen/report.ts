/*
 * pkt-gen's output: the periodic report line (stderr) and the final summary
 * (stdout), in netmap pkt-gen's formats so scripts that parse one parse the
 * other:
 *
 *   912.326923 main_thread [0] 3.960 Mpps (3.964 Mpkts 1.903 Gbps in 1001014 usec) 505.14 avg_batch 1 min_space
 *   Sent 1000000 packets 60000000 bytes 1954 events 60 bytes each in 0.25 seconds.
 *   Speed: 3.960 Mpps Bandwidth: 1.903 Gbps (raw 2.664 Gbps). Average batch: 511.77 pkts
 *
 * Units are normalised by 1000 with three decimals (`-N` prints raw numbers).
 * "raw" adds 24 bytes per frame (preamble, inter-frame gap and CRC).
 */

import { norm } from '../common/format.js';

export interface Counts {
  pkts: number;
  bytes: number;
  events: number;
}

/** "%03d.%06d": seconds mod 1000 and microseconds of the wall clock, as netmap's D() prints them. */
export function stamp(nowMs: number = performance.timeOrigin + performance.now()): string {
  const s = Math.floor(nowMs / 1000) % 1000;
  const us = Math.floor((nowMs % 1000) * 1000) % 1000000;
  return `${String(s).padStart(3, '0')}.${String(us).padStart(6, '0')}`;
}

export function reportLine(d: Counts, usec: number, minSpace: number, normalize: boolean, nowMs?: number): string {
  const sec = usec / 1e6 || 1e-6;
  const pps = d.pkts / sec;
  const bps = (8 * d.bytes) / sec;
  const batch = d.events > 0 ? d.pkts / d.events : 0;
  return (
    `${stamp(nowMs)} main_thread [0] ${norm(pps, normalize)}pps (${norm(d.pkts, normalize)}pkts ` +
    `${norm(bps, normalize)}bps in ${Math.round(usec)} usec) ${batch.toFixed(2)} avg_batch ${minSpace} min_space`
  );
}

/** The final two lines; `msg` is "Sent" or "Received". */
export function summary(msg: string, c: Counts, seconds: number, normalize: boolean): string {
  if (c.pkts === 0) return `${msg} nothing.`;
  const size = Math.floor(c.bytes / c.pkts);
  const delta = seconds === 0 ? 1e-6 : seconds;
  const pps = c.pkts / delta;
  const bw = (8 * c.bytes) / delta;
  const raw = (8 * (c.bytes + c.pkts * 24)) / delta;
  const abs = c.events > 0 ? c.pkts / c.events : 0;
  return (
    `${msg} ${c.pkts} packets ${c.bytes} bytes ${c.events} events ${size} bytes each in ${seconds.toFixed(2)} seconds.\n` +
    `Speed: ${norm(pps, normalize)}pps Bandwidth: ${norm(bw, normalize)}bps (raw ${norm(raw, normalize)}bps). Average batch: ${abs.toFixed(2)} pkts`
  );
}

/** The port's drop counters that a summary shows, with their words. */
const DROP_WORDS: Array<[string, string]> = [
  ['dropRxFull', 'RX ring full'],
  ['dropNoDest', 'no destination'],
  ['dropRunt', 'runt'],
  ['dropFrags', 'over 64 slots'],
  ['badSlots', 'bad slots'],
  ['truncated', 'cut chains'],
  ['dropOffload', 'offload'],
];

/**
 * `Dropped at PORT: N frames (RX ring full N, ...)`: what the port's counters
 * (in the port's memory, as `ctl --stats` reads them) grew by during the run.
 */
export function dropLine(port: string, before: object, after: object): string {
  const b = before as Record<string, number>;
  const a = after as Record<string, number>;
  let total = 0;
  const parts: string[] = [];
  for (const [k, words] of DROP_WORDS) {
    const d = (a[k] ?? 0) - (b[k] ?? 0);
    if (d > 0) {
      total += k === 'badSlots' ? 0 : d; // a bad slot is also counted as a runt
      parts.push(`${words} ${d}`);
    }
  }
  return `Dropped at ${port}: ${total} frames${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

/** pkt-gen -A: `[avg/std X/Y pps]` over the last 15 reports (keeps them in `history`). */
export function ppsStats(history: number[], pps: number, normalize: boolean): string {
  history.push(pps);
  if (history.length > 15) history.shift();
  const n = history.length;
  const avg = history.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(history.reduce((s, v) => s + (v - avg) * (v - avg), 0) / n);
  return `[avg/std ${norm(avg, normalize)}/${norm(std, normalize)}pps]`;
}
