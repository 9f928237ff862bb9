/*
 * The firewall example (examples/firewall): its rule parser (valid and
 * invalid rules), the matcher on frames built with src/pkt/build.ts, its
 * counters, and the program itself between two switches.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeFrame, FrameInfo } from '../../examples/firewall/frame.js';
import { Firewall } from '../../examples/firewall/match.js';
import {
  DIR_IN,
  DIR_OUT,
  DROP,
  DST,
  EITHER,
  PASS,
  parseRule,
  parseRules,
  type Rule,
  RuleError,
  SRC,
} from '../../examples/firewall/rules.js';
import { connectPort, type DaemonPort, macWords } from '../../src/index.js';
import {
  addVlanTag,
  buildArp,
  buildIpv4,
  buildIpv6,
  icmpEcho,
  TCP_SYN,
  tcpHeader,
  udpHeader,
} from '../../src/pkt/build.js';
import { parseIp6 } from '../../src/pkt/ether.js';
import { BIN, exited, tempRunDir, until, waitPort } from '../helpers/daemon.js';
import { frame, putChain, receive, split } from '../helpers/vale.js';

const FIREWALL = fileURLToPath(new URL('../../examples/firewall/main.js', import.meta.url));
const MAC1 = '02:00:00:00:00:01';
const MAC2 = '02:00:00:00:00:02';
const MAC9 = '02:00:00:00:00:09';

function rule(text: string): Rule {
  const r = parseRule(text, 'test');
  assert.ok(r !== null);
  return r;
}

// ---- the parser ----

test('valid rules parse into numbers', () => {
  const cases: Array<[string, Partial<Rule>]> = [
    ['pass all', { action: PASS, dirs: DIR_IN | DIR_OUT, family: 0, proto: -1, ethertype: -1 }],
    ['drop udp dst port 53', { action: DROP, proto: 17, ports: [{ which: DST, lo: 53, hi: 53 }] }],
    ['drop tcp port 1000-2000', { proto: 6, ports: [{ which: EITHER, lo: 1000, hi: 2000 }] }],
    ['pass ip src 10.1.0.0/16', { family: 4, nets4: [{ which: SRC, addr: 0x0a010000, mask: 0xffff0000 }] }],
    ['pass ip 10.1.2.3/8', { family: 4, nets4: [{ which: EITHER, addr: 0x0a000000, mask: 0xff000000 }] }],
    ['pass ip dst 192.168.1.1', { nets4: [{ which: DST, addr: 0xc0a80101, mask: 0xffffffff }] }],
    ['pass ip src 0.0.0.0/0', { nets4: [{ which: SRC, addr: 0, mask: 0 }] }],
    ['drop ip6 src 2001:db8::/32', { family: 6, nets6: [{ which: SRC, addr: parseIp6('2001:db8::'), bits: 32 }] }],
    [
      'drop ip dst 2001:db8:ffff::/33',
      { family: 6, nets6: [{ which: DST, addr: parseIp6('2001:db8:8000::'), bits: 33 }] },
    ],
    ['drop mac src 02:00:00:00:00:09', { macs: [{ which: SRC, ...macWords(MAC9) }] }],
    ['drop mac 2-0-0-0-0-9', { macs: [{ which: EITHER, ...macWords(MAC9) }] }],
    ['pass ethertype 0x0806', { ethertype: 0x0806 }],
    ['pass ethertype 34525', { ethertype: 0x86dd }],
    ['pass arp', { ethertype: 0x0806 }],
    ['pass ethertype ip tcp', { ethertype: 0x0800, proto: 6 }],
    ['drop in icmp', { dirs: DIR_IN, proto: 1, family: 4 }],
    ['drop out icmp6', { dirs: DIR_OUT, proto: 58, family: 6 }],
    ['drop ip6', { family: 6 }],
    ['pass proto 47', { proto: 47 }],
    ['pass proto sctp src port 9', { proto: 132, ports: [{ which: SRC, lo: 9, hi: 9 }] }],
    ['  drop   udp   # a comment', { text: 'drop udp', proto: 17 }],
  ];
  for (const [text, want] of cases) {
    const r = rule(text);
    for (const [k, v] of Object.entries(want)) {
      assert.deepEqual((r as unknown as Record<string, unknown>)[k], v, `${text}: ${k}`);
    }
  }
  assert.equal(parseRule('   # only a comment', 'x'), null);
  assert.equal(parseRule('', 'x'), null);
});

test('invalid rules are refused with where and what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['block all', /a rule starts with 'pass' or 'drop', not 'block'/],
    ['drop', /nothing to match after 'drop' \(write 'drop all'/],
    ['drop in', /nothing to match after 'in'/],
    ['drop all tcp', /'all' stands alone/],
    ['drop tcp all', /'all' stands alone/],
    ['drop udp dst port 99999', /port must be 0\.\.65535 or a range N-M, got '99999'/],
    ['drop udp dst port', /'port' needs a port number/],
    ['drop port 5-3', /port range '5-3' is empty/],
    ['drop port http', /got 'http'/],
    ['drop tcp udp', /two protocols in one rule \(tcp, udp\)/],
    ['drop icmp port 3', /ports need tcp, udp or sctp; icmp has none/],
    ['drop ip6 src 10.0.0.0/8', /'ip6' needs an IPv6 address, got '10\.0\.0\.0\/8'/],
    ['drop ip src 10.0.0.0/33', /prefix length in '10\.0\.0\.0\/33' must be 0\.\.32/],
    ['drop ip src 2001:db8::/129', /must be 0\.\.128/],
    ['drop ip src 10.0.0.300', /invalid IPv4 address '10\.0\.0\.300'/],
    ['drop ip src 2001:db8:::1', /invalid IPv6 address/],
    ['drop ip src', /'ip src' needs an address, e\.g\. 10\.0\.0\.0\/8/],
    ['drop ip src 10.0.0.0/8 ip dst 2001:db8::1', /is IPv6 but the rule already asks for IPv4/],
    ['drop icmp6 ip src 10.0.0.0/8', /is IPv4 but the rule already asks for IPv6/],
    ['drop arp ip src 10.0.0.1', /'ip src 10\.0\.0\.1' needs EtherType 0x800/],
    ['drop ip arp', /'arp' cannot carry the IPv4 packets/],
    ['drop mac src 02:00', /invalid MAC address '02:00'/],
    ['drop mac', /'mac' needs a MAC address/],
    ['drop ethertype foo', /EtherType must be 0\.\.0xffff or ip, ip6, arp, rarp, got 'foo'/],
    ['drop ethertype 0x10000', /got '0x10000'/],
    ['drop proto 256', /protocol must be tcp, udp, sctp, icmp, icmp6 or 0\.\.255, got '256'/],
    ['drop proto constructor', /got 'constructor'/],
    ['drop src 10.0.0.1', /'src' must be followed by 'port' here/],
    ['drop frobnicate', /unknown word 'frobnicate' \(expected one of: all, mac/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseRule(text, '--rule 7'),
      (e: unknown) => e instanceof RuleError && /^--rule 7: /.test(e.message) && re.test(e.message),
      text,
    );
  }
});

test('a rules file: comments and blank lines are skipped, errors name the line', () => {
  const rules = parseRules('# firewall\n\ndrop udp dst port 53   # DNS\npass all\n', 'fw.rules');
  assert.deepEqual(
    rules.map((r) => [r.text, r.where]),
    [
      ['drop udp dst port 53', 'fw.rules:3'],
      ['pass all', 'fw.rules:4'],
    ],
  );
  assert.throws(
    () => parseRules('pass all\n\n# x\ndrop tcp port x\n', 'fw.rules'),
    /^RuleError: fw\.rules:4: port must be/,
  );
});

// ---- the matcher ----

const udp4 = (src: string, dst: string, sport: number, dport: number, srcMac = MAC1): Uint8Array =>
  buildIpv4({ srcMac, dstMac: MAC2, src, dst, proto: 17, l4: udpHeader(sport, dport) });
const tcp4 = (src: string, dst: string, sport: number, dport: number): Uint8Array =>
  buildIpv4({
    srcMac: MAC1,
    dstMac: MAC2,
    src,
    dst,
    proto: 6,
    l4: tcpHeader({ sport, dport, seq: 1, flags: TCP_SYN }),
  });
const udp6 = (src: string, dst: string, sport: number, dport: number): Uint8Array =>
  buildIpv6({ srcMac: MAC1, dstMac: MAC2, src, dst, proto: 17, l4: udpHeader(sport, dport) });

test('decodeFrame reads addresses, protocol and ports, through VLAN tags and IPv6 extension headers', () => {
  const f = new FrameInfo();
  const d = (b: Uint8Array): FrameInfo => {
    decodeFrame(b, 0, b.length, f);
    return f;
  };
  let x = d(udp4('10.0.0.1', '10.9.0.2', 1234, 53));
  assert.deepEqual(
    [x.ethertype, x.family, x.src4, x.dst4, x.proto, x.sport, x.dport],
    [0x800, 4, 0x0a000001, 0x0a090002, 17, 1234, 53],
  );
  assert.deepEqual([x.srcA, x.srcB], [macWords(MAC1).a, macWords(MAC1).b]);
  assert.deepEqual([x.dstA, x.dstB], [macWords(MAC2).a, macWords(MAC2).b]);
  x = d(addVlanTag(addVlanTag(tcp4('10.0.0.1', '10.0.0.2', 80, 443), 7), 8, 0, false, 0x88a8));
  assert.deepEqual([x.ethertype, x.family, x.proto, x.sport, x.dport], [0x800, 4, 6, 80, 443]);
  // a later IPv4 fragment carries no ports
  const frag = udp4('10.0.0.1', '10.0.0.2', 1, 53);
  frag[14 + 6] = 0x00;
  frag[14 + 7] = 0xb9; // offset 185 * 8
  x = d(frag);
  assert.deepEqual([x.proto, x.sport, x.dport], [17, -1, -1]);
  // IPv6: hop-by-hop options, then a first fragment header, then UDP
  const hbh = new Uint8Array([44, 0, 1, 4, 0, 0, 0, 0]);
  const fh = new Uint8Array([17, 0, 0, 0, 0, 0, 0, 1]);
  const l4 = new Uint8Array([...hbh, ...fh, ...udpHeader(5353, 53)]);
  x = d(buildIpv6({ srcMac: MAC1, dstMac: MAC2, src: '2001:db8::1', dst: 'fe80::2', proto: 0, l4 }));
  assert.deepEqual([x.ethertype, x.family, x.proto, x.sport, x.dport], [0x86dd, 6, 17, 5353, 53]);
  assert.equal(x.buf[x.src6], 0x20);
  fh[3] = 8; // a later fragment (offset 1)
  x = d(
    buildIpv6({
      srcMac: MAC1,
      dstMac: MAC2,
      src: '2001:db8::1',
      dst: 'fe80::2',
      proto: 0,
      l4: new Uint8Array([...hbh, ...fh, ...udpHeader(5353, 53)]),
    }),
  );
  assert.deepEqual([x.proto, x.sport], [17, -1]);
  x = d(new Uint8Array(10));
  assert.deepEqual([x.ethertype, x.family, x.proto], [-1, 0, -1]);
  // a truncated IPv4 header is not IP
  x = d(udp4('10.0.0.1', '10.0.0.2', 1, 2).subarray(0, 30));
  assert.deepEqual([x.ethertype, x.family, x.proto], [0x800, 0, -1]);
});

test('the first matching rule decides, in order, per direction; otherwise the default', () => {
  const rules = parseRules(
    [
      'drop udp dst port 53', // 1
      'drop mac src 02:00:00:00:00:09', // 2
      'pass ip src 10.1.0.0/16', // 3
      'drop in tcp dst port 22', // 4
      'drop ip6 src 2001:db8::/32 udp', // 5
      'pass icmp', // 6
      'drop icmp6', // 7
      'drop arp', // 8
      'drop ip dst 192.168.0.0/31', // 9
      'drop tcp port 6000-6010', // 10
    ].join('\n'),
    'r',
  );
  const fw = new Firewall(rules, PASS);
  const cases: Array<[string, Uint8Array, number, number]> = [
    ['DNS query', udp4('10.1.0.5', '8.8.8.8', 40000, 53), DIR_IN, 0],
    ['DNS reply: src port 53 only', udp4('8.8.8.8', '10.1.0.5', 53, 40000), DIR_OUT, -1],
    ['from 10.1/16 (rule 3 before 4)', tcp4('10.1.2.3', '10.2.0.1', 5000, 22), DIR_IN, 2],
    ['ssh in', tcp4('10.2.0.1', '10.3.0.1', 5000, 22), DIR_IN, 3],
    ['ssh out: rule 4 is in only', tcp4('10.2.0.1', '10.3.0.1', 5000, 22), DIR_OUT, -1],
    ['bad MAC', udp4('10.1.0.1', '10.0.0.1', 1, 2, MAC9), DIR_OUT, 1],
    ['IPv6 from 2001:db8::/32', udp6('2001:db8:1::1', '2001:db9::1', 1, 2), DIR_IN, 4],
    ['IPv6 from outside', udp6('2001:db9::1', '2001:db8::1', 1, 2), DIR_IN, -1],
    ['ping', buildIpv4({ src: '10.5.0.1', dst: '10.6.0.1', proto: 1, l4: icmpEcho(8, 1, 1) }), DIR_IN, 5],
    ['ping6', buildIpv6({ src: '2001:db9::1', dst: '2001:db9::2', proto: 58, l4: icmpEcho(128, 1, 1) }), DIR_IN, 6],
    ['ARP', buildArp('request', { srcMac: MAC1, srcIp: '10.0.0.1', dstIp: '10.0.0.2' }), DIR_IN, 7],
    ['to 192.168.0.1 (/31)', tcp4('10.7.0.1', '192.168.0.1', 1, 2), DIR_IN, 8],
    ['to 192.168.0.2', tcp4('10.7.0.1', '192.168.0.2', 1, 2), DIR_IN, -1],
    ['X11 range', tcp4('10.7.0.1', '10.8.0.1', 6005, 40000), DIR_OUT, 9],
    ['non-IP frame', frame(MAC2, MAC1), DIR_IN, -1],
  ];
  for (const [what, b, dir, want] of cases) assert.equal(fw.firstMatch(b, 0, b.length, dir), want, what);
  // frames are decoded where they lie (an offset into a larger buffer, as in a ring)
  const big = new Uint8Array(4096);
  const dns = udp4('10.1.0.5', '8.8.8.8', 40000, 53);
  big.set(dns, 2048);
  assert.equal(fw.firstMatch(big, 2048, dns.length, DIR_IN), 0);
});

test('decide() counts hits and bytes per rule, the default, and per direction; report() prints them', () => {
  const fw = new Firewall(parseRules('drop udp dst port 53\npass tcp', 'fw.rules'), DROP);
  const dns = udp4('10.0.0.1', '10.0.0.2', 1, 53);
  const web = tcp4('10.0.0.1', '10.0.0.2', 1, 80);
  const other = frame(MAC2, MAC1);
  assert.equal(fw.decide(dns, 0, dns.length, 60, DIR_IN), false);
  assert.equal(fw.decide(dns, 0, dns.length, 60, DIR_OUT), false);
  assert.equal(fw.decide(web, 0, web.length, 3000, DIR_IN), true);
  assert.equal(fw.decide(other, 0, other.length, 60, DIR_OUT), false);
  assert.deepEqual(
    fw.rules.map((r) => [r.hits, r.bytes]),
    [
      [2, 120],
      [1, 3000],
    ],
  );
  assert.deepEqual([fw.defaultHits, fw.defaultBytes], [1, 60]);
  assert.equal(
    fw.report('vale-a:fw', 'vale-b:fw'),
    [
      '#  frames  bytes  rule',
      '1       2    120  drop udp dst port 53  (fw.rules:1)',
      '2       1   3000  pass tcp  (fw.rules:2)',
      '-       1     60  drop (default)',
      'in  vale-a:fw -> vale-b:fw: 1 passed, 1 dropped',
      'out vale-b:fw -> vale-a:fw: 0 passed, 2 dropped',
    ].join('\n'),
  );
});

// ---- the program between two switches ----

const run = tempRunDir('firewall');
let fwProc: ChildProcess | null = null;
after(() => {
  if (fwProc !== null && fwProc.exitCode === null && fwProc.signalCode === null) fwProc.kill('SIGKILL');
  spawnSync(process.execPath, [BIN, 'ctl', '--shutdown', '--dir', run.dir]);
  run.cleanup();
});

test('the firewall program: bad rules and options get a clear error and exit 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--rule', 'drop udp port 70000'], /^firewall: --rule 1: port must be 0\.\.65535/m],
    [['--rule', 'pass all', '--rule', 'drop tcp tcp udp'], /^firewall: --rule 2: two protocols/m],
    [['-r', join(run.dir, 'missing.rules')], /missing\.rules: cannot read the rules/],
    [['--default', 'reject', '--rule', 'pass all'], /--default: must be pass or drop, got 'reject'/],
    [['--rule', 'pass all'], /give two ports: -i PORT_IN -i PORT_OUT/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [FIREWALL, ...args], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const help = spawnSync(process.execPath, [FIREWALL, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: node dist\/examples\/firewall\/main\.js -i PORT_IN -i PORT_OUT/);
});

test('end to end: frames matching a drop rule do not cross, others do, both ways; counters on SIGUSR1 and at exit', async () => {
  const dir = run.dir;
  const rulesFile = join(dir, 'fw.rules');
  writeFileSync(rulesFile, '# test rules\ndrop udp dst port 53\ndrop mac src 02:00:00:00:00:09\n');
  let out = '';
  let err = '';
  fwProc = spawn(
    process.execPath,
    [
      FIREWALL,
      '-i',
      'vale-f1:fw',
      '-i',
      'vale-f2:fw',
      '-r',
      rulesFile,
      '--rule',
      'drop out tcp dst port 22',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  fwProc.stdout?.on('data', (d) => (out += d));
  fwProc.stderr?.on('data', (d) => (err += d));
  const ports: DaemonPort[] = [];
  try {
    await waitPort(dir, 'vale-f1:fw');
    await waitPort(dir, 'vale-f2:fw');
    const h1 = await connectPort('vale-f1:h1', { dir });
    ports.push(h1);
    const h2 = await connectPort('vale-f2:h2', { dir });
    ports.push(h2);
    const send = (p: DaemonPort, frames: Uint8Array[]): void => {
      const ring = p.txRings[0];
      assert.ok(ring);
      for (const f of frames) {
        const s = ring.cur;
        ring.bufView(s).set(f);
        ring.setLen(s, f.length);
        ring.setFlags(s, 0);
        ring.head = ring.cur = ring.next(s);
      }
      p.txsync();
    };
    const bufs = (fs: Uint8Array[]): Buffer[] => fs.map((f) => Buffer.from(f));

    // in: h1 -> h2
    const dns = udp4('10.0.0.1', '10.0.0.2', 4000, 53);
    const ntp = udp4('10.0.0.1', '10.0.0.2', 4000, 123);
    const spoofed = tcp4('10.0.0.9', '10.0.0.2', 1, 80).slice();
    spoofed.set([2, 0, 0, 0, 0, 9], 6);
    const ssh = tcp4('10.0.0.1', '10.0.0.2', 5000, 22);
    const dns6 = udp6('2001:db8::1', '2001:db8::2', 4000, 53);
    const web6 = udp6('2001:db8::1', '2001:db8::2', 4000, 443);
    send(h1, [dns, ntp, spoofed, ssh, dns6, web6]);
    const big = udp4('10.0.0.1', '10.0.0.2', 4000, 9999);
    const jumbo = new Uint8Array(3000);
    jumbo.set(big);
    for (let i = big.length; i < jumbo.length; i++) jumbo[i] = (i * 7) & 0xff;
    putChain(h1, split(jumbo, 2048));
    h1.txsync();
    assert.deepEqual(bufs(await receive(h2, 4, 5000)), bufs([ntp, ssh, web6, jumbo]));
    // out: h2 -> h1; 'drop out tcp dst port 22' applies here only
    const dnsBack = udp4('10.0.0.2', '10.0.0.1', 53, 4000);
    const dnsOut = udp4('10.0.0.2', '10.0.0.1', 4000, 53);
    const sshOut = tcp4('10.0.0.2', '10.0.0.1', 5000, 22);
    send(h2, [dnsBack, dnsOut, sshOut]);
    assert.deepEqual(bufs(await receive(h1, 1, 5000)), bufs([dnsBack]));
    // nothing else arrives on either side
    assert.equal((await receive(h1, 1, 300)).length, 0);
    assert.equal((await receive(h2, 1, 0)).length, 0);

    fwProc.kill('SIGUSR1');
    await until(() => out.includes('passed'), 5000, 'the counters after SIGUSR1');
    const bytes = (fs: Uint8Array[]): number => fs.reduce((n, f) => n + f.length, 0);
    const row = (n: string, frames: Uint8Array[], text: string): RegExp =>
      new RegExp(`^${n}\\s+${frames.length}\\s+${bytes(frames)}\\s+${text}$`, 'm');
    assert.match(out, row('1', [dns, dns6, dnsOut], 'drop udp dst port 53 {2}\\(.*fw\\.rules:2\\)'));
    assert.match(out, row('2', [spoofed], 'drop mac src 02:00:00:00:00:09 {2}\\(.*fw\\.rules:3\\)'));
    assert.match(out, row('3', [sshOut], 'drop out tcp dst port 22 {2}\\(--rule 1\\)'));
    assert.match(out, row('-', [ntp, ssh, web6, jumbo, dnsBack], 'pass \\(default\\)'));
    assert.match(out, /^in {2}vale-f1:fw -> vale-f2:fw: 4 passed, 3 dropped$/m);
    assert.match(out, /^out vale-f2:fw -> vale-f1:fw: 1 passed, 2 dropped$/m);
    const before = out;
    fwProc.kill('SIGTERM');
    assert.equal(await exited(fwProc, 10000), 0, err);
    assert.ok(out.length > before.length && out.slice(before.length).includes('4 passed, 3 dropped'), out);
    assert.match(err, /firewall: vale-f1:fw <-> vale-f2:fw, 3 rules, default pass/);
  } finally {
    for (const p of ports) p.close();
  }
});
