/*
 * `npm run bench`: the in-process switch against a C engine doing the same
 * work (bench/c/engine.c), figure by figure (bench/figures.ts).
 *
 * Method (as shared/reference/node-calibration.md §1 and §6): each measurement
 * is a child process with a 0.3 s warm-up and a ~1 s timed window that prints
 * one JSON line (bench/children.ts). Runs are interleaved: for each round, for
 * each configuration, the C engine then uvale, back to back, so both see the
 * same moment of a noisy VM. A figure is the median over rounds (with min–max)
 * of uvale's Mpps, of C's Mpps, and of the per-round ratios uvale / C. A uvale
 * run that forwarded wrongly (bytes, counts, drops, learning) makes its figure
 * an error, never a number.
 *
 * Output: a table (default) or, with --json, one JSON object per figure per
 * line on stdout; progress goes to stderr.
 */

import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compileC, embeddedRef, type RunResult, runC, runDaemon, runJs, type Timing } from './children.js';
import { type Config, FIGURES, type Figure } from './figures.js';
import { type FigureReport, printJson, printTable, runHeader } from './report.js';
import { summarize } from './stats.js';

const USAGE = `usage: npm run bench -- [--json] [--rounds N] [--secs S] [--warmup S] [--raw FILE] [NAME...]

Measures uvale's in-process VALE switch (one core, one thread) against a C
engine doing the same work, compiled with cc -O2 (bench/c/engine.c), and the
cross-process path (pkt-gen -> daemon -> pkt-gen) against the in-process one.

  NAME...       figures to run (default: all); known figures:
${FIGURES.map((f) => `                  ${f.name}`).join('\n')}
  --json        one JSON object per figure and line: name, mpps, gbps,
                ref_mpps and ratio (uvale / C), with min/max over rounds
  --rounds N    interleaved rounds (default 5; recorded figures need >= 5)
  --secs S      timed window per run (default 1.0)
  --warmup S    warm-up per run before timing (default 0.3)
  --raw FILE    append every run's JSON line (with round and figure) to FILE
  --help        this text

Mpps = million frames into the switch per second. Gbit/s = frames out x
frame bytes x 8 (broadcast4 counts its 4 copies). See BENCHMARKS.md.
`;

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function parseCli(): { json: boolean; rounds: number; timing: Timing; raw: string | undefined; figures: Figure[] } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  const options = {
    json: { type: 'boolean' },
    rounds: { type: 'string', default: '5' },
    secs: { type: 'string', default: '1.0' },
    warmup: { type: 'string', default: '0.3' },
    raw: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  try {
    parsed = parseArgs({ options, allowPositionals: true });
  } catch (e) {
    fail(`${(e as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const rounds = Number(v.rounds);
  const secs = Number(v.secs);
  const warmup = Number(v.warmup);
  if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a positive integer, got '${v.rounds}'`);
  if (!(secs > 0 && secs <= 60)) fail(`--secs must be in (0, 60], got '${v.secs}'`);
  if (!(warmup >= 0 && warmup <= 60)) fail(`--warmup must be in [0, 60], got '${v.warmup}'`);
  let figures = [...FIGURES];
  if (parsed.positionals.length > 0) {
    figures = parsed.positionals.map((name) => {
      const f = FIGURES.find((x) => x.name === name);
      if (f === undefined) fail(`unknown figure '${name}'; known: ${FIGURES.map((x) => x.name).join(', ')}`);
      return f;
    });
  }
  return { json: v.json === true, rounds, timing: { warmup, secs }, raw: v.raw, figures };
}

interface Runs {
  js: RunResult[];
  c: RunResult[];
  ratios: number[];
  errors: string[];
}

/** A run that got less than this share of a core (CPU time / wall time) was slowed by other load on the VM. */
const CONTENDED = 0.9;

function describe(c: Config): string {
  return `${c.topo} ${c.size} B batch ${c.batch}`;
}

function main(): void {
  const { json, rounds, timing, raw, figures } = parseCli();
  const start = new Date();
  const configs = new Map<string, Config>();
  for (const f of figures) if (!configs.has(f.key)) configs.set(f.key, f);

  const cc = compileC();
  if ('error' in cc) process.stderr.write(`bench: no C reference (${cc.error}); measuring uvale only\n`);
  const ccVersion = 'error' in cc ? undefined : cc.version;
  if (rounds < 5) process.stderr.write(`bench: ${rounds} round(s): a quick look, not a figure to record (use >= 5)\n`);
  const perRun = timing.warmup + timing.secs + 0.1;
  const estimate = Math.ceil(configs.size * rounds * perRun * ('error' in cc ? 1 : 2));
  process.stderr.write(
    `bench: ${configs.size} configuration(s) x ${rounds} round(s), C and uvale interleaved, about ${estimate} s\n`,
  );

  const runs = new Map<string, Runs>();
  for (const key of configs.keys()) runs.set(key, { js: [], c: [], ratios: [], errors: [] });
  for (let r = 1; r <= rounds; r++) {
    for (const [key, config] of configs) {
      const acc = runs.get(key) as Runs;
      const daemon = config.topo === 'daemon';
      const cr = daemon ? runJs(embeddedRef(config), timing) : 'error' in cc ? undefined : runC(cc.bin, config, timing);
      const jr = daemon ? runDaemon(config, timing) : runJs(config, timing);
      let line = `[round ${r}/${rounds}] ${describe(config)}:`;
      for (const [impl, res] of [
        [daemon ? 'embedded' : 'C', cr],
        [daemon ? 'daemon' : 'uvale', jr],
      ] as const) {
        if (res === undefined) continue;
        if (raw !== undefined) appendFileSync(raw, `${JSON.stringify({ round: r, key, ...res })}\n`);
        if (res.error !== undefined) {
          acc.errors.push(`round ${r}, ${impl}: ${res.error}`);
          line += ` ${impl} ERROR (${res.error})`;
        } else {
          line += ` ${impl} ${(res as RunResult).mpps.toFixed(2)} Mpps`;
        }
      }
      if (jr.error === undefined) acc.js.push(jr as RunResult);
      if (cr !== undefined && cr.error === undefined) {
        acc.c.push(cr as RunResult);
        if (jr.error === undefined) acc.ratios.push((jr as RunResult).mpps / (cr as RunResult).mpps);
      }
      process.stderr.write(`${line}\n`);
    }
  }

  const reports: FigureReport[] = figures.map((f) => {
    const acc = runs.get(f.key) as Runs;
    const all = [...acc.js, ...acc.c];
    const contended = all.filter((x) => x.cpu_secs < CONTENDED * x.secs).length;
    const base = { name: f.name, topo: f.topo, size: f.size, batch: f.batch, rounds, contended };
    if (acc.errors.length > 0) return { ...base, error: acc.errors.join('; ') };
    return {
      ...base,
      mpps: summarize(acc.js.map((x) => x.mpps)),
      gbps: summarize(acc.js.map((x) => x.gbps)),
      ...(acc.c.length > 0
        ? {
            refMpps: summarize(acc.c.map((x) => x.mpps)),
            refGbps: summarize(acc.c.map((x) => x.gbps)),
            ratio: summarize(acc.ratios),
          }
        : {}),
    };
  });
  if (json) printJson(reports);
  else printTable(reports, runHeader(start, rounds, timing, ccVersion));
  if (reports.some((r) => r.error !== undefined)) process.exitCode = 1;
}

main();
