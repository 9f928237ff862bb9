/*
 * bench/c/engine.c, the C reference of the benchmarks, claims the memory
 * layout of src/ring/layout.ts: every layout constant it #defines must have
 * layout.ts's value, so that "uvale / C" compares the same memory.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as layout from '../../src/ring/layout.js';

const ENGINE_C = new URL('../../../bench/c/engine.c', import.meta.url);

test("bench/c/engine.c's layout #defines equal src/ring/layout.ts", () => {
  const text = readFileSync(ENGINE_C, 'utf8');
  const defines = new Map<string, number>();
  for (const m of text.matchAll(/^#define ([A-Z_]+) (0x[0-9a-fA-F]+|[0-9]+)\b/gm)) {
    defines.set(m[1] as string, Number(m[2]));
  }
  const table = layout as unknown as Record<string, unknown>;
  let compared = 0;
  for (const [name, value] of defines) {
    if (typeof table[name] !== 'number') continue;
    assert.equal(value, table[name], `${name} in engine.c`);
    compared++;
  }
  for (const name of ['IF_HDR_SIZE', 'NM_BUF_SIZE', 'NM_RESERVED_BUFS', 'NS_MOREFRAG', 'MAX_FRAGS', 'MIN_FRAME']) {
    assert.ok(defines.has(name), `engine.c defines ${name}`);
  }
  assert.ok(compared >= 6);
});
