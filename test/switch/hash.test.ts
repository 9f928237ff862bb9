/*
 * The learning table's hash against golden vectors from an independent C build
 * of netmap's nm_bridge_rthash (test/fixtures/rthash.c → rthash-vectors.txt).
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { formatMac, macWords, parseMac, rthash } from '../../src/index.js';

const fixture = new URL('../../../test/fixtures/rthash-vectors.txt', import.meta.url);

function vectors(): Array<[string, number]> {
  return readFileSync(fixture, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [mac, bucket] = l.trim().split(/\s+/);
      return [mac as string, Number(bucket)];
    });
}

test('rthash matches every golden vector of the C build', () => {
  const v = vectors();
  assert.ok(v.length >= 1000, `expected ~1008 vectors, got ${v.length}`);
  let bad = 0;
  for (const [mac, bucket] of v) {
    const { a, b } = macWords(mac);
    if (rthash(a, b) !== bucket) bad++;
    assert.equal(rthash(a, b), bucket, `rthash(${mac})`);
  }
  assert.equal(bad, 0);
});

test('rthash gives the same bucket for words read as signed or unsigned', () => {
  for (const [mac, bucket] of vectors().slice(0, 200)) {
    const { a, b } = macWords(mac);
    assert.equal(rthash(a >>> 0, b), bucket, mac);
    assert.equal(rthash(a | 0, b), bucket, mac);
  }
});

test('rthash results lie in 0..1023', () => {
  for (let i = 0; i < 5000; i++) {
    const h = rthash((i * 2654435761) | 0, i & 0xffff);
    assert.ok(Number.isInteger(h) && h >= 0 && h < 1024);
  }
});

test('macWords reads bytes little-endian, from text or bytes', () => {
  assert.deepEqual(macWords('01:02:03:04:05:06'), { a: 0x04030201, b: 0x0605 });
  assert.deepEqual(macWords(Uint8Array.of(1, 2, 3, 4, 5, 6)), { a: 0x04030201, b: 0x0605 });
  const hi = macWords('ff:ff:ff:ff:ff:ff');
  assert.equal(hi.a, -1, 'a is a signed 32-bit integer, as the data path loads it');
  assert.equal(hi.b, 0xffff);
});

test('parseMac and formatMac round-trip', () => {
  for (const [mac] of vectors().slice(0, 100)) {
    const { a, b } = macWords(mac);
    assert.equal(formatMac(a, b), mac);
    assert.deepEqual(
      [...parseMac(mac)],
      mac.split(':').map((x) => Number.parseInt(x, 16)),
    );
  }
  assert.deepEqual([...parseMac('2-0-0-0-0-A')], [2, 0, 0, 0, 0, 10]);
  for (const bad of ['', '01:02:03:04:05', '01:02:03:04:05:06:07', 'zz:00:00:00:00:00', '001:02:03:04:05:06']) {
    assert.throws(() => parseMac(bad), TypeError, bad);
  }
});
