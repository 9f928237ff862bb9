/*
 * FrameIo, the frame <-> slot helper of the TAP and VDE adapters: frames read
 * into TX slots become chains that cross the switch bit-exact, and nextRx()
 * hands back every delivered frame whole, whether its chain lies in
 * consecutive full buffers (written from where it lies) or must be gathered
 * (it wraps the ring's end, or a slot in it is short).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layout, type NetmapRing, openPort, ValeHost } from '../../src/index.js';
import { FrameIo, READ_MAX } from '../../src/ports/frame-io.js';
import { BROADCAST, frame, macN, putChain, Rng } from '../helpers/vale.js';

function pattern(len: number, seed: number): Uint8Array {
  const f = frame(BROADCAST, macN(seed), { len });
  const rng = new Rng(seed);
  for (let i = 14; i < len; i++) f[i] = rng.u32() & 0xff;
  return f;
}

/** Every frame nextRx() finds in `rx` from cur to tail, copied out; consumes them. */
function takeAll(io: FrameIo, rx: NetmapRing): { frames: Buffer[]; inPlace: number } {
  const frames: Buffer[] = [];
  let inPlace = 0;
  let cur = rx.cur;
  const tail = rx.tail;
  while (cur !== tail) {
    assert.ok(io.nextRx(cur, tail), 'a whole chain');
    if (io.len > layout.NM_BUF_SIZE && io.buf.buffer === rx.u8.buffer) inPlace++;
    frames.push(Buffer.from(io.buf.subarray(0, io.len)));
    cur = io.next;
  }
  rx.head = rx.cur = cur;
  return { frames, inPlace };
}

test('frames read through FrameIo.place() cross the switch and come back whole from nextRx(), in place or gathered', () => {
  const host = new ValeHost();
  const a = openPort('vale-fio:a', { host, txSlots: 128, rxSlots: 128 });
  const b = openPort('vale-fio:b', { host, txSlots: 128, rxSlots: 128 });
  const ioA = new FrameIo(a.txRings[0] as NetmapRing, a.rxRings[0] as NetmapRing);
  const ioB = new FrameIo(b.txRings[0] as NetmapRing, b.rxRings[0] as NetmapRing);
  const tx = a.txRings[0] as NetmapRing;
  const rx = b.rxRings[0] as NetmapRing;
  let seed = 1;
  let inPlace = 0;
  let gathered = 0;
  // sizes that make 1-slot frames, chains of full buffers, and chains that wrap the 128-slot rings
  for (let round = 0; round < 12; round++) {
    const sent: Buffer[] = [];
    for (const len of [60, 2048, 2049, 9014, 65535, 4096, 1514, 20000]) {
      if (tx.space() < 34) break;
      const f = pattern(len, seed++);
      // as an adapter does: read into readTarget(cur), then place()
      ioA.readTarget(tx.cur).set(f);
      tx.head = tx.cur = ioA.place(tx.cur, f.length);
      sent.push(Buffer.from(f));
    }
    a.txsync();
    b.rxsync();
    const got = takeAll(ioB, rx);
    b.rxsync();
    assert.deepEqual(got.frames, sent, `round ${round}`);
    inPlace += got.inPlace;
    gathered += sent.filter((f) => f.length > layout.NM_BUF_SIZE).length - got.inPlace;
  }
  assert.ok(inPlace > 0, 'some chains were written from where they lay');
  assert.ok(gathered > 0, 'some chains (wrapping the ring) were gathered');
  assert.equal(b.counters().dropRxFull, 0);
});

test('a chain with a short slot in the middle is gathered, bit-exact', () => {
  const host = new ValeHost();
  const a = openPort('vale-fio2:a', { host });
  const b = openPort('vale-fio2:b', { host });
  const io = new FrameIo(b.txRings[0] as NetmapRing, b.rxRings[0] as NetmapRing);
  const f = pattern(5000, 77);
  putChain(a, [f.subarray(0, 1000), f.subarray(1000, 3048), f.subarray(3048)]);
  a.txsync();
  b.rxsync();
  const rx = b.rxRings[0] as NetmapRing;
  const got = takeAll(io, rx);
  assert.deepEqual(got.frames, [Buffer.from(f)]);
  assert.equal(got.inPlace, 0);
  assert.ok(READ_MAX >= 65550 + 12, 'a read holds a 64 KB frame and its virtio-net header');
});
