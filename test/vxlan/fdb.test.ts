/* The tunnel fdb (src/ports/vxlan/fdb.ts): keys, ageing, statics, the bound. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatMac } from '../../src/pkt/ether.js';
import { keyToMac, macKey, TunnelFdb } from '../../src/ports/vxlan/fdb.js';

test('macKey and keyToMac are inverse for every MAC', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (m) => {
      const k = macKey(m, 0);
      assert.ok(Number.isSafeInteger(k) && k >= 0 && k < 2 ** 48);
      assert.equal(keyToMac(k), formatMac(m));
    }),
  );
});

test('learned entries age; statics do not and learning never moves them; the table is bounded', () => {
  const f = new TunnelFdb(3);
  assert.equal(f.learn(1, 0, 1000), true);
  assert.equal(f.lookup(1, 1500, 1000), 0);
  assert.equal(f.learn(1, 2, 1600), true, 'a move refreshes');
  assert.equal(f.lookup(1, 2500, 1000), 2);
  assert.equal(f.lookup(1, 2601, 1000), -1, 'older than the ageing time: unknown, and removed');
  assert.equal(f.size, 0);
  assert.equal(f.lookup(7, 0, 1000), -1);
  assert.equal(f.setStatic(5, 1, 0), true);
  assert.equal(f.learn(5, 3, 10), true);
  assert.equal(f.lookup(5, 10 ** 9, 1000), 1, 'static: never aged, never moved');
  f.learn(6, 0, 0);
  f.learn(8, 0, 0);
  assert.equal(f.learn(9, 0, 0), false, 'full');
  assert.equal(f.setStatic(9, 0, 0), false, 'full for statics too');
  assert.equal(f.lookup(6, 10 ** 9, 0), 0, 'ageing 0: never');
  assert.equal(f.sweep(5000, 1000), 2, 'sweep removes the two learned ones');
  assert.deepEqual(
    f.entries().map(([k]) => k),
    [5],
  );
  assert.equal(f.delete(5), true);
  assert.equal(f.delete(5), false);
});
