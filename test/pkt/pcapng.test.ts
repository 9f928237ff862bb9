import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import { PcapWriter } from '../../src/pkt/pcap.js';
import { openCapture, PcapngReader } from '../../src/pkt/pcapng.js';
import { buildPktGenFrame } from '../../src/pkt/pktgen-frame.js';
import { corpus, toHex, which } from './corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uvale-pcapng-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const isProtocolError = (e: unknown) => isValeError(e, ErrorCodes.PROTOCOL);

/** One pcapng block: type, total length, body padded to 4, total length. */
function block(type: number, body: Buffer, le = true): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  const b = Buffer.alloc(len);
  const w32 = (v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  w32(type, 0);
  w32(len, 4);
  body.copy(b, 8);
  w32(len, len - 4);
  return b;
}

function shb(le = true): Buffer {
  const body = Buffer.alloc(16);
  if (le) body.writeUInt32LE(0x1a2b3c4d, 0);
  else body.writeUInt32BE(0x1a2b3c4d, 0);
  if (le) {
    body.writeUInt16LE(1, 4);
    body.writeUInt16LE(0, 6);
  } else {
    body.writeUInt16BE(1, 4);
    body.writeUInt16BE(0, 6);
  }
  body.fill(0xff, 8, 16); // section length -1
  return block(0x0a0d0d0a, body, le);
}

function idb(tsresol: number | undefined, le = true): Buffer {
  const opts = tsresol === undefined ? Buffer.alloc(0) : Buffer.from([9, 0, 1, 0, tsresol, 0, 0, 0, 0, 0, 0, 0]);
  if (!le && tsresol !== undefined) {
    opts.writeUInt16BE(9, 0);
    opts.writeUInt16BE(1, 2);
  }
  const body = Buffer.concat([Buffer.alloc(8), opts]);
  if (le) {
    body.writeUInt16LE(1, 0);
    body.writeUInt32LE(65535, 4);
  } else {
    body.writeUInt16BE(1, 0);
    body.writeUInt32BE(65535, 4);
  }
  return block(1, body, le);
}

function epb(id: number, ts: bigint, data: Uint8Array, origLen = data.length, le = true): Buffer {
  const body = Buffer.alloc(20 + data.length + ((4 - (data.length % 4)) % 4));
  const w32 = (v: number, o: number) => (le ? body.writeUInt32LE(v, o) : body.writeUInt32BE(v, o));
  w32(id, 0);
  w32(Number(ts >> 32n), 4);
  w32(Number(ts & 0xffffffffn), 8);
  w32(data.length, 12);
  w32(origLen, 16);
  Buffer.from(data).copy(body, 20);
  return block(6, body, le);
}

test('reads hand-made pcapng: µs and ns interfaces, EPB, SPB, skipped blocks, both byte orders', () => {
  const f1 = buildPktGenFrame();
  const f2 = buildPktGenFrame({ length: 99 });
  for (const le of [true, false]) {
    const spbBody = Buffer.alloc(4 + 64);
    if (le) spbBody.writeUInt32LE(60, 0);
    else spbBody.writeUInt32BE(60, 0);
    Buffer.from(f1).copy(spbBody, 4);
    const file = Buffer.concat([
      shb(le),
      idb(undefined, le),
      idb(9, le),
      block(5, Buffer.alloc(8), le), // interface statistics: skipped
      epb(0, 1700000000123456n, f1, 60, le),
      epb(1, 1700000001000000007n, f2, 150, le),
      block(3, spbBody, le),
    ]);
    const r = new PcapngReader(file);
    const recs = [...r];
    assert.equal(r.interfaces.length, 2);
    assert.deepEqual(
      recs.map((x) => [x.interfaceId, x.tsSec, x.tsFrac, x.caplen, x.origLen, toHex(x.data)]),
      [
        [0, 1700000000, 123456000, 60, 60, toHex(f1)],
        [1, 1700000001, 7, 99, 150, toHex(f2)],
        [0, 0, 0, 60, 60, toHex(f1)],
      ],
    );
    assert.ok(openCapture(file) instanceof PcapngReader);
  }
});

test('malformed pcapng raises ValeError(PROTOCOL) and never hangs', () => {
  const good = Buffer.concat([shb(), idb(undefined), epb(0, 5n, buildPktGenFrame())]);
  assert.equal([...new PcapngReader(good)].length, 1);
  const cases: [string, Buffer][] = [
    ['not pcapng', Buffer.from('hello world, this is not a capture')],
    ['truncated block', good.subarray(0, good.length - 3)],
    ['trailing length differs', Buffer.concat([good.subarray(0, good.length - 4), Buffer.from([1, 2, 3, 4])])],
    ['packet before interface', Buffer.concat([shb(), epb(0, 5n, buildPktGenFrame())])],
    ['unknown interface', Buffer.concat([shb(), idb(undefined), epb(3, 5n, buildPktGenFrame())])],
  ];
  const badLen = Buffer.from(good);
  badLen.writeUInt32LE(7, 28 + 4); // the IDB's length field
  cases.push(['bad block length', badLen]);
  const bigCap = Buffer.from(good);
  const epbAt = good.length - epb(0, 5n, buildPktGenFrame()).length;
  bigCap.writeUInt32LE(9999, epbAt + 8 + 12);
  cases.push(['caplen beyond block', bigCap]);
  for (const [name, bytes] of cases) {
    assert.throws(() => [...new PcapngReader(bytes)], isProtocolError, name);
  }
  let x = 5;
  const r = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x / 4294967296;
  };
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(good.subarray(0, Math.floor(r() * (good.length + 1))));
    for (let k = 0; k < 4 && b.length > 0; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    try {
      let n = 0;
      for (const _ of new PcapngReader(b)) assert.ok(++n <= b.length / 12);
    } catch (e) {
      assert.ok(isProtocolError(e), String(e));
    }
  }
});

test('reads what editcap -F pcapng makes of our pcap', async (t) => {
  const editcap = which('editcap');
  if (editcap === undefined) return t.skip('editcap (tshark/wireshark-common) not installed');
  const frames = corpus().filter((c) => c.caplen === undefined);
  const pcap = path.join(tmp, 'in.pcap');
  const w = PcapWriter.open(pcap);
  frames.forEach((c, i) => {
    w.write(c.frame, 0, c.frame.length, { sec: 1700000000 + i, frac: 250000 + i });
  });
  await w.close();
  const ng = path.join(tmp, 'out.pcapng');
  const e = spawnSync(editcap, ['-F', 'pcapng', pcap, ng], { encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);
  const recs = [...openCapture(fs.readFileSync(ng))];
  assert.deepEqual(
    recs.map((x) => [x.tsSec, x.tsFrac, toHex(x.data)]),
    frames.map((c, i) => [1700000000 + i, (250000 + i) * 1000, toHex(c.frame)]),
  );
});
