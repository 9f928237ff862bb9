/*
 * A vhost-user port against a real front-end: DPDK's testpmd with a
 * virtio-user device (no hugepages, no PCI) dials the port's socket. In `io`
 * mode with a loop topology testpmd sends back every frame it receives, so
 * frames a netmap port puts on the switch go switch → guest → switch and
 * must come back byte for byte; in `txonly` mode it generates 64-byte
 * frames that must reach the netmap port. testpmd's memory (a memfd made
 * without MFD_ALLOW_SEALING) cannot be sealed against shrinking: it is
 * mapped because testpmd runs as root (uvale.vhost_unsealed=1, the default,
 * trusts root and the daemon's user); the first test checks that at
 * uvale.vhost_unsealed=0 it is refused. testpmd busy-polls a core: runs
 * are short, and it is killed in `finally`. Skipped without dpdk-testpmd.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../../src/index.js';
import { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import { C_DROP_RX_FULL } from '../../../src/switch/counters.js';
import { frame, receive, send } from '../../helpers/vale.js';
import { inetSum, tcpFrame } from '../../helpers/vhost.js';

const TESTPMD = '/usr/bin/dpdk-testpmd';
const skip = !existsSync(TESTPMD) ? 'dpdk-testpmd is not installed (Debian package dpdk-dev)' : false;

function testpmd(sock: string, mode: string[], vdevExtra = ''): { child: ChildProcess; out: () => string } {
  const child = spawn(
    TESTPMD,
    [
      '--no-pci',
      '--no-huge',
      '-m',
      '512',
      `--file-prefix=uvx${process.pid}`,
      '-l',
      '0,1',
      '--main-lcore',
      '0',
      '--vdev',
      `virtio_user0,path=${sock},queues=1${vdevExtra}`,
      '--',
      '--total-num-mbufs=16384',
      '--nb-cores=1',
      '--stats-period',
      '1',
      ...mode,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout!.on('data', (b: Buffer) => {
    text += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    text += b.toString();
  });
  return { child, out: () => text };
}

async function until(cond: () => boolean, ms: number, what: string, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; testpmd said:\n${log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

function setup(tag: string, connect = false, unsealed?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-'));
  const sock = join(dir, 'vm.sock');
  // testpmd's --no-huge memory cannot be sealed against shrinking: trusted by default as root's (docs/vhost-user.md).
  const host = new ValeHost(unsealed === undefined ? {} : { 'uvale.vhost_unsealed': unsealed });
  const logs: string[] = [];
  const port = VhostUserPort.attach(host, `vale-${tag}:vm`, sock, { log: (l) => logs.push(l), connect });
  const np = openPort(`vale-${tag}:np`, { host });
  return { dir, sock, host, port, np, logs };
}

/**
 * Waits for the rings, then for testpmd's forwarding loop (its stats lines), then 300 ms more: frames sent before
 * it may be reset away.
 */
async function forwarding(port: VhostUserPort, out: () => string): Promise<void> {
  await until(() => ringsUp(port) && /Port statistics/.test(out()), 30_000, 'testpmd to start forwarding', out);
  await new Promise((r) => setTimeout(r, 300));
}

const ringsUp = (p: VhostUserPort) =>
  p.connected && p.info().extra?.queueSizes !== '' && p.info().extra?.queueSizes !== '0,0';

const key = (f: Uint8Array) => Buffer.from(f).toString('hex');

type Setup = ReturnType<typeof setup>;
type Testpmd = ReturnType<typeof testpmd>;

/**
 * Runs `body` with a switch `vale-TAG` (a vhost-user port `vm`, a netmap port `np`) and testpmd in `mode` on the
 * port's socket, then kills testpmd (`run.pmd`: the body may start another) and closes everything.
 */
async function withTestpmd(
  opts: { tag: string; mode: string[]; vdevExtra?: string; connect?: boolean; unsealed?: number; cmds?: string[] },
  body: (s: Setup, run: { pmd: Testpmd }) => Promise<void>,
): Promise<void> {
  const s = setup(opts.tag, opts.connect, opts.unsealed);
  const mode = [...opts.mode];
  if (opts.cmds !== undefined) {
    const cmds = join(s.dir, 'cmds');
    writeFileSync(cmds, [...opts.cmds, ''].join('\n'));
    mode.push(`--cmdline-file=${cmds}`);
  }
  const run = { pmd: testpmd(s.sock, mode, opts.vdevExtra) };
  try {
    await body(s, run);
  } finally {
    await stop(run.pmd.child);
    s.np.close();
    s.port.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
}

test('at uvale.vhost_unsealed=0 testpmd is refused: its memory could be truncated under the mapping (counted, logged)', {
  skip,
  timeout: 60_000,
}, async () => {
  await withTestpmd(
    { tag: 'vrf', unsealed: 0, mode: ['--forward-mode=io', '--port-topology=loop'] },
    async (s, { pmd }) => {
      await until(() => s.port.info().extra?.unsealedRefused === 1, 30_000, 'the refusal', pmd.out);
      assert.match(
        s.port.info().lastError,
        /SET_MEM_TABLE refused: .*MFD_ALLOW_SEALING.*uvale\.vhost_unsealed=0 maps such memory for no front-end/,
      );
      assert.equal(s.port.info().extra?.unsealedTrusted, 0);
      assert.ok(
        s.logs.some((l) => l.includes('F_SEAL_SHRINK')),
        s.logs.join(' | '),
      );
    },
  );
});

test('testpmd io loop: frames of 60 to 1514 bytes cross switch → guest → switch byte for byte', {
  skip,
  timeout: 60_000,
}, async () => {
  await withTestpmd({ tag: 'vio', mode: ['--forward-mode=io', '--port-topology=loop'] }, async (s, { pmd }) => {
    await forwarding(s.port, pmd.out);
    const sizes = [60, 61, 64, 100, 128, 256, 511, 512, 1000, 1023, 1024, 1500, 1514];
    const sent: Uint8Array[] = [];
    for (let round = 0; round < 8; round++) {
      const batch = sizes.map((len, i) =>
        frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', { len, seq: round * 100 + i }),
      );
      send(s.np, batch);
      sent.push(...batch);
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = await receive(s.np, sent.length, 10_000);
    assert.equal(got.length, sent.length, `frames back: ${got.length} of ${sent.length}; logs: ${s.logs.join(' | ')}`);
    assert.deepEqual(got.map(key).sort(), sent.map(key).sort(), 'byte for byte');
    const c = s.port.info().counters;
    assert.equal(c.outFrames, sent.length);
    assert.equal(c.inFrames, sent.length);
    assert.equal(
      c.outBytes,
      sent.reduce((a, f) => a + f.length, 0),
    );
  });
});

test('testpmd txonly: 64-byte frames reach a netmap port; the port survives testpmd being killed', {
  skip,
  timeout: 60_000,
}, async () => {
  await withTestpmd({ tag: 'vtx', mode: ['--forward-mode=txonly', '--txpkts=64'] }, async (s, { pmd }) => {
    await until(() => ringsUp(s.port), 30_000, 'testpmd to set the rings up', pmd.out);
    const got = await receive(s.np, 2000, 10_000);
    assert.ok(got.length >= 2000, `received ${got.length}; logs: ${s.logs.join(' | ')}`);
    // testpmd asks for no offloads unless told to: the port carries no header (the bench's fast path)
    assert.equal(s.port.info().extra?.vnetHdrLen, 0, `features ${String(s.port.info().extra?.features)}`);
    for (const f of got.slice(0, 100)) {
      assert.equal(f.length, 64);
      assert.equal((f[12]! << 8) | f[13]!, 0x0800, 'IPv4');
    }
    await stop(pmd.child);
    await until(() => !s.port.connected, 5000, 'the port to notice', pmd.out);
    assert.equal(s.port.info().state, 'listening');
  });
});

test('testpmd io loop under load: 20 000 frames in bursts, none corrupted, the rings never stall', {
  skip,
  timeout: 90_000,
}, async () => {
  await withTestpmd({ tag: 'vld', mode: ['--forward-mode=io', '--port-topology=loop'] }, async (s, { pmd }) => {
    await forwarding(s.port, pmd.out);
    const sent = new Map<string, number>();
    let got = 0;
    let bad = 0;
    const t0 = Date.now();
    for (let round = 0; round < 100; round++) {
      const batch = Array.from({ length: 200 }, (_, i) =>
        frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:02', { len: 60 + ((round * 200 + i) % 1455), seq: round * 200 + i }),
      );
      for (const f of batch) sent.set(key(f), f.length);
      send(s.np, batch);
      for (const f of await receive(s.np, 1, 5)) {
        got++;
        if (!sent.has(key(f))) bad++;
      }
    }
    for (const f of await receive(s.np, sent.size - got, 5000)) {
      got++;
      if (!sent.has(key(f))) bad++;
    }
    const ms = Date.now() - t0;
    const c = s.port.info().counters;
    console.log(
      `io loop: ${got}/${sent.size} frames back in ${ms} ms; port in ${c.inFrames} out ${c.outFrames} outDrops ${c.outDrops} inDrops ${c.inDrops} rxFull ${s.port.vport.counters[C_DROP_RX_FULL]}`,
    );
    assert.equal(bad, 0, 'no frame came back altered');
    // every frame reached the guest's rings or was counted: by the port, or by the switch when the
    // port's RX ring was full (what testpmd then drops when its core is busy is testpmd's loss, not
    // the port's: counted here, not asserted as a rate)
    const full = s.port.vport.counters[C_DROP_RX_FULL] as number;
    assert.equal(c.outFrames + c.outDrops + full, sent.size, 'every frame was written to the guest or counted');
    assert.ok(got > 0, `${got} of ${sent.size} came back`);
    // After the load, a last frame still makes the round trip: nothing is stuck.
    const last = frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:02', { len: 99, seq: 999_999 });
    send(s.np, [last]);
    const back = await receive(s.np, 1, 3000);
    assert.deepEqual(back.map(key), [key(last)]);
  });
});

test('connect mode: uvale dials testpmd (virtio-user server=1), and again after testpmd restarts', {
  skip,
  timeout: 90_000,
}, async () => {
  await withTestpmd(
    { tag: 'vcn', connect: true, mode: ['--forward-mode=io', '--port-topology=loop'], vdevExtra: ',server=1' },
    async (s, run) => {
      /** Frames from the netmap port come back through testpmd's io loop, byte for byte. */
      const roundTrip = async (base: number) => {
        const sent = [60, 128, 1000, 1514].map((len, i) =>
          frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:03', { len, seq: base + i }),
        );
        send(s.np, sent);
        const got = await receive(s.np, sent.length, 10_000);
        assert.deepEqual(got.map(key).sort(), sent.map(key).sort(), `byte for byte; logs: ${s.logs.join(' | ')}`);
      };
      await forwarding(s.port, run.pmd.out);
      await roundTrip(0);
      // testpmd dies and a new one listens at the same path: the port finds it without any command.
      await stop(run.pmd.child);
      await until(() => !s.port.connected, 5000, 'the port to notice', run.pmd.out);
      assert.equal(s.port.info().state, 'dialing');
      rmSync(s.sock, { force: true }); // testpmd killed leaves its socket file behind
      run.pmd = testpmd(s.sock, ['--forward-mode=io', '--port-topology=loop'], ',server=1');
      await forwarding(s.port, run.pmd.out);
      await roundTrip(100);
      assert.equal(s.port.info().extra?.connects, 2);
    },
  );
});

test('testpmd with offloads asked for (rx checksum, tx checksum and TSO): the port carries the header, frames still cross byte for byte', {
  skip,
  timeout: 60_000,
}, async () => {
  await withTestpmd(
    { tag: 'vof', mode: ['--forward-mode=io', '--port-topology=loop', '--rx-offloads=0xc', '--tx-offloads=0x28'] },
    async (s, { pmd }) => {
      await forwarding(s.port, pmd.out);
      const features = BigInt(String(s.port.info().extra?.features));
      // CSUM (0), GUEST_CSUM (1), HOST_TSO4 (11)
      assert.equal(features & 0x803n, 0x803n, `features 0x${features.toString(16)}`);
      assert.equal(s.port.info().extra?.vnetHdrLen, 12);
      const sent = [60, 200, 1000, 1514].map((len, i) =>
        frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:04', { len, seq: i }),
      );
      send(s.np, sent);
      const got = await receive(s.np, sent.length, 10_000);
      assert.deepEqual(got.map(key).sort(), sent.map(key).sort(), `byte for byte; logs: ${s.logs.join(' | ')}`);
      assert.equal(s.port.info().extra?.offloadDrops, 0);
    },
  );
});

test('testpmd csum engine with TSO (tso set 500): a 1460-byte TCP payload comes back as one GSO frame, cut by the switch into 3 segments for a plain port', {
  skip,
  timeout: 60_000,
}, async () => {
  // TSO is configured on a stopped port; the IP checksum in software (virtio has no IP checksum offload).
  const cmds = ['port stop 0', 'csum set ip sw 0', 'csum set tcp hw 0', 'tso set 500 0', 'port start 0'];
  const mode = ['--forward-mode=csum', '--port-topology=loop', '--tx-offloads=0x28'];
  await withTestpmd({ tag: 'vts', mode, cmds }, async (s, { pmd }) => {
    await forwarding(s.port, pmd.out);
    assert.equal(s.port.info().extra?.vnetHdrLen, 12, 'offloads negotiated: the port carries the header');
    const payload = 1460;
    const f = tcpFrame(payload, 1000);
    f[50] = 0;
    f[51] = 0;
    const tcpSum = 0xffff - inetSum(f, 34, f.length, inetSum(f, 26, 34, 6 + 20 + payload));
    f[50] = tcpSum >> 8;
    f[51] = tcpSum & 0xff;
    const ipSum = 0xffff - inetSum(f, 14, 34);
    f[24] = ipSum >> 8;
    f[25] = ipSum & 0xff;
    send(s.np, [f]);
    const got = await receive(s.np, 3, 10_000);
    const why = `logs: ${s.logs.join(' | ')}; testpmd: ${pmd.out().slice(-1500)}`;
    assert.equal(got.length, 3, `segments back: ${got.length} (lengths ${got.map((g) => g.length)}); ${why}`);
    assert.deepEqual(
      got.map((g) => g.length),
      [54 + 500, 54 + 500, 54 + 460],
    );
    let seq = 1000;
    const back: Uint8Array[] = [];
    for (const g of got) {
      const plen = g.length - 54;
      assert.equal(inetSum(g, 14, 34), 0xffff, 'IP header checksum');
      assert.equal(inetSum(g, 34, g.length, inetSum(g, 26, 34, 6 + 20 + plen)), 0xffff, 'TCP checksum');
      assert.equal(((g[38]! << 24) | (g[39]! << 16) | (g[40]! << 8) | g[41]!) >>> 0, seq, 'sequence numbers');
      seq += plen;
      back.push(g.subarray(54));
    }
    assert.deepEqual(Buffer.concat(back), Buffer.from(f.subarray(54)), 'the payload, byte for byte');
    const c = s.port.info().counters;
    assert.equal(c.inFrames, 1, 'one GSO frame from testpmd');
    assert.equal(s.port.info().extra?.offloadDrops, 0);
  });
});
