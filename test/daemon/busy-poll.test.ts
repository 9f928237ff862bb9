/* uvale.busy_poll: the daemon's loop stays awake for the set time after traffic, then sleeps; 0 never spins. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BusyPoll } from '../../src/daemon/busy-poll.js';
import { ErrorCodes, Settings } from '../../src/index.js';
import { assertCode } from '../helpers/vale.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a kick keeps the event loop turning for busy_poll microseconds, then it sleeps', async () => {
  const settings = new Settings({ 'uvale.busy_poll': 300_000 });
  const bp = new BusyPoll(() => settings.busyPoll);
  assert.equal(bp.spinning, false);
  let turns = 0;
  const count = (): void => {
    turns++;
    if (bp.spinning) setImmediate(count);
  };
  bp.kick();
  assert.equal(bp.spinning, true);
  setImmediate(count);
  // 100 ms: long enough that a busy machine taking the CPU away for a while cannot hide the turns
  await sleep(100);
  assert.equal(bp.spinning, true, 'still within 300 ms');
  assert.ok(turns > 10, `the loop kept turning without sleeping (${turns} turns in 100 ms)`);
  await sleep(600);
  assert.equal(bp.spinning, false, 'asleep after the window');
  // a later kick starts it again; 0 turns it off
  bp.kick();
  assert.equal(bp.spinning, true);
  await sleep(600);
  settings.set('uvale.busy_poll', 0);
  bp.kick();
  assert.equal(bp.spinning, false);
});

test('uvale.busy_poll is a setting from 0 to 1 s, 0 by default', () => {
  const s = new Settings();
  assert.equal(s.get('uvale.busy_poll'), 0);
  s.set('uvale.busy_poll', 50);
  assert.equal(s.busyPoll, 50);
  assertCode(() => s.set('uvale.busy_poll', -1), ErrorCodes.INVALID_ARG, /0 to 1000000/);
  assertCode(() => s.set('uvale.busy_poll', 1.5), ErrorCodes.INVALID_ARG);
});
