/*
 * One measurement of uvale's in-process switch, run as its own process by
 * bench/run.ts (a fresh V8 per run keeps JIT feedback from leaking between
 * figures). Prints one JSON line on stdout; exits 1 if forwarding was wrong.
 *
 *   node dist/bench/engine/engine-js.js --topo unicast|broadcast4 --size BYTES
 *        --batch N [--warmup SECS] [--secs SECS]
 *
 * Only the public API is used: a ValeHost with dev.netmap.bridge = batch,
 * ports vale-bench:0..N-1 with 2048-slot rings. Every TX buffer is filled once
 * (bench/engine/frames.ts); an iteration then only sets len on `batch` slots,
 * advances head/cur and calls txsync(). After each txsync every receiving port
 * rxsyncs (to see the new frames), counts them, releases them all
 * (head = cur = tail) and rxsyncs again, so RX rings never fill and the
 * switch's own work dominates. Unicast alternates 0 -> 1 and 1 -> 0.
 *
 * Checking: the first iteration of every timed chunk compares the length and
 * the first and last 8 bytes of the first and last frame each sink received
 * against the TX slot they came from; after the timed window one more round
 * is compared byte for byte. Frames out must equal frames in x fan-out, the
 * switch must count no drops, and the learning table must hold every sender.
 * bench/c/engine.c does the same loop in C.
 *
 * --monitor stalled opens a monitor (PORT/rt, 64 RX slots) of every port and
 * never reads it (docs/monitors.md): every copy past its first 63 is dropped
 * and counted; the run must see such drops, and the ports must still get
 * every frame.
 */

import { parseArgs } from 'node:util';
import { type LocalPort, type NetmapRing, openPort, ValeHost } from '../../src/index.js';
import { fanout } from '../figures.js';
import { fillFrame, type Topology } from './frames.js';

const SLOTS = 2048;
/** Frames between two clock reads (and two spot checks). */
const FRAMES_PER_CHECK = 16384;

const { values } = parseArgs({
  options: {
    topo: { type: 'string', default: 'unicast' },
    size: { type: 'string', default: '60' },
    batch: { type: 'string', default: '1024' },
    warmup: { type: 'string', default: '0.3' },
    secs: { type: 'string', default: '1.0' },
    monitor: { type: 'string' },
  },
});
const topo = values.topo as Topology;
const size = Number(values.size);
const batch = Number(values.batch);
const warmup = Number(values.warmup);
const secs = Number(values.secs);
if (
  (topo !== 'unicast' && topo !== 'broadcast4') ||
  !Number.isInteger(size) ||
  size < 24 ||
  size > 2048 ||
  !Number.isInteger(batch) ||
  batch < 1 ||
  batch > 1024
) {
  process.stderr.write('usage: engine-js --topo unicast|broadcast4 --size 24..2048 --batch 1..1024\n');
  process.exit(2);
}

const host = new ValeHost({ 'dev.netmap.bridge': batch, 'dev.netmap.max_buffers': 2048 });
const nports = topo === 'broadcast4' ? 5 : 2;
const nsenders = topo === 'broadcast4' ? 1 : 2;
const ports: LocalPort[] = [];
for (let i = 0; i < nports; i++) ports.push(openPort(`vale-bench:${i}`, { host, txSlots: SLOTS, rxSlots: SLOTS }));
const monitors: LocalPort[] = [];
if (values.monitor !== undefined) {
  if (values.monitor !== 'stalled') {
    process.stderr.write('engine-js: --monitor takes stalled\n');
    process.exit(2);
  }
  for (let i = 0; i < nports; i++) monitors.push(openPort(`vale-bench:${i}/rt`, { host, rxSlots: 64 }));
}
const txr: NetmapRing[] = ports.map((p) => p.txRings[0] as NetmapRing);
const rxr: NetmapRing[] = ports.map((p) => p.rxRings[0] as NetmapRing);
for (let p = 0; p < nsenders; p++) {
  const r = txr[p] as NetmapRing;
  for (let s = 0; s < SLOTS; s++) fillFrame(r.u8, r.buf(s), p, topo, s, size);
}

let framesIn = 0;
let framesOut = 0;
let checked = 0;
let mismatches = 0;
let sendBatch = batch;

/** Fills `sendBatch` slots' lengths and sends them; returns the first TX slot used. */
function send(p: number): number {
  const ring = txr[p] as NetmapRing;
  const start = ring.cur;
  let s = start;
  for (let k = 0; k < sendBatch; k++) {
    ring.setLen(s, size);
    s = ring.next(s);
  }
  ring.head = s;
  ring.cur = s;
  (ports[p] as LocalPort).txsync();
  return start;
}

/** Compares RX slot `rs` of `rx` with TX slot `ts` of `tx`: length, then the first/last 8 bytes or every byte. */
function check(rx: NetmapRing, rs: number, tx: NetmapRing, ts: number, full: boolean): void {
  checked++;
  const len = rx.len(rs);
  if (len !== size) {
    mismatches++;
    return;
  }
  const a = rx.buf(rs);
  const b = tx.buf(ts);
  const u8r = rx.u8;
  const u8t = tx.u8;
  if (full) {
    for (let i = 0; i < len; i++) {
      if (u8r[a + i] !== u8t[b + i]) {
        mismatches++;
        return;
      }
    }
    return;
  }
  for (let i = 0; i < 8; i++) {
    if (u8r[a + i] !== u8t[b + i] || u8r[a + len - 8 + i] !== u8t[b + len - 8 + i]) {
      mismatches++;
      return;
    }
  }
}

/** Port q takes what port p just sent from TX slot ts on: see, count, check, release. */
function sink(q: number, p: number, ts: number, verify: boolean, full: boolean): number {
  const port = ports[q] as LocalPort;
  const ring = rxr[q] as NetmapRing;
  port.rxsync();
  const head = ring.head;
  const tail = ring.tail;
  let got = tail - head;
  if (got < 0) got += SLOTS;
  if (got > 0 && (verify || full)) {
    const tx = txr[p] as NetmapRing;
    if (full) {
      for (let k = 0; k < got; k++) check(ring, (head + k) % SLOTS, tx, (ts + k) % SLOTS, true);
    } else {
      check(ring, head, tx, ts, false);
      check(ring, (head + got - 1) % SLOTS, tx, (ts + got - 1) % SLOTS, false);
    }
  }
  ring.head = tail;
  ring.cur = tail;
  port.rxsync();
  return got;
}

function iterate(verify: boolean, full: boolean): void {
  if (nsenders === 1) {
    const ts = send(0);
    for (let q = 1; q < nports; q++) framesOut += sink(q, 0, ts, verify, full);
    framesIn += sendBatch;
  } else {
    let ts = send(0);
    framesOut += sink(1, 0, ts, verify, full);
    ts = send(1);
    framesOut += sink(0, 1, ts, verify, full);
    framesIn += 2 * sendBatch;
  }
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Process CPU seconds (user + system): below the wall time when the VM took the core away. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs whole chunks of iterations until `window` seconds passed; returns the elapsed and CPU time. */
function runFor(window: number, perCheck: number): { wall: number; cpu: number } {
  const c0 = cpuNow();
  const t0 = now();
  let t: number;
  do {
    for (let k = 0; k < perCheck; k++) iterate(k === 0, false);
    t = now();
  } while (t - t0 < window);
  return { wall: t - t0, cpu: cpuNow() - c0 };
}

// one exchange of single frames teaches the switch every sender's MAC
sendBatch = 1;
iterate(true, true);
sendBatch = batch;
const perCheck = Math.max(1, Math.floor(FRAMES_PER_CHECK / (batch * nsenders)));
runFor(warmup, perCheck);

framesIn = 0;
framesOut = 0;
const { wall: elapsed, cpu } = runFor(secs, perCheck);
const fin = framesIn;
const fout = framesOut;
iterate(false, true);

let drops = 0;
for (const p of ports) {
  const c = p.counters();
  drops += c.dropRxFull + c.dropNoDest + c.dropRunt + c.badSlots;
}
const learned = host.getSwitch('vale-bench')?.macEntries().length ?? 0;
const monitorDrops = monitors.reduce((a, m) => a + m.counters().dropMonitor, 0);
const error =
  mismatches !== 0
    ? 'frame bytes differ from the source'
    : fout !== fin * fanout(topo)
      ? 'frames lost or duplicated'
      : drops !== 0
        ? 'switch counted drops'
        : learned !== nsenders
          ? `learning table holds ${learned} MACs, expected ${nsenders}`
          : monitors.length > 0 && monitorDrops === 0
            ? 'the stalled monitors dropped nothing'
            : undefined;
const result = {
  impl: 'js',
  topo,
  size,
  batch,
  frames_in: fin,
  frames_out: fout,
  secs: Number(elapsed.toFixed(6)),
  cpu_secs: Number(cpu.toFixed(6)),
  mpps: Number((fin / elapsed / 1e6).toFixed(4)),
  gbps: Number(((fout * size * 8) / elapsed / 1e9).toFixed(4)),
  checked,
  mismatches,
  drops,
  ...(error === undefined ? {} : { error }),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const p of [...monitors, ...ports]) p.close();
process.exitCode = error === undefined ? 0 : 1;
