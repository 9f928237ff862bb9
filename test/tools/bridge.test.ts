/*
 * `uvale bridge` joining two switches, driven from this process through the
 * daemon: broadcast and learnt unicast cross both ways, fragment chains and
 * odd byte patterns arrive bit-exact, nothing comes back to its sender, an
 * idle bridge sleeps, and SIGTERM prints the per-direction counts. Also the
 * command's errors.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  connectPort,
  type DaemonPort,
  type LocalPort,
  layout,
  type NetmapPort,
  type NetmapRing,
  openPort,
  ValeHost,
} from '../../src/index.js';
import { BLOCKED, Direction, IDLE, MORE, move, Side, STALL_MS, step, Waker } from '../../src/tools/bridge/functions.js';
import { BIN, exited, tempRunDir, uvale, waitPort } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, hex, macN, put, putChain, Rng, receive, split } from '../helpers/vale.js';

const run = tempRunDir('bridge');
const dir = run.dir;
const env = { UVALE_RUN_DIR: dir };
const MAC1 = macN(1);
const MAC2 = macN(2);
const MAC9 = macN(9);

let bridge: ChildProcess | null = null;
let bridgeOut = '';
let bridgeErr = '';
const ports: DaemonPort[] = [];
let h1: DaemonPort;
let x1: DaemonPort;
let h2: DaemonPort;
let x2: DaemonPort;
/** What the bridge must report: frames and bytes per direction. */
const want = { ab: { frames: 0, bytes: 0 }, ba: { frames: 0, bytes: 0 } };

before(async () => {
  bridge = spawn(process.execPath, [BIN, 'bridge', '-i', 'vale-b1:up', '-i', 'vale-b2:up', '-b', '64', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  bridge.stdout?.on('data', (d) => (bridgeOut += d));
  bridge.stderr?.on('data', (d) => (bridgeErr += d));
  await waitPort(dir, 'vale-b1:up');
  await waitPort(dir, 'vale-b2:up');
  for (const name of ['vale-b1:h1', 'vale-b1:x1', 'vale-b2:h2', 'vale-b2:x2'])
    ports.push(await connectPort(name, { dir }));
  [h1, x1, h2, x2] = ports as [DaemonPort, DaemonPort, DaemonPort, DaemonPort];
});

after(async () => {
  for (const p of ports) p.close();
  if (bridge !== null && bridge.exitCode === null && bridge.signalCode === null) {
    bridge.kill('SIGKILL');
    await exited(bridge, 5000).catch(() => {});
  }
  spawnSync(process.execPath, [BIN, 'ctl', '--shutdown', '--dir', dir]);
  run.cleanup();
});

/** Sends single-slot frames from `p` and records them for the a→b or b→a count. */
function sendFrames(p: DaemonPort, frames: Uint8Array[], way: 'ab' | 'ba'): void {
  put(p, frames);
  p.txsync();
  for (const f of frames) {
    want[way].frames++;
    want[way].bytes += f.length;
  }
}

/** Frames as Buffers, for deepEqual against what was sent. */
const bufs = (frames: Uint8Array[]): Buffer[] => frames.map((f) => Buffer.from(f));

/** Nothing arrives on `p` within `ms`. */
async function nothing(p: DaemonPort, ms = 300): Promise<void> {
  const got = await receive(p, 1, ms);
  assert.equal(got.length, 0, `unexpected frame ${got[0] ? hex(got[0]) : ''} on ${p.name}`);
}

test('a broadcast from vale-b1:h1 reaches vale-b2:h2 (and every other port, never h1)', async () => {
  const f = frame(BROADCAST, MAC1, { seq: 1 });
  sendFrames(h1, [f], 'ab');
  assert.deepEqual(bufs(await receive(h2, 1, 5000)), bufs([f]));
  assert.deepEqual(bufs(await receive(x2, 1, 5000)), bufs([f]));
  assert.deepEqual(bufs(await receive(x1, 1, 5000)), bufs([f]));
  await nothing(h1);
});

test('unicast back to h1 crosses too, and only to h1: both switches learnt where MAC1 is', async () => {
  const back = frame(MAC1, MAC2, { seq: 2 });
  sendFrames(h2, [back], 'ba');
  assert.deepEqual(bufs(await receive(h1, 1, 5000)), bufs([back]));
  // h1 -> MAC2: b1 learnt MAC2 behind its bridge port, b2 learnt it at h2
  const fwd = frame(MAC2, MAC1, { seq: 3 });
  sendFrames(h1, [fwd], 'ab');
  assert.deepEqual(bufs(await receive(h2, 1, 5000)), bufs([fwd]));
  await nothing(x1, 200);
  await nothing(x2, 200);
  await nothing(h2, 0);
});

test('a 3000-byte frame sent as a 2-slot NS_MOREFRAG chain arrives whole and bit-exact', async () => {
  const rng = new Rng(7);
  const big = frame(MAC2, MAC1, { len: 3000, fill: rng.bytes(3000) });
  putChain(h1, split(big, 2048));
  h1.txsync();
  want.ab.frames++;
  want.ab.bytes += big.length;
  h2.rxsync();
  const deadline = Date.now() + 5000;
  let slots: Array<{ len: number; flags: number }> = [];
  while (slots.length < 2 && Date.now() < deadline) {
    await h2.poll({ timeout: deadline - Date.now() });
    const ring = h2.rxRings[0];
    assert.ok(ring);
    // look at the raw RX slots before draining: two, fragment count 2
    slots = [];
    for (let s = ring.cur; s !== ring.tail; s = ring.next(s)) slots.push({ len: ring.len(s), flags: ring.flags(s) });
  }
  assert.deepEqual(slots, [
    { len: 2048, flags: (2 << layout.NS_RFRAGS_SHIFT) | layout.NS_MOREFRAG },
    { len: 952, flags: 2 << layout.NS_RFRAGS_SHIFT },
  ]);
  const got = drain(h2);
  assert.equal(got.length, 1);
  assert.ok(Buffer.from(got[0] as Uint8Array).equals(Buffer.from(big)), 'bytes differ');
});

test('frames of every size and byte pattern (NaN-shaped words included) cross in order', async () => {
  const rng = new Rng(11);
  const nan = new Uint8Array(256);
  const dv = new DataView(nan.buffer);
  for (let o = 0; o + 8 <= 256; o += 8)
    dv.setBigUint64(o, o % 16 === 0 ? 0x7ff0000000000001n : 0xfff8dead0000beefn, true);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const len = i < 40 ? 14 + i : rng.int(14, 2048);
    const fill = i % 3 === 0 ? nan : rng.bytes(len);
    frames.push(frame(MAC2, MAC1, { len, seq: 1000 + i, fill }));
  }
  for (let i = 0; i < frames.length; i += 50) {
    const batch = frames.slice(i, i + 50);
    sendFrames(h1, batch, 'ab');
    const got = await receive(h2, batch.length, 5000);
    assert.equal(got.length, batch.length);
    got.forEach((g, k) => {
      assert.ok(Buffer.from(g).equals(Buffer.from(batch[k] as Uint8Array)), `frame ${i + k}: ${hex(g)}`);
    });
  }
});

test('a switch with only the bridge port and h1 sends nothing back (no hairpin)', async () => {
  x1.close();
  await new Promise((r) => setTimeout(r, 50));
  const f = frame(BROADCAST, MAC1, { seq: 4 });
  const u = frame(MAC9, MAC1, { seq: 5 }); // unknown unicast: flooded on both switches
  sendFrames(h1, [f, u], 'ab');
  assert.deepEqual(bufs(await receive(h2, 2, 5000)), bufs([f, u]));
  assert.equal((await receive(x2, 2, 5000)).length, 2);
  await nothing(h1, 400);
});

test('an idle bridge sleeps (no CPU burnt while both sides are quiet)', async () => {
  const pid = bridge?.pid;
  assert.ok(pid !== undefined);
  const ticks = (): number => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  };
  await new Promise((r) => setTimeout(r, 100));
  const t0 = ticks();
  await new Promise((r) => setTimeout(r, 600));
  const used = ticks() - t0;
  assert.ok(used <= 6, `the idle bridge used ${used} clock ticks in 600 ms`);
});

test('SIGTERM stops the bridge; it prints a line per direction with the frames and bytes it moved', async () => {
  assert.ok(bridge !== null);
  bridge.kill('SIGTERM');
  const code = await exited(bridge, 10000);
  assert.equal(code, 0, bridgeErr);
  assert.match(bridgeErr, /bridge: ready to go, vale-b1:up <-> vale-b2:up, burst 64/);
  const lines = bridgeOut.trim().split('\n');
  assert.deepEqual(lines, [
    `vale-b1:up --> vale-b2:up: ${want.ab.frames} packets ${want.ab.bytes} bytes 0 dropped`,
    `vale-b2:up --> vale-b1:up: ${want.ba.frames} packets ${want.ba.bytes} bytes 0 dropped`,
  ]);
});

test('uvale bridge: --help, and clear errors for missing ports, bad names, the same port twice', async () => {
  const help = await uvale(['bridge', '--help'], { env });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: uvale bridge -i PORT_A -i PORT_B/);
  const cases: Array<[string[], RegExp]> = [
    [['bridge'], /two ports are needed \(-i PORT_A -i PORT_B\)/],
    [['bridge', '-i', 'vale-e1:a'], /two ports are needed/],
    [['bridge', '-i', 'vale-e1:a', '-i', 'vale-e2:a', '-i', 'vale-e3:a'], /only two ports/],
    [['bridge', '-i', 'eth0', '-i', 'vale-e1:a'], /invalid port name 'eth0': must start with 'vale'/],
    [['bridge', '-i', 'vale-e1:a', '-i', 'vale-e1:'], /invalid port name 'vale-e1:'/],
    [['bridge', '-i', 'vale-e1:a', '-i', 'vale-e1:a'], /the same port twice/],
    [['bridge', '-i', 'vale0', '-i', 'vale:vale0'], /the same port twice/],
    [['bridge', '-i', 'vale-e1:a', '-i', 'vale-e1:b'], /both ports are on switch vale-e1/],
    [['bridge', '-i', 'vale-e1:a', '-i', 'vale-e2:a', '-b', '0'], /-b must be an integer from 1 to 8192/],
  ];
  for (const [args, re] of cases) {
    const r = await uvale(args, { env });
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
});

// ---- the engine on in-process ports: whole chains, backpressure, the stall rule ----

/** Two in-process switches, a sender on the first, a receiver on the second, and the two bridge ports. */
function pair(upSlots: number): {
  host: ValeHost;
  tx: LocalPort;
  up1: LocalPort;
  up2: LocalPort;
  rx: LocalPort;
  close: () => void;
} {
  const host = new ValeHost();
  const tx = openPort('vale-u1:tx', { host });
  const up1 = openPort('vale-u1:up', { host });
  const up2 = openPort('vale-u2:up', { host, txSlots: upSlots });
  const rx = openPort('vale-u2:rx', { host });
  return {
    host,
    tx,
    up1,
    up2,
    rx,
    close: () => {
      for (const p of [tx, up1, up2, rx]) p.close();
    },
  };
}

test('engine: chains move whole when the TX ring is smaller than the backlog; never split across syncs', () => {
  const p = pair(8); // 7 usable TX slots: two 3-slot chains per sync
  try {
    const rng = new Rng(3);
    const sent = Array.from({ length: 10 }, (_, i) =>
      frame(BROADCAST, MAC1, { len: 5000, seq: i, fill: rng.bytes(5000) }),
    );
    for (const f of sent) putChain(p.tx, split(f, 2048));
    p.tx.txsync();
    const d = new Direction(new Side(p.up1, new Waker()), new Side(p.up2, new Waker()));
    const states: number[] = [];
    for (let i = 0; i < 20 && states.at(-1) !== IDLE; i++) states.push(move(d, 1024));
    assert.deepEqual(states, [MORE, MORE, MORE, MORE, IDLE]);
    assert.deepEqual(d.stats, { frames: 10, bytes: 50000, drops: 0 });
    assert.equal(p.up2.counters().truncated, 0, 'no sync ended inside a chain');
    const got = drain(p.rx);
    assert.deepEqual(bufs(got), bufs(sent));
  } finally {
    p.close();
  }
});

test('engine: the burst bounds one round; a chain longer than every TX ring is dropped and counted', () => {
  const p = pair(4); // 3 usable TX slots
  try {
    put(p.tx, [frame(BROADCAST, MAC1, { seq: 1 }), frame(BROADCAST, MAC1, { seq: 2 })]);
    putChain(p.tx, split(frame(BROADCAST, MAC1, { len: 7000 }), 2048)); // 4 slots
    put(p.tx, [frame(BROADCAST, MAC1, { seq: 3 })]);
    p.tx.txsync();
    const d = new Direction(new Side(p.up1, new Waker()), new Side(p.up2, new Waker()));
    assert.equal(move(d, 1), MORE);
    assert.equal(move(d, 1), MORE);
    assert.equal(move(d, 1), IDLE); // drops the 4-slot chain, moves frame 3
    assert.deepEqual(d.stats, { frames: 3, bytes: 180, drops: 1 });
    assert.deepEqual(
      drain(p.rx).map((f) => f[17]),
      [1, 2, 3],
    );
  } finally {
    p.close();
  }
});

test('engine: a TX ring that stays full blocks the direction (cur = tail for poll out), then drops after STALL_MS', () => {
  const p = pair(8);
  try {
    // a destination whose txsync never drains: its TX ring stays full
    const stuck: NetmapPort = {
      name: p.up2.name,
      txRings: p.up2.txRings,
      rxRings: p.up2.rxRings,
      txsync: () => {},
      rxsync: () => p.up2.rxsync(),
      poll: (o) => p.up2.poll(o),
      close: () => {},
      counters: () => p.up2.counters(),
    };
    put(
      p.tx,
      Array.from({ length: 20 }, (_, i) => frame(BROADCAST, MAC1, { seq: i })),
    );
    p.tx.txsync();
    const d = new Direction(new Side(p.up1, new Waker()), new Side(stuck, new Waker()));
    assert.equal(step(d, 1024, 1000), BLOCKED);
    assert.deepEqual(d.stats, { frames: 7, bytes: 420, drops: 0 });
    const ring = p.up2.txRings[0] as NetmapRing;
    assert.equal(ring.cur, ring.tail, 'cur waits at tail');
    assert.ok(ring.empty(), "so poll 'out' (some TX ring with cur != tail) sleeps until tail moves");
    assert.equal(step(d, 1024, 1000 + STALL_MS / 2), BLOCKED);
    assert.equal(d.stats.drops, 0);
    assert.equal(step(d, 1024, 1000 + STALL_MS), IDLE);
    assert.deepEqual(d.stats, { frames: 7, bytes: 420, drops: 13 });
    assert.equal(ring.cur, ring.head);
  } finally {
    p.close();
  }
});

test('engine: the waker keeps a wake-up that comes while the loop is busy, and wakes a sleeping loop', async () => {
  const w = new Waker();
  w.notify(); // while busy
  let woke = false;
  await w.wait().then(() => {
    woke = true;
  });
  assert.ok(woke);
  let later = false;
  const p = w.wait().then(() => {
    later = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(later, false, 'no stale wake-up left over');
  w.notify();
  await p;
  assert.ok(later);
});
