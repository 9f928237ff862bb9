import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildIpv4, TCP_ACK, tcpHeader } from '../../src/pkt/build.js';
import { Decoder, formatTimestamp, hexDump, summarize } from '../../src/pkt/decode.js';
import { buildPktGenFrame } from '../../src/pkt/pktgen-frame.js';
import { seeded } from '../helpers/vale.js';
import { corpus } from './corpus.js';

test('every corpus frame decodes to its tcpdump -n line', () => {
  const d = new Decoder();
  for (const c of corpus()) {
    assert.equal(d.decode(c.frame, 0, c.caplen ?? c.frame.length, c.origLen ?? c.frame.length), c.line, c.name);
  }
});

test('-e adds the link-level header; VLAN tags show in it', () => {
  const f = buildPktGenFrame();
  assert.equal(
    summarize(f, 0, f.length, f.length, { link: true }),
    '00:00:00:00:00:00 > ff:ff:ff:ff:ff:ff, ethertype IPv4 (0x0800), length 60: 10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18',
  );
  const vlan = corpus().find((c) => c.name.startsWith('VLAN'))!;
  assert.equal(
    summarize(vlan.frame, 0, vlan.frame.length, vlan.frame.length, { link: true }),
    '00:00:00:00:00:00 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 64: vlan 100, p 3, ethertype IPv4 (0x0800), ' +
      '10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18',
  );
  const arp = corpus().find((c) => c.name === 'ARP request')!;
  assert.equal(
    summarize(arp.frame, 0, 60, 60, { link: true }),
    '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60: Request who-has 10.0.0.2 tell 10.0.0.1, length 46',
  );
});

test('decoding at an offset inside a larger buffer (no copy)', () => {
  const f = buildPktGenFrame();
  const ring = new Uint8Array(4096).fill(0xee);
  ring.set(f, 2048);
  assert.equal(summarize(ring, 2048, 60), 'IP 10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18');
  // A caplen past the end of the buffer is clamped, not trusted.
  assert.equal(summarize(ring, 4090, 100, 100), ' [|ether]');
});

test('record header sanity like tcpdump: len==0, len < caplen, oversize', () => {
  const f = buildPktGenFrame();
  assert.equal(summarize(f, 0, 60, 0), '[Invalid header: len==0]');
  assert.equal(summarize(f, 0, 60, 59), '[Invalid header: len(59) < caplen(60)]');
  assert.equal(summarize(f, 0, 60, 300000), '[Invalid header: len(300000) > 262144]');
});

test('TCP: a Decoder prints relative sequence numbers, summarize() absolute (-S)', () => {
  const seg = (seq: number, ack: number) =>
    buildIpv4({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      proto: 6,
      l4: tcpHeader({ sport: 1111, dport: 2222, seq, ack, flags: TCP_ACK, win: 100 }),
    });
  const d = new Decoder();
  assert.equal(d.decode(seg(1000, 5000)), 'IP 10.0.0.1.1111 > 10.0.0.2.2222: Flags [.], ack 5000, win 100, length 0');
  assert.equal(d.decode(seg(1000, 5010)), 'IP 10.0.0.1.1111 > 10.0.0.2.2222: Flags [.], ack 11, win 100, length 0');
  assert.equal(summarize(seg(1000, 5010)), 'IP 10.0.0.1.1111 > 10.0.0.2.2222: Flags [.], ack 5010, win 100, length 0');
  d.reset();
  assert.equal(d.decode(seg(1000, 5010)), 'IP 10.0.0.1.1111 > 10.0.0.2.2222: Flags [.], ack 5010, win 100, length 0');
});

test('link header length for tcpdump -x', () => {
  const d = new Decoder();
  assert.equal(d.decodeFull(buildPktGenFrame()).linkHeaderLength, 14);
  const vlan = corpus().find((c) => c.name.startsWith('VLAN'))!;
  assert.equal(d.decodeFull(vlan.frame).linkHeaderLength, 18);
  // As in tcpdump: a printer's own truncation check keeps the header length,
  assert.equal(d.decodeFull(buildPktGenFrame(), 0, 30, 60).linkHeaderLength, 14);
  // a failed read deep inside (tcpdump's longjmp) resets it to 0.
  const icmp = corpus().find((c) => c.name === 'ICMP echo request')!;
  assert.equal(d.decodeFull(icmp.frame, 0, 36, 60).text, 'IP 10.0.0.1 > 10.0.0.2:  [|icmp]');
  assert.equal(d.decodeFull(icmp.frame, 0, 36, 60).linkHeaderLength, 0);
});

test('suppressDefaultPrint (tcpdump -x/-X) drops the link layer hex lines', () => {
  const unknown = corpus().find((c) => c.name === 'unknown ethertype')!;
  const d = new Decoder({ suppressDefaultPrint: true });
  assert.equal(
    d.decode(unknown.frame),
    '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 50: ',
  );
  assert.ok(new Decoder().decode(unknown.frame).includes('\n\t0x0000:'));
});

test('hex dumps in the style of tcpdump -x / -X', () => {
  const f = buildPktGenFrame();
  assert.equal(
    hexDump(f, 0, f.length),
    [
      '\t0x0000:  ffff ffff ffff 0000 0000 0000 0800 4510',
      '\t0x0010:  002e 0000 4000 4011 26ad 0a00 0001 0a01',
      '\t0x0020:  0001 04d2 04d2 001a 1580 6e65 746d 6170',
      '\t0x0030:  2070 6b74 2d67 656e 2044 4952',
    ].join('\n'),
  );
  assert.equal(hexDump(f, 14, 3), '\t0x0000:  4510 00');
  assert.equal(
    hexDump(f, 42, 18, { ascii: true }),
    '\t0x0000:  6e65 746d 6170 2070 6b74 2d67 656e 2044  netmap.pkt-gen.D\n\t0x0010:  4952                                     IR',
  );
  assert.equal(hexDump(f, 0, 0), '');
});

test('time stamps HH:MM:SS.uuuuuu (local time, or UTC)', () => {
  assert.equal(formatTimestamp(1700000000, 123456, { utc: true }), '22:13:20.123456');
  assert.equal(formatTimestamp(0, 5, { utc: true }), '00:00:00.000005');
  assert.equal(formatTimestamp(86399, 999999999, { utc: true, nano: true }), '23:59:59.999999999');
  const d = new Date(1700000000 * 1000);
  const local = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}.000001`;
  assert.equal(formatTimestamp(1700000000, 1), local);
});

test('fuzz: 10k random byte strings never throw', () => {
  const r = seeded(12345);
  const d = new Decoder({ link: true });
  const e = new Decoder();
  for (let i = 0; i < 10000; i++) {
    const len = Math.floor(r() * (r() < 0.9 ? 128 : 2000));
    const b = new Uint8Array(len);
    for (let k = 0; k < len; k++) b[k] = Math.floor(r() * 256);
    // Bias towards known ethertypes and IP versions so deeper printers run.
    if (len > 14 && r() < 0.7) {
      const t = [0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x0040][Math.floor(r() * 6)]!;
      b[12] = t >>> 8;
      b[13] = t & 0xff;
      if (t === 0x0800) b[14] = 0x45 + (r() < 0.2 ? Math.floor(r() * 10) : 0);
      if (t === 0x86dd) b[14] = 0x60;
    }
    const orig = r() < 0.8 ? len : Math.floor(r() * 70000);
    const s1 = d.decode(b, 0, len, orig);
    const s2 = e.decode(b, 0, len, orig);
    assert.equal(typeof s1, 'string');
    assert.equal(typeof s2, 'string');
  }
});

test('fuzz: 10k mutations of valid frames never throw', () => {
  const r = seeded(777);
  const base = corpus().map((c) => c.frame);
  const d = new Decoder();
  const dl = new Decoder({ link: true });
  for (let i = 0; i < 10000; i++) {
    const f = base[Math.floor(r() * base.length)]!.slice();
    const n = 1 + Math.floor(r() * 6);
    for (let k = 0; k < n; k++) {
      const pos = r() < 0.8 ? 12 + Math.floor(r() * Math.min(60, f.length - 12)) : Math.floor(r() * f.length);
      f[pos] = r() < 0.5 ? Math.floor(r() * 256) : f[pos]! ^ (1 << Math.floor(r() * 8));
    }
    const cap = r() < 0.3 ? Math.floor(r() * (f.length + 1)) : f.length;
    assert.equal(typeof d.decode(f, 0, cap, f.length), 'string');
    assert.equal(typeof dl.decode(f, 0, cap, f.length), 'string');
  }
});

test('hostile arguments never throw', () => {
  const f = buildPktGenFrame();
  for (const [off, cap, orig] of [
    [-5, 60, 60],
    [0, -1, 60],
    [100, 60, 60],
    [0, Number.NaN, 60],
    [0, 60, Number.POSITIVE_INFINITY],
    [0, 1e12, 1e12],
  ] as const) {
    assert.equal(typeof summarize(f, off, cap, orig), 'string');
  }
  assert.equal(summarize(new Uint8Array(0)), '[Invalid header: len==0]');
});
