/*
 * The packet library against real peers: tcpdump reads our pcap files and
 * prints what our decoder prints; tshark and scapy find our checksums good.
 * Each test skips (with the reason) when its tool is not installed; install
 * them with: apt-get install -y tcpdump tshark python3-scapy.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Decoder, formatTimestamp, hexDump } from '../../src/pkt/decode.js';
import { PcapWriter } from '../../src/pkt/pcap.js';
import { PktGenFrame } from '../../src/pkt/pktgen-frame.js';
import { type CorpusFrame, corpus, scapyPython, toHex, which } from './corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uvale-peers-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const BASE_SEC = 1700000000;
const cap = (c: CorpusFrame) => c.caplen ?? c.frame.length;
const orig = (c: CorpusFrame) => c.origLen ?? c.frame.length;
const frac = (i: number) => (i * 37037) % 1000000;

async function writeFile(name: string, frames: CorpusFrame[]): Promise<string> {
  const file = path.join(tmp, name);
  const w = PcapWriter.open(file);
  frames.forEach((c, i) => {
    w.write(c.frame, 0, cap(c), { sec: BASE_SEC + i, frac: frac(i) }, orig(c));
  });
  await w.close();
  return file;
}

function run(cmd: string, args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const TS = /^\d\d:\d\d:\d\d\.\d{6} /;

/**
 * Compares tcpdump's stdout with what we print for the same frames. The only
 * normalisation: each packet's first line starts with tcpdump's time stamp,
 * which we check against formatTimestamp() and then strip; continuation lines
 * (hex dumps) are compared as they are.
 */
function compareWithTcpdump(stdout: string, ours: string[]): void {
  const theirs = stdout.split('\n');
  assert.equal(theirs.pop(), '', 'output ends with a newline');
  const mine = ours.flatMap((t) => t.split('\n'));
  assert.equal(theirs.length, mine.length, 'same number of lines');
  let packet = 0;
  theirs.forEach((line, i) => {
    let l = line;
    if (TS.test(line)) {
      assert.equal(
        line.slice(0, 15),
        formatTimestamp(BASE_SEC + packet, frac(packet)),
        `time stamp of packet ${packet}`,
      );
      l = line.slice(16);
      packet++;
    }
    assert.equal(l, mine[i], `line ${i + 1}`);
  });
  assert.equal(packet, ours.length, 'one time-stamped line per packet');
}

test('tcpdump -n reads our pcap and prints our decoder lines', async (t) => {
  const tcpdump = which('tcpdump');
  if (tcpdump === undefined) return t.skip('tcpdump not installed');
  const frames = corpus();
  const file = await writeFile('corpus.pcap', frames);
  const r = run(tcpdump, ['-n', '-r', file]);
  assert.match(r.stderr, /link-type EN10MB/);
  const d = new Decoder();
  const ours = frames.map((c) => d.decode(c.frame, 0, cap(c), orig(c)));
  frames.forEach((c, i) => {
    assert.equal(ours[i], c.line, c.name);
  });
  compareWithTcpdump(r.stdout, ours);
});

test('tcpdump -nn -e: link-level header lines match', async (t) => {
  const tcpdump = which('tcpdump');
  if (tcpdump === undefined) return t.skip('tcpdump not installed');
  const frames = corpus();
  const file = await writeFile('corpus-e.pcap', frames);
  const d = new Decoder({ link: true });
  compareWithTcpdump(
    run(tcpdump, ['-nn', '-e', '-r', file]).stdout,
    frames.map((c) => d.decode(c.frame, 0, cap(c), orig(c))),
  );
});

test('tcpdump -x / -xx hex dumps match hexDump()', async (t) => {
  const tcpdump = which('tcpdump');
  if (tcpdump === undefined) return t.skip('tcpdump not installed');
  const frames = corpus();
  const file = await writeFile('corpus-x.pcap', frames);
  for (const flag of ['-x', '-xx', '-X']) {
    const d = new Decoder({ suppressDefaultPrint: true });
    const ours = frames.map((c) => {
      const r = d.decodeFull(c.frame, 0, cap(c), orig(c));
      const from = flag === '-xx' ? 0 : r.linkHeaderLength;
      const n = cap(c) - from;
      return n > 0 ? `${r.text}\n${hexDump(c.frame, from, n, { ascii: flag === '-X' })}` : r.text;
    });
    compareWithTcpdump(run(tcpdump, ['-n', flag, '-r', file]).stdout, ours);
  }
});

test('tcpdump follows a pkt-gen range: one line per advanced 4-tuple', async (t) => {
  const tcpdump = which('tcpdump');
  if (tcpdump === undefined) return t.skip('tcpdump not installed');
  const g = new PktGenFrame({ length: 64, src: '10.0.0.1:1000-10.0.0.2:1001', dst: '10.1.0.1:2000-10.1.0.2:2000' });
  const frames: CorpusFrame[] = [];
  for (let i = 0; i < 9; i++) {
    frames.push({ name: `range ${i}`, frame: g.bytes.slice(), line: '' });
    g.advance();
  }
  const file = await writeFile('range.pcap', frames);
  const d = new Decoder();
  const ours = frames.map((c) => d.decode(c.frame));
  assert.deepEqual(ours.slice(0, 5), [
    'IP 10.0.0.1.1000 > 10.1.0.1.2000: UDP, length 22',
    'IP 10.0.0.1.1001 > 10.1.0.1.2000: UDP, length 22',
    'IP 10.0.0.2.1000 > 10.1.0.1.2000: UDP, length 22',
    'IP 10.0.0.2.1001 > 10.1.0.1.2000: UDP, length 22',
    'IP 10.0.0.1.1000 > 10.1.0.2.2000: UDP, length 22',
  ]);
  compareWithTcpdump(run(tcpdump, ['-n', '-r', file]).stdout, ours);
});

test('tshark finds every IPv4/UDP/TCP/ICMP/ICMPv6 checksum good', async (t) => {
  const tshark = which('tshark');
  if (tshark === undefined) return t.skip('tshark not installed');
  const frames = corpus().filter((c) => c.checksummed === true);
  // pkt-gen frames with ranges and sequence numbers too.
  const g = new PktGenFrame({ length: 100, src: '10.0.0.250:65534-10.0.1.2:65535', dst: '10.1.0.1:1-10.1.0.3:2' });
  for (let i = 0; i < 20; i++) {
    frames.push({ name: `range ${i}`, frame: g.bytes.slice(), line: '', checksummed: true });
    for (let k = 0; k < 7; k++) g.advance();
  }
  const fields = [
    'ip.checksum.status',
    'udp.checksum.status',
    'tcp.checksum.status',
    'icmp.checksum.status',
    'icmpv6.checksum.status',
  ];
  const file = await writeFile('checksums.pcap', frames);
  const args = [
    '-r',
    file,
    '-o',
    'ip.check_checksum:TRUE',
    '-o',
    'udp.check_checksum:TRUE',
    '-o',
    'tcp.check_checksum:TRUE',
  ];
  args.push('-T', 'fields', '-E', 'separator=,', '-E', 'occurrence=a', '-e', 'frame.number', '-e', '_ws.malformed');
  for (const f of fields) args.push('-e', f);
  const rows = run(tshark, args)
    .stdout.trim()
    .split('\n')
    .map((l) => l.split(','));
  assert.equal(rows.length, frames.length);
  rows.forEach((row, i) => {
    const [num, malformed, ip, udp, tcp, icmp, icmp6] = row;
    const name = frames[i]!.name;
    assert.equal(num, String(i + 1));
    assert.equal(malformed, '', `${name}: malformed`);
    const present = [ip, udp, tcp, icmp, icmp6].filter((s) => s !== '' && s !== undefined);
    assert.ok(present.length >= 1, `${name}: a checksum was checked`);
    for (const s of present) assert.equal(s, '1', `${name}: checksum status ${row.join(',')} (1 = good)`);
    const f = frames[i]!.frame;
    const type = (f[12]! << 8) | f[13]!;
    if (type === 0x0800) assert.equal(ip, '1', `${name}: IPv4 header checksum`);
  });
});

const SCAPY_CHECK = `
import sys, json
from scapy.all import Ether, IP, IPv6, UDP, Raw
out = []
for line in sys.stdin:
    b = bytes.fromhex(line.strip())
    p = Ether(b)
    r = {'type': p.type}
    if IP in p:
        ip = p[IP]
        r['ip'] = [ip.version, ip.ihl, ip.tos, ip.len, ip.id, int(ip.flags), ip.frag, ip.ttl, ip.proto, ip.src, ip.dst]
        q = Ether(b); del q[IP].chksum; del q[UDP].chksum
        q = Ether(bytes(q))
        r['ipsum'] = [ip.chksum, q[IP].chksum]
        r['udpsum'] = [p[UDP].chksum, q[UDP].chksum]
    if IPv6 in p:
        ip6 = p[IPv6]
        r['ip6'] = [ip6.version, ip6.tc, ip6.fl, ip6.plen, ip6.nh, ip6.hlim, ip6.src, ip6.dst]
        q = Ether(b); del q[UDP].chksum
        q = Ether(bytes(q))
        r['udpsum'] = [p[UDP].chksum, q[UDP].chksum]
    u = p[UDP]
    r['udp'] = [u.sport, u.dport, u.len]
    r['payload'] = bytes(u.payload).decode('latin1')
    out.append(r)
print(json.dumps(out))
`;

test('scapy decodes pkt-gen frames to the expected fields with valid checksums', (t) => {
  const py = scapyPython();
  if (py === undefined) return t.skip('python3-scapy not installed');
  const frames = [
    new PktGenFrame().bytes,
    new PktGenFrame({ length: 333, src: '192.168.7.1:7', dst: '192.168.7.2:9', srcMac: '02:00:00:00:00:01' }).bytes,
    new PktGenFrame({ family: 6, length: 90, src: '[fd00::1]:1234', dst: '[fd00::2]:4321' }).bytes,
  ];
  const r = spawnSync(py, ['-c', SCAPY_CHECK], { input: `${frames.map(toHex).join('\n')}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as Record<string, unknown>[];
  assert.deepEqual(got[0], {
    type: 0x0800,
    ip: [4, 5, 0x10, 46, 0, 2, 0, 64, 17, '10.0.0.1', '10.1.0.1'],
    ipsum: [0x26ad, 0x26ad],
    udpsum: [0x1580, 0x1580],
    udp: [1234, 1234, 26],
    payload: 'netmap pkt-gen DIR',
  });
  const text = 'netmap pkt-gen DIRECT payload\nhttp://info.iet.unipi.it/~luigi/netmap/ ';
  const g1 = got[1]!;
  assert.deepEqual(g1.ip, [4, 5, 0x10, 319, 0, 2, 0, 64, 17, '192.168.7.1', '192.168.7.2']);
  assert.deepEqual(g1.udp, [7, 9, 299]);
  assert.equal(g1.payload, text.repeat(5).slice(0, 291));
  for (const g of got) {
    if (g.ipsum !== undefined) assert.equal((g.ipsum as number[])[0], (g.ipsum as number[])[1]);
    assert.equal((g.udpsum as number[])[0], (g.udpsum as number[])[1]);
  }
  assert.deepEqual(got[2]!.ip6, [6, 0, 0, 36, 17, 64, 'fd00::1', 'fd00::2']);
  assert.deepEqual(got[2]!.udp, [1234, 4321, 36]);
  assert.equal(got[2]!.type, 0x86dd);
});
