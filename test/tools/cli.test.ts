/*
 * The uvale command line as a user drives it: the man page example in a
 * shell, every command's --help, pkt-gen's output formats, tcpdump's pcap
 * files read by the real tcpdump, ctl/sysctl/top against a live daemon, and
 * clear errors for bad input.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SETTINGS } from '../../src/core/settings.js';
import { BIN, exited, hasCommand, runDirs, uvale, waitPort } from '../helpers/daemon.js';

const runDir = runDirs({ shutdown: true });

const has = hasCommand;

const REPORT =
  /^\d{3}\.\d{6} main_thread \[\d+\] [\d.]+ [KMGT]?pps \([\d.]+ [KMGT]?pkts [\d.]+ [KMGT]?bps in \d+ usec\) [\d.]+ avg_batch \d+ min_space$/m;

test('the man page example runs as written, in one shell', async () => {
  const dir = runDir('manpage');
  const r = spawnSync(
    'bash',
    [
      '-c',
      `${BIN} tcpdump -ni vale-a:1 -c 5 & until ${BIN} ctl -l vale-a:1 >/dev/null 2>&1; do sleep 0.1; done; ${BIN} pkt-gen -i vale-a:0 -f tx -n 200000 -T 100; wait`,
    ],
    { env: { ...process.env, UVALE_RUN_DIR: dir }, encoding: 'utf8', timeout: 30000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.includes(' IP '));
  assert.equal(lines.length, 5, r.stdout);
  for (const l of lines)
    assert.match(l, /^\d\d:\d\d:\d\d\.\d{6} IP 10\.0\.0\.1\.1234 > 10\.1\.0\.1\.1234: UDP, length 18$/);
  assert.match(r.stdout, /^Sent 200000 packets 12000000 bytes \d+ events 60 bytes each in [\d.]+ seconds\.$/m);
  assert.match(
    r.stdout,
    /^Speed: [\d.]+ [KM]?pps Bandwidth: [\d.]+ [KMG]?bps \(raw [\d.]+ [KMG]?bps\)\. Average batch: [\d.]+ pkts$/m,
  );
  assert.match(r.stderr, /Sending on vale-a:0: 1 queues, 1 threads and 1 cpus\./);
  assert.match(r.stderr, /10\.0\.0\.1:1234 -> 10\.1\.0\.1:1234 \(00:00:00:00:00:00 -> ff:ff:ff:ff:ff:ff\)/);
  assert.match(r.stderr, /5 packets captured/);
});

test('every command answers --help with its usage, exit 0', async () => {
  for (const cmd of ['pkt-gen', 'tcpdump', 'ctl', 'sysctl', 'top', 'bridge', 'daemon']) {
    const r = await uvale([cmd, '--help']);
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, new RegExp(`^usage: uvale ${cmd}`), cmd);
  }
  const top = await uvale(['--help']);
  assert.equal(top.code, 0);
  for (const cmd of ['pkt-gen', 'tcpdump', 'ctl', 'sysctl', 'top', 'bridge', 'daemon'])
    assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
  const help = await uvale(['help', 'pkt-gen']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: uvale pkt-gen/, 'uvale help CMD is CMD --help');
});

test('bad input gets a clear error and a non-zero exit', async () => {
  const dir = runDir('bad');
  const env = { UVALE_RUN_DIR: dir };
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['pkt-gen', '-f', 'tx'], /-i PORT is required/],
    [['pkt-gen', '-i', 'eth0', '-f', 'tx'], /invalid port name 'eth0': must start with 'vale'/],
    [['pkt-gen', '-i', 'vale-a:0', '-f', 'fly'], /unknown function 'fly'/],
    [['pkt-gen', '-i', 'vale-a:0', '-l', '9'], /-l must be an integer from 16 to 65535/],
    [['sysctl', 'dev.netmap.bridge=0'], /dev\.netmap\.bridge must be an integer from 1 to 1024/],
    [['sysctl', 'dev.netmap.nope'], /unknown setting 'dev\.netmap\.nope'/],
    [['ctl', '-l', 'vale-zz:0'], /no port named vale-zz:0|no uvale daemon/],
    [['pkt-gen', '--bogus'], /unknown option '--bogus'/],
    [['pkt-gen', '-i', 'vale-a:0', '-H', '11'], /-H must be 0, 10 or 12/],
    [['pkt-gen', '-i', 'vale-a:0', '-f', 'ping', '-H', '12'], /-H is for tx, txseq, rx and rxseq, not ping/],
    [['pkt-gen', '-i', 'vale-a:0', '-C', '0'], /-C takes 1 to 4 positive integers/],
    [['pkt-gen', '-i', 'vale-a:0', '-C', '4096'], /exceed dev\.netmap\.max_buffers=1024/],
  ];
  for (const [args, re] of cases) {
    const r = await uvale(args, { env });
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('pkt-gen reports in pkt-gen’s format; rx counts what tx sent; rxseq finds no gap', async () => {
  const dir = runDir('pktgen');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const rx = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-p:1', '-f', 'rxseq', '-n', '3000', '-T', '100'], {
    env,
  });
  let rxOut = '';
  let rxErr = '';
  rx.stdout.on('data', (d) => (rxOut += d));
  rx.stderr.on('data', (d) => (rxErr += d));
  const rxDone = exited(rx, 15000);
  await waitPort(dir, 'vale-p:1');
  const tx = await uvale(['pkt-gen', '-i', 'vale-p:0', '-f', 'txseq', '-n', '3000', '-R', '5000', '-T', '100'], {
    env,
  });
  assert.equal(tx.code, 0, tx.stderr);
  await rxDone.catch(async (e) => {
    const stats = await uvale(['ctl', '--stats'], { env });
    throw new Error(
      `${(e as Error).message}\nrx said:\n${rxErr.slice(-600)}\nstats:\n${stats.stdout}\ntx said:\n${tx.stdout}`,
    );
  });
  assert.match(tx.stderr, REPORT);
  assert.match(rxErr, REPORT);
  assert.match(rxOut, /^Received 3000 packets 180000 bytes \d+ events 60 bytes each/m);
  assert.doesNotMatch(rxErr, /GAP|OUT OF ORDER/);
});

test('pkt-gen -H: frames with a virtio-net header cross to ports without one and back, counted without it; -C sizes the rings', async () => {
  const dir = runDir('pktgen-h');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const cases: Array<[string[], string[]]> = [
    [['-H', '12'], []], // header stripped by the switch
    [[], ['-H', '10']], // header added by the switch
    [
      ['-H', '12'],
      ['-H', '12'],
    ], // passed through
  ];
  for (const [txArgs, rxArgs] of cases) {
    const rx = spawn(
      process.execPath,
      [BIN, 'pkt-gen', '-i', 'vale-h:1', '-f', 'rxseq', '-n', '2000', '-T', '100', '-C', '256', ...rxArgs],
      { env },
    );
    let rxOut = '';
    let rxErr = '';
    rx.stdout.on('data', (d) => (rxOut += d));
    rx.stderr.on('data', (d) => (rxErr += d));
    const rxDone = exited(rx, 15000);
    await waitPort(dir, 'vale-h:1');
    const g = JSON.parse((await uvale(['ctl', '-g', 'vale-h:1', '--json'], { env })).stdout);
    assert.deepEqual([g.tx_slots, g.rx_slots, g.vnet_hdr_len], [256, 256, rxArgs.length > 0 ? Number(rxArgs[1]) : 0]);
    const tx = await uvale(['pkt-gen', '-i', 'vale-h:0', '-f', 'txseq', '-n', '2000', '-R', '1000', ...txArgs], {
      env,
    });
    assert.equal(tx.code, 0, tx.stderr);
    assert.match(tx.stdout, /^Sent 2000 packets 120000 bytes/m);
    await rxDone;
    const what = `tx ${txArgs.join(' ')} -> rx ${rxArgs.join(' ')}: ${rxErr.slice(-300)}`;
    assert.match(rxOut, /^Received 2000 packets 120000 bytes \d+ events 60 bytes each/m, what);
    assert.doesNotMatch(rxErr, /GAP|OUT OF ORDER/, what);
  }
});

test('ping and pong measure round trips', async () => {
  const dir = runDir('ping');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const pong = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-r:1', '-f', 'pong'], { env, stdio: 'ignore' });
  await waitPort(dir, 'vale-r:1');
  const ping = await uvale(['pkt-gen', '-i', 'vale-r:0', '-f', 'ping', '-n', '20', '-R', '100'], { env });
  pong.kill('SIGINT');
  await exited(pong);
  assert.equal(ping.code, 0, ping.stderr);
  assert.match(ping.stderr, /ping: 20 replies to 20 requests, RTT min \d+ av \d+ ns/);
});

test('tcpdump -w writes pcap that the real tcpdump and tshark read', async (t) => {
  if (!has('tcpdump')) {
    t.skip('tcpdump is not installed (CI installs it)');
    return;
  }
  const dir = runDir('pcap');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const file = `${dir}/cap.pcap`;
  const cap = spawn(process.execPath, [BIN, 'tcpdump', '-i', 'vale-w:1', '-c', '20', '-w', file], {
    env,
    stdio: 'ignore',
  });
  const capDone = exited(cap);
  await waitPort(dir, 'vale-w:1');
  const gen = await uvale(['pkt-gen', '-i', 'vale-w:0', '-f', 'tx', '-n', '20', '-l', '1514', '-R', '1000'], { env });
  assert.equal(gen.code, 0, gen.stderr);
  await capDone;
  assert.ok(existsSync(file));
  const text = execFileSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 20);
  for (const l of lines) assert.match(l, /IP 10\.0\.0\.1\.1234 > 10\.1\.0\.1\.1234: UDP, length 1472/);
  // our own reader prints the same lines
  const ours = await uvale(['tcpdump', '-r', file]);
  assert.deepEqual(
    ours.stdout
      .trim()
      .split('\n')
      .map((l) => l.slice(l.indexOf(' '))),
    lines.map((l) => l.slice(l.indexOf(' '))),
  );
  if (has('tshark')) {
    const ts = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    assert.deepEqual(ts.trim().split('\n'), Array(20).fill('1514'));
  }
});

test('ctl, sysctl and top show the live daemon', async () => {
  const dir = runDir('ctl');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const rx = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-c:1', '-f', 'rx'], { env, stdio: 'ignore' });
  await waitPort(dir, 'vale-c:1'); // so the receiver is port 0 and the sender port 1 (and a daemon runs)
  const set = await uvale(['sysctl', 'dev.netmap.bridge=64'], { env });
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, 'dev.netmap.bridge: 1024 -> 64\n');
  const all = await uvale(['sysctl', '-a'], { env });
  assert.match(all.stdout, /^dev\.netmap\.bridge: 64$/m);
  assert.match(all.stdout, /^dev\.netmap\.max_ports: 16$/m);
  const tx = spawn(
    process.execPath,
    [BIN, 'pkt-gen', '-i', 'vale-c:0', '-f', 'tx', '-R', '10000', '-S', '02:00:00:00:00:07'],
    {
      env,
      stdio: 'ignore',
    },
  );
  try {
    let list = '';
    for (let i = 0; i < 100 && !/vale-c:0/.test(list); i++) {
      await new Promise((r) => setTimeout(r, 50));
      list = (await uvale(['ctl'], { env })).stdout;
    }
    assert.match(list, /^vale-c:1 bridge_idx 0 port_idx 0$/m);
    assert.match(list, /^vale-c:0 bridge_idx 0 port_idx 1$/m);
    const l = await uvale(['ctl', '-l', 'vale-c:0'], { env });
    assert.equal(l.stdout, 'bridge_idx: 0\nport_idx: 1\n');
    const g = JSON.parse((await uvale(['ctl', '-g', 'vale-c:0', '--json'], { env })).stdout);
    assert.deepEqual([g.tx_slots, g.rx_slots, g.tx_rings, g.rx_rings], [1024, 1024, 1, 1]);
    await new Promise((r) => setTimeout(r, 300));
    const mac = await uvale(['ctl', '--mac', 'vale-c'], { env });
    assert.match(mac.stdout, /02:00:00:00:00:07\s+1\s+vale-c:0/);
    const top = await uvale(['top', '-n', '1', '-d', '0.3', '--json'], { env });
    const sample = JSON.parse(top.stdout.trim().split('\n')[0] as string);
    const p0 = sample.ports.find((p: { name: string }) => p.name === 'vale-c:0');
    assert.ok(p0.txPps > 1000, `top shows the sender's rate: ${JSON.stringify(p0)}`);
    const stats = JSON.parse((await uvale(['ctl', '--stats', 'vale-c:1', '--json'], { env })).stdout);
    assert.ok(stats.counters.rxPackets > 0);
  } finally {
    tx.kill('SIGINT');
    rx.kill('SIGINT');
  }
  // the setting survives a daemon restart in the same run directory
  await uvale(['ctl', '--shutdown'], { env });
  await new Promise((r) => setTimeout(r, 300));
  const again = await uvale(['sysctl', '-n', 'dev.netmap.bridge'], { env });
  assert.equal(again.stdout, '64\n');
  assert.ok(readFileSync(`${dir}/sysctl.json`, 'utf8').includes('"dev.netmap.bridge": 64'));
});

test('with no daemon: listings say so and exit 0, actions fail with VALE_ERR_DAEMON, nothing is started', async () => {
  const dir = runDir('nodaemon');
  const env = { UVALE_RUN_DIR: dir };
  for (const args of [['ctl'], ['ctl', '--stats'], ['top', '-n', '1', '-d', '0.1'], ['sysctl', '-a']]) {
    const r = await uvale(args, { env });
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stderr, /no uvale daemon runs in /, args.join(' '));
  }
  assert.match((await uvale(['sysctl', 'dev.netmap.bridge'], { env })).stdout, /^dev\.netmap\.bridge: 1024$/m);
  for (const args of [
    ['ctl', '--shutdown'],
    ['sysctl', 'dev.netmap.bridge=10'],
    ['ctl', '-d', 'vale0:x'],
  ]) {
    const r = await uvale(args, { env });
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /no uvale daemon runs in .*\[VALE_ERR_DAEMON\]/, args.join(' '));
  }
  assert.equal(existsSync(join(dir, 'uvale.sock')), false, 'no daemon was started');
});

test("netmap users' command lines get told what differs, with usage errors (exit 2)", async () => {
  const cases: Array<[string[], RegExp]> = [
    [['ctl', '-h', 'eth0'], /'-h eth0' attaches a NIC with its host stack; uvale has no NICs/],
    [['ctl', '-x'], /unknown option '-x'/],
    [['ctl', '-l'], /option -l needs a value/],
    [['sysctl', 'dev.netmap.bridge', '=', '10'], /write NAME=VALUE as one word/],
  ];
  for (const [args, re] of cases) {
    const r = await uvale(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const help = (await uvale(['sysctl', '--help'])).stdout;
  for (const s of SETTINGS)
    assert.match(help, new RegExp(s.name.replaceAll('.', '\\.')), `sysctl --help lists ${s.name}`);
  const pg = await uvale(['pkt-gen', '-i', 'netmap:vale-a:1', '-f', 'rx']);
  assert.match(pg.stderr, /drop the 'netmap:' prefix/);
});
