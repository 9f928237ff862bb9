/*
 * Running the end-to-end figures (bench/figures.ts E2E_FIGURES): for each
 * group (tap, stream) whose figures were asked for, set up uvale and the
 * reference side by side once, then for each round and each figure measure
 * uvale, then the reference (then, for stream-60, the generator straight into
 * the counter, "wire"), back to back; finally tear everything down, whatever
 * happened. A figure reports the median over rounds (with min–max) of uvale,
 * of the reference and of the per-round ratios uvale / reference, each
 * measured in the same round.
 *
 * A group or figure that cannot run here (not root, a tool missing, no
 * namespaces) is skipped with the reason; a reference that cannot run leaves
 * uvale's figure without a ratio, with the reason. A failed run makes the
 * figure an error (with the runs' messages), never a number.
 */

import { appendFileSync } from 'node:fs';
import type { E2eFigure, E2eGroup } from '../figures.js';
import { type Summary, summarize } from '../stats.js';
import { cleanup, has } from './procs.js';
import { StreamBench } from './stream.js';
import { TapBench } from './tap.js';
import { VhostBench } from './vhost.js';
import { VxlanBench } from './vxlan.js';

export type System = 'uvale' | 'ref' | 'wire';

/** One run: the figure's value (in its JSON field's unit) and details (loss, CPU shares, ...). */
export interface Measurement {
  value: number;
  detail: Record<string, number>;
}

export type Outcome = Measurement | { error: string };

/** A group of figures that share one setup (a daemon, namespaces, a reference switch). */
export interface E2eBench {
  /** Why nothing of this group can run here, or null. */
  skip(): string | null;
  /** Makes the networks; returns why the reference cannot run (uvale is then measured alone), or null. */
  setup(figures: readonly E2eFigure[]): Promise<string | null>;
  /** The systems measured per round, in order. */
  systems(f: E2eFigure): readonly System[];
  measure(f: E2eFigure, system: System): Promise<Outcome>;
}

export interface E2eOptions {
  rounds: number;
  /** Seconds per iperf3 run / counting window / ping series. */
  secs: number;
  raw: string | undefined;
}

export interface E2eReport {
  figure: E2eFigure;
  rounds: number;
  skipped?: string;
  error?: string;
  /** Why there is no reference (no ratio), or undefined. */
  refSkipped?: string;
  value?: Summary;
  ref?: Summary;
  ratio?: Summary;
  /** The figure's "wire" system (no switch; see E2eFigure.wire), when it has one. */
  wire?: Summary;
  /** Medians of each run's details, per system. */
  detail: Partial<Record<System, Record<string, number>>>;
}

function makeBench(g: E2eGroup, secs: number): E2eBench {
  if (g === 'vxlan') return new VxlanBench(secs);
  return g === 'tap' ? new TapBench(secs) : g === 'vhost' ? new VhostBench(secs) : new StreamBench(secs);
}

function label(s: System, f: E2eFigure): string {
  return s === 'ref' ? f.reference : s;
}

function fmt(f: E2eFigure, v: number): string {
  return `${(v / f.scale).toFixed(f.digits)} ${f.unit}`;
}

function medians(runs: readonly Measurement[]): Record<string, number> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.detail)));
  const out: Record<string, number> = {};
  for (const k of keys) {
    const xs = runs.map((r) => r.detail[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    if (xs.length > 0) out[k] = summarize(xs).median;
  }
  return out;
}

async function runGroup(g: E2eGroup, figures: readonly E2eFigure[], opts: E2eOptions): Promise<E2eReport[]> {
  const bench = makeBench(g, opts.secs);
  const base = (f: E2eFigure): E2eReport => ({ figure: f, rounds: opts.rounds, detail: {} });
  const groupSkip = bench.skip();
  if (groupSkip !== null) return figures.map((f) => ({ ...base(f), skipped: groupSkip }));
  const reports = new Map<string, E2eReport>();
  const runnable: E2eFigure[] = [];
  for (const f of figures) {
    const why = f.needs.find((c) => !has(c));
    if (why !== undefined) reports.set(f.name, { ...base(f), skipped: `${why} is not installed` });
    else runnable.push(f);
  }
  if (runnable.length === 0) return figures.map((f) => reports.get(f.name) as E2eReport);

  type Runs = Record<System, Measurement[]> & { ratios: number[]; errors: string[] };
  const runs = new Map<string, Runs>();
  for (const f of runnable) runs.set(f.name, { uvale: [], ref: [], wire: [], ratios: [], errors: [] });
  let refSkip: string | null = null;
  try {
    try {
      refSkip = await bench.setup(runnable);
    } catch (e) {
      const msg = `setup failed: ${(e as Error).message}`;
      process.stderr.write(`bench: ${g}: ${msg}\n`);
      for (const f of runnable) reports.set(f.name, { ...base(f), error: msg });
      return figures.map((f) => reports.get(f.name) as E2eReport);
    }
    if (refSkip !== null) process.stderr.write(`bench: ${g}: no reference (${refSkip}); measuring uvale alone\n`);
    for (let r = 1; r <= opts.rounds; r++) {
      for (const f of runnable) {
        const acc = runs.get(f.name) as Runs;
        let line = `[round ${r}/${opts.rounds}] ${f.name}:`;
        const got: Partial<Record<System, Measurement>> = {};
        for (const s of bench.systems(f)) {
          if (s === 'ref' && refSkip !== null) continue;
          const o = await bench.measure(f, s);
          if (opts.raw !== undefined) {
            appendFileSync(opts.raw, `${JSON.stringify({ round: r, name: f.name, system: s, ...o })}\n`);
          }
          if ('error' in o) {
            acc.errors.push(`round ${r}, ${label(s, f)}: ${o.error}`);
            line += ` ${label(s, f)} ERROR (${o.error})`;
            continue;
          }
          got[s] = o;
          acc[s].push(o);
          line += ` ${label(s, f)} ${fmt(f, o.value)}`;
          if (o.detail.rtt_p50_ms !== undefined) line += ` (p50 ${o.detail.rtt_p50_ms.toFixed(3)})`;
        }
        if (got.uvale !== undefined && got.ref !== undefined && got.ref.value > 0) {
          const ratio = got.uvale.value / got.ref.value;
          acc.ratios.push(ratio);
          line += ` (uvale/ref ${ratio.toFixed(2)})`;
        }
        process.stderr.write(`${line}\n`);
      }
    }
  } finally {
    const failed = cleanup.runAll();
    for (const m of failed) process.stderr.write(`bench: ${g}: clean-up: ${m}\n`);
  }
  for (const f of runnable) {
    const acc = runs.get(f.name) as Runs;
    const rep = base(f);
    if (acc.errors.length > 0) rep.error = acc.errors.join('; ');
    else {
      rep.value = summarize(acc.uvale.map((x) => x.value));
      rep.detail.uvale = medians(acc.uvale);
      if (refSkip !== null) rep.refSkipped = refSkip;
      else if (acc.ref.length > 0) {
        rep.ref = summarize(acc.ref.map((x) => x.value));
        rep.ratio = summarize(acc.ratios);
        rep.detail.ref = medians(acc.ref);
      }
      if (acc.wire.length > 0) {
        rep.wire = summarize(acc.wire.map((x) => x.value));
        rep.detail.wire = medians(acc.wire);
      }
    }
    reports.set(f.name, rep);
  }
  return figures.map((f) => reports.get(f.name) as E2eReport);
}

/** Runs the given e2e figures group by group (groups in the order their first figure was given); reports in that order. */
export async function runE2e(figures: readonly E2eFigure[], opts: E2eOptions): Promise<E2eReport[]> {
  const groups: E2eGroup[] = [];
  for (const f of figures) if (!groups.includes(f.group)) groups.push(f.group);
  const all = new Map<string, E2eReport>();
  cleanup.arm();
  try {
    for (const g of groups) {
      for (const rep of await runGroup(
        g,
        figures.filter((f) => f.group === g),
        opts,
      )) {
        all.set(rep.figure.name, rep);
      }
    }
  } finally {
    cleanup.runAll();
    cleanup.disarm();
  }
  return figures.map((f) => all.get(f.name) as E2eReport);
}

/** Whether a report meets its figure's target (undefined: no target, or no ratio). */
export function targetMet(r: E2eReport): boolean | undefined {
  const g = r.figure.goal;
  if (g !== undefined) return r.value === undefined ? undefined : r.value.median >= g;
  const t = r.figure.target;
  if (t === undefined || r.ratio === undefined) return undefined;
  return r.figure.better === 'higher' ? r.ratio.median >= t : r.ratio.median <= t;
}

/** "≥ 0.5" / "≤ 2". */
export function targetText(f: E2eFigure): string {
  if (f.goal !== undefined) return `>= ${f.goal / f.scale} ${f.unit}`;
  if (f.target === undefined) return '–';
  return `${f.better === 'higher' ? '>=' : '<='} ${f.target}`;
}
