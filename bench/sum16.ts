/*
 * The checksum micro-bench: CPU nanoseconds per KB of the Internet sum over
 * 1448-byte segments (an MSS of TCP over a 1500-byte MTU) at even and odd
 * offsets, for sum16() (byte pairs), sum16Wide() in plain memory (Uint32
 * loads, doubles) and sum16Wide() in wasm memory (the SIMD kernel,
 * src/pkt/sum16-wasm.ts), plain and shared (an arena's). Medians of 9
 * timings of process CPU time, so a busy machine inflates them less than
 * wall time. docs/vxlan.md ("What limits it") has the figures.
 *
 *   node dist/bench/sum16.js
 */

import { sum16 } from '../src/pkt/checksum.js';
import { sum16Wide, sumBytes, sumMemory } from '../src/pkt/sum16-wide.js';
import { summarize } from './stats.js';

const SEG = 1448;
const SEGS = 256;
const SPAN = 2048;

function fill(b: Uint8Array): Uint8Array {
  for (let i = 0; i < b.length; i++) b[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
  return b;
}

type Sum = (buf: Uint8Array, off: number, len: number, initial?: number) => number;

/** CPU ns per KB of `f` over SEGS segments starting at `base` + k * SPAN. */
function nsPerKb(f: Sum, buf: Uint8Array, base: number): number {
  const reps = 400;
  const times: number[] = [];
  let x = 0;
  for (let r = 0; r < 10; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) for (let k = 0; k < SEGS; k++) x += f(buf, base + k * SPAN, SEG, 0);
    const t = process.cpuUsage(t0);
    if (r > 0) times.push(((t.user + t.system) * 1000) / (reps * SEGS));
  }
  if (x === -1) process.stdout.write(''); // keeps x alive
  return (summarize(times).median / SEG) * 1024;
}

const bytes = SEGS * SPAN + 64;
const shared = new WebAssembly.Memory({
  initial: Math.ceil(bytes / 65536),
  maximum: Math.ceil(bytes / 65536),
  shared: true,
});
sumMemory(shared);
const memories: Array<[string, Uint8Array]> = [
  ['plain', fill(new Uint8Array(bytes))],
  ['wasm', fill(sumBytes(bytes))],
  ['wasm shared', fill(new Uint8Array(shared.buffer, 0, bytes))],
];
const rows: string[] = [];
for (const [what, f] of [
  ['sum16', sum16],
  ['sum16Wide', sum16Wide],
] as Array<[string, Sum]>) {
  for (const [mem, buf] of memories) {
    if (f === sum16 && mem !== 'plain') continue;
    const cells = [34, 35, 36].map((base) => `${nsPerKb(f, buf, base).toFixed(0).padStart(5)}`);
    rows.push(`${`${what} (${mem})`.padEnd(24)} ${cells.join('  ')}`);
  }
}
console.log(`ns per KB, ${SEG}-byte segments at offset mod 4 = 2, 3, 0`);
for (const r of rows) console.log(r);
