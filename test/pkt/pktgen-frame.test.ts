import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import { formatIp4 } from '../../src/pkt/ether.js';
import {
  buildPktGenFrame,
  formatIpRange,
  isMultiRange,
  PktGenFrame,
  parseIpRange,
  parseMacArg,
} from '../../src/pkt/pktgen-frame.js';
import { readPingStamp, readRxSeq, swapForPong, writePingStamp, writeTxSeq } from '../../src/pkt/pktgen-seq.js';
import { toHex } from './corpus.js';

/** An RFC 1071 sum written independently of src/pkt/checksum.ts. */
function naiveSum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const u16 = (v: number) => [v >>> 8, v & 0xff];
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];

/** Verifies IPv4 header and UDP checksums of an Ethernet/IPv4/UDP frame, independently. */
function checkV4(f: Uint8Array): void {
  const b = [...f];
  assert.equal(naiveSum(b.slice(14, 34)), 0xffff, 'IPv4 header checksum');
  const ulen = (b[38]! << 8) | b[39]!;
  const pseudo = [...b.slice(26, 34), 0, 17, ...u16(ulen)];
  assert.equal(naiveSum([...pseudo, ...b.slice(34, 34 + ulen)]), 0xffff, 'UDP checksum');
}

function checkV6(f: Uint8Array): void {
  const b = [...f];
  const ulen = (b[58]! << 8) | b[59]!;
  const pseudo = [...b.slice(22, 54), 0, 0, ...u16(ulen), 0, 0, 0, 17];
  assert.equal(naiveSum([...pseudo, ...b.slice(54, 54 + ulen)]), 0xffff, 'UDP/IPv6 checksum');
}

test('default frame: 60 bytes, field by field, checksums 0x26ad and 0x1580', () => {
  const eth = [...Array(6).fill(0xff), ...Array(6).fill(0), 0x08, 0x00];
  const ipNoSum = [0x45, 0x10, ...u16(46), 0, 0, 0x40, 0x00, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 1];
  const ipSum = ~naiveSum(ipNoSum) & 0xffff;
  assert.equal(ipSum, 0x26ad);
  const ip = [...ipNoSum.slice(0, 10), ...u16(ipSum), ...ipNoSum.slice(12)];
  const payload = ascii('netmap pkt-gen DIR');
  const udpNoSum = [...u16(1234), ...u16(1234), ...u16(26), 0, 0];
  const udpSum = ~naiveSum([10, 0, 0, 1, 10, 1, 0, 1, 0, 17, ...u16(26), ...udpNoSum, ...payload]) & 0xffff;
  assert.equal(udpSum, 0x1580);
  const udp = [...udpNoSum.slice(0, 6), ...u16(udpSum)];
  const expected = Buffer.from([...eth, ...ip, ...udp, ...payload]).toString('hex');
  assert.equal(
    expected,
    'ffffffffffff0000000000000800' +
      '4510002e00004000401126ad0a0000010a010001' +
      '04d204d2001a1580' +
      '6e65746d617020706b742d67656e20444952',
  );
  const f = buildPktGenFrame();
  assert.equal(f.length, 60);
  assert.equal(toHex(f), expected);
  checkV4(f);
});

test('payload repeats the pkt-gen text and is cut at the frame end', () => {
  const text = 'netmap pkt-gen DIRECT payload\nhttp://info.iet.unipi.it/~luigi/netmap/ ';
  const f = buildPktGenFrame({ length: 300 });
  const want = text.repeat(5).slice(0, 300 - 42);
  assert.equal(Buffer.from(f.subarray(42)).toString('latin1'), want);
  checkV4(f);
  const ind = buildPktGenFrame({ length: 80, indirect: true });
  assert.equal(
    Buffer.from(ind.subarray(42)).toString('latin1'),
    'netmap pkt-gen indirect payload\nhttp://'.slice(0, 38),
  );
});

test('options: MACs, addresses, ports, lengths 16..65535', () => {
  const f = buildPktGenFrame({
    length: 128,
    srcMac: '02:00:00:00:00:01',
    dstMac: '02:00:00:00:00:02',
    src: '192.168.1.10:5000',
    dst: '192.168.1.20:6000',
  });
  assert.equal(f.length, 128);
  assert.equal(toHex(f.subarray(0, 14)), '020000000002020000000001' + '0800');
  assert.equal(toHex(f.subarray(26, 34)), 'c0a8010ac0a80114');
  assert.equal(toHex(f.subarray(34, 40)), '13881770005e');
  checkV4(f);
  const big = buildPktGenFrame({ length: 65535 });
  assert.equal(big.length, 65535);
  checkV4(big);
  for (const bad of [15, 65536, 60.5, Number.NaN]) {
    assert.throws(
      () => buildPktGenFrame({ length: bad }),
      (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
    );
  }
});

test('lengths below 42 truncate the minimal frame', () => {
  const full = buildPktGenFrame({ length: 42 });
  checkV4(full);
  for (const n of [16, 20, 34, 41]) {
    const f = buildPktGenFrame({ length: n });
    assert.equal(f.length, n);
    assert.deepEqual(f, full.subarray(0, n));
  }
});

test('IPv6 variant: type 0x86dd, IPv6 header, UDP checksum', () => {
  const f = buildPktGenFrame({ family: 6, length: 80, src: '[2001:db8::1]:1234', dst: '[2001:db8::2]:5678' });
  assert.equal(f.length, 80);
  assert.equal(toHex(f.subarray(12, 22)), '86dd' + '60000000' + '001a' + '11' + '40');
  assert.equal(toHex(f.subarray(22, 38)), '20010db8000000000000000000000001');
  assert.equal(toHex(f.subarray(38, 54)), '20010db8000000000000000000000002');
  assert.equal(toHex(f.subarray(54, 60)), '04d2162e001a');
  assert.equal(Buffer.from(f.subarray(62)).toString('latin1'), 'netmap pkt-gen DIR');
  checkV6(f);
  // pkt-gen's IPv4 defaults do not parse as IPv6: the addresses stay "::".
  const d = new PktGenFrame({ family: 6, length: 62 });
  assert.equal(toHex(d.bytes.subarray(22, 54)), '00'.repeat(32));
  checkV6(d.bytes);
});

test('range syntax ip[:port][-ip[:port]], like extract_ip_range()', () => {
  assert.deepEqual(parseIpRange('10.0.0.1'), {
    family: 4,
    start: 0x0a000001,
    end: 0x0a000001,
    port0: 1234,
    port1: 1234,
  });
  assert.deepEqual(parseIpRange('10.0.0.9:90-10.0.0.1:80'), {
    family: 4,
    start: 0x0a000001,
    end: 0x0a000009,
    port0: 80,
    port1: 90,
  });
  // A missing end port equals the start port; strtol base 0 ports.
  assert.deepEqual(parseIpRange('10.0.0.1:0x10-10.0.0.2'), {
    family: 4,
    start: 0x0a000001,
    end: 0x0a000002,
    port0: 16,
    port1: 16,
  });
  assert.equal(parseIpRange('10.0.0.1:010').port0, 8);
  assert.equal(isMultiRange(parseIpRange('10.0.0.1:5')), false);
  assert.equal(isMultiRange(parseIpRange('10.0.0.1:5-10.0.0.1:6')), true);
  assert.equal(formatIpRange(parseIpRange('10.0.0.1:5-10.0.0.3:5')), '10.0.0.1:5-10.0.0.3:5');
  const r6 = parseIpRange('3@[2001:db8::1]:99-[2001:db8:0:5::1]:100', 6);
  assert.equal(r6.family, 6);
  if (r6.family === 6) {
    assert.equal(r6.group, 3);
    assert.equal(r6.port0, 99);
    assert.equal(r6.port1, 100);
  }
  assert.equal(parseIpRange('2001:db8::1', 6).port0, 1234);
  for (const bad of ['', 'x', '10.0.0.1:', '10.0.0.1:70000', '10.0.0.1-', '10.0.0.1:1-10.0.0.300', '1.2.3.4:abc']) {
    assert.throws(
      () => parseIpRange(bad),
      (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
      bad,
    );
  }
  assert.throws(
    () => parseIpRange('[zz::1]:5', 6),
    (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
  );
  assert.deepEqual([...parseMacArg('0:1:2:3:4:5')], [0, 1, 2, 3, 4, 5]);
});

test('odometer: src port, then src ip, then dst port, then dst ip; checksums stay valid', () => {
  const g = new PktGenFrame({ src: '10.0.0.1:1000-10.0.0.2:1001', dst: '10.1.0.1:2000-10.1.0.2:2001' });
  assert.ok(g.varies);
  const seen: string[] = [];
  for (let i = 0; i < 17; i++) {
    const t = g.tuple();
    seen.push(`${formatIp4(t.srcAddr)}:${t.srcPort}>${formatIp4(t.dstAddr)}:${t.dstPort}`);
    checkV4(g.bytes);
    g.advance();
  }
  assert.deepEqual(seen.slice(0, 9), [
    '10.0.0.1:1000>10.1.0.1:2000',
    '10.0.0.1:1001>10.1.0.1:2000',
    '10.0.0.2:1000>10.1.0.1:2000',
    '10.0.0.2:1001>10.1.0.1:2000',
    '10.0.0.1:1000>10.1.0.1:2001',
    '10.0.0.1:1001>10.1.0.1:2001',
    '10.0.0.2:1000>10.1.0.1:2001',
    '10.0.0.2:1001>10.1.0.1:2001',
    '10.0.0.1:1000>10.1.0.2:2000',
  ]);
  assert.equal(seen[16], seen[0], 'the odometer wraps after 16 tuples');
  assert.equal(new Set(seen.slice(0, 16)).size, 16);
});

test('odometer across many packets with random ranges keeps checksums valid', () => {
  const g = new PktGenFrame({ length: 97, src: '10.255.255.250:65530-11.0.0.3:65535', dst: '10.1.0.1:1-10.1.0.4:3' });
  for (let i = 0; i < 3000; i++) {
    g.advance();
    if (i % 7 === 0) checkV4(g.bytes);
  }
  checkV4(g.bytes);
});

test('IPv6 ranges walk one 16-bit group', () => {
  const g = new PktGenFrame({ family: 6, length: 70, src: '[2001:db8::1]:1-[2001:db8::3]:2', dst: '5@[2001:db8::9]' });
  const seen: string[] = [];
  for (let i = 0; i < 7; i++) {
    const t = g.tuple();
    seen.push(`${t.srcAddr}:${t.srcPort}`);
    checkV6(g.bytes);
    g.advance();
  }
  assert.deepEqual(seen, ['1:1', '1:2', '2:1', '2:2', '3:1', '3:2', '1:1']);
});

test('-z/-Z random addresses keep checksums valid', () => {
  let x = 1;
  const random = () => {
    x = (x * 48271) % 2147483647;
    return x / 2147483647;
  };
  const g = new PktGenFrame({ randomSrc: true, randomDst: true, random });
  const tuples = new Set<string>();
  for (let i = 0; i < 200; i++) {
    g.advance();
    checkV4(g.bytes);
    tuples.add(JSON.stringify(g.tuple()));
  }
  assert.ok(tuples.size > 190);
  const g6 = new PktGenFrame({ family: 6, length: 64, randomSrc: true, random });
  for (let i = 0; i < 50; i++) {
    g6.advance();
    checkV6(g6.bytes);
  }
});

test('setLength rewrites lengths and checksums (random sizes)', () => {
  const g = new PktGenFrame({ length: 60, capacity: 1500 });
  for (const n of [1500, 60, 61, 999, 42, 30, 16, 64]) {
    g.setLength(n);
    assert.equal(g.bytes.length, n);
    if (n >= 42) {
      assert.equal((g.bytes[16]! << 8) | g.bytes[17]!, n - 14);
      checkV4(g.bytes);
    }
  }
  assert.throws(
    () => g.setLength(1501),
    (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
  );
});

test('txseq/rxseq: big-endian u32 at the payload start, UDP checksum patched', () => {
  const f = buildPktGenFrame({ length: 64 });
  for (const seq of [0, 1, 0x12345678, 0xffffffff]) {
    writeTxSeq(f, seq, f.length);
    assert.equal(readRxSeq(f, f.length), seq);
    assert.equal(toHex(f.subarray(42, 46)), seq.toString(16).padStart(8, '0'));
    checkV4(f);
  }
  const f6 = buildPktGenFrame({ family: 6, length: 70 });
  writeTxSeq(f6, 0xa1b2c3d4, f6.length);
  assert.equal(toHex(f6.subarray(62, 66)), 'a1b2c3d4');
  assert.equal(readRxSeq(f6, f6.length), 0xa1b2c3d4);
  checkV6(f6);
  // In a ring buffer: frame at an offset.
  const ring = new Uint8Array(200);
  ring.set(buildPktGenFrame(), 100);
  writeTxSeq(ring, 7, 60, 100);
  assert.equal(readRxSeq(ring, 60, 100), 7);
  checkV4(ring.subarray(100, 160));
  assert.equal(readRxSeq(f, 45), undefined);
});

test('ping stamp: seq at 42, {sec, nsec} at 46, little-endian like pkt-gen on x86', () => {
  const f = buildPktGenFrame();
  writePingStamp(f, { seq: 5, sec: 0x01020304, nsec: 999999999 }, f.length);
  assert.equal(toHex(f.subarray(42, 54)), '05000000' + '04030201' + 'ffc99a3b');
  assert.deepEqual(readPingStamp(f, f.length), { seq: 5, sec: 0x01020304, nsec: 999999999 });
  checkV4(f);
  assert.equal(readPingStamp(f, 53), undefined);
  // pong turns it around; checksums unchanged and still valid.
  const g = buildPktGenFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' });
  swapForPong(g, g.length);
  assert.equal(toHex(g.subarray(0, 12)), '020000000001' + '020000000002');
  assert.equal(toHex(g.subarray(26, 34)), '0a0100010a000001');
  checkV4(g);
});
