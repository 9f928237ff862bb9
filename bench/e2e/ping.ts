/*
 * The round-trip figure of tap-rtt and vxlan-rtt: `ping -c COUNT -i 0.01`
 * from a namespace, one line per reply. The figure is ping's own average (as
 * BENCHMARKS.md defines it); the details add the per-ping median and p90 from
 * the reply lines, which on a shared machine say more than the average (a few
 * multi-millisecond outliers from other load move the average, not the
 * median).
 */

import type { Outcome } from './e2e.js';
import { run } from './procs.js';

/** `count` pings at 100 Hz from namespace `ns` to `addr`; the average in ms, with the spread, median and p90. */
export async function pingRtt(ns: string, addr: string, count: number): Promise<Outcome> {
  const cmd = ['ip', 'netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.01', '-W', '1', addr];
  const r = await run(cmd, (count * 0.01 + 30) * 1000);
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(r.stdout);
  const loss = /([\d.]+)% packet loss/.exec(r.stdout);
  if (m === null) return { error: `ping: no round-trip line: ${`${r.stdout}${r.stderr}`.trim().slice(0, 300)}` };
  const times: number[] = [];
  for (const t of r.stdout.matchAll(/time=([\d.]+) ms/g)) times.push(Number(t[1]));
  times.sort((a, b) => a - b);
  const at = (q: number): number =>
    times.length === 0 ? Number.NaN : (times[Math.floor(q * (times.length - 1))] as number);
  return {
    value: Number(m[2]),
    detail: {
      rtt_min_ms: Number(m[1]),
      rtt_max_ms: Number(m[3]),
      rtt_mdev_ms: Number(m[4]),
      rtt_p50_ms: at(0.5),
      rtt_p90_ms: at(0.9),
      loss_pct: loss === null ? Number.NaN : Number(loss[1]),
    },
  };
}
