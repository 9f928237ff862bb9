/*
 * A kick storm: a hostile front-end (another process) writes both of its
 * kick eventfds in a tight loop with no descriptors made available. An
 * eventfd's counter folds any number of writes into one readable event, so
 * the port reads each fd at most once per turn of the event loop and finds
 * an empty ring: the storm costs a bounded amount per turn, the event loop
 * stays responsive, other ports on the switch keep forwarding, and a frame
 * the front-end does make available still crosses.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { frame, receive, send } from '../../helpers/vale.js';
import { FE, putTx, withGuest } from '../../helpers/vhost.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

// fds 3 and 4 of the child are the two kick eventfds; it writes 1 to each until killed
const STORM = `
const fs = require('node:fs');
const one = Buffer.alloc(8); one[0] = 1;
for (;;) { fs.writeSync(3, one); fs.writeSync(4, one); }
`;

test('a kick storm from a front-end costs bounded work: the loop stays responsive, other ports forward, frames still cross', {
  timeout: 30_000,
}, async () => {
  await withGuest('vks', {}, async ({ port, mem, dv, fe, open }) => {
    const a = open('a');
    const b = open('b');
    const storm = spawn(process.execPath, ['-e', STORM], {
      stdio: ['ignore', 'ignore', 'inherit', fe.kicks[1]!, fe.kicks[0]!],
    });
    try {
      await tick(300);
      const kicks0 = Number(port.info().extra?.kicks);
      // the event loop: a 10 ms timer fires late by at most a few hundred ms while the storm runs
      let worst = 0;
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await tick(10);
        worst = Math.max(worst, performance.now() - t0 - 10);
      }
      // other ports: 2000 frames a → b, all delivered
      let sent = 0;
      let got = 0;
      for (let n = 0; n < 2000; n += 100) {
        const batch = Array.from({ length: 100 }, (_, i) =>
          frame('02:00:00:00:00:bb', '02:00:00:00:00:aa', { len: 60 + ((n + i) % 200), seq: n + i }),
        );
        send(a, batch);
        sent += batch.length;
        got += (await receive(b, batch.length, 5000)).length;
      }
      assert.equal(got, sent, 'every frame between the other ports');
      // the front-end's own frame still crosses (to a, by flooding), in the storm
      const f = frame('02:00:00:00:00:aa', '02:00:00:00:00:cc', { len: 200, seq: 7 });
      putTx(mem, 0, f);
      const back = await receive(a, 1, 5000);
      assert.deepEqual(
        back.map((x) => Buffer.from(x)),
        [Buffer.from(f)],
      );
      assert.equal(dv.getUint16(FE.rings[1]!.used + 2, true), 1, 'the chain returned');
      const kicks = Number(port.info().extra?.kicks) - kicks0;
      assert.ok(storm.exitCode === null, 'the storm ran throughout');
      assert.ok(kicks > 10, `the storm was seen (${kicks} kicks read)`);
      assert.ok(worst < 500, `the event loop answered within ${worst.toFixed(1)} ms`);
      assert.equal(port.connected, true);
      assert.deepEqual([port.info().counters.errors, port.info().lastError], [0, '']);
      console.log(`kick storm: ${kicks} kick reads, worst timer delay ${worst.toFixed(1)} ms`);
    } finally {
      storm.kill('SIGKILL');
    }
  });
});
