/*
 * The TAP adapter's two I/O paths side by side (docs/io-uring.md), in one
 * process and without iperf3: a netmap port → TapPort → tap ═ Linux bridge ═
 * tap → TapPort → netmap port, 60-byte frames, offloads off.
 *
 *   cpu  N frames in bursts of 64; frames per CPU-second of this process
 *        (user + system: the kernel's read, bridge and write work runs in it
 *        in both paths), which a loaded machine disturbs less than frames/s.
 *   rtt  one frame at a time, N times: median and 90th percentile one-way
 *        time from txsync on one side to its arrival on the other.
 *
 *   node dist/bench/tap-io.js cpu|rtt syscall|uring [N]      (root; interfaces named ur*)
 */

import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { openPort, ValeHost } from '../src/index.js';
import { TapPort } from '../src/ports/tap/tap-port.js';
import type { NetmapRing } from '../src/ring/netmap-ring.js';

const [mode, io, count] = process.argv.slice(2);
if ((mode !== 'cpu' && mode !== 'rtt') || (io !== 'syscall' && io !== 'uring')) {
  process.stderr.write('usage: node dist/bench/tap-io.js cpu|rtt syscall|uring [N]\n');
  process.exit(2);
}
const n = Number(count ?? (mode === 'cpu' ? 200_000 : 2000));
const ip = (...a: string[]): void => {
  execFileSync('ip', a, { stdio: 'ignore' });
};
const tag = process.pid.toString(36);
const ifA = `urA${tag}`;
const ifB = `urB${tag}`;
const br = `urR${tag}`;
ip('link', 'add', br, 'type', 'bridge', 'mcast_snooping', '0');
const hostA = new ValeHost();
const hostB = new ValeHost();
const ta = TapPort.attach(hostA, `vale0:${ifA}`, { io, offload: false });
const tb = TapPort.attach(hostB, `vale0:${ifB}`, { io, offload: false });
for (const t of [ifA, ifB]) {
  try {
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${t}.disable_ipv6=1`]);
  } catch {
    // no IPv6: nothing to quiet
  }
  ip('link', 'set', t, 'txqueuelen', '10000', 'master', br, 'up');
}
ip('link', 'set', br, 'up');
const pa = openPort('vale0:pa', { host: hostA });
const pb = openPort('vale0:pb', { host: hostB });
const tx = pa.txRings[0] as NetmapRing;
const rx = pb.rxRings[0] as NetmapRing;
// unknown unicast: the Linux bridge floods it to the other tap only
const f = new Uint8Array(60);
f.set([2, 0, 0, 0, 0x99, 0x99, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
const putOne = (): void => {
  const s = tx.cur;
  tx.bufView(s).set(f);
  tx.setLen(s, 60);
  tx.setFlags(s, 0);
  tx.head = tx.cur = tx.next(s);
};
let got = 0;
const drain = (): void => {
  pb.rxsync();
  let k = rx.tail - rx.cur;
  if (k < 0) k += rx.numSlots;
  got += k;
  rx.head = rx.cur = rx.tail;
  pb.rxsync();
};
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
await sleep(300);
drain();
got = 0;
let result: Record<string, number | string>;
if (mode === 'cpu') {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  while (sent < n) {
    const k = Math.min(tx.space(), 64, n - sent);
    for (let i = 0; i < k; i++) putOne();
    if (k > 0) pa.txsync();
    sent += k;
    drain();
    await tick();
    if (got < sent - 2000) await sleep(1);
  }
  const end = Date.now() + 2000;
  while (got < sent && Date.now() < end) {
    drain();
    await sleep(1);
  }
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  result = {
    sent,
    got,
    wall_s: +((performance.now() - t0) / 1000).toFixed(2),
    cpu_s: +cpu.toFixed(2),
    kframes_per_cpu_s: +(Math.min(got, sent) / cpu / 1000).toFixed(1),
  };
} else {
  const lat: number[] = [];
  for (let k = 0; k < n; k++) {
    drain();
    const t0 = performance.now();
    putOne();
    pa.txsync();
    for (;;) {
      await pb.poll({ timeout: 100 });
      pb.rxsync();
      if (rx.tail !== rx.cur || performance.now() - t0 > 100) break;
    }
    lat.push(performance.now() - t0);
  }
  lat.sort((a, b) => a - b);
  const at = (q: number): number => +((lat[Math.floor(n * q)] as number) * 1000).toFixed(0);
  result = { n, p50_us: at(0.5), p90_us: at(0.9) };
}
process.stdout.write(`${JSON.stringify({ mode, io, ...result, load1: +(loadavg()[0] as number).toFixed(1) })}\n`);
pa.close();
pb.close();
ta.close();
tb.close();
ip('link', 'del', br);
