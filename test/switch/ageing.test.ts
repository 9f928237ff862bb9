/* uvale.mac_ageing: a MAC not seen for N seconds is flooded to again; a steady source stays; 0 never ages (VALE). */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../src/index.js';
import { drain, frame, macN, send } from '../helpers/vale.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function trio(ageing: number) {
  const host = new ValeHost({ 'uvale.mac_ageing': ageing });
  const a = openPort('vale-age:a', { host });
  const b = openPort('vale-age:b', { host });
  const c = openPort('vale-age:c', { host });
  send(a, [frame(macN(9), macN(1))]); // learns macN(1) on a
  drain(b);
  drain(c);
  /** b sends to macN(1): how many frames did a and c get? */
  const probe = (): [number, number] => {
    drain(a);
    drain(c); // a's own floods to macN(9)
    send(b, [frame(macN(1), macN(2))]);
    return [drain(a).length, drain(c).length];
  };
  return {
    host,
    a,
    b,
    c,
    probe,
    close: () => {
      for (const p of [a, b, c]) p.close();
    },
  };
}

test('an entry not learnt again within uvale.mac_ageing seconds is flooded to; a steady source is kept', async () => {
  const t = trio(1);
  assert.deepEqual(t.probe(), [1, 0], 'known: unicast to a only');
  for (let i = 0; i < 8; i++) {
    await sleep(300);
    send(t.a, [frame(macN(9), macN(1))]); // a keeps talking
  }
  assert.deepEqual(t.probe(), [1, 0], 'after 2.4 s of a talking, still known');
  assert.equal(
    t.host
      .getSwitch('vale-age')
      ?.macEntries()
      .some((e) => e.portName === 'vale-age:a'),
    true,
  );
  await sleep(2200);
  assert.deepEqual(t.probe(), [1, 1], 'silent for 2.2 s with 1 s ageing: flooded');
  assert.equal(
    t.host
      .getSwitch('vale-age')
      ?.macEntries()
      .some((e) => e.portName === 'vale-age:a'),
    false,
  );
  t.close();
});

test('ageing 0 (the default) never forgets, as VALE', async () => {
  const t = trio(0);
  await sleep(1200);
  assert.deepEqual(t.probe(), [1, 0]);
  t.close();
});
