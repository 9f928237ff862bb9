/*
 * The fuzz properties (test/fuzz/*.props.ts) for a bounded number of cases
 * each, so `npm test` stays within seconds; `npm run fuzz` runs them longer.
 * A failure prints fast-check's seed and path, and the command that replays it.
 */

import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { ALL_PROPS } from './all.js';

describe('fuzz (bounded)', () => {
  for (const p of ALL_PROPS) {
    test(p.name, async () => {
      const r = await fc.check(p.property(), { numRuns: p.runs });
      if (r.failed) {
        throw new Error(
          `${fc.defaultReportMessage(r)}\n${String(r.errorInstance)}\n` +
            `replay: npm run fuzz -- --only ${p.name} --seed=${r.seed} --path=${r.counterexamplePath}`,
        );
      }
    });
  }
});
