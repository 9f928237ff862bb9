/* dev.netmap.verbose: what the switch reports, and nothing at 0. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../src/index.js';
import { BROADCAST, frame, macN, put } from '../helpers/vale.js';

function run(verbose: number): string[] {
  const host = new ValeHost({ 'dev.netmap.verbose': verbose });
  const lines: string[] = [];
  host.log = (l) => lines.push(l);
  const a = openPort('vale-v:a', { host });
  const b = openPort('vale-v:b', { host });
  put(a, [frame(BROADCAST, macN(1)), frame(BROADCAST, macN(1))]);
  a.txsync();
  (a.txRings[0] as { head: number }).head = 9999;
  assert.throws(() => a.txsync());
  a.close();
  b.close();
  return lines;
}

test('verbose 0 says nothing', () => {
  assert.deepEqual(run(0), []);
});

test('verbose 1 reports switch and port life and ring errors', () => {
  const lines = run(1);
  assert.deepEqual(lines, [
    'created switch vale-v (index 0)',
    'attached netmap port vale-v:a as port 0 of vale-v',
    'attached netmap port vale-v:b as port 1 of vale-v',
    'vale-v:a: illegal head/cur on TX ring 0, ring re-initialised',
    'detached port vale-v:a (port 0 of vale-v)',
    'detached port vale-v:b (port 1 of vale-v)',
    'destroyed switch vale-v and its learning table',
  ]);
});

test('verbose 2 also reports every MAC learned (once: the last-source cache skips repeats)', () => {
  const lines = run(2);
  assert.deepEqual(
    lines.filter((l) => l.startsWith('learned')),
    ['learned 02:00:00:00:00:01 on port 0 (vale-v:a)'],
  );
});
