import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import {
  PCAP_MAGIC_NSEC,
  PCAP_MAGIC_USEC,
  PcapReader,
  PcapWriter,
  parsePcapHeader,
  readPcap,
} from '../../src/pkt/pcap.js';
import { buildPktGenFrame } from '../../src/pkt/pktgen-frame.js';
import { corpus, scapyPython, toHex, which } from './corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uvale-pcap-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const isProtocolError = (e: unknown) => isValeError(e, ErrorCodes.PROTOCOL);

async function writeCorpus(file: string, opts: { nanosecond?: boolean; snaplen?: number } = {}): Promise<void> {
  const w = PcapWriter.open(file, opts);
  let i = 0;
  for (const c of corpus()) {
    w.write(
      c.frame,
      0,
      c.caplen ?? c.frame.length,
      { sec: 1700000000 + i, frac: 1000 * i },
      c.origLen ?? c.frame.length,
    );
    i++;
  }
  await w.close();
}

test('global header: magic, version 2.4, snaplen, linktype 1, host byte order', async () => {
  const file = path.join(tmp, 'h.pcap');
  const w = PcapWriter.open(file);
  await w.close();
  const b = fs.readFileSync(file);
  assert.equal(b.length, 24);
  assert.equal(b.readUInt32LE(0), PCAP_MAGIC_USEC); // x86/arm hosts are little-endian
  assert.equal(b.readUInt16LE(4), 2);
  assert.equal(b.readUInt16LE(6), 4);
  assert.equal(b.readInt32LE(8), 0);
  assert.equal(b.readUInt32LE(12), 0);
  assert.equal(b.readUInt32LE(16), 65535);
  assert.equal(b.readUInt32LE(20), 1);
  const h = parsePcapHeader(b);
  assert.deepEqual(h, {
    magic: PCAP_MAGIC_USEC,
    littleEndian: true,
    nanosecond: false,
    versionMajor: 2,
    versionMinor: 4,
    thiszone: 0,
    sigfigs: 0,
    snaplen: 65535,
    linktype: 1,
  });
});

test('round trip through a file: data, lengths, stamps (µs and ns)', async () => {
  for (const nanosecond of [false, true]) {
    const file = path.join(tmp, `rt-${nanosecond}.pcap`);
    await writeCorpus(file, { nanosecond });
    const { header, records } = readPcap(fs.readFileSync(file));
    assert.equal(header.nanosecond, nanosecond);
    assert.equal(header.magic, nanosecond ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC);
    const cs = corpus();
    assert.equal(records.length, cs.length);
    records.forEach((r, i) => {
      const c = cs[i]!;
      const cap = c.caplen ?? c.frame.length;
      assert.equal(r.caplen, cap);
      assert.equal(r.origLen, c.origLen ?? c.frame.length);
      assert.equal(toHex(r.data), toHex(c.frame.subarray(0, cap)));
      assert.equal(r.tsSec, 1700000000 + i);
      assert.equal(r.tsFrac, 1000 * i);
    });
  }
});

test('snaplen cuts stored bytes, keeps the wire length', async () => {
  const file = path.join(tmp, 'snap.pcap');
  const w = PcapWriter.open(file, { snaplen: 40 });
  w.write(buildPktGenFrame({ length: 1000 }));
  await w.close();
  const [r] = readPcap(fs.readFileSync(file)).records;
  assert.equal(r!.caplen, 40);
  assert.equal(r!.origLen, 1000);
});

test('buffered writes: small buffer, frames larger than the buffer, Writable sink', async () => {
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  const w = PcapWriter.toStream(sink, { bufferSize: 100 });
  const frames = [buildPktGenFrame(), buildPktGenFrame({ length: 9000 }), buildPktGenFrame({ length: 61 })];
  for (const f of frames) w.write(f, 0, f.length, { sec: 1, frac: 2 });
  await w.close();
  assert.ok(chunks.length >= 2, 'several writes went out');
  const { records } = readPcap(Buffer.concat(chunks));
  assert.deepEqual(
    records.map((r) => toHex(r.data)),
    frames.map((f) => toHex(f)),
  );
  assert.throws(
    () => w.write(frames[0]!),
    (e: unknown) => isValeError(e, ErrorCodes.CLOSED),
  );
});

test('to a file descriptor; flush makes bytes visible; append keeps one header', async () => {
  const file = path.join(tmp, 'fd.pcap');
  const fd = fs.openSync(file, 'w');
  const w = PcapWriter.toFd(fd);
  w.write(buildPktGenFrame());
  assert.equal(fs.statSync(file).size, 0, 'staged, not yet written');
  w.flush();
  assert.equal(fs.statSync(file).size, 24 + 16 + 60);
  await w.close();
  fs.closeSync(fd); // not owned by the writer
  const a = PcapWriter.open(file, { append: true });
  a.write(buildPktGenFrame({ length: 70 }));
  await a.close();
  assert.deepEqual(
    readPcap(fs.readFileSync(file)).records.map((r) => r.caplen),
    [60, 70],
  );
  assert.throws(
    () => PcapWriter.open(file, { append: true, nanosecond: true }),
    (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
  );
});

/** The same file in big-endian byte order, as a SPARC or PowerPC writer would produce. */
function toBigEndian(le: Buffer): Buffer {
  const be = Buffer.from(le);
  be.writeUInt32BE(le.readUInt32LE(0), 0);
  be.writeUInt16BE(le.readUInt16LE(4), 4);
  be.writeUInt16BE(le.readUInt16LE(6), 6);
  for (const o of [8, 12, 16, 20]) be.writeUInt32BE(le.readUInt32LE(o), o);
  let p = 24;
  while (p < le.length) {
    for (let k = 0; k < 16; k += 4) be.writeUInt32BE(le.readUInt32LE(p + k), p + k);
    p += 16 + le.readUInt32LE(p + 8);
  }
  return be;
}

test('reads big-endian files', async () => {
  const file = path.join(tmp, 'le.pcap');
  await writeCorpus(file);
  const le = fs.readFileSync(file);
  const a = readPcap(le);
  const b = readPcap(toBigEndian(le));
  assert.equal(b.header.littleEndian, false);
  assert.deepEqual(
    b.records.map((r) => [r.tsSec, r.tsFrac, r.caplen, r.origLen, toHex(r.data)]),
    a.records.map((r) => [r.tsSec, r.tsFrac, r.caplen, r.origLen, toHex(r.data)]),
  );
});

function validFile(): Buffer {
  const chunks: Buffer[] = [];
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(PCAP_MAGIC_USEC, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(128, 16);
  hdr.writeUInt32LE(1, 20);
  chunks.push(hdr);
  for (const len of [60, 100]) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(len, 8);
    rec.writeUInt32LE(len, 12);
    chunks.push(rec, Buffer.from(buildPktGenFrame({ length: len })));
  }
  return Buffer.concat(chunks);
}

test('malformed files raise ValeError(PROTOCOL)', () => {
  const good = validFile();
  assert.equal(readPcap(good).records.length, 2);
  const cases: [string, Buffer][] = [
    ['empty file', Buffer.alloc(0)],
    ['3 bytes', good.subarray(0, 3)],
    ['truncated global header', good.subarray(0, 23)],
    ['bad magic', Buffer.concat([Buffer.from('GIF89a..'), good.subarray(8)])],
    ['pcapng', Buffer.concat([Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]), good.subarray(4)])],
    ['truncated record header', good.subarray(0, 24 + 10)],
    ['truncated record data', good.subarray(0, 24 + 16 + 59)],
    ['second record truncated', good.subarray(0, good.length - 1)],
  ];
  const versioned = Buffer.from(good);
  versioned.writeUInt16LE(3, 4);
  cases.push(['version 3.4', versioned]);
  const overSnap = Buffer.from(good);
  overSnap.writeUInt32LE(129, 24 + 8); // caplen > snaplen (128)
  cases.push(['caplen > snaplen', overSnap]);
  const huge = Buffer.from(good);
  huge.writeUInt32LE(0xffffffff, 24 + 8);
  huge.writeUInt32LE(0x7fffffff, 16); // even with a huge snaplen
  cases.push(['huge caplen', huge]);
  for (const [name, bytes] of cases) {
    assert.throws(() => readPcap(bytes), isProtocolError, name);
  }
});

test('garbage never hangs or crashes the reader', () => {
  let x = 99;
  const r = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x / 4294967296;
  };
  const good = validFile();
  let errors = 0;
  let ok = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(good.subarray(0, Math.floor(r() * (good.length + 1))));
    const n = Math.floor(r() * 8);
    for (let k = 0; k < n && b.length > 0; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    try {
      const reader = new PcapReader(b);
      let count = 0;
      for (const rec of reader) {
        assert.ok(rec.data.length === rec.caplen);
        count++;
        assert.ok(count <= b.length / 16, 'each record consumes at least 16 bytes');
      }
      ok++;
    } catch (e) {
      assert.ok(isProtocolError(e), String(e));
      errors++;
    }
  }
  assert.ok(errors > 0 && ok > 0);
});

test('reads a file written by libpcap (tcpdump -w) and an editcap nanosecond file', async (t) => {
  const tcpdump = which('tcpdump');
  if (tcpdump === undefined) {
    t.skip('tcpdump not installed');
    return;
  }
  const ours = path.join(tmp, 'ours.pcap');
  const w = PcapWriter.open(ours);
  const frames = corpus().filter((c) => c.caplen === undefined);
  frames.forEach((c, i) => {
    w.write(c.frame, 0, c.frame.length, { sec: 1700000000 + i, frac: 999999 - i });
  });
  await w.close();
  const theirs = path.join(tmp, 'theirs.pcap');
  const r = spawnSync(tcpdump, ['-r', ours, '-w', theirs], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = readPcap(fs.readFileSync(theirs));
  assert.equal(got.header.linktype, 1);
  assert.deepEqual(
    got.records.map((x) => [x.tsSec, x.tsFrac, toHex(x.data)]),
    frames.map((c, i) => [1700000000 + i, 999999 - i, toHex(c.frame)]),
  );
  const editcap = which('editcap');
  if (editcap === undefined) return;
  const ns = path.join(tmp, 'ns.pcap');
  const e = spawnSync(editcap, ['-F', 'nsecpcap', theirs, ns], { encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);
  const nsf = readPcap(fs.readFileSync(ns));
  assert.equal(nsf.header.nanosecond, true);
  assert.deepEqual(
    nsf.records.map((x) => [x.tsSec, x.tsFrac, toHex(x.data)]),
    frames.map((c, i) => [1700000000 + i, (999999 - i) * 1000, toHex(c.frame)]),
  );
});

test('reads a file written by scapy wrpcap', (t) => {
  const py = scapyPython();
  if (py === undefined) {
    t.skip('python3-scapy not installed');
    return;
  }
  const file = path.join(tmp, 'scapy.pcap');
  const script = [
    'import sys',
    'from scapy.all import Ether, IP, UDP, TCP, Raw, wrpcap',
    "p1 = Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(sport=7, dport=9)/Raw(b'scapy')",
    "p2 = Ether(src='02:00:00:00:00:02', dst='02:00:00:00:00:01')/IP(src='10.0.0.2', dst='10.0.0.1')/TCP(sport=80, dport=4000, flags='SA')",
    'p1.time = 1700000000.25',
    'p2.time = 1700000001.5',
    'wrpcap(sys.argv[1], [p1, p2])',
    'print(bytes(p1).hex()); print(bytes(p2).hex())',
  ].join('\n');
  const r = spawnSync(py, ['-c', script, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [h1, h2] = r.stdout.trim().split('\n');
  const got = readPcap(fs.readFileSync(file));
  assert.deepEqual(
    got.records.map((x) => [x.tsSec, x.tsFrac, toHex(x.data)]),
    [
      [1700000000, 250000, h1],
      [1700000001, 500000, h2],
    ],
  );
});
