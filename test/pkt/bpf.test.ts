/*
 * The classic BPF interpreter against the real libpcap: every expression is
 * compiled by `tcpdump -ddd` and run here over the corpus, and the frames it
 * keeps must be exactly those `tcpdump -r corpus.pcap EXPR` keeps. Plus the
 * validator's refusals and the kernel's bounds rules.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BpfError, BpfProgram, parseBpfDecimal } from '../../src/pkt/bpf.js';
import { PcapWriter } from '../../src/pkt/pcap.js';
import { compileFilter } from '../../src/tools/tcpdump/filter.js';
import { corpus, which } from './corpus.js';

const EXPRS = [
  'udp',
  'tcp',
  'icmp',
  'icmp6',
  'arp',
  'ip',
  'ip6',
  'vlan',
  'vlan and udp',
  'port 1234',
  'udp port 1234',
  'tcp port 5555',
  'not tcp',
  'src host 10.0.0.1',
  'dst net 10.1.0.0/16',
  'host 10.0.0.2 and tcp',
  'ether broadcast',
  'ether multicast',
  'ether host ff:ff:ff:ff:ff:ff',
  'tcp[tcpflags] & tcp-syn != 0',
  'tcp[tcpflags] & (tcp-fin|tcp-rst) != 0',
  'len > 100',
  'less 64',
  'greater 1000',
  'ip[8] = 64',
  'ip[2:2] > 40',
  'icmp[icmptype] = icmp-echo',
  'ip6 and icmp6[0] = 135',
  'ether proto 0x0800',
  'ether[12:2] > 0x8000',
  'ip[0] & 0xf != 5',
  'portrange 1000-2000',
  'ip multicast',
  'igmp',
  'llc',
  'ip and (udp[8:4] * 3 + 7) % 5 = 1',
  'tcp[((tcp[12] & 0xf0) >> 2):1] = 0x48',
  'udp[4:2] - 8 > 10 or ip[1] ^ 0xff = 0xff',
  'ip6 dst host ff02::1 or ip6 multicast',
];

test('the interpreter keeps exactly the frames tcpdump keeps, for every expression', {
  skip: which('tcpdump') === undefined && 'tcpdump not installed',
}, async () => {
  const frames = corpus();
  const dir = mkdtempSync(join(tmpdir(), 'uvale-bpf-'));
  try {
    const file = join(dir, 'corpus.pcap');
    const w = PcapWriter.open(file, { snaplen: 262144 });
    frames.forEach((f, i) => {
      const cap = f.caplen ?? f.frame.length;
      w.write(f.frame, 0, cap, { sec: i + 1, frac: 0 }, f.origLen ?? f.frame.length);
    });
    await w.close();
    for (const expr of EXPRS) {
      const r = spawnSync('tcpdump', ['-tt', '-nr', file, expr], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${expr}: ${r.stderr}`);
      const want = r.stdout
        .split('\n')
        .filter((l) => /^\d+\.\d{6} /.test(l))
        .map((l) => Number(l.split('.')[0]) - 1);
      const prog = compileFilter(expr);
      const got: number[] = [];
      frames.forEach((f, i) => {
        if (prog.run(f.frame, 0, f.caplen ?? f.frame.length, f.origLen ?? f.frame.length) !== 0) got.push(i);
      });
      assert.deepEqual(
        got.map((i) => frames[i]?.name),
        want.map((i) => frames[i]?.name),
        expr,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the validator refuses what the kernel refuses', () => {
  const ret = { code: 0x06, jt: 0, jf: 0, k: 1 };
  assert.throws(() => new BpfProgram([]), BpfError);
  assert.throws(() => new BpfProgram(Array.from({ length: 4097 }, () => ret)), /1 to 4096/);
  assert.throws(() => new BpfProgram([{ code: 0x28, jt: 0, jf: 0, k: 12 }]), /last instruction must be a return/);
  assert.throws(() => new BpfProgram([{ code: 0x05, jt: 0, jf: 0, k: 1 }, ret]), /jump out/); // ja past the end
  assert.throws(() => new BpfProgram([{ code: 0x15, jt: 1, jf: 0, k: 0 }, ret]), /jump out/);
  assert.throws(() => new BpfProgram([{ code: 0x05, jt: 0, jf: 0, k: 0xffffffff }, ret]), /jump out/); // backwards
  assert.throws(() => new BpfProgram([{ code: 0x02, jt: 0, jf: 0, k: 16 }, ret]), /scratch memory/);
  assert.throws(() => new BpfProgram([{ code: 0x34, jt: 0, jf: 0, k: 0 }, ret]), /division by zero/);
  assert.throws(() => new BpfProgram([{ code: 0xff, jt: 0, jf: 0, k: 0 }, ret]), /unknown opcode/);
  assert.equal(new BpfProgram(Array.from({ length: 4096 }, () => ret)).length, 4096);
});

test('loads outside the captured bytes and division by X = 0 reject the frame', () => {
  const prog = (text: string) => new BpfProgram(parseBpfDecimal(text));
  const frame = new Uint8Array([1, 2, 3, 4, 5, 6]);
  // ld [4] (word at 4 needs bytes 4..7): out of bounds -> 0 even though the accept follows
  assert.equal(prog('2\n32 0 0 4\n6 0 0 99\n').run(frame, 0, 6, 6), 0);
  assert.equal(prog('2\n32 0 0 2\n22 0 0 0\n').run(frame, 0, 6, 6), 0x03040506);
  // ldx #0xffffffff; ldb [x+2]: the sum wraps in C, not here: out of bounds
  assert.equal(prog('3\n1 0 0 4294967295\n80 0 0 2\n6 0 0 1\n').run(frame, 0, 6, 6), 0);
  // ldx #0; div x -> reject
  assert.equal(prog('4\n0 0 0 7\n1 0 0 0\n60 0 0 0\n6 0 0 1\n').run(frame, 0, 6, 6), 0);
  // caplen bounds loads, not the buffer: byte 5 exists but was not captured
  assert.equal(prog('2\n48 0 0 5\n22 0 0 0\n').run(frame, 0, 5, 60), 0);
  // len is the wire length; ldxb 4*([0]&0xf); txa; ret a
  assert.equal(prog('2\n128 0 0 0\n22 0 0 0\n').run(frame, 0, 5, 60), 60);
  assert.equal(prog('3\n177 0 0 3\n135 0 0 0\n22 0 0 0\n').run(frame, 0, 6, 6), 16);
});
