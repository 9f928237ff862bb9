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
  // the test runner's own start-up work holds the loop for tens of ms after a test's first await: let it pass
  await sleep(50);
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

test('adaptive: kicks at a regular gap are learned, and a window opens before the next is due', async () => {
  const settings = new Settings({ 'uvale.busy_poll_budget': 60 });
  const bp = new BusyPoll(
    () => settings.busyPoll,
    () => settings.busyPollBudget,
  );
  const gapMs = 30;
  let caught = 0;
  // a loaded machine delays timers at random, which spoils some gaps: kick until enough windows caught traffic
  for (let i = 0; i < 60 && (bp.hits < 3 || caught < 3); i++) {
    await sleep(gapMs);
    if (bp.spinning) caught++; // the loop was polling when the traffic came
    bp.kick();
  }
  const l = bp.learned;
  assert.ok(l.gap > gapMs / 2 && l.gap < gapMs * 3, `learned gap ${l.gap.toFixed(2)} ms`);
  assert.ok(bp.windows >= 3, `windows planned: ${bp.windows}`);
  assert.ok(bp.hits >= 3 && caught >= 3, `episodes that found a window open: ${bp.hits} (${caught} seen)`);
  // the traffic stops: at most the one planned window runs, then nothing
  await sleep(4 * gapMs);
  assert.equal(bp.spinning, false, 'asleep once the traffic stopped');
  const w = bp.windows;
  const spent = bp.spinMs;
  await sleep(4 * gapMs);
  assert.equal(bp.windows, w, 'no window without traffic');
  assert.equal(bp.spinMs, spent, 'no polling without traffic');
  // what it cost: about the budget (the last window ran in vain)
  assert.ok(spent < bp.windows * gapMs, `polled ${spent.toFixed(1)} ms in ${bp.windows} windows`);
});

test('adaptive: off at budget 0, and no window for a gap the budget cannot cover', async () => {
  const settings = new Settings();
  const bp = new BusyPoll(
    () => settings.busyPoll,
    () => settings.busyPollBudget,
  );
  for (let i = 0; i < 8; i++) {
    await sleep(5);
    bp.kick();
  }
  assert.equal(bp.windows, 0, 'budget 0: no window');
  assert.equal(bp.spinning, false);
  // 1% of a 5 ms gap is 50 µs: less than the timer's slop, so no window either
  settings.set('uvale.busy_poll_budget', 1);
  for (let i = 0; i < 8; i++) {
    await sleep(5);
    bp.kick();
  }
  assert.equal(bp.windows, 0, 'a window that does not fit the budget is not planned');
  assert.ok(bp.learned.samples >= 8, 'the gap is still learned');
});

test('uvale.busy_poll_budget is a percentage, 0 by default', () => {
  const s = new Settings();
  assert.equal(s.get('uvale.busy_poll_budget'), 0);
  s.set('uvale.busy_poll_budget', 100);
  assert.equal(s.busyPollBudget, 100);
  assertCode(() => s.set('uvale.busy_poll_budget', 101), ErrorCodes.INVALID_ARG, /0 to 100/);
});
