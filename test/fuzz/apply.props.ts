/*
 * The `uvale apply` file (src/tools/apply/config.ts parseConfig), as a user or
 * a generator of config files may write it:
 *
 *   apply/text        YAML built from the pieces that matter (the five
 *                     sections, settings names and values at and past their
 *                     limits, persistent ports, attach entries of every form,
 *                     VLAN modes and mirrors, good and bad,
 *                     anchors and aliases, tags, null and complex keys, flow
 *                     and block styles, duplicate keys) and random text: a
 *                     Config whose every field passes the checks the file
 *                     format promises and that means what the YAML says
 *                     (as the yaml library reads it, aliases resolved), or
 *                     ValeError INVALID_ARG naming the file and a line;
 *                     nothing else
 *   apply/roundtrip   a valid configuration written as YAML or JSON parses
 *                     back to itself
 */

import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { parse } from 'yaml';
import { ErrorCodes } from '../../src/core/errors.js';
import { SETTINGS } from '../../src/core/settings.js';
import { parseAttach } from '../../src/ports/kinds.js';
import { formatVlanSpec, parseVlanSpec } from '../../src/switch/vlan.js';
import { type Config, parseConfig, parseMirror } from '../../src/tools/apply/config.js';
import { configText } from '../../src/tools/apply/plan.js';
import { assertValeError, type FuzzProp, prop } from './registry.js';

const FILE = 'f.yaml';
const writable = SETTINGS.filter((s) => !s.readonly);

/** Checks an accepted Config against what the YAML means (aliases resolved: yaml's own parse). */
function checkMeaning(c: Config, text: string): void {
  const js = (parse(text) ?? {}) as Record<string, unknown>;
  assert.deepEqual(c.settings, js.settings ?? {}, 'settings as written');
  assert.deepEqual(c.persistent, js.persistent ?? [], 'persistent ports as written');
  const attach = (js.attach ?? []) as unknown[];
  assert.deepEqual(
    c.attach,
    attach.map((a) =>
      typeof a === 'string'
        ? { port: a, offload: true }
        : { port: (a as { port: string }).port, offload: (a as { offload?: unknown }).offload !== false },
    ),
    'attach entries as written',
  );
  if (js.vlans !== undefined) {
    const want = Object.entries(js.vlans as Record<string, string>).map(([k, v]) => [
      k,
      formatVlanSpec(parseVlanSpec(v)),
    ]);
    assert.deepEqual(Object.entries(c.vlans ?? {}), want, 'VLAN modes as written');
  } else assert.equal(c.vlans, undefined);
  if (js.mirrors !== undefined) {
    assert.deepEqual(c.mirrors, (js.mirrors as string[]).map(parseMirror), 'mirrors as written');
  } else assert.equal(c.mirrors, undefined);
}

/** Checks an accepted Config against the file format's promises. */
function checkConfig(c: Config): void {
  for (const k of Object.keys(c)) assert.ok(['attach', 'persistent', 'settings', 'vlans', 'mirrors'].includes(k), k);
  for (const [k, v] of Object.entries(c.settings)) {
    const spec = SETTINGS.find((s) => s.name === k);
    assert.ok(spec !== undefined, `unknown setting ${k} accepted`);
    assert.ok(Number.isInteger(v) && v >= spec.min && v <= spec.max, `${k}: ${v} out of range`);
    if (spec.readonly) assert.equal(v, spec.default);
  }
  for (const p of c.persistent) {
    assert.equal(typeof p.name, 'string');
    for (const [k, v] of Object.entries(p)) {
      if (k === 'name') continue;
      assert.ok(['txSlots', 'rxSlots', 'txRings', 'rxRings'].includes(k), `persistent key ${k}`);
      assert.ok(Number.isInteger(v), `${k}: ${String(v)}`);
    }
  }
  const seen = new Set<string>();
  for (const a of c.attach) {
    assert.equal(typeof a.offload, 'boolean');
    parseAttach(a.port);
    const name = a.port.split('=')[0] as string;
    assert.ok(!seen.has(name), `${name} attached twice`);
    seen.add(name);
  }
  for (const [port, mode] of Object.entries(c.vlans ?? {})) {
    assert.match(port, /^vale[^:/]*:[^/]+$/, 'a VLAN mode is set on a port');
    assert.equal(formatVlanSpec(parseVlanSpec(mode)), mode, 'modes are kept in their one written form');
  }
  const pairs = new Set<string>();
  for (const m of c.mirrors ?? []) {
    assert.deepEqual(parseMirror(`${m.src}=${m.dst}`), m);
    const pair = `${m.src.split('/')[0]}=${m.dst}`;
    assert.ok(!pairs.has(pair), `${pair} twice`);
    pairs.add(pair);
  }
}

const VLAN_PORTS = ['vale0:p0', 'vale0:p1', 'vale-a:t0', 'vale0:a/r', 'eth0', 'vale0:', '"vale0:p0"', '*x'];
const VLAN_MODES = [
  'none',
  'access:10',
  'access:0',
  'access:4095',
  'trunk',
  'trunk:1-3,7',
  'trunk:native=5',
  'trunk:9,2,native=2',
  'trunk:5-1',
  'access',
  'bogus',
  '1',
  '[a]',
];
const MIRRORS = [
  'vale0:p0=vale0:p1',
  'vale0:p0/r=vale0:p1',
  'vale0:p1/t=vale0:p0',
  'vale0:p0/rt=vale0:p1',
  'vale0:p0=vale1:p1',
  'vale0:p0=vale0:p1/r',
  'vale0:p0',
  '=vale0:p1',
  'eth0=eth1',
  '{src: vale0:p0}',
];

const ATTACH = [
  'vale0:p0',
  'vale0:p1',
  'vale-a:t0',
  'vale0:vm=stream:unix:/run/vm.sock',
  'vale0:q=dgram:udp:127.0.0.1:1,127.0.0.1:2',
  'vale0:v=vhost-user:/run/v.sock',
  'vale0:x=bogus:1',
  'vale0',
  'eth0',
  'vale0:a/r',
  'vale0:',
];
const scalar = fc.oneof(
  fc.constantFrom('0', '1', '-1', '64', '252', '253', '1.5', '0x10', '1e3', '.inf', '~', 'null', 'true', 'no', "''"),
  fc.constantFrom(
    '[]',
    '{}',
    '[1, 2]',
    '{a: 1}',
    '*x',
    '&x 5',
    '&x false',
    '&x 64',
    '!!str 3',
    '!!binary aGk=',
    '!tag 1',
    '"\\u0000"',
  ),
  fc.integer({ min: -2, max: 70000 }).map(String),
  fc.string({ maxLength: 8 }),
);
const settingLine = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...SETTINGS.map((s) => s.name)),
      fc.constantFrom('dev.netmap.nope', '__proto__', 'constructor', '? [a]', '', '&k dev.netmap.verbose'),
    ),
    scalar,
  )
  .map(([k, v]) => `  ${k}: ${v}`);
const persistentLine = fc
  .tuple(
    fc.oneof(fc.constantFrom('p0', 'p1', '"p 2"', '3', 'null', '[a]', '*x'), fc.string({ maxLength: 6 })),
    fc.array(
      fc.tuple(fc.constantFrom('txSlots', 'rxSlots', 'txRings', 'rxRings', 'name', 'extra', '__proto__'), scalar),
      {
        maxLength: 3,
      },
    ),
  )
  .map(([n, kv]) => `  - { name: ${n}${kv.map(([k, v]) => `, ${k}: ${v}`).join('')} }`);
const attachLine = fc.oneof(
  fc.constantFrom(...ATTACH).map((a) => `  - ${a}`),
  fc.tuple(fc.constantFrom(...ATTACH), scalar).map(([a, o]) => `  - { port: ${a}, offload: ${o} }`),
  fc.constantFrom('  - ', '  - *x', '  - &x vale0:p9', '  - [vale0:p0]', '  - { offload: false }', '  -'),
);
const section = fc.oneof(
  fc.array(settingLine, { maxLength: 4 }).map((ls) => ['settings:', ...ls].join('\n')),
  fc.array(persistentLine, { maxLength: 3 }).map((ls) => ['persistent:', ...ls].join('\n')),
  fc.array(attachLine, { maxLength: 4 }).map((ls) => ['attach:', ...ls].join('\n')),
  fc
    .array(
      fc.tuple(
        fc.constantFrom(...VLAN_PORTS),
        fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...VLAN_MODES) }, scalar),
      ),
      { maxLength: 3 },
    )
    .map((kv) => ['vlans:', ...kv.map(([k, v]) => `  ${k}: ${v}`)].join('\n')),
  fc
    .array(fc.oneof(fc.constantFrom(...MIRRORS), scalar), { maxLength: 3 })
    .map((ms) => ['mirrors:', ...ms.map((m) => `  - ${m}`)].join('\n')),
  fc.constantFrom(
    'settings: 1',
    'settings: &x {dev.netmap.verbose: 1}',
    'attach: *x',
    'vlans: []',
    'mirrors: {}',
    'persistent: {}',
    ': 1',
    '? [settings]\n: {}',
    'swiches: {}',
    '---',
    '...',
    '%YAML 1.2\n---',
    '!!map {}',
    'settings:\n  dev.netmap.verbose: 1\n  dev.netmap.verbose: 2',
    '<<: {settings: {}}',
  ),
);
const textArb = fc.oneof(
  { weight: 5, arbitrary: fc.array(section, { maxLength: 4 }).map((s) => s.join('\n')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
  { weight: 1, arbitrary: fc.constantFrom('[]', '1', '"x"', 'null', '- a', '{', '&a [*a]') },
);

const text: FuzzProp = {
  name: 'apply/text',
  runs: 1500,
  property: () =>
    prop(
      fc.property(textArb, (t) => {
        let c: Config;
        try {
          c = parseConfig(t, FILE);
        } catch (e) {
          assertValeError(e, ErrorCodes.INVALID_ARG, `parseConfig(${JSON.stringify(t)})`);
          assert.match(e.message, /^f\.yaml(:[0-9?]+)?: /, 'the message names the file (and line)');
          return;
        }
        checkConfig(c);
        checkMeaning(c, t);
      }),
    ),
};

const configArb: fc.Arbitrary<Config> = fc.record({
  settings: fc
    .array(
      fc.constantFrom(...writable).chain((s) => fc.tuple(fc.constant(s.name), fc.integer({ min: s.min, max: s.max }))),
      { maxLength: 4 },
    )
    .map((kv) => Object.fromEntries(kv)),
  persistent: fc.array(
    fc.record(
      {
        name: fc.string({ maxLength: 8 }),
        txSlots: fc.integer({ min: -5, max: 4096 }),
        rxSlots: fc.integer({ min: 0, max: 4096 }),
        txRings: fc.integer({ min: 0, max: 8 }),
        rxRings: fc.integer({ min: 0, max: 8 }),
      },
      { requiredKeys: ['name'] },
    ),
    { maxLength: 3 },
  ),
  attach: fc
    .uniqueArray(
      fc.record({
        port: fc.oneof(
          fc.stringMatching(/^vale[a-z0-9-]{0,3}:[a-z0-9]{1,5}$/),
          fc.stringMatching(/^vale0:[a-z]{1,4}$/).map((p) => `${p}=stream:unix:/run/x.sock`),
        ),
        offload: fc.boolean(),
      }),
      { maxLength: 4, selector: (a) => a.port.split('=')[0] },
    )
    .filter((as) => as.every((a) => a.port.split('=')[0]!.length <= 15)),
  vlans: fc
    .array(
      fc.tuple(
        fc.stringMatching(/^vale[a-z0-9]{0,3}:[a-z0-9]{1,5}$/),
        fc.constantFrom('none', 'access:10', 'trunk', 'trunk:1-3,7', 'trunk:native=5', 'trunk:2,9,native=2'),
      ),
      { maxLength: 3 },
    )
    .map((kv) => Object.fromEntries(kv)),
  mirrors: fc.uniqueArray(
    fc
      .tuple(
        fc.stringMatching(/^[a-z0-9]{1,4}$/),
        fc.stringMatching(/^[a-z0-9]{1,4}$/),
        fc.constantFrom('', '/r', '/t'),
      )
      .filter(([a, b]) => a !== b)
      .map(([a, b, d]) => ({ src: `vale0:${a}${d}`, dst: `vale0:${b}` })),
    { maxLength: 3, selector: (m) => `${m.src.split('/')[0]}=${m.dst}` },
  ),
});

const roundtrip: FuzzProp = {
  name: 'apply/roundtrip',
  runs: 300,
  property: () =>
    prop(
      fc.property(configArb, fc.boolean(), (c, json) => {
        const asFile = { ...c, mirrors: (c.mirrors ?? []).map((m) => `${m.src}=${m.dst}`) };
        const t = json ? JSON.stringify(asFile, null, 1) : configText(c);
        assert.deepEqual(parseConfig(t, FILE), JSON.parse(JSON.stringify(c)), t);
      }),
    ),
};

export const APPLY_PROPS: FuzzProp[] = [text, roundtrip];
