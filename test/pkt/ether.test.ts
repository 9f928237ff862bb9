import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import {
  formatIp4,
  formatIp4At,
  formatIp6,
  formatMac,
  parseIp4,
  parseIp6,
  parseMac,
  readIp4,
  tryParseIp4,
  tryParseIp6,
  writeIp4,
} from '../../src/pkt/ether.js';

test('MAC parse/format round trip, lower case, ValeError on garbage', () => {
  assert.deepEqual([...parseMac('AA:bb:0c:d:EE:ff')], [0xaa, 0xbb, 0x0c, 0x0d, 0xee, 0xff]);
  assert.equal(formatMac(parseMac('aa-bb-cc-dd-ee-ff')), 'aa:bb:cc:dd:ee:ff');
  const b = new Uint8Array([9, 0, 1, 2, 3, 4, 5, 0xfe]);
  assert.equal(formatMac(b, 1), '00:01:02:03:04:05');
  for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'gg:00:00:00:00:00', '1234:5:6:7:8:9']) {
    assert.throws(
      () => parseMac(bad),
      (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
    );
  }
});

test('IPv4 parse/format', () => {
  assert.equal(parseIp4('10.0.0.1'), 0x0a000001);
  assert.equal(parseIp4('255.255.255.255'), 0xffffffff);
  assert.equal(formatIp4(0xc0a80101), '192.168.1.1');
  const b = new Uint8Array(6);
  writeIp4(b, 1, 0xdeadbeef);
  assert.equal(readIp4(b, 1), 0xdeadbeef);
  assert.equal(formatIp4At(b, 1), '222.173.190.239');
  for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '1..2.3', ' ']) {
    assert.equal(tryParseIp4(bad), undefined, bad);
  }
  assert.throws(
    () => parseIp4('300.1.1.1'),
    (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
  );
});

test('IPv6 parse: full, compressed, embedded IPv4; rejects malformed', () => {
  const words = (a: Uint8Array) => Array.from({ length: 8 }, (_, i) => ((a[2 * i]! << 8) | a[2 * i + 1]!).toString(16));
  assert.deepEqual(words(parseIp6('2001:db8::1')), ['2001', 'db8', '0', '0', '0', '0', '0', '1']);
  assert.deepEqual(words(parseIp6('::')), ['0', '0', '0', '0', '0', '0', '0', '0']);
  assert.deepEqual(words(parseIp6('::ffff:10.0.0.1')), ['0', '0', '0', '0', '0', 'ffff', 'a00', '1']);
  assert.deepEqual(words(parseIp6('1:2:3:4:5:6:7:8')), ['1', '2', '3', '4', '5', '6', '7', '8']);
  assert.deepEqual(words(parseIp6('fe80::1%eth0')), ['fe80', '0', '0', '0', '0', '0', '0', '1']);
  for (const bad of [
    '1:2:3:4:5:6:7',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '12345::',
    'g::',
    '1:2:3:4:5:6:7:8:9',
    '::1.2.3',
    '',
  ]) {
    assert.equal(tryParseIp6(bad), undefined, bad);
  }
});

test('IPv6 format matches tcpdump/inet_ntop (RFC 5952 shape)', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:ffff:a00:1', '::ffff:10.0.0.1'],
    ['0:0:0:0:0:0:a00:1', '::10.0.0.1'],
    ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['ff02:0:0:0:0:1:ff00:2', 'ff02::1:ff00:2'],
  ];
  for (const [input, want] of cases) assert.equal(formatIp6(parseIp6(input)), want, input);
});
