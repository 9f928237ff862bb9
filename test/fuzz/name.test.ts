/*
 * Property test of the port-name grammar (src/switch/name.ts) against a small
 * model of the README's "Names" section: vale[bdg:][port], printable ASCII
 * without spaces, at most 15 characters, no '/' in the port (netmap's monitor
 * syntax); a bad name is INVALID_NAME, nothing else.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, ValeError } from '../../src/core/errors.js';
import { parsePortName } from '../../src/switch/name.js';

type Model = { bridge: string; port: string } | null;

function model(name: string): Model {
  if (name.length === 0 || name.length > 15 || !name.startsWith('vale')) return null;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return null;
  }
  const colon = name.indexOf(':');
  if (colon < 0) return { bridge: 'vale', port: name };
  if (colon === name.length - 1) return null;
  const port = name.slice(colon + 1);
  if (port.includes('/')) return null; // netmap's monitor syntax (PORT/r), not a port name
  return { bridge: name.slice(0, colon), port };
}

const names = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ maxLength: 14 }).map((s) => `vale${s}`),
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([b, p]) => `vale${b}:${p}`),
);

test('port names follow the README model', () => {
  fc.assert(
    fc.property(names, (name) => {
      const want = model(name);
      let got: Model;
      try {
        const p = parsePortName(name);
        got = { bridge: p.bridge, port: p.port };
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
