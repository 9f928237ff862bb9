/*
 * A mirror to a TAP (docs/monitors.md): `uvale ctl --mirror SW:A=SW:TAP`
 * copies both directions of port A to a TAP interface, and the real tcpdump
 * on the host side of that TAP, in a network namespace, sees every frame A
 * sent and received, bit for bit and in order, as a SPAN port shows them.
 *
 * Needs root, /dev/net/tun, ip and tcpdump; skipped with the reason otherwise.
 * Names carry the prefix mn and this process's pid.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { connectPort, type DaemonPort } from '../../src/index.js';
import { PcapReader } from '../../src/pkt/pcap.js';
import { tempRunDir, until, uvale } from '../helpers/daemon.js';
import { BROADCAST, frame, macN, receive, send, seqOf } from '../helpers/vale.js';
import { Cleanup, ip, netSkipReason, PID_TAG, quiet } from './net.js';

const skip = netSkipReason(['tcpdump']);
const cleanup = new Cleanup();
after(() => cleanup.run());

test('a mirror to a TAP: the host tcpdump in a namespace sees both directions of the port, in order', {
  skip: skip ?? false,
}, async () => {
  const t = tempRunDir('mn-mirror');
  cleanup.add(t.cleanup);
  const env = { UVALE_RUN_DIR: t.dir };
  cleanup.add(async () => {
    await uvale(['ctl', '--shutdown'], { env, timeoutMs: 10000 });
  });
  const tap = `mn${PID_TAG}t`;
  const ns = `mn-${process.pid}`;
  const sw = 'vale-mnt';
  const add = await uvale(['ctl', '-a', `${sw}:${tap}`], { env, timeoutMs: 15000 });
  assert.equal(add.code, 0, add.stderr);
  cleanup.netns(ns);
  ip('netns', 'add', ns);
  ip('link', 'set', tap, 'netns', ns);
  quiet(tap, ns);
  ip('-n', ns, 'link', 'set', tap, 'up');

  const ports: DaemonPort[] = [];
  cleanup.add(() => {
    for (const p of ports) p.close();
  });
  const a = await connectPort(`${sw}:a`, { dir: t.dir });
  const b = await connectPort(`${sw}:b`, { dir: t.dir });
  ports.push(a, b);
  const [MA, MB] = [macN(0x1a), macN(0x1b)];
  // both MACs learnt before the capture starts, so nothing below is flooded to the TAP
  send(a, [frame(BROADCAST, MA, { seq: 1000 })]);
  await receive(b, 1);
  send(b, [frame(BROADCAST, MB, { seq: 1001 })]);
  await receive(a, 1);

  const m = await uvale(['ctl', '--mirror', `${sw}:a=${sw}:${tap}`], { env });
  assert.equal(m.code, 0, m.stderr);
  const file = `${t.dir}/span.pcap`;
  const N = 60;
  const cap = spawn('ip', [
    'netns',
    'exec',
    ns,
    'tcpdump',
    '-i',
    tap,
    '-Q',
    'in', // what the interface receives: what the switch writes into the TAP
    '-nn',
    '-U',
    '-c',
    String(N),
    '-w',
    file,
    'ether proto 0x88b5',
  ]);
  let capErr = '';
  cap.stderr.on('data', (d) => (capErr += d));
  const capDone = new Promise<number | null>((r) => cap.once('exit', (code) => r(code)));
  cleanup.add(() => {
    cap.kill('SIGKILL');
  });
  await until(() => capErr.includes('listening on'), 10000, 'tcpdump listening');

  const sent: Uint8Array[] = [];
  for (let i = 0; i < N / 2; i++) {
    const f1 = frame(MB, MA, { seq: 2 * i, len: 60 + i * 40 });
    send(a, [f1]);
    await receive(b, 1);
    const f2 = frame(MA, MB, { seq: 2 * i + 1, len: 1514 - i * 40 });
    send(b, [f2]);
    await receive(a, 1);
    sent.push(f1, f2);
  }
  const code = await Promise.race([capDone, new Promise((r) => setTimeout(() => r('timeout'), 10000))]);
  assert.equal(code, 0, `tcpdump: ${capErr}`);
  const got: Uint8Array[] = [];
  const reader = new PcapReader(readFileSync(file));
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) got.push(rec.data.slice(0, rec.caplen));
  assert.deepEqual(got.map(seqOf), sent.map(seqOf));
  for (let i = 0; i < N; i++) assert.deepEqual(Buffer.from(got[i] as Uint8Array), Buffer.from(sent[i] as Uint8Array));
  const list = await uvale(['ctl', '--mirrors', '--json'], { env });
  assert.deepEqual(JSON.parse(list.stdout), [
    { src: `${sw}:a`, dst: `${sw}:${tap}`, dirs: 'rt', kind: 'mirror', active: true },
  ]);
});
