/*
 * Property test of the port-name grammar (src/switch/name.ts) against a small
 * model of the README's "Names" section: vale[bdg:][port], printable ASCII
 * without spaces, at most 15 characters, optionally followed by netmap's
 * monitor suffix (/r, /t, /rt, /z); a bad name is INVALID_NAME, nothing else.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, ValeError } from '../../src/core/errors.js';
import { parsePortName } from '../../src/switch/name.js';

type Model = { bridge: string; port: string; monitor: number } | null;

function model(whole: string): Model {
  const slash = whole.indexOf('/');
  const name = slash < 0 ? whole : whole.slice(0, slash);
  let monitor = 0;
  if (slash >= 0) {
    const f = whole.slice(slash + 1);
    if (f.length === 0 || [...f].some((c) => !'rtz'.includes(c)) || new Set(f).size !== f.length) return null;
    monitor = (f.includes('r') ? 1 : 0) | (f.includes('t') ? 2 : 0) || 3;
  }
  if (name.length === 0 || name.length > 15 || !name.startsWith('vale')) return null;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return null;
  }
  const colon = name.indexOf(':');
  if (colon < 0) return { bridge: 'vale', port: name, monitor };
  if (colon === name.length - 1) return null;
  return { bridge: name.slice(0, colon), port: name.slice(colon + 1), monitor };
}

const names = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ maxLength: 14 }).map((s) => `vale${s}`),
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([b, p]) => `vale${b}:${p}`),
  fc
    .tuple(
      fc.string({ maxLength: 6 }),
      fc.string({ maxLength: 6 }),
      fc.constantFrom('r', 't', 'rt', 'tr', 'z', 'rz', 'x', '', 'rr'),
    )
    .map(([b, p, f]) => `vale${b}:${p}/${f}`),
);

test('port names follow the README model', () => {
  fc.assert(
    fc.property(names, (name) => {
      const want = model(name);
      let got: Model;
      try {
        const p = parsePortName(name);
        got = { bridge: p.bridge, port: p.port, monitor: p.monitor };
        assert.equal(p.full, name);
      } catch (e) {
        assert.ok(e instanceof ValeError, `not a ValeError: ${e}`);
        assert.equal(e.code, ErrorCodes.INVALID_NAME);
        got = null;
      }
      assert.deepEqual(got, want);
    }),
    { numRuns: 2000 },
  );
});
