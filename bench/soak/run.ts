/*
 * `npm run soak -- --minutes N`: the soak of bench/soak/harness.ts for N
 * minutes, a check every minute (--period SEC to change), 64 ports on 4
 * switches, plus 2 pairs of TAP hosts in network namespaces when root
 * (--tap-pairs N; 0 for none). It lives under bench/, not test/, because `node --test dist/test/`
 * runs every file under test/ as a test; the short run in `npm test` is
 * test/soak/soak.test.ts. Prints every check, then a JSON summary line on
 * stdout; exits 1 with what drifted.
 */

import { parseArgs } from 'node:util';
import { runSoak } from './harness.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    period: { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    switches: { type: 'string', default: '4' },
    pairs: { type: 'string', default: '6' },
    'churn-ms': { type: 'string', default: '1000' },
    'tap-pairs': { type: 'string', default: '2' },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  process.stderr.write(
    'usage: npm run soak -- [--minutes N] [--period SEC] [--seed N] [--switches N] [--pairs N] [--churn-ms MS] [--tap-pairs N]\n',
  );
  process.exit(2);
}

runSoak({
  seconds: Math.round(minutes * 60),
  periodSec: Number(values.period),
  seed: Number(values.seed),
  switches: Number(values.switches),
  pairs: Number(values.pairs),
  churnMs: Number(values['churn-ms']),
  tapPairs: Number(values['tap-pairs']),
})
  .then((r) => {
    const first = r.baseline;
    const last = r.samples[r.samples.length - 1] ?? first;
    process.stdout.write(
      `${JSON.stringify({
        minutes,
        ports: r.ports,
        tap: { ports: r.tapPorts, skipped: r.tapSkipped, replies: r.tapReplies, probes: r.tapProbes },
        checks: r.checks,
        frames: r.frames,
        bytes: r.bytes,
        events: r.events,
        rss_kib: { baseline: first.rssKiB, last: last.rssKiB, max: Math.max(...r.samples.map((s) => s.rssKiB)) },
        fds: { baseline: first.fds, last: last.fds, idle_after: r.idle },
      })}\n`,
    );
  })
  .catch((e) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  });
