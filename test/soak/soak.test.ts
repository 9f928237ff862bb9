/*
 * The soak's short run (bench/soak/harness.ts): 64 ports on 4 switches of one
 * daemon, mixed-size traffic (60 B to 9000 B chains) between netmap clients
 * and QEMU stream/dgram peers, churn every 300 ms (SIGKILL, SIGSTOP/CONT,
 * graceful leave, detach/attach, live sysctl-set), checked every 6 s: counters
 * agree with both ends, every pair forwards, in = out + drops per switch,
 * daemon RSS and fds flat, run directory clean, idle fds after the run.
 * As root (CI), 2 pairs of TAP hosts in network namespaces join them (4 more
 * ports): pings of mixed sizes up to 8972 B, TAPs detached and re-attached by
 * the churn, every pair must answer 3 pings each way at every check, and no
 * TAP or namespace may be left. Not root: the same run without them.
 * On a loaded machine the run goes on until 3 checks were made.
 * `npm run soak -- --minutes N` is the long form.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from '../../bench/soak/harness.js';
import { tapSkipReason } from '../../bench/soak/taps.js';

const noTaps = tapSkipReason();

test('soak: 64 ports, mixed traffic and churn for ~35 s, nothing drifts or leaks', { timeout: 600_000 }, async (t) => {
  if (noTaps !== null) t.diagnostic(`without TAP hosts: ${noTaps}`);
  const r = await runSoak({
    seconds: 35,
    periodSec: 6,
    churnMs: 300,
    minChecks: 3,
    seed: Date.now() % 100000,
    log: () => {},
  });
  assert.equal(r.ports, 64 + r.tapPorts);
  assert.equal(r.tapSkipped, noTaps);
  assert.ok(r.checks >= 3, `${r.checks} checks`);
  const events = ['sigkill', 'sigstop', 'join', 'sysctl'];
  if (noTaps === null) {
    assert.equal(r.tapPorts, 4);
    events.push('tap-detach', 'tap-attach');
    // 3 probes each way, 2 pairs, every check; and traffic between checks
    assert.equal(r.tapProbes, r.checks * 2 * 2 * 3);
    assert.ok(r.tapReplies > 100, `${r.tapReplies} ping replies on the TAP hosts`);
  }
  for (const e of events) assert.ok((r.events[e] ?? 0) > 0, `no ${e} event: ${JSON.stringify(r.events)}`);
  assert.ok(r.frames > 10_000, `${r.frames} frames moved`);
});
