/*
 * The tunables (src/core/settings.ts): names, defaults, validation.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, parseAssignment, SETTINGS, Settings } from '../../src/index.js';
import { assertCode } from '../helpers/vale.js';

test('defaults are the seed’s limits and netmap’s batch', () => {
  const s = new Settings();
  assert.deepEqual(s.all(), {
    'dev.netmap.bridge': 1024,
    'dev.netmap.verbose': 0,
    'dev.netmap.max_bridges': 4,
    'dev.netmap.max_ports': 16,
    'dev.netmap.max_buffers': 1024,
    'dev.netmap.buf_size': 2048,
    'uvale.busy_poll': 0,
    'uvale.tap_io': 1,
    'uvale.busy_poll_budget': 0,
    'uvale.shm_tx_chunk': 0,
    'uvale.mac_ageing': 0,
    'uvale.vxlan_ageing': 300,
    'uvale.vxlan_offload': 3,
    'uvale.vhost_unsealed': 1,
    'uvale.max_clients_per_user': 64,
    'uvale.max_ports_per_user': 64,
    'uvale.max_switches_per_user': 4,
  });
  for (const spec of SETTINGS) {
    assert.equal(s.get(spec.name), spec.default, spec.name);
    assert.ok(spec.min <= spec.default && spec.default <= spec.max, spec.name);
    assert.ok(spec.description.length > 0);
  }
});

test('set() accepts the whole range and the hot fields follow', () => {
  const s = new Settings();
  for (const spec of SETTINGS) {
    if (spec.readonly) continue;
    for (const v of [spec.min, spec.max, spec.default]) {
      s.set(spec.name, v);
      assert.equal(s.get(spec.name), v);
    }
  }
  s.set('dev.netmap.bridge', 7);
  s.set('dev.netmap.max_bridges', 9);
  s.set('dev.netmap.max_ports', 33);
  s.set('dev.netmap.max_buffers', 4096);
  s.set('dev.netmap.verbose', 1);
  assert.deepEqual([s.bridge, s.maxBridges, s.maxPorts, s.maxBuffers, s.verbose], [7, 9, 33, 4096, 1]);
});

test('out-of-range and non-integer values are VALE_ERR_INVALID_ARG and change nothing', () => {
  const s = new Settings();
  for (const spec of SETTINGS) {
    if (spec.readonly) continue;
    for (const v of [spec.min - 1, spec.max + 1, spec.min + 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assertCode(() => s.set(spec.name, v), ErrorCodes.INVALID_ARG, new RegExp(spec.name.replace(/\./g, '\\.')));
      assert.equal(s.get(spec.name), spec.default);
    }
  }
  assertCode(() => s.set('dev.netmap.bridge', '5' as never), ErrorCodes.INVALID_ARG);
});

test('unknown names are rejected and the message lists the known ones', () => {
  const s = new Settings();
  for (const name of ['dev.netmap.nope', '', 'bridge', 'dev.netmap.bridge_batch']) {
    assertCode(() => s.get(name), ErrorCodes.NOT_FOUND, /dev\.netmap\.max_ports/);
    assertCode(() => s.set(name, 1), ErrorCodes.NOT_FOUND);
  }
  assertCode(() => new Settings({ 'dev.netmap.nope': 1 }), ErrorCodes.NOT_FOUND);
});

test('buf_size is read-only', () => {
  const s = new Settings();
  assertCode(() => s.set('dev.netmap.buf_size', 4096), ErrorCodes.INVALID_ARG, /read-only/);
  assertCode(() => s.set('dev.netmap.buf_size', 2048), ErrorCodes.INVALID_ARG, /read-only/);
  assert.equal(s.get('dev.netmap.buf_size'), 2048);
  // constructing with the fixed value is allowed, any other is not
  assert.equal(new Settings({ 'dev.netmap.buf_size': 2048 }).bufSize, 2048);
  assertCode(() => new Settings({ 'dev.netmap.buf_size': 4096 }), ErrorCodes.INVALID_ARG);
});

test('onChange listeners see each accepted change only', () => {
  const s = new Settings();
  const seen: Array<[string, number]> = [];
  s.onChange((n, v) => seen.push([n, v]));
  s.set('dev.netmap.bridge', 64);
  assert.throws(() => s.set('dev.netmap.bridge', 0));
  assert.deepEqual(seen, [['dev.netmap.bridge', 64]]);
});

test('constructor init applies and validates', () => {
  const s = new Settings({ 'dev.netmap.max_ports': 3, 'dev.netmap.bridge': undefined });
  assert.equal(s.maxPorts, 3);
  assert.equal(s.bridge, 1024);
  assertCode(() => new Settings({ 'dev.netmap.max_ports': 253 }), ErrorCodes.INVALID_ARG);
});

test('parseAssignment parses sysctl name=value', () => {
  assert.deepEqual(parseAssignment('dev.netmap.bridge=64'), { name: 'dev.netmap.bridge', value: 64 });
  assert.deepEqual(parseAssignment(' dev.netmap.verbose = -1 '), { name: 'dev.netmap.verbose', value: -1 });
  for (const bad of [
    'dev.netmap.bridge',
    '=5',
    'dev.netmap.bridge=',
    'dev.netmap.bridge=1.5',
    'x=0x10',
    'x=1e3',
    'x=abc',
  ]) {
    assertCode(() => parseAssignment(bad), ErrorCodes.INVALID_ARG);
  }
});
