/*
 * One measurement for the scale-254 figure, as its own process (bench/scale/
 * scale.ts runs it): N ports on one in-process switch, port i sending
 * unicast to port i+1 mod N (all-to-all: every port sends and receives), a
 * batch of `batch` 60-byte frames per txsync. An iteration is one txsync per
 * port, then every port rxsyncs, counts and releases what it got. With
 * N = 2 this is the 2-port figure the scale ratio is taken against (the
 * same loop, the same rings, measured in the same round).
 *
 *   node dist/bench/scale/scale-engine.js --ports N --batch B --slots S [--warmup S] [--secs S]
 *
 * Checking, as in bench/engine/engine-js.ts: after one exchange of single
 * frames every sender's MAC is learned; after the timed window one more
 * iteration's first frames are compared byte for byte; frames out must equal
 * frames in, no drops, N MACs learned. Prints one JSON line.
 */

import { parseArgs } from 'node:util';
import { type LocalPort, macWords, type NetmapRing, openPort, rthash, ValeHost } from '../../src/index.js';

const { values } = parseArgs({
  options: {
    ports: { type: 'string', default: '252' },
    batch: { type: 'string', default: '128' },
    slots: { type: 'string', default: '256' },
    size: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '0.3' },
    secs: { type: 'string', default: '1.0' },
  },
});
const N = Number(values.ports);
const batch = Number(values.batch);
const SLOTS = Number(values.slots);
const size = Number(values.size);
const warmup = Number(values.warmup);
const secs = Number(values.secs);

const host = new ValeHost({
  'dev.netmap.bridge': Math.min(1024, batch),
  'dev.netmap.max_ports': Math.max(2, N),
  'dev.netmap.max_buffers': SLOTS,
});
const ports: LocalPort[] = [];
for (let i = 0; i < N; i++) ports.push(openPort(`vale-scale:${i}`, { host, txSlots: SLOTS, rxSlots: SLOTS }));
const txr = ports.map((p) => p.txRings[0] as NetmapRing);
const rxr = ports.map((p) => p.rxRings[0] as NetmapRing);

/*
 * MACs: VALE's learning table is direct-mapped (1024 buckets, a new MAC
 * overwrites the bucket's old one), so 252 arbitrary MACs collide (about 28
 * pairs) and the losers are flooded. Each port gets the next MAC
 * 02:00:00:00:hi:lo whose bucket is still free, so the figure measures
 * forwarding to learned ports, as the 2-port one does.
 */
const MACS: Array<[number, number]> = [];
{
  const used = new Set<number>();
  for (let m = 1; MACS.length < N; m++) {
    const { a, b } = macWords(new Uint8Array([2, 0, 0, 0, (m >>> 8) & 0xff, m & 0xff]));
    const h = rthash(a, b);
    if (used.has(h)) continue;
    used.add(h);
    MACS.push([(m >>> 8) & 0xff, m & 0xff]);
  }
}

function writeMac(u8: Uint8Array, off: number, i: number): void {
  const m = MACS[i] as [number, number];
  u8[off] = 2;
  u8[off + 1] = 0;
  u8[off + 2] = 0;
  u8[off + 3] = 0;
  u8[off + 4] = m[0];
  u8[off + 5] = m[1];
}

for (let p = 0; p < N; p++) {
  const r = txr[p] as NetmapRing;
  for (let s = 0; s < SLOTS; s++) {
    const o = r.buf(s);
    writeMac(r.u8, o, (p + 1) % N);
    writeMac(r.u8, o + 6, p);
    r.u8[o + 12] = 0x88;
    r.u8[o + 13] = 0xb5;
    for (let i = 14; i < size; i++) r.u8[o + i] = (i * 31 + s * 7 + p * 13) & 0xff;
  }
}

let framesIn = 0;
let framesOut = 0;
let sendBatch = batch;

function send(p: number): void {
  const ring = txr[p] as NetmapRing;
  let s = ring.cur;
  for (let k = 0; k < sendBatch; k++) {
    ring.setLen(s, size);
    s = ring.next(s);
  }
  ring.head = s;
  ring.cur = s;
  (ports[p] as LocalPort).txsync();
}

function sink(q: number): number {
  const port = ports[q] as LocalPort;
  const ring = rxr[q] as NetmapRing;
  port.rxsync();
  let got = ring.tail - ring.head;
  if (got < 0) got += SLOTS;
  ring.head = ring.tail;
  ring.cur = ring.tail;
  port.rxsync();
  return got;
}

function iterate(): void {
  for (let p = 0; p < N; p++) send(p);
  for (let q = 0; q < N; q++) framesOut += sink(q);
  framesIn += N * sendBatch;
}

/** After the window: one iteration, every received frame compared with the TX slot it came from. */
function verify(): number {
  let bad = 0;
  const starts = txr.map((r) => r.cur);
  for (let p = 0; p < N; p++) send(p);
  for (let q = 0; q < N; q++) {
    const port = ports[q] as LocalPort;
    const ring = rxr[q] as NetmapRing;
    port.rxsync();
    const from = (q - 1 + N) % N;
    const tx = txr[from] as NetmapRing;
    let k = 0;
    while (!ring.empty()) {
      const s = ring.cur;
      const ts = ((starts[from] as number) + k) % SLOTS;
      const a = ring.buf(s);
      const b = tx.buf(ts);
      if (ring.len(s) !== size) bad++;
      else for (let i = 0; i < size; i++) if (ring.u8[a + i] !== tx.u8[b + i]) bad++;
      ring.head = ring.cur = ring.next(s);
      k++;
    }
    if (k !== sendBatch) bad++;
    port.rxsync();
  }
  return bad;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// learning: one frame from each port in turn (flooded to all, so RX rings are emptied after each)
sendBatch = 1;
for (let p = 0; p < N; p++) {
  send(p);
  for (let q = 0; q < N; q++) sink(q);
}
sendBatch = batch;
// warm-up: at least two laps of every ring, so every buffer is touched (committed) before timing
const t0w = now();
for (let k = 0; k < 4 || now() - t0w < warmup; k++) iterate();
framesIn = 0;
framesOut = 0;
const c0 = cpuNow();
const t0 = now();
let t = t0;
const perCheck = Math.max(1, Math.floor(16384 / (N * batch)));
do {
  for (let k = 0; k < perCheck; k++) iterate();
  t = now();
} while (t - t0 < secs);
const elapsed = t - t0;
const cpu = cpuNow() - c0;
const fin = framesIn;
const fout = framesOut;
const mismatches = verify();
let drops = 0;
for (const p of ports) {
  const c = p.counters();
  drops += c.dropRxFull + c.dropNoDest + c.dropRunt + c.badSlots;
}
const learned = host.getSwitch('vale-scale')?.macEntries().length ?? 0;
const error =
  mismatches !== 0
    ? 'frame bytes differ from the source'
    : fout !== fin
      ? `frames lost or duplicated (${fin} in, ${fout} out)`
      : drops !== 0
        ? 'switch counted drops'
        : learned !== N
          ? `learning table holds ${learned} MACs, expected ${N}`
          : undefined;
process.stdout.write(
  `${JSON.stringify({
    impl: 'js',
    topo: `scale${N}`,
    size,
    batch,
    frames_in: fin,
    frames_out: fout,
    secs: Number(elapsed.toFixed(6)),
    cpu_secs: Number(cpu.toFixed(6)),
    mpps: Number((fin / elapsed / 1e6).toFixed(4)),
    gbps: Number(((fout * size * 8) / elapsed / 1e9).toFixed(4)),
    checked: N * batch,
    mismatches,
    drops,
    ...(error === undefined ? {} : { error }),
  })}\n`,
);
for (const p of ports) p.close();
process.exitCode = error === undefined ? 0 : 1;
