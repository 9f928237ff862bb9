/*
 * What a client writes in its own port memory cannot make the switch do more
 * work or hand a peer more than the rules allow (docs/security.md): the slot
 * count comes from the switch's own geometry, and a chain longer than 65535
 * bytes is dropped whole and counted (dropOversize), never forwarded.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../src/index.js';
import { Arena } from '../../src/ring/arena.js';
import { KRing } from '../../src/ring/kring.js';
import { RING_NUM_SLOTS, regionGeometry } from '../../src/ring/layout.js';
import { initRegion } from '../../src/ring/region.js';
import { BROADCAST, drain, frame, macN, putChain, split } from '../helpers/vale.js';

test('a KRing takes its slot count from its geometry, not from the header a client can overwrite', () => {
  const g = regionGeometry({ txRings: 1, rxRings: 1, txSlots: 64, rxSlots: 128 });
  const arena = new Arena(g.size);
  const region = initRegion(arena, 0, g, 'vale-h:x');
  for (let r = 0; r < 2; r++) arena.u32[(g.ringOfs[r] as number) / 4 + RING_NUM_SLOTS / 4] = 0x40000000;
  const tx = new KRing(region, 0);
  const rx = new KRing(region, 1);
  assert.equal(tx.numSlots, 64);
  assert.equal(rx.numSlots, 128);
  assert.equal(rx.rxSpace(), 127);
});

test('a chain over 65535 bytes is dropped whole and counted; 65535 bytes cross', () => {
  const host = new ValeHost({ 'dev.netmap.max_buffers': 4096 });
  const a = openPort('vale-big:a', { host, txSlots: 512, rxSlots: 512 });
  const b = openPort('vale-big:b', { host, txSlots: 512, rxSlots: 512 });
  const big = (len: number): Uint8Array => frame(BROADCAST, macN(1), { len });
  for (const len of [65536, 67584, 131072]) {
    putChain(a, split(big(len), 2048));
    a.txsync();
  }
  putChain(a, split(big(65535), 2048));
  a.txsync();
  const got = drain(b);
  assert.deepEqual(
    got.map((f) => f.length),
    [65535],
    'only the 65535-byte frame crossed',
  );
  assert.equal(a.counters().dropOversize, 3);
  a.close();
  b.close();
});
