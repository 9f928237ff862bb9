/*
 * Bug (found by the soak, docs/reliability.md): turning uvale.mac_ageing on
 * (0 → N) live made every entry learnt while it was off count as last learnt
 * at second 0 of the daemon's clock, so each was flooded to at once, though
 * seen a moment before. The time an entry has not been seen now counts from
 * the moment ageing is turned on.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../src/index.js';
import { drain, frame, macN, send } from '../helpers/vale.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('turning uvale.mac_ageing on live keeps the entries learnt while it was off', async () => {
  // the clock must be past the new ageing, or second 0 would still look fresh
  while (performance.now() < 3500) await sleep(100);
  const host = new ValeHost({ 'uvale.mac_ageing': 0 });
  const a = openPort('vale-ageon:a', { host });
  const b = openPort('vale-ageon:b', { host });
  const c = openPort('vale-ageon:c', { host });
  send(a, [frame(macN(9), macN(1))]); // learns macN(1) on a, ageing off
  drain(b);
  drain(c);
  host.settings.set('uvale.mac_ageing', 2);
  send(b, [frame(macN(1), macN(2))]);
  assert.equal(drain(a).length, 1);
  assert.equal(drain(c).length, 0, 'learnt a moment ago: unicast to a, not flooded to c');
  assert.equal(
    host
      .getSwitch('vale-ageon')
      ?.macEntries()
      .some((e) => e.portName === 'vale-ageon:a'),
    true,
  );
  // and it does age from then on
  await sleep(3200);
  drain(a);
  send(b, [frame(macN(1), macN(2))]);
  assert.equal(drain(c).length, 1, 'silent for 3.2 s with 2 s ageing: flooded');
  for (const p of [a, b, c]) p.close();
});
