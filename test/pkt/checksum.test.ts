import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cksumUpdate16,
  cksumUpdate32,
  fold,
  inetChecksum,
  ipv4HeaderChecksum,
  l4Checksum4,
  l4Checksum6,
  setIpv4HeaderChecksum,
  setL4Checksum4,
  sum16,
  verifyIpv4HeaderChecksum,
  verifyL4Checksum4,
  verifyL4Checksum6,
} from '../../src/pkt/checksum.js';
import { seeded } from '../helpers/vale.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
  const b = hex('0001f203f4f5f6f7');
  assert.equal(fold(sum16(b, 0, b.length)), 0xddf2);
  assert.equal(inetChecksum(b, 0, b.length), ~0xddf2 & 0xffff);
});

test('odd length pads the last byte as the high half of a word', () => {
  assert.equal(fold(sum16(hex('0102 03'), 0, 3)), 0x0102 + 0x0300);
  assert.equal(inetChecksum(new Uint8Array(0), 0, 0), 0xffff);
});

test('sum16 chains even-length pieces and honours offset/length', () => {
  const b = hex('aa 0001f203 f4f5f6f7 bb');
  assert.equal(fold(sum16(b, 5, 4, sum16(b, 1, 4))), 0xddf2);
});

test('known IPv4 header: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7', () => {
  // The classic Wikipedia example header, checksum 0xb861.
  const h = hex('450000730000400040110000c0a80001c0a800c7');
  assert.equal(ipv4HeaderChecksum(h, 0), 0xb861);
  setIpv4HeaderChecksum(h, 0);
  assert.equal((h[10]! << 8) | h[11]!, 0xb861);
  assert.ok(verifyIpv4HeaderChecksum(h, 0));
  h[15] ^= 1;
  assert.ok(!verifyIpv4HeaderChecksum(h, 0));
});

test('UDP over IPv4 vector (pkt-gen default frame: 0x1580)', () => {
  // 10.0.0.1:1234 -> 10.1.0.1:1234, payload "netmap pkt-gen DIR".
  const ip = hex('4510002e000040004011 26ad 0a000001 0a010001');
  const udp = hex('04d204d2001a0000');
  const f = new Uint8Array([...ip, ...udp, ...new TextEncoder().encode('netmap pkt-gen DIR')]);
  assert.equal(l4Checksum4(f, 0, 20, 26, 17), 0x1580);
  setL4Checksum4(f, 0, 20, 26, 17);
  assert.ok(verifyL4Checksum4(f, 0, 20, 26, 17));
});

test('UDP over IPv6 vector (checked with scapy: 2001:db8::1 -> 2001:db8::2, "hi")', () => {
  const ip6 = hex('6000000000 0a 11 40 20010db8000000000000000000000001 20010db8000000000000000000000002');
  const udp = hex('303904d2000a0000 6869');
  const f = new Uint8Array([...ip6, ...udp]);
  const c = l4Checksum6(f, 0, 40, 10, 17);
  // Independent arithmetic: pseudo-header + header + data.
  let s = 0;
  for (let i = 8; i < 40; i += 2) s += (f[i]! << 8) | f[i + 1]!;
  s += 10 + 17 + 0x3039 + 0x04d2 + 0x000a + 0x6869;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  assert.equal(c, ~s & 0xffff);
  f[46] = c >>> 8;
  f[47] = c & 0xff;
  assert.ok(verifyL4Checksum6(f, 0, 40, 10, 17));
});

test('UDP sends a computed zero as 0xffff; UDP/IPv4 zero means "no checksum"', () => {
  // Choose data so the sum is 0xffff: checksum would be 0.
  const f = new Uint8Array(28);
  f[0] = 0x45;
  f[9] = 17;
  f.set([0, 0, 0, 0, 0, 8, 0, 0], 20);
  // pseudo = 17 + 8, header = 8 (len) -> sum 0x21; put 0xffff-0x21 in the source port.
  const v = 0xffff - 0x21;
  f[20] = v >>> 8;
  f[21] = v & 0xff;
  assert.equal(l4Checksum4(f, 0, 20, 8, 17), 0xffff);
  f[26] = 0;
  f[27] = 0;
  assert.ok(verifyL4Checksum4(f, 0, 20, 8, 17));
});

test('ICMP over IPv4 has no pseudo-header', () => {
  const f = hex('45000000000000004001000000000000000000000800000012340001');
  assert.equal(l4Checksum4(f, 0, 20, 8, 1), inetChecksum(hex('0800000012340001'), 0, 8));
});

test('incremental update (RFC 1624) equals recomputation for random changes', () => {
  const r = seeded(0x5eed);
  for (let iter = 0; iter < 5000; iter++) {
    const len = 2 * (1 + Math.floor(r() * 40));
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
    b[0] |= 1; // never all-zero data (the one case where 0x0000 and 0xffff differ)
    let c = inetChecksum(b, 0, len);
    const changes = 1 + Math.floor(r() * 4);
    for (let k = 0; k < changes; k++) {
      if (r() < 0.5 || len < 4) {
        const w = 2 * Math.floor(r() * (len / 2));
        const old = (b[w]! << 8) | b[w + 1]!;
        const nv = Math.floor(r() * 65536);
        b[w] = nv >>> 8;
        b[w + 1] = nv & 0xff;
        c = cksumUpdate16(c, old, nv);
      } else {
        const w = 2 * Math.floor(r() * (len / 2 - 1));
        const old = ((b[w]! << 24) | (b[w + 1]! << 16) | (b[w + 2]! << 8) | b[w + 3]!) >>> 0;
        const nv = Math.floor(r() * 4294967296) >>> 0;
        b[w] = nv >>> 24;
        b[w + 1] = (nv >>> 16) & 0xff;
        b[w + 2] = (nv >>> 8) & 0xff;
        b[w + 3] = nv & 0xff;
        c = cksumUpdate32(c, old, nv);
      }
      if (b.every((x) => x === 0)) b[0] = 1; // keep the invariant; recompute below covers it
      const fresh = inetChecksum(b, 0, len);
      // 0x0000 and 0xffff are the same value in ones' complement; anything else must match exactly.
      if (!((c === 0 && fresh === 0xffff) || (c === 0xffff && fresh === 0)))
        assert.equal(c, fresh, `iteration ${iter}`);
      c = fresh;
    }
  }
});

test('checksum of a large buffer stays exact (accumulator folding)', () => {
  const b = new Uint8Array(1 << 20).fill(0xff);
  assert.equal(fold(sum16(b, 0, b.length)), 0xffff);
  b.fill(0x01);
  // 2^19 words of 0x0101 = 0x0101 * 524288 folded.
  let s = 0x0101 * 524288;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  assert.equal(fold(sum16(b, 0, b.length)), s);
});
