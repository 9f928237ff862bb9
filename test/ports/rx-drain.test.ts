/*
 * RxDrain, the switch → far side scheduling of the TAP, VDE and QEMU
 * adapters: requests during a pass are one drain, run after it (a microtask,
 * not inside the caller); a drain that asked for a retry runs again on its
 * timer and requests wait for it; what a drain throws goes to `fail`, never
 * out of the microtask; cancel() drops a pending retry.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RxDrain } from '../../src/ports/rx-drain.js';

test('requests before the drain runs are one drain, after the caller returns', async () => {
  let runs = 0;
  const d = new RxDrain(
    () => runs++,
    () => assert.fail('no error'),
  );
  d.request();
  d.request();
  d.request();
  assert.equal(runs, 0, 'not inside the request');
  await Promise.resolve();
  assert.equal(runs, 1);
  d.request();
  await Promise.resolve();
  assert.equal(runs, 2, 'a request after the drain ran is a new drain');
});

test('a retry runs the drain on its timer; requests wait for it; cancel() drops it', async () => {
  let runs = 0;
  let retry = true;
  const d = new RxDrain(
    () => {
      runs++;
      if (retry) d.retryIn(5);
    },
    () => assert.fail('no error'),
  );
  d.request();
  await Promise.resolve();
  assert.equal(runs, 1);
  retry = false;
  d.request();
  await Promise.resolve();
  assert.equal(runs, 1, 'a request while a retry is pending waits for it');
  await sleep(30);
  assert.equal(runs, 2, 'the retry ran');
  d.request();
  await Promise.resolve();
  assert.equal(runs, 3, 'requests go through again once no retry is pending');

  retry = true;
  d.request();
  await Promise.resolve();
  assert.equal(runs, 4);
  d.cancel();
  await sleep(30);
  assert.equal(runs, 4, 'a cancelled retry does not run');
  retry = false;
  d.request();
  await Promise.resolve();
  assert.equal(runs, 5, 'after cancel() requests go through');
});

test('what a drain throws goes to fail, and the next request drains again', async () => {
  const errors: unknown[] = [];
  let runs = 0;
  const d = new RxDrain(
    () => {
      runs++;
      if (runs === 1) throw new Error('boom');
    },
    (e) => errors.push(e),
  );
  d.request();
  await Promise.resolve();
  assert.equal(errors.length, 1);
  assert.match((errors[0] as Error).message, /boom/);
  d.request();
  await Promise.resolve();
  assert.equal(runs, 2);
  assert.equal(errors.length, 1);
});

test('inside hold()/release() requests are one drain each, run by the outermost release(), in order', () => {
  const order: string[] = [];
  const a = new RxDrain(
    () => {
      order.push('a');
      // a drain that runs another pass (an fd port's read-ahead): its drains join the same list
      RxDrain.hold();
      b.request();
      RxDrain.release();
      order.push('a done');
    },
    () => assert.fail('no error'),
  );
  const b = new RxDrain(
    () => order.push('b'),
    () => assert.fail('no error'),
  );
  const origin = RxDrain.origin;
  RxDrain.hold();
  a.request();
  a.request();
  RxDrain.hold(); // nested
  RxDrain.release();
  assert.deepEqual(order, [], 'nothing runs before the outermost release()');
  RxDrain.release();
  assert.deepEqual(order, ['a', 'a done', 'b'], 'run there, not in a microtask, without recursion');
  assert.equal(RxDrain.origin, origin, 'drains run by release() are the same origin');
  a.request();
  assert.equal(order.length, 3, 'outside a hold: a microtask again');
});

test('what a held drain throws goes to its fail; the other held drains still run', () => {
  const errors: unknown[] = [];
  let runs = 0;
  const bad = new RxDrain(
    () => {
      throw new Error('boom');
    },
    (e) => errors.push(e),
  );
  const good = new RxDrain(
    () => runs++,
    () => assert.fail('no error'),
  );
  RxDrain.hold();
  bad.request();
  good.request();
  RxDrain.release();
  assert.equal(errors.length, 1);
  assert.equal(runs, 1);
});
