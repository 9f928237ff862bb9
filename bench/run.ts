/*
 * `npm run bench`: the in-process switch against a C engine doing the same
 * work (bench/c/engine.c), figure by figure (bench/figures.ts), then the
 * end-to-end figures (bench/e2e/: TAP hosts against the Linux bridge, QEMU
 * stream ports against vde_switch).
 *
 * Method (docs/performance-notes.md, measuring): each measurement
 * is a child process with a 0.3 s warm-up and a ~1 s timed window that prints
 * one JSON line (bench/children.ts). Runs are interleaved: for each round, for
 * each configuration, the C engine then uvale, back to back, so both see the
 * same moment of a noisy VM. A figure is the median over rounds (with min–max)
 * of uvale's Mpps, of C's Mpps, and of the per-round ratios uvale / C. A uvale
 * run that forwarded wrongly (bytes, counts, drops, learning) makes its figure
 * an error, never a number.
 *
 * The end-to-end figures follow the same method with their own runs: for
 * each round, uvale then its reference, back to back (bench/e2e/e2e.ts).
 *
 * Output: a table (default) or, with --json, one JSON object per figure per
 * line on stdout; progress goes to stderr.
 */

import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compileC, embeddedRef, type RunResult, runC, runDaemon, runJs, type Timing } from './children.js';
import { runE2e } from './e2e/e2e.js';
import { daemonSysctl } from './e2e/procs.js';
import { type Config, E2E_FIGURES, type E2eFigure, FIGURES, type Figure } from './figures.js';
import {
  e2eHeader,
  type FigureReport,
  printE2eJson,
  printE2eTable,
  printJson,
  printTable,
  runHeader,
} from './report.js';
import { summarize } from './stats.js';

const USAGE = `usage: npm run bench -- [--json] [--rounds N] [--secs S] [--warmup S] [--e2e-secs N] [--sysctl NAME=VALUE] [--raw FILE] [NAME...]

Measures uvale's in-process VALE switch (one core, one thread) against a C
engine doing the same work, compiled with cc -O2 (bench/c/engine.c), the
cross-process path (pkt-gen -> daemon -> pkt-gen) against the in-process one,
and end to end: TAP hosts in network namespaces through the daemon against
the Linux bridge (root, iperf3, ping), and QEMU stream ports against
vde_switch (cc; vde2 for the reference).

  NAME...       figures to run (default: all); a NAME may hold * wildcards,
                e.g. 'tap-*', 'engine-*-60', '*-60'. Known figures:
${FIGURES.map((f) => `                  ${f.name}`).join('\n')}
${E2E_FIGURES.map((f) => `                  ${f.name}  (end to end; reference: ${f.reference})`).join('\n')}
  --json        one JSON object per figure and line: name, mpps, gbps,
                ref_mpps and ratio (uvale / C), with min/max over rounds;
                end-to-end figures: gbps, fps or rtt_ms, ref_<same>, ratio,
                target, target_met, detail (see BENCHMARKS.md)
  --rounds N    interleaved rounds (default 5; recorded figures need >= 5)
  --secs S      timed window per engine/daemon run (default 1.0)
  --warmup S    warm-up per engine/daemon run before timing (default 0.3)
  --e2e-secs N  seconds per end-to-end run: iperf3 -t N, ping -c 100N at
                10 ms, stream-60's counting window (default 3)
  --sysctl NAME=VALUE  start the end-to-end figures' daemon with this setting
                (repeatable; e.g. uvale.busy_poll=20000); default: defaults
  --raw FILE    append every run's JSON line (with round and figure) to FILE
  --help        this text

Mpps = million frames into the switch per second. Gbit/s = frames out x
frame bytes x 8 (broadcast4 counts its 4 copies). See BENCHMARKS.md.
`;

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

interface Cli {
  json: boolean;
  rounds: number;
  timing: Timing;
  e2eSecs: number;
  raw: string | undefined;
  figures: Figure[];
  e2e: E2eFigure[];
}

/** A figure name pattern: '*' matches any run of characters. */
function matcher(pattern: string): (name: string) => boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return (name) => re.test(name);
}

function parseCli(): Cli {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  const options = {
    json: { type: 'boolean' },
    rounds: { type: 'string', default: '5' },
    secs: { type: 'string', default: '1.0' },
    warmup: { type: 'string', default: '0.3' },
    'e2e-secs': { type: 'string', default: '3' },
    raw: { type: 'string' },
    sysctl: { type: 'string', multiple: true },
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
  const e2eSecs = Number(v['e2e-secs']);
  if (!Number.isInteger(e2eSecs) || e2eSecs < 1 || e2eSecs > 60) {
    fail(`--e2e-secs must be an integer in [1, 60], got '${v['e2e-secs']}'`);
  }
  for (const a of v.sysctl ?? []) {
    if (!/^[\w.]+=-?\d+$/.test(a)) fail(`--sysctl takes NAME=VALUE (an integer), got '${a}'`);
    daemonSysctl.push(a);
  }
  let figures = [...FIGURES];
  let e2e = [...E2E_FIGURES];
  if (parsed.positionals.length > 0) {
    const known = [...FIGURES, ...E2E_FIGURES].map((x) => x.name);
    const names: string[] = [];
    for (const pattern of parsed.positionals) {
      const hits = known.filter(matcher(pattern));
      if (hits.length === 0) fail(`no figure matches '${pattern}'; known: ${known.join(', ')}`);
      for (const h of hits) if (!names.includes(h)) names.push(h);
    }
    figures = names.flatMap((n) => FIGURES.filter((f) => f.name === n));
    e2e = names.flatMap((n) => E2E_FIGURES.filter((f) => f.name === n));
  }
  return { json: v.json === true, rounds, timing: { warmup, secs }, e2eSecs, raw: v.raw, figures, e2e };
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
  return `${c.topo} ${c.size} B batch ${c.batch}${c.slots === undefined ? '' : ` rings ${c.slots}`}${c.monitor === undefined ? '' : ` ${c.monitor} monitors`}`;
}

/** The engine and daemon figures (synchronous: each run is a spawnSync child). */
function runEngine(cli: Cli, ccSeen: (version: string | undefined) => void): FigureReport[] {
  const { rounds, timing, raw, figures } = cli;
  const configs = new Map<string, Config>();
  for (const f of figures) if (!configs.has(f.key)) configs.set(f.key, f);

  const cc = compileC();
  if ('error' in cc) process.stderr.write(`bench: no C reference (${cc.error}); measuring uvale only\n`);
  ccSeen('error' in cc ? undefined : cc.version);
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
      const monitor = config.monitor !== undefined;
      const cr =
        daemon || monitor
          ? runJs(embeddedRef(config), timing)
          : 'error' in cc
            ? undefined
            : runC(cc.bin, config, timing);
      const jr = daemon ? runDaemon(config, timing) : runJs(config, timing);
      let line = `[round ${r}/${rounds}] ${describe(config)}:`;
      for (const [impl, res] of [
        [daemon ? 'embedded' : monitor ? 'no monitor' : 'C', cr],
        [daemon ? 'daemon' : monitor ? `${config.monitor} monitor` : 'uvale', jr],
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

  return figures.map((f) => {
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
}

async function main(): Promise<void> {
  const cli = parseCli();
  const start = new Date();
  if (cli.rounds < 5) {
    process.stderr.write(`bench: ${cli.rounds} round(s): a quick look, not a figure to record (use >= 5)\n`);
  }
  let ccVersion: string | undefined;
  const reports = cli.figures.length > 0 ? runEngine(cli, (v) => (ccVersion = v)) : [];
  if (reports.length > 0) {
    if (cli.json) printJson(reports);
    else printTable(reports, runHeader(start, cli.rounds, cli.timing, ccVersion));
  }
  if (cli.e2e.length > 0) {
    const e2eStart = new Date();
    const per = cli.e2eSecs + 1;
    const estimate = Math.ceil(
      cli.rounds * cli.e2e.reduce((s, f) => s + (f.group === 'stream' ? 3 * (per + 0.5) : 2 * per), 0) + 10,
    );
    process.stderr.write(
      `bench: ${cli.e2e.length} end-to-end figure(s) x ${cli.rounds} round(s), uvale and reference interleaved, about ${estimate} s\n`,
    );
    const e2e = await runE2e(cli.e2e, { rounds: cli.rounds, secs: cli.e2eSecs, raw: cli.raw });
    if (cli.json) printE2eJson(e2e);
    else {
      if (reports.length > 0) process.stdout.write('\n');
      printE2eTable(e2e, e2eHeader(e2eStart, cli.rounds, cli.e2eSecs));
    }
    if (e2e.some((r) => r.error !== undefined)) process.exitCode = 1;
  }
  if (reports.some((r) => r.error !== undefined)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
