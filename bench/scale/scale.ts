/*
 * The scale figures of `npm run bench` (issue 10), each run as child
 * processes (a fresh V8 per run), rounds interleaved like the other figures:
 *
 *   scale-254          the in-process switch at its maximum, 252 ports (VALE's
 *                      254 slots less the two it reserves: MAX_PORT_INDEX in
 *                      src/switch/vale-switch.ts), port i sending unicast to
 *                      port i+1 (bench/scale/scale-engine.ts); Mframes/s in;
 *                      ref = the same loop with 2 ports in the same round;
 *                      target ratio >= 0.8
 *   port-memory        the daemon's RSS growth per default port, 252 ports
 *                      opened and every buffer used once (bench/scale/
 *                      port-memory.ts); MiB per port; ref = the size of a
 *                      default port's region; target <= 4.5 MiB
 *   storm-ctl-latency  connect + list + close on the control socket (as `uvale
 *                      ctl`) while 16 ports flood broadcast (bench/scale/
 *                      storm.ts); median ms of 20; ref = the same before the
 *                      storm; target <= 100 ms
 *   storm-ctl-latency-64x4096  the same with 64 ports of 4096-slot rings
 */

import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, round, type Summary, summarize } from '../stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface ScaleFigure {
  name: string;
  unit: string;
  digits: number;
  better: 'higher' | 'lower';
  /** Compared with the ratio (scale-254) or the value itself (the others). */
  target: { of: 'ratio' | 'value'; limit: number };
  ref: string;
}

export const SCALE_FIGURES: readonly ScaleFigure[] = [
  {
    name: 'scale-254',
    unit: 'Mframes/s',
    digits: 2,
    better: 'higher',
    target: { of: 'ratio', limit: 0.8 },
    ref: '2 ports',
  },
  {
    name: 'port-memory',
    unit: 'MiB/port',
    digits: 2,
    better: 'lower',
    target: { of: 'value', limit: 4.5 },
    ref: 'region MiB',
  },
  {
    name: 'storm-ctl-latency',
    unit: 'ms',
    digits: 1,
    better: 'lower',
    target: { of: 'value', limit: 100 },
    ref: 'idle ms',
  },
  {
    name: 'storm-ctl-latency-64x4096',
    unit: 'ms',
    digits: 1,
    better: 'lower',
    target: { of: 'value', limit: 100 },
    ref: 'idle ms',
  },
];

interface One {
  value: number;
  ref: number;
  detail: string;
}

function child(script: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [join(HERE, script), ...args], { encoding: 'utf8', timeout: 300_000 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o.error === 'string') throw new Error(o.error);
    return o;
  } catch (e) {
    throw new Error(`${script}: ${(e as Error).message}; stderr: ${(r.stderr ?? '').trim().slice(-300)}`);
  }
}

const med = (xs: unknown) => summarize(xs as number[]).median;

function runOnce(f: ScaleFigure): One {
  switch (f.name) {
    case 'scale-254': {
      const args = ['--slots', '1024', '--batch', '512'];
      const two = child('scale-engine.js', ['--ports', '2', ...args]);
      const many = child('scale-engine.js', ['--ports', '252', ...args]);
      return {
        value: many.mpps as number,
        ref: two.mpps as number,
        // the VM is shared: the ratio of rates per CPU second says what the switch did with the core it got
        detail: `per CPU second ${((many.frames_in as number) / (many.cpu_secs as number) / 1e6).toFixed(2)} vs ${((two.frames_in as number) / (two.cpu_secs as number) / 1e6).toFixed(2)} M, ratio ${((many.frames_in as number) / (many.cpu_secs as number) / ((two.frames_in as number) / (two.cpu_secs as number))).toFixed(2)}`,
      };
    }
    case 'port-memory': {
      const m = child('port-memory.js', ['--ports', '252']);
      return {
        value: m.per_port_mib as number,
        ref: (m.region_bytes as number) / 1048576,
        detail: `252 ports; RSS ${m.rss_idle_kib} -> ${m.rss_open_kib} (open) -> ${m.rss_traffic_kib} KiB (used)`,
      };
    }
    default: {
      const big = f.name.endsWith('64x4096');
      const s = child('storm.js', big ? ['--ports', '64', '--flooders', '4', '--slots', '4096'] : ['--ports', '16']);
      return {
        value: med(s.storm_ms),
        ref: med(s.idle_ms),
        detail: `max ${Math.max(...(s.storm_ms as number[])).toFixed(0)} ms; ${((s.fps_in as number) / 1e6).toFixed(2)} Mframes/s in; uvale ctl process ${med(s.storm_cli_ms).toFixed(0)} ms (idle ${med(s.idle_cli_ms).toFixed(0)})`,
      };
    }
  }
}

export interface ScaleReport {
  figure: ScaleFigure;
  value?: Summary;
  ref?: Summary;
  ratio?: Summary;
  met?: boolean;
  detail: string[];
  error?: string;
}

export function runScale(figs: readonly ScaleFigure[], rounds: number, raw: string | undefined): ScaleReport[] {
  const acc = figs.map((f) => ({ f, runs: [] as One[], errors: [] as string[] }));
  for (let r = 1; r <= rounds; r++) {
    for (const a of acc) {
      try {
        const one = runOnce(a.f);
        a.runs.push(one);
        if (raw !== undefined) appendFileSync(raw, `${JSON.stringify({ round: r, figure: a.f.name, ...one })}\n`);
        process.stderr.write(
          `[round ${r}/${rounds}] ${a.f.name}: ${one.value.toFixed(a.f.digits)} ${a.f.unit} (ref ${one.ref.toFixed(a.f.digits)}; ${one.detail})\n`,
        );
      } catch (e) {
        a.errors.push(`round ${r}: ${(e as Error).message}`);
        process.stderr.write(`[round ${r}/${rounds}] ${a.f.name}: ERROR ${(e as Error).message}\n`);
      }
    }
  }
  return acc.map(({ f, runs, errors }) => {
    if (errors.length > 0) return { figure: f, detail: [], error: errors.join('; ') };
    const value = summarize(runs.map((x) => x.value));
    const ref = summarize(runs.map((x) => x.ref));
    const ratio = summarize(runs.map((x) => x.value / x.ref));
    const v = f.target.of === 'ratio' ? ratio.median : value.median;
    const met = f.better === 'higher' ? v >= f.target.limit : v <= f.target.limit;
    return { figure: f, value, ref, ratio, met, detail: runs.map((x) => x.detail) };
  });
}

export function printScale(reports: readonly ScaleReport[], json: boolean): void {
  if (json) {
    for (const r of reports) {
      const f = r.figure;
      const o: Record<string, unknown> = { name: f.name, unit: f.unit };
      if (r.error !== undefined) o.error = r.error;
      else {
        const v = r.value as Summary;
        Object.assign(o, {
          value: round(v.median, 3),
          value_min: round(v.min, 3),
          value_max: round(v.max, 3),
          ref: round((r.ref as Summary).median, 3),
          ratio: round((r.ratio as Summary).median, 3),
          target: `${f.target.of} ${f.better === 'higher' ? '>=' : '<='} ${f.target.limit}`,
          target_met: r.met,
          detail: r.detail,
        });
      }
      process.stdout.write(`${JSON.stringify(o)}\n`);
    }
    return;
  }
  const rows = reports.map((r) => {
    const f = r.figure;
    if (r.error !== undefined) return [f.name, f.unit, `ERROR: ${r.error}`];
    const tgt = `${f.target.of === 'ratio' ? 'ratio ' : ''}${f.better === 'higher' ? '>=' : '<='} ${f.target.limit}`;
    return [
      f.name,
      f.unit,
      formatSummary(r.value as Summary, f.digits),
      `${(r.ref as Summary).median.toFixed(f.digits)} (${f.ref})`,
      (r.ratio as Summary).median.toFixed(2),
      tgt,
      r.met ? 'yes' : 'NO',
      r.detail[r.detail.length >> 1] ?? '',
    ];
  });
  const cols = ['figure', 'unit', 'uvale', 'ref', 'uvale/ref', 'target', 'met', 'detail (median round)'];
  const widths = cols.map((c, i) =>
    Math.max(c.length, ...rows.filter((r) => r.length > i + 1).map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ');
  process.stdout.write(
    `${[
      'uvale bench, scale: the switch at 252 ports, the memory of a port, the control socket under a broadcast storm',
      'each cell: median (min–max) over the rounds; see bench/scale/scale.ts',
      '',
      line(cols),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.map(line),
    ].join('\n')}\n`,
  );
}
