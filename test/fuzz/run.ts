/*
 * `npm run fuzz`: the fuzz properties (test/fuzz/*.props.ts) for as many cases
 * or seconds as asked, with fresh seeds; a failure prints fast-check's seed
 * and path and the command that replays exactly that case.
 *
 *   npm run fuzz -- [--cases N] [--seconds S] [--only NAME]... [--seed=N [--path=P]] [--json] [FILTER...]
 *
 * --only NAME picks the property NAME, or every property of the group NAME
 * ("ring" or "ring/" for ring/*); FILTER picks properties whose name contains
 * it. With --seconds each property runs for S seconds (or N cases, if given,
 * whichever comes first); without either, 10000 cases each.
 * --seed=N --path=P replay the case a failure printed (write them with '=': a
 * seed may be negative).
 * Under `node --test` (npm test runs every file in dist/test) it does nothing.
 */

import { parseArgs } from 'node:util';
import * as fc from 'fast-check';
import { ALL_PROPS } from './all.js';
import type { FuzzProp } from './registry.js';

const USAGE =
  'usage: npm run fuzz -- [--cases N] [--seconds S] [--only NAME]... [--seed=N [--path=P]] [--json] [FILTER...]';

function pick(only: string[], filters: string[]): FuzzProp[] {
  return ALL_PROPS.filter((p) => {
    const group = p.name.slice(0, p.name.indexOf('/'));
    if (only.length > 0 && !only.some((o) => o === p.name || o === group || o === `${group}/`)) return false;
    return filters.length === 0 || filters.some((f) => p.name.includes(f));
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      cases: { type: 'string' },
      seconds: { type: 'string' },
      only: { type: 'string', multiple: true },
      seed: { type: 'string' },
      path: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    for (const p of ALL_PROPS) console.log(`  ${p.name}  (${p.runs} cases in npm test)`);
    return 0;
  }
  const num = (v: string | undefined, what: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${what} must be a positive number, got '${v}'`);
    return n;
  };
  const seconds = num(values.seconds, 'seconds');
  const cases = num(values.cases, 'cases') ?? (seconds === undefined ? 10000 : Number.MAX_SAFE_INTEGER);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`--seed must be an integer, got '${values.seed}'`);
  const props = pick(values.only ?? [], positionals);
  if (props.length === 0) {
    console.error(`no property matches; --help lists them`);
    return 2;
  }
  if (values.path !== undefined && props.length !== 1) {
    console.error('--path replays one property: name it with --only');
    return 2;
  }
  let failed = 0;
  for (const p of props) {
    const params: fc.Parameters<unknown> = { numRuns: cases };
    if (seed !== undefined) params.seed = seed;
    if (values.path !== undefined) {
      params.path = values.path;
      params.endOnFailure = true;
    }
    if (seconds !== undefined) params.interruptAfterTimeLimit = seconds * 1000;
    const t0 = process.hrtime.bigint();
    const r = await fc.check(p.property(), params);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const line = {
      property: p.name,
      cases: r.numRuns,
      skipped: r.numSkips,
      seconds: Number(secs.toFixed(2)),
      casesPerSecond: Math.round(r.numRuns / secs),
      failed: r.failed,
      seed: r.seed,
      path: r.counterexamplePath,
    };
    if (values.json) console.log(JSON.stringify(line));
    else {
      console.log(
        `${p.name.padEnd(24)} ${String(r.numRuns).padStart(9)} cases ${secs.toFixed(1).padStart(7)} s ` +
          `${String(line.casesPerSecond).padStart(7)}/s  skipped ${r.numSkips}  ${r.failed ? 'FAIL' : 'ok'}`,
      );
    }
    if (r.failed) {
      failed++;
      console.error(fc.defaultReportMessage(r));
      console.error(String((r.errorInstance as Error)?.stack ?? r.errorInstance));
      console.error(`seed ${r.seed}, path ${r.counterexamplePath}`);
      console.error(`replay: npm run fuzz -- --only ${p.name} --seed=${r.seed} --path=${r.counterexamplePath}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

if (process.env.NODE_TEST_CONTEXT === undefined) process.exitCode = await main();
