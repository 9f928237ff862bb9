/*
 * A broadcast storm must not starve the control socket (issue 10): 64 ports
 * with 4096-slot rings, held by 4 flooder processes, every one flooding
 * broadcast as fast as it can, while the control path is timed as `uvale
 * ctl` uses it (connect, list, close). Before the scheduler bounded each
 * event-loop turn, a pass over the ports took seconds and the daemon's own
 * 5 s hello timer fired; the bounds here are generous (the machine is shared)
 * but catch a daemon starved for seconds. The figure is storm-ctl-latency in
 * `npm run bench`.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureStorm, median } from '../../bench/scale/storm.js';

test('a broadcast storm on 64 ports does not starve the control socket', { timeout: 120_000 }, async () => {
  const r = await measureStorm({ ports: 64, flooders: 4, slots: 4096, samples: 10 });
  const m = median(r.storm_ms);
  const max = Math.max(...r.storm_ms);
  const detail = `storm ${r.storm_ms.map((x) => x.toFixed(0)).join(' ')} ms; idle median ${median(r.idle_ms).toFixed(1)} ms; ${(r.fps_in / 1e6).toFixed(2)} Mframes/s in`;
  assert.ok(r.fps_in > 0, `no storm: ${detail}`);
  assert.ok(m < 1000, `control round trip median ${m.toFixed(0)} ms during the storm: ${detail}`);
  assert.ok(max < 3000, `control round trip max ${max.toFixed(0)} ms during the storm: ${detail}`);
});
