/*
 * `uvale tcpdump` on ports other programs hold (netmap monitors,
 * docs/monitors.md), with the real tools: pkt-gen runs on both ends, tcpdump
 * writes pcap files, and the real tcpdump and tshark read them; the count and
 * bytes must be what the endpoints counted. Also `uvale ctl --mirror` and
 * `--mirrors` as a user types them.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { BIN, exited, hasCommand, runDirs, until, uvale, waitPort } from '../helpers/daemon.js';

const runDir = runDirs({ shutdown: true });
const has = hasCommand;

/** A child running `uvale args`, its output gathered. */
function child(args: string[], env: NodeJS.ProcessEnv) {
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  const out = { stdout: '', stderr: '' };
  p.stdout.on('data', (d) => (out.stdout += d));
  p.stderr.on('data', (d) => (out.stderr += d));
  return { p, out, done: exited(p, 30000) };
}

/** Frames and bytes in a pcap file, as the real tcpdump and tshark count them. */
function readBack(file: string): { tcpdump: number; tsharkLens: number[] } {
  const text = execFileSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const tcpdump = text.trim() === '' ? 0 : text.trim().split('\n').length;
  let tsharkLens: number[] = [];
  if (has('tshark')) {
    const ts = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    tsharkLens = ts.trim() === '' ? [] : ts.trim().split('\n').map(Number);
  }
  return { tcpdump, tsharkLens };
}

test('tcpdump on a busy port: pkt-gen holds both ends, the capture goes through monitors, pcap counts match', async (t) => {
  if (!has('tcpdump')) {
    t.skip('tcpdump is not installed (CI installs it)');
    return;
  }
  const dir = runDir('mon-busy');
  const env = { UVALE_RUN_DIR: dir };
  const N = 3000;
  const rx = child(['pkt-gen', '-i', 'vale-mn:1', '-f', 'rx', '-n', String(N), '-T', '100'], env);
  await waitPort(dir, 'vale-mn:1');
  const inFile = `${dir}/in.pcap`;
  const outFile = `${dir}/out.pcap`;
  const capIn = child(['tcpdump', '-i', 'vale-mn:1', '-Q', 'in', '-w', inFile], env);
  await until(() => capIn.out.stderr.includes('listening'), 30000, 'the capture of vale-mn:1');
  // the sender opens its port, then waits 6 s before sending: time to start the capture of what it sends
  const tx = child(
    ['pkt-gen', '-i', 'vale-mn:0', '-f', 'tx', '-n', String(N), '-l', '60', '-l', '1514', '-R', '3000', '-w', '6'],
    env,
  );
  await waitPort(dir, 'vale-mn:0');
  const capOut = child(['tcpdump', '-i', 'vale-mn:0', '-Q', 'out', '-w', outFile], env);
  await until(() => capOut.out.stderr.includes('listening'), 30000, 'the capture of vale-mn:0');
  assert.match(capIn.out.stderr, /vale-mn:1 is held by another program; capturing through the monitor vale-mn:1\/r/);
  assert.match(capOut.out.stderr, /capturing through the monitor vale-mn:0\/t/);
  await tx.done;
  await rx.done;
  // each endpoint closed its port: each monitor ended, each capture with it, by itself
  await capIn.done;
  await capOut.done;
  const sent = /Sent (\d+) packets (\d+) bytes/.exec(tx.out.stdout);
  const got = /Received (\d+) packets (\d+) bytes/.exec(rx.out.stdout);
  assert.ok(sent && got, `${tx.out.stdout}\n${rx.out.stdout}`);
  assert.equal(Number(got[1]), N);
  assert.equal(got[2], sent[2]);
  for (const [cap, file] of [
    [capIn, inFile],
    [capOut, outFile],
  ] as const) {
    assert.match(cap.out.stderr, /the monitored port closed/);
    // every copy is captured or counted as dropped at the monitor (a capture behind on a busy
    // machine loses its own copies only: the endpoints got all N above)
    const captured = Number(/^(\d+) packets captured$/m.exec(cap.out.stderr)?.[1]);
    const dropped = Number(/^(\d+) packets dropped/m.exec(cap.out.stderr)?.[1]);
    assert.equal(captured + dropped, N, cap.out.stderr);
    const back = readBack(file);
    assert.equal(back.tcpdump, captured, file);
    if (back.tsharkLens.length > 0 && dropped === 0) {
      assert.equal(back.tsharkLens.length, N);
      // pkt-gen counts bytes without the CRC, as the pcap's frame lengths
      assert.equal(
        back.tsharkLens.reduce((x, y) => x + y, 0),
        Number(sent[2]),
      );
    }
  }
});

test('-Q out on a port nobody holds, and a bad -Q, say what is wrong', async () => {
  const dir = runDir('mon-q');
  const env = { UVALE_RUN_DIR: dir };
  const r = await uvale(['tcpdump', '-i', 'vale-mq:1', '-Q', 'out', '-c', '1'], { env, timeoutMs: 10000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /-Q out captures what vale-mq:1's program sends, but no program has vale-mq:1 open/);
  const both = await uvale(['tcpdump', '-i', 'vale-mq:1/r', '-Q', 'in'], { env, timeoutMs: 10000 });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give -Q or a monitor name/);
});

test('ctl --mirror, --mirrors, --no-mirror as a user types them', async () => {
  const dir = runDir('mon-ctl');
  const env = { UVALE_RUN_DIR: dir };
  const a = child(['pkt-gen', '-i', 'vale-mm:a', '-f', 'rx'], env);
  const b = child(['pkt-gen', '-i', 'vale-mm:b', '-f', 'rx'], env);
  await waitPort(dir, 'vale-mm:a');
  await waitPort(dir, 'vale-mm:b');
  try {
    const add = await uvale(['ctl', '--mirror', 'vale-mm:a/t=vale-mm:b'], { env });
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'mirror vale-mm:a/t -> vale-mm:b added\n');
    const list = await uvale(['ctl', '--mirrors'], { env });
    assert.match(
      list.stdout,
      /^SOURCE\s+DIRS\s+DESTINATION\s+KIND\s+ACTIVE\nvale-mm:a\s+t\s+vale-mm:b\s+mirror\s+yes\n$/,
    );
    const json = JSON.parse((await uvale(['ctl', '--mirrors', '--json'], { env })).stdout);
    assert.deepEqual(json, [{ src: 'vale-mm:a', dst: 'vale-mm:b', dirs: 't', kind: 'mirror', active: true }]);
    const bad = await uvale(['ctl', '--mirror', 'vale-mm:a'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--mirror takes SW:SRC=SW:DST/);
    const nosuch = await uvale(['ctl', '--mirror', 'vale-mm:zz=vale-mm:b'], { env });
    assert.equal(nosuch.code, 1);
    assert.match(nosuch.stderr, /no port zz on switch vale-mm/);
    const rm = await uvale(['ctl', '--no-mirror', 'vale-mm:a=vale-mm:b'], { env });
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await uvale(['ctl', '--mirrors'], { env })).stdout, '');
  } finally {
    a.p.kill('SIGINT');
    b.p.kill('SIGINT');
    await a.done.catch(() => {});
    await b.done.catch(() => {});
  }
});
