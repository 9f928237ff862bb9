/*
 * Printing bench results: a fixed-width table for people, or one JSON object
 * per figure and line for scripts (--json). Both carry the same numbers:
 * medians over rounds with min and max, uvale first, then the C reference
 * measured in the same rounds and the median of the per-round ratios.
 */

import { cpus } from 'node:os';
import type { Timing } from './children.js';
import { type E2eReport, targetMet, targetText } from './e2e/e2e.js';
import { formatSummary, round, type Summary } from './stats.js';

export interface FigureReport {
  name: string;
  topo: string;
  size: number;
  batch: number;
  rounds: number;
  /** Runs (uvale and C) that got less than 90% of a core: other load on the VM slowed them. */
  contended: number;
  mpps?: Summary;
  gbps?: Summary;
  refMpps?: Summary;
  refGbps?: Summary;
  ratio?: Summary;
  error?: string;
}

export function runHeader(start: Date, rounds: number, t: Timing, cc: string | undefined): string[] {
  const cpu = cpus();
  return [
    `uvale bench: in-process switch (one thread) vs C reference (bench/c/engine.c, ${cc ?? 'not available'}, -O2)`,
    `${start.toISOString()}  node ${process.version}  ${cpu.length} vCPU ${cpu[0]?.model ?? '?'}`,
    `Mpps = million frames into the switch per second; Gbit/s = frames out x frame bytes x 8 (broadcast4: 4 copies out per frame in)`,
    `each cell: median (min–max) over ${rounds} rounds; each run a fresh process, ${t.warmup} s warm-up + ${t.secs} s timed;`,
    `ref = the C engine for engine-*, the in-process engine-unicast of the same size for daemon-* and monitor-*;`,
    `ref then uvale back to back in every round; uvale/ref = median of the per-round ratios`,
  ];
}

function pad(s: string, w: number, right = false): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

export function printTable(reports: readonly FigureReport[], header: readonly string[]): void {
  const cols = ['figure', 'batch', 'uvale Mpps', 'ref Mpps', 'uvale/ref', 'uvale Gbit/s', 'ref Gbit/s'];
  const rows = reports.map((r) =>
    r.error !== undefined
      ? [r.name, String(r.batch), `ERROR: ${r.error}`]
      : [
          r.name,
          String(r.batch),
          formatSummary(r.mpps as Summary, 2),
          r.refMpps ? formatSummary(r.refMpps, 2) : '–',
          r.ratio ? formatSummary(r.ratio, 2) : '–',
          formatSummary(r.gbps as Summary, 1),
          r.refGbps ? r.refGbps.median.toFixed(1) : '–',
        ],
  );
  const widths = cols.map((c, i) =>
    Math.max(c.length, ...rows.filter((r) => r.length > 1 + i).map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i] as number, i === 1))).join('  ');
  const out = [...header, '', line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const perConfig = new Map(reports.map((r) => [`${r.topo}-${r.size}-${r.batch}`, r.contended]));
  const contended = [...perConfig.values()].reduce((n, c) => n + c, 0);
  if (contended > 0) {
    out.push(
      '',
      `${contended} run(s) got less than 90% of a core (other load on the VM); medians and ratios absorb some of it`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export function printJson(reports: readonly FigureReport[]): void {
  for (const r of reports) {
    const base = { name: r.name, topo: r.topo, size: r.size, batch: r.batch, rounds: r.rounds, contended: r.contended };
    if (r.error !== undefined) {
      process.stdout.write(`${JSON.stringify({ ...base, error: r.error })}\n`);
      continue;
    }
    const m = r.mpps as Summary;
    const g = r.gbps as Summary;
    const o: Record<string, unknown> = {
      ...base,
      mpps: round(m.median, 3),
      mpps_min: round(m.min, 3),
      mpps_max: round(m.max, 3),
      gbps: round(g.median, 3),
      gbps_min: round(g.min, 3),
      gbps_max: round(g.max, 3),
    };
    if (r.refMpps !== undefined && r.ratio !== undefined && r.refGbps !== undefined) {
      o.ref_mpps = round(r.refMpps.median, 3);
      o.ref_mpps_min = round(r.refMpps.min, 3);
      o.ref_mpps_max = round(r.refMpps.max, 3);
      o.ref_gbps = round(r.refGbps.median, 3);
      o.ratio = round(r.ratio.median, 3);
      o.ratio_min = round(r.ratio.min, 3);
      o.ratio_max = round(r.ratio.max, 3);
    }
    process.stdout.write(`${JSON.stringify(o)}\n`);
  }
}

/*
 * End-to-end figures (bench/e2e/): a second table, and JSON lines named by
 * the figure's unit: gbps (tap-tcp), fps (tap-udp-60, stream-60) or rtt_ms
 * (tap-rtt), with ref_<field> for the reference and ratio = uvale / reference.
 */

export function e2eHeader(start: Date, rounds: number, secs: number): string[] {
  const cpu = cpus();
  return [
    `uvale bench, end to end: real traffic through the uvale daemon vs a reference measured in the same rounds`,
    `${start.toISOString()}  node ${process.version}  ${cpu.length} vCPU ${cpu[0]?.model ?? '?'}`,
    `each cell: median (min–max) over ${rounds} rounds of ${secs} s runs; uvale then the reference, back to back;`,
    `uvale/ref = median of the per-round ratios (tap-rtt: lower is better); "wire": the same traffic with no switch (below)`,
  ];
}

function cell(r: E2eReport, s: Summary | undefined): string {
  return s === undefined
    ? '–'
    : formatSummary(
        { ...s, median: s.median / r.figure.scale, min: s.min / r.figure.scale, max: s.max / r.figure.scale },
        r.figure.digits,
      );
}

export function printE2eTable(reports: readonly E2eReport[], header: readonly string[]): void {
  const cols = ['figure', 'unit', 'uvale', 'reference', 'ref', 'uvale/ref', 'target', 'met'];
  const rows = reports.map((r) => {
    const f = r.figure;
    if (r.skipped !== undefined) return [f.name, f.unit, `skipped: ${r.skipped}`];
    if (r.error !== undefined) return [f.name, f.unit, `ERROR: ${r.error}`];
    const met = targetMet(r);
    return [
      f.name,
      f.unit,
      cell(r, r.value),
      r.refSkipped !== undefined ? `(none: ${r.refSkipped})` : f.reference,
      cell(r, r.ref),
      r.ratio ? formatSummary(r.ratio, 2) : '–',
      targetText(f),
      met === undefined ? '–' : met ? 'yes' : 'no',
    ];
  });
  const widths = cols.map((c, i) =>
    Math.max(c.length, ...rows.filter((r) => r.length > 1 + i).map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i] as number))).join('  ');
  const out = [...header, '', line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const r of reports) {
    if (r.wire !== undefined) {
      out.push('', `${r.figure.name} wire: ${cell(r, r.wire)} ${r.figure.unit}`, `  (${r.figure.wire ?? 'no switch'})`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function roundDetail(d: Record<string, number> | undefined): Record<string, number> | undefined {
  if (d === undefined) return undefined;
  const o: Record<string, number> = {};
  for (const [k, v] of Object.entries(d)) o[k] = round(v, 4);
  return o;
}

export function printE2eJson(reports: readonly E2eReport[]): void {
  for (const r of reports) {
    const f = r.figure;
    const o: Record<string, unknown> = { name: f.name, kind: 'e2e', rounds: r.rounds, reference: f.reference };
    if (r.skipped !== undefined) o.skipped = r.skipped;
    else if (r.error !== undefined) o.error = r.error;
    else {
      const digits = f.field === 'fps' ? 0 : 4;
      const put = (key: string, s: Summary | undefined): void => {
        if (s === undefined) return;
        o[key] = round(s.median, digits);
        o[`${key}_min`] = round(s.min, digits);
        o[`${key}_max`] = round(s.max, digits);
      };
      put(f.field, r.value);
      put(`ref_${f.field}`, r.ref);
      if (r.ratio !== undefined) {
        o.ratio = round(r.ratio.median, 3);
        o.ratio_min = round(r.ratio.min, 3);
        o.ratio_max = round(r.ratio.max, 3);
      }
      if (r.refSkipped !== undefined) o.ref_skipped = r.refSkipped;
      put(`wire_${f.field}`, r.wire);
      o.better = f.better;
      if (f.target !== undefined || f.goal !== undefined) {
        o.target = targetText(f);
        const met = targetMet(r);
        if (met !== undefined) o.target_met = met;
      }
      o.detail = {
        uvale: roundDetail(r.detail.uvale),
        ref: roundDetail(r.detail.ref),
        wire: roundDetail(r.detail.wire),
      };
    }
    process.stdout.write(`${JSON.stringify(o)}\n`);
  }
}
