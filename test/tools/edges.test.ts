/*
 * The tools at their edges, as a user meets them (issue 9): every failure
 * ends with the tool's prefix and a code and releases its port; a closed pipe
 * ends a tool quietly; usage mistakes exit 2 in the tools' own words; the
 * summaries tell what happened (timing, drops, replies); tcpdump's filters,
 * -v, -t styles, -D, -Q; pkt-gen's netmap flags. Every test runs the real
 * binary against a daemon in its own run directory.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PcapReader, PcapWriter } from '../../src/pkt/pcap.js';
import { render } from '../../src/tools/top/main.js';
import { BIN, exited, hasCommand, runDirs, uvale, waitPort } from '../helpers/daemon.js';
import { corpus } from '../pkt/corpus.js';

const runDir = runDirs({ shutdown: true });
const has = hasCommand;
const sh = (dir: string, script: string, timeout = 30000) =>
  spawnSync('bash', ['-c', `cd "$UVALE_RUN_DIR" || exit 1; ${script}`], {
    env: { ...process.env, UVALE_RUN_DIR: dir, U: `${process.execPath} ${BIN}` },
    encoding: 'utf8',
    timeout,
  });

async function listed(dir: string, port: string): Promise<boolean> {
  const r = await uvale(['ctl'], { env: { UVALE_RUN_DIR: dir } });
  return r.stdout.split('\n').some((l) => l.startsWith(`${port} `));
}

test('tcpdump -w to a path it cannot write exits 1 with its prefix and errno, holding no port', async () => {
  const dir = runDir('wfail');
  const env = { UVALE_RUN_DIR: dir };
  await uvale(['ctl', '-n', 'vale-e:keep'], { env }); // a daemon, so ctl can list
  for (const [file, code] of [
    ['/nonexist/dir/x.pcap', 'ENOENT'],
    ['/proc/version', 'EIO|EACCES'],
    ['/dev/full', 'ENOSPC'],
  ] as const) {
    const r = await uvale(['tcpdump', '-i', 'vale-e:1', '-w', file, '-c', '1'], { env, timeoutMs: 10000 });
    assert.equal(r.code, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^uvale tcpdump: .*\\[(${code})\\]$`, 'm'), file);
    assert.doesNotMatch(r.stderr, /^uvale: /m);
    assert.equal(await listed(dir, 'vale-e:1'), false, `${file}: port left behind`);
  }
});

test('a closed pipe ends tcpdump, top and uvale itself quietly and releases the port', (t) => {
  const dir = runDir('pipe');
  const traffic = '$U pkt-gen -i vale-p:0 -f tx -n 400 -R 200 >/dev/null 2>&1';
  const r = sh(
    dir,
    `$U tcpdump -ni vale-p:1 2>err1 | head -2 >out1 & until $U ctl -l vale-p:1 >/dev/null 2>&1; do sleep 0.1; done; ${traffic}; wait; ` +
      'cat out1; cat err1 >&2; $U ctl -l vale-p:1 >/dev/null 2>&1 && echo STILL-OPEN',
  );
  assert.equal(r.stdout.split('\n').filter((l) => l.includes(' IP ')).length, 2, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|at /);
  assert.doesNotMatch(r.stdout, /STILL-OPEN/);
  if (has('tcpdump')) {
    const w = sh(
      dir,
      `$U tcpdump -ni vale-p:2 -w - 2>err2 | tcpdump -nr - -c 3 2>/dev/null & until $U ctl -l vale-p:2 >/dev/null 2>&1; do sleep 0.1; done; ${traffic}; wait; cat err2 >&2`,
    );
    assert.equal(w.stdout.split('\n').filter((l) => l.includes(' IP ')).length, 3, w.stdout + w.stderr);
    assert.doesNotMatch(w.stderr, /EPIPE|Unhandled|at /);
  } else t.diagnostic('tcpdump not installed: -w - | tcpdump -r - not run');
  const top = sh(dir, '$U top -d 0.2 | head -1; echo "status $' + '{PIPESTATUS[0]}"');
  assert.match(top.stdout, /^PORT +IDX +KIND/);
  assert.match(top.stdout, /status 0/);
  assert.doesNotMatch(top.stderr, /EPIPE|Unhandled/);
  // the dispatcher and the tools still on node's parseArgs (daemon) write to a pipe already closed
  for (const args of ['--help', 'daemon --help']) {
    const c = sh(dir, `(sleep 0.5; $U ${args}; echo "status $?" >&2) | true`);
    assert.match(c.stderr, /^status 0$/m, `${args}: ${c.stderr}`);
    assert.doesNotMatch(c.stderr, /EPIPE|Unhandled/, args);
  }
});

test('usage mistakes exit 2 in the tool’s words, never the parser’s', async () => {
  const dir = runDir('usage');
  const env = { UVALE_RUN_DIR: dir };
  const cases: Array<[string[], RegExp]> = [
    [['pkt-gen', '-i', 'vale-u:0', '-f', 'foo'], /^uvale pkt-gen: unknown function 'foo'/],
    [['pkt-gen', '-i', 'vale-u:0', '-l', '10'], /^uvale pkt-gen: -l must be an integer from 16 to 65535, got '10'/],
    [['pkt-gen', '-i', 'vale-u:0', '-n', 'abc'], /^uvale pkt-gen: -n must be an integer/],
    [['pkt-gen', '-i', 'vale-u:0', '-l'], /^uvale pkt-gen: option -l needs a value/],
    [['pkt-gen', '-x'], /^uvale pkt-gen: unknown option '-x'\nSee 'uvale pkt-gen --help'\.$/m],
    [['pkt-gen', '-i', 'vale-u:0', '--f', 'tx'], /^uvale pkt-gen: unknown option '--f' \(did you mean -f\?\)/],
    [['pkt-gen', '-i', 'vale-u:0', '-C', '0'], /^uvale pkt-gen: -C takes/],
    [['pkt-gen', '-i', 'vale-u:0', '-f', 'rx', '-P', 'x.pcap'], /-P is for -f tx, not rx/],
    [['pkt-gen', '-i', 'vale-u:0', '-F', '64'], /-F must be an integer from 1 to 63/],
    [['tcpdump', '-c', 'x', '-i', 'vale-u:1'], /^uvale tcpdump: -c must be an integer/],
    [['tcpdump', '-i'], /^uvale tcpdump: option -i needs a value/],
    [['tcpdump', '-Z'], /^uvale tcpdump: unknown option '-Z'/],
    [['tcpdump'], /^uvale tcpdump: -i PORT, -r FILE or -D is required/],
    [['top', '-n', '0'], /^uvale top: -n must be a whole number/],
    [['top', '-d', 'x'], /^uvale top: -d must be a number of seconds/],
    [['top', 'extra'], /^uvale top: unexpected argument 'extra'/],
    [['bridge', '-i', 'vale-x:1'], /^uvale bridge: two ports are needed/],
    [['bridge', '-i', 'vale-x:1', '-i', 'vale-y:1', '-b', '0'], /^uvale bridge: -b must be an integer from 1 to 8192/],
    [['ctl', '-x'], /^uvale ctl: unknown option '-x'\nSee 'uvale ctl --help'\.$/m],
    [['ctl', '-l'], /^uvale ctl: option -l needs a value/],
    [['ctl', 'vale-u:1'], /^uvale ctl: unexpected argument 'vale-u:1'/],
    [['ctl', '--stats', 'vale-u:1', 'vale-u:2'], /^uvale ctl: unexpected argument 'vale-u:2'/],
    [['ctl', '-n', 'pu', '-C', 'abc'], /^uvale ctl: -C takes 1 to 4 positive integers/],
    [['sysctl', 'dev.netmap.bridge', '=', '10'], /^uvale sysctl: write NAME=VALUE as one word, without spaces/],
    [['sysctl', '-x'], /^uvale sysctl: unknown option '-x'/],
  ];
  for (const [args, re] of cases) {
    const r = await uvale(args, { env, timeoutMs: 15000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /'-- "|Option '-|ERR_PARSE_ARGS|<value>/, args.join(' '));
  }
  assert.equal(existsSync(join(dir, 'uvale.sock')), false, 'a usage mistake started a daemon');
});

test('pkt-gen rx times from its first frame to its last, not the wait before nor -W’s idle second', async () => {
  const dir = runDir('rxtime');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const rx = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-t:1', '-f', 'rx', '-W'], { env });
  let out = '';
  rx.stdout.on('data', (d) => (out += d));
  const done = exited(rx, 20000);
  await waitPort(dir, 'vale-t:1');
  await new Promise((r) => setTimeout(r, 1000)); // idle before the first frame
  const tx = await uvale(['pkt-gen', '-i', 'vale-t:0', '-f', 'tx', '-n', '300', '-R', '1000'], { env });
  assert.equal(tx.code, 0, tx.stderr);
  await done;
  const m = /^Received 300 packets 18000 bytes \d+ events 60 bytes each in ([\d.]+) seconds\.$/m.exec(out);
  assert.ok(m, out);
  const secs = Number(m[1]);
  // the 1 s wait before the first frame or -W's idle second would each add a second or more;
  // the generator itself may run slow on a busy machine, so only those are ruled out
  assert.ok(secs >= 0.2 && secs < 1.2, `300 frames at 1000 pps took ${secs} s by rx's clock`);
  const speed = /^Speed: ([\d.]+) Kpps/m.exec(out);
  assert.ok(speed && Number(speed[1]) > 0.25 && Number(speed[1]) < 1.6, out);
});

test('summaries show the port’s drops: tx refused by the switch, rx ring full, ping without pong', async () => {
  const dir = runDir('drops');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  // unicast to its own source MAC: the switch finds the sender as destination and drops each frame
  const self = await uvale(['pkt-gen', '-i', 'vale-d:0', '-f', 'tx', '-n', '100', '-D', '00:00:00:00:00:00'], { env });
  assert.equal(self.code, 0, self.stderr);
  assert.match(self.stdout, /^Sent 100 packets/m);
  assert.match(self.stdout, /^Dropped at vale-d:0: 100 frames \(no destination 100\)$/m);
  // a receiver that waits 2 s before reading: its 1024-slot RX ring overflows while it waits
  const rx = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-d:1', '-f', 'rx', '-w', '2', '-W'], { env });
  let out = '';
  rx.stdout.on('data', (d) => (out += d));
  const done = exited(rx, 20000);
  await waitPort(dir, 'vale-d:1');
  const tx = await uvale(['pkt-gen', '-i', 'vale-d:2', '-f', 'tx', '-n', '3000'], { env });
  assert.match(tx.stdout, /^Dropped at vale-d:2: 0 frames$/m);
  await done;
  const got = Number(/^Received (\d+) packets/m.exec(out)?.[1]);
  const lost = /^Dropped at vale-d:1: (\d+) frames \(RX ring full (\d+)\)$/m.exec(out);
  assert.ok(lost, out);
  assert.equal(got + Number(lost[1]), 3000, out);
  assert.ok(Number(lost[1]) >= 1000, out);
  // ping with nobody answering: the summary counts what was sent
  const ping = await uvale(['pkt-gen', '-i', 'vale-q:0', '-f', 'ping', '-n', '2'], { env });
  assert.match(ping.stderr, /ping: no replies to 2 requests/);
  assert.match(ping.stdout, /^Sent 2 packets 120 bytes/m);
  assert.doesNotMatch(ping.stdout, /Received/);
});

test('bridge counts the frames its ports lost, not only its own', async () => {
  const dir = runDir('bdrops');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const br = spawn(process.execPath, [BIN, 'bridge', '-i', 'vale-b1:up', '-i', 'vale-b2:up', '-w', '3'], { env });
  let out = '';
  br.stdout.on('data', (d) => (out += d));
  const done = exited(br, 20000);
  await waitPort(dir, 'vale-b2:up');
  // while the bridge waits, its RX ring on vale-b1 fills up and the switch drops the rest
  const tx = await uvale(['pkt-gen', '-i', 'vale-b1:0', '-f', 'tx', '-n', '3000'], { env });
  assert.equal(tx.code, 0, tx.stderr);
  await new Promise((r) => setTimeout(r, 3500));
  br.kill('SIGINT');
  await done;
  const m =
    /^vale-b1:up --> vale-b2:up: (\d+) packets \d+ bytes (\d+) dropped \(bridge 0, RX ring full at vale-b1:up (\d+), refused at vale-b2:up \d+\)$/m.exec(
      out,
    );
  assert.ok(m, out);
  assert.equal(Number(m[1]) + Number(m[3]), 3000, out);
  assert.ok(Number(m[2]) >= 1000, out);
});

test('tcpdump: filter expressions, -v, -tt/-tttt, -D, -Q and no tcpdump', async (t) => {
  const dir = runDir('tdflags');
  const env = { UVALE_RUN_DIR: dir };
  const file = `${dir}/corpus.pcap`;
  const w = PcapWriter.open(file);
  const frames = corpus();
  frames.forEach((f, i) => {
    w.write(f.frame, 0, f.caplen ?? f.frame.length, { sec: 1700000000 + i, frac: 7 }, f.origLen ?? f.frame.length);
  });
  await w.close();
  const q = await uvale(['tcpdump', '-r', file, '-Q', 'in'], { env });
  assert.equal(q.code, 2);
  assert.match(q.stderr, /-Q is for a live capture/);
  const q2 = await uvale(['tcpdump', '-i', 'vale-q:1', '-Q', 'sideways'], { env });
  assert.equal(q2.code, 2);
  assert.match(q2.stderr, /-Q takes in, out or inout/);
  const none = await uvale(['tcpdump', '-r', file, 'udp'], { env: { ...env, PATH: '/nonexistent' } });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /a filter expression needs tcpdump installed.*-w - and filter with '\| tcpdump -r - EXPR'/);
  if (!has('tcpdump')) {
    t.skip('tcpdump is not installed');
    return;
  }
  const real = (args: string[]) =>
    spawnSync('tcpdump', ['-n', ...args], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } }).stdout;
  const ours = async (args: string[]) => (await uvale(['tcpdump', ...args], { env: { ...env, TZ: 'UTC' } })).stdout;
  for (const expr of ['udp port 1234', 'tcp[tcpflags] & tcp-syn != 0', 'icmp6 or arp', 'not ip and not ip6']) {
    assert.equal(await ours(['-r', file, expr]), real(['-r', file, expr]), expr);
  }
  const bad = await uvale(['tcpdump', '-r', file, 'udp', 'and'], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad filter expression 'udp and'/);
  for (const ts of ['-tt', '-tttt', '-t']) {
    assert.equal(await ours([ts, '-c', '3', '-r', file, 'udp']), real([ts, '-c', '3', '-r', file, 'udp']), ts);
  }
  // -v: the IP header's fields as tcpdump prints them (the IPv4 line, the IPv6 parenthesis)
  const head = (text: string) =>
    text
      .split('\n')
      .filter((l) => /^\d\S+ IP6? \(/.test(l))
      .map((l) => l.slice(0, l.indexOf(')') + 1));
  const ourV = head(await ours(['-v', '-r', file, 'ip or ip6']));
  const realV = head(real(['-v', '-r', file, 'ip or ip6']));
  assert.ok(ourV.length >= 15, ourV.join('\n'));
  for (const l of ourV) assert.ok(realV.includes(l), `not tcpdump's: ${l}`);
  // -D lists the daemon's ports
  const cap = spawn(process.execPath, [BIN, 'tcpdump', '-i', 'vale-dd:1', '-c', '1'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  await waitPort(dir, 'vale-dd:1');
  const d = await uvale(['tcpdump', '-D'], { env });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^\d+\.vale-dd:1 \[/m);
  cap.kill('SIGINT');
  await exited(cap);
});

test('pkt-gen: -P replays a pcap, -F splits frames, -X dumps, -p/-c/-a are accepted with a note', async () => {
  const dir = runDir('pgflags');
  const env = { ...process.env, UVALE_RUN_DIR: dir };
  const src = `${dir}/in.pcap`;
  const w = PcapWriter.open(src);
  const frames = corpus()
    .filter((f) => f.caplen === undefined && f.frame.length <= 1514 && ((f.frame[0] as number) & 1) === 1)
    .slice(0, 5);
  for (const f of frames) w.write(f.frame);
  await w.close();
  const help = await uvale(['pkt-gen', '--help']);
  assert.match(help.stdout, /-p THREADS, -c CPUS, -a CPU +uvale runs one sender/);
  for (const [args, n, check] of [
    [['-P', src], frames.length, frames.map((f) => f.frame)],
    [['-F', '3', '-l', '300', '-n', '4', '-p', '2', '-c', '1', '-a', '0'], 4, null],
  ] as const) {
    const out = `${dir}/out-${args[0]}.pcap`;
    const cap = spawn(process.execPath, [BIN, 'tcpdump', '-i', 'vale-g:1', '-c', String(n), '-w', out], {
      env,
      stdio: 'ignore',
    });
    const capDone = exited(cap, 15000);
    await waitPort(dir, 'vale-g:1');
    const tx = await uvale(['pkt-gen', '-i', 'vale-g:0', '-f', 'tx', ...args, '-X'], { env });
    assert.equal(tx.code, 0, tx.stderr);
    assert.match(tx.stdout, new RegExp(`^Sent ${n} packets`, 'm'));
    await capDone;
    const got = [...PcapReader.fromFile(out)].map((r) => Buffer.from(r.data));
    assert.equal(got.length, n);
    if (check !== null)
      assert.deepEqual(
        got,
        check.map((f) => Buffer.from(f)),
      );
    else {
      for (const g of got) assert.equal(g.length, 300);
      assert.match(tx.stderr, /ignored: -p \(one thread per process\), -c \(one thread per process\), -a/);
      assert.match(tx.stderr, /^0x0000: {2}ffff ffff ffff 0000 0000 0000 0800 4510/m);
    }
  }
});

test('top: columns stay put whatever the values; JSON rates are whole numbers', () => {
  const port = (name: string, c: Record<string, number>) => ({
    name,
    switch: 'vale-a',
    bridgeIndex: 0,
    index: 0,
    kind: 'shm',
    txRings: 1,
    rxRings: 1,
    txSlots: 1024,
    rxSlots: 1024,
    memsize: 0,
    vnetHdrLen: 0,
    counters: c,
  });
  const sample = (time: number, rx: number, drops: number) => ({
    time,
    switches: [
      {
        name: 'vale-a',
        index: 0,
        macs: 1,
        ports: [port('vale-a:0', { rxPackets: rx, rxBytes: rx * 60, dropRxFull: drops })],
      },
    ],
  });
  const base = sample(0, 0, 0);
  const small = render(base, sample(3000, 1, 0));
  const big = render(base, sample(3000, 123456789, 987654321));
  // numbers are right-aligned in fixed widths: columns end where their headings end, whatever the values
  const ends = (text: string) => text.split('\n').map((l) => l.length);
  assert.deepEqual(ends(small.text), ends(big.text), `${small.text}\n${big.text}`);
  assert.equal(ends(big.text)[0], ends(big.text)[2]);
  const j = (small.json as { ports: Array<Record<string, number>> }).ports[0] as Record<string, number>;
  assert.equal(j.rxPps, 0); // 1/3 pps: no invented decimals
  assert.equal(j.rxBps, 160);
  for (const v of Object.values((big.json as { ports: Array<Record<string, unknown>> }).ports[0] ?? {}))
    if (typeof v === 'number') assert.ok(Number.isInteger(v), String(v));
});
