/*
 * Port names (src/switch/name.ts): vale[bdg:][port], table-driven.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, isValeError, openPort, parsePortName, ValeHost } from '../../src/index.js';
import { isValeName, MON_RX, MON_TX, parseSwitchName } from '../../src/switch/name.js';
import { assertCode } from '../helpers/vale.js';

const VALID: Array<[string, string, string]> = [
  // name, switch, port
  ['vale0:a', 'vale0', 'a'],
  ['vale-a:1', 'vale-a', '1'],
  ['vale:x', 'vale', 'x'],
  ['vale0', 'vale', 'vale0'], // no colon: default switch, the whole string names the port
  ['vale', 'vale', 'vale'],
  ['valeABCDEFGHIJK', 'vale', 'valeABCDEFGHIJK'], // 15 characters
  ['vale12345678:ab', 'vale12345678', 'ab'], // 15 characters
  ['vale:a:b', 'vale', 'a:b'], // the first colon separates
  ['vale_x.y:p!~', 'vale_x.y', 'p!~'], // printable ASCII is allowed
  ['vale0:0', 'vale0', '0'],
];

const INVALID: Array<[string, string]> = [
  ['', 'empty'],
  ['vale0:', 'empty port after the colon'],
  ['vale:', 'empty port after the colon'],
  ['val0:a', "the 3-character 'val' prefix netmap accepts"],
  ['netmap:eth0', 'not a vale name'],
  ['VALE0:a', 'prefix is case-sensitive'],
  ['avale0:a', 'prefix not at the start'],
  [':a', 'no prefix'],
  ['valeABCDEFGHIJKL', '16 characters, no colon'],
  ['vale12345678:abc', '16 characters'],
  ['vale0:abcdefghijklmnopqrstuvwxyz', 'far too long'],
  ['vale0:a b', 'space'],
  ['vale 0:a', 'space in the switch'],
  ['vale0:a\t', 'tab'],
  ['vale0:\n', 'newline'],
  ['vale0:a\x00', 'NUL'],
  ['vale0:\x7f', 'DEL'],
  ['vale0:\x1b', 'escape'],
  ['vale0:é', 'non-ASCII'],
  ['vale0:ü', 'non-ASCII'],
];

test('valid names parse into switch and port', () => {
  for (const [name, bridge, port] of VALID) {
    assert.deepEqual(parsePortName(name), { full: name, bridge, port, monitor: 0 }, name);
    assert.ok(isValeName(name));
  }
});

test('invalid names are VALE_ERR_INVALID_NAME (EINVAL, not netmap’s ENOMEM)', () => {
  for (const [name, why] of INVALID) {
    assert.throws(
      () => parsePortName(name),
      (e: unknown) => {
        assert.equal((e as { code?: string }).code, ErrorCodes.INVALID_NAME, `${JSON.stringify(name)}: ${why}`);
        assert.equal((e as { errno?: string }).errno, 'EINVAL');
        return true;
      },
      `${JSON.stringify(name)} should be rejected: ${why}`,
    );
  }
});

test('non-string names are rejected, not crashed on', () => {
  for (const bad of [undefined, null, 42, {}]) {
    assertCode(() => parsePortName(bad as never), ErrorCodes.INVALID_NAME);
  }
});

test('opening a port applies the same rules and creates nothing on a bad name', () => {
  const host = new ValeHost();
  for (const [name] of INVALID) assertCode(() => openPort(name, { host }), ErrorCodes.INVALID_NAME);
  assert.deepEqual(host.listSwitches(), []);
  const p = openPort('vale0', { host });
  assert.equal(p.name, 'vale0');
  assert.ok(host.getSwitch('vale') !== undefined, 'the default switch is named vale');
  assert.equal(host.getSwitch('vale')?.find('vale0')?.name, 'vale0');
  // without a colon the name is shorthand: 'vale0' and 'vale:vale0' are one port
  const q = openPort('vale:vale0', { host });
  assert.equal(q.portIndex, p.portIndex);
  assert.equal(q.vport, p.vport);
  assert.equal(host.getSwitch('vale')?.activePorts, 1);
});

test('switch names are compared exactly', () => {
  const host = new ValeHost();
  openPort('vale0:a', { host });
  openPort('vale00:a', { host });
  openPort('Vale0:a'.replace('V', 'v'), { host });
  assert.deepEqual(
    host
      .listSwitches()
      .map((s) => s.name)
      .sort(),
    ['vale0', 'vale00'],
  );
});

test('parseSwitchName', () => {
  assert.equal(parseSwitchName('vale0'), 'vale0');
  assert.equal(parseSwitchName('vale'), 'vale');
  for (const bad of ['val0', 'vale0:a', 'vale 0', 'vale1234567890', '', 'VALE']) {
    assertCode(() => parseSwitchName(bad), ErrorCodes.INVALID_NAME);
  }
});

test("netmap's prefix is refused with what to write instead", () => {
  assert.throws(
    () => parsePortName('netmap:vale-a:1'),
    (e: unknown) => isValeError(e, ErrorCodes.INVALID_NAME) && /drop the 'netmap:' prefix.*'vale-a:1'/.test(String(e)),
  );
});

test("netmap's monitor syntax: PORT/r, /t, /rt, /z (a copy monitor of both)", () => {
  const cases: Array<[string, string, string, number]> = [
    ['vale-a:1/r', 'vale-a', '1', MON_RX],
    ['vale-a:1/t', 'vale-a', '1', MON_TX],
    ['vale-a:1/rt', 'vale-a', '1', MON_RX | MON_TX],
    ['vale-a:1/tr', 'vale-a', '1', MON_RX | MON_TX],
    ['vale-a:1/z', 'vale-a', '1', MON_RX | MON_TX],
    ['vale-a:1/rz', 'vale-a', '1', MON_RX],
    ['vale0/t', 'vale', 'vale0', MON_TX],
    // the 15-character limit is the port's; the suffix comes on top
    ['vale-abcdefgh:1/rt', 'vale-abcdefgh', '1', MON_RX | MON_TX],
  ];
  for (const [name, bridge, port, monitor] of cases) {
    assert.deepEqual(parsePortName(name), { full: name, bridge, port, monitor }, name);
  }
  assert.equal(parsePortName('vale-a:1').monitor, 0);
  for (const bad of [
    'vale-a:1/',
    'vale-a:1/x',
    'vale-a:1/rr',
    'vale-a:1/r/t',
    '/r',
    'vale-a:/r',
    'vale-abcdefghi:1/r',
  ]) {
    assertCode(() => parsePortName(bad), ErrorCodes.INVALID_NAME);
  }
  assert.throws(
    () => parsePortName('vale-a:1/x'),
    (e: unknown) => isValeError(e, ErrorCodes.INVALID_NAME) && /PORT\/r, PORT\/t or PORT\/rt/.test(String(e)),
  );
});
