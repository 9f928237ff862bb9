/*
 * The learning table (src/switch/mac-table.ts) on its own.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { macWords, rthash } from '../../src/index.js';
import { MacTable, VALID_B } from '../../src/switch/mac-table.js';

function learn(t: MacTable, mac: string, port: number): number {
  const { a, b } = macWords(mac);
  const h = rthash(a, b);
  t.a[h] = a;
  t.b[h] = b | VALID_B;
  t.port[h] = port;
  return h;
}

test('a new table is empty, including the all-zero MAC', () => {
  const t = new MacTable();
  assert.deepEqual(t.entries(), []);
  const { a, b } = macWords('00:00:00:00:00:00');
  const h = rthash(a, b);
  assert.notEqual(t.b[h], b | VALID_B, 'an unwritten bucket never matches, not even MAC 0');
});

test('entries() lists buckets in order with MAC text and port', () => {
  const t = new MacTable();
  const h1 = learn(t, '02:00:00:00:00:01', 3);
  const h2 = learn(t, '00:00:00:00:00:00', 0);
  const e = t.entries();
  assert.deepEqual(
    e,
    [
      { bucket: h1, mac: '02:00:00:00:00:01', port: 3 },
      { bucket: h2, mac: '00:00:00:00:00:00', port: 0 },
    ].sort((x, y) => x.bucket - y.bucket),
  );
});

test('forgetPort removes only that port’s entries; clear removes all', () => {
  const t = new MacTable();
  learn(t, '02:00:00:00:00:01', 1);
  learn(t, '02:00:00:00:00:02', 2);
  learn(t, '02:00:00:00:00:03', 1);
  t.forgetPort(1);
  assert.deepEqual(
    t.entries().map((e) => [e.mac, e.port]),
    [['02:00:00:00:00:02', 2]],
  );
  t.clear();
  assert.deepEqual(t.entries(), []);
});
