/*
 * The soak's short run (bench/soak/harness.ts): 64 ports on 4 switches of one
 * daemon, mixed-size traffic (60 B to 9000 B chains) between netmap clients
 * and QEMU stream/dgram peers, churn every 300 ms (SIGKILL, SIGSTOP/CONT,
 * graceful leave, detach/attach, live sysctl-set), checked every 6 s: counters
 * agree with both ends, every pair forwards, in = out + drops per switch,
 * daemon RSS and fds flat, run directory clean, idle fds after the run.
 * `npm run soak -- --minutes N` is the long form.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from '../../bench/soak/harness.js';

test('soak: 64 ports, mixed traffic and churn for ~35 s, nothing drifts or leaks', { timeout: 180_000 }, async () => {
  const r = await runSoak({ seconds: 35, periodSec: 6, churnMs: 300, seed: Date.now() % 100000, log: () => {} });
  assert.equal(r.ports, 64);
  assert.ok(r.checks >= 3, `${r.checks} checks`);
  for (const e of ['sigkill', 'sigstop', 'join', 'sysctl'])
    assert.ok((r.events[e] ?? 0) > 0, `no ${e} event: ${JSON.stringify(r.events)}`);
  assert.ok(r.frames > 10_000, `${r.frames} frames moved`);
});
