/*
 * A front-end that truncates its guest memory under the daemon's mapping
 * (after SET_MEM_TABLE) and keeps kicking must not take the daemon down: an
 * access past the new end of a shared file faults with SIGBUS and would end
 * the daemon, every port with it. The daemon maps only memory that cannot
 * shrink: a sealable memfd is sealed (F_SEAL_SHRINK) so the truncation
 * fails; one that cannot be sealed (F_SEAL_SEAL without F_SEAL_SHRINK, as
 * DPDK's) is mapped only for a trusted front-end (uvale.vhost_unsealed: 1,
 * the default, trusts root and the daemon's user, checked with a front-end
 * run as a second user; 0 nobody; 2 everybody), else refused and counted.
 * Each test checks the daemon process is alive and two other ports still
 * forward.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, ftruncateSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connectPort, type NetmapPort } from '../../../src/index.js';
import {
  closeFd,
  createMemfd,
  eventfdSignal,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  getSeals,
  mapFdRange,
} from '../../../src/sys/index.js';
import { exited, spawnDaemon, until, uvale } from '../../helpers/daemon.js';
import { type TestUser, testUser } from '../../helpers/users.js';
import { frame, receive, send } from '../../helpers/vale.js';
import { handshake, MB, putTx } from '../../helpers/vhost.js';

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

interface AdapterRow {
  name: string;
  state: string;
  lastError: string;
  counters: { inFrames: number };
  extra: Record<string, number | string>;
}

async function vmRow(dir: string): Promise<AdapterRow> {
  const l = JSON.parse((await uvale(['ctl', '--dir', dir, '--json'])).stdout) as { adapters: AdapterRow[] };
  const row = l.adapters.find((x) => x.name === 'vale0:vm');
  assert.ok(row !== undefined, 'the vhost-user port is listed');
  return row;
}

function alive(d: ChildProcess): void {
  assert.equal(d.signalCode, null, `the daemon died of ${d.signalCode}`);
  assert.equal(d.exitCode, null, `the daemon exited with ${d.exitCode}`);
}

/** Two daemon clients that must still exchange frames. */
async function forwards(a: NetmapPort, b: NetmapPort, seq: number): Promise<void> {
  const f = frame('02:00:00:00:00:0b', '02:00:00:00:00:0a', { len: 60, seq });
  send(a, [f]);
  const got = await receive(b, 1, 5000);
  assert.deepEqual(Buffer.from(got[0]!), Buffer.from(f), 'a → b after the attack');
}

async function withDaemon(
  tag: string,
  body: (dir: string, sock: string, d: ChildProcess, a: NetmapPort, b: NetmapPort) => Promise<void>,
  daemonArgs: string[] = [],
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `vh-${tag}-`));
  const sock = join(dir, 'vm.sock');
  const d = await spawnDaemon(dir, daemonArgs);
  const a = await connectPort('vale0:a', { dir });
  const b = await connectPort('vale0:b', { dir });
  try {
    const r = await uvale(['ctl', '--dir', dir, '-a', `vale0:vm=vhost-user:${sock}`], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    await body(dir, sock, d, a, b);
  } finally {
    a.close();
    b.close();
    d.kill('SIGTERM');
    await exited(d, 5000).catch(() => d.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a front-end that truncates its sealable memfd after SET_MEM_TABLE and keeps kicking: the daemon lives', {
  timeout: 30_000,
}, async () => {
  await withDaemon('trunc', async (dir, sock, d, a, b) => {
    const memfd = createMemfd('vh-hostile-guest', MB, { seals: 0 }); // sealable, not sealed
    const mem = mapFdRange(memfd, MB, 0);
    const fe = handshake(sock, memfd, MB);
    try {
      await until(async () => (await vmRow(dir)).extra.queueSizes === '64,64', 10_000, 'the rings to start');
      const f = frame('02:00:00:00:00:0b', '02:00:00:00:00:0c', { len: 100, seq: 1 });
      putTx(mem.bytes, 0, f);
      eventfdSignal(fe.kicks[1]!);
      assert.deepEqual(Buffer.from((await receive(b, 1, 5000))[0]!), Buffer.from(f), 'guest → b before the attack');
      let truncated = false;
      try {
        ftruncateSync(memfd, 0);
        truncated = true; // the test must not touch `mem` from here on
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'EPERM');
      }
      for (let i = 0; i < 20; i++) {
        eventfdSignal(fe.kicks[1]!);
        eventfdSignal(fe.kicks[0]!);
        await tick(10);
      }
      await tick(200);
      alive(d);
      await forwards(a, b, 2);
      assert.equal(truncated, false, 'the front-end could shrink memory the daemon maps');
      assert.ok((getSeals(memfd) & F_SEAL_SHRINK) !== 0, 'the daemon sealed it');
      // The port still works for this (thwarted) front-end.
      putTx(mem.bytes, 1, f);
      eventfdSignal(fe.kicks[1]!);
      assert.equal((await receive(b, 1, 5000)).length, 1, 'guest → b after the attempt');
      const row = await vmRow(dir);
      assert.equal(row.state, 'up');
      assert.equal(row.extra.unsealedRefused, 0);
    } finally {
      closeFd(fe.conn);
      for (const f of [...fe.kicks, ...fe.calls]) closeFd(f);
      mem.unmap();
      closeFd(memfd);
    }
  });
});

test('memory that cannot be sealed (as DPDK sends) is refused and counted at uvale.vhost_unsealed=0; 1 maps it for root', {
  timeout: 30_000,
}, async () => {
  await withDaemon(
    'unsealed',
    async (dir, sock, d, a, b) => {
      // Seals sealed without F_SEAL_SHRINK: what memfd_create without MFD_ALLOW_SEALING gives (DPDK's --no-huge).
      const memfd = createMemfd('vh-unsealable-guest', MB, { seals: F_SEAL_SEAL });
      const fe = handshake(sock, memfd, MB, { refusable: true });
      try {
        await until(async () => (await vmRow(dir)).extra.unsealedRefused === 1, 10_000, 'the refusal');
        ftruncateSync(memfd, 0); // nobody may mind now
        for (let i = 0; i < 10; i++) {
          eventfdSignal(fe.kicks[1]!);
          await tick(10);
        }
        alive(d);
        await forwards(a, b, 3);
        const row = await vmRow(dir);
        assert.equal(row.state, 'listening', 'the connection was ended');
        assert.match(
          row.lastError,
          /SET_MEM_TABLE refused: .*truncated.*uid 0: uvale\.vhost_unsealed=0 maps such memory for no front-end/,
        );
        assert.equal(row.extra.unsealedTrusted, 0);
      } finally {
        closeFd(fe.conn);
        for (const f of [...fe.kicks, ...fe.calls]) closeFd(f);
        closeFd(memfd);
      }
      // At the default, root's front-end is trusted (it could stop the daemon anyway): mapped, frames flow.
      const s = await uvale(['sysctl', '--dir', dir, 'uvale.vhost_unsealed=1']);
      assert.equal(s.code, 0, s.stderr);
      const memfd2 = createMemfd('vh-unsealable-guest', MB, { seals: F_SEAL_SEAL });
      const mem2 = mapFdRange(memfd2, MB, 0);
      const fe2 = handshake(sock, memfd2, MB);
      try {
        await until(async () => (await vmRow(dir)).extra.queueSizes === '64,64', 10_000, 'the rings to start');
        const f = frame('02:00:00:00:00:0b', '02:00:00:00:00:0d', { len: 200, seq: 4 });
        putTx(mem2.bytes, 0, f);
        eventfdSignal(fe2.kicks[1]!);
        assert.deepEqual(Buffer.from((await receive(b, 1, 5000))[0]!), Buffer.from(f), 'guest → b');
        const row = await vmRow(dir);
        assert.equal(row.extra.unsealedTrusted, 1);
        assert.equal(row.extra.unsealedRefused, 1);
      } finally {
        closeFd(fe2.conn);
        for (const f of [...fe2.kicks, ...fe2.calls]) closeFd(f);
        mem2.unmap();
        closeFd(memfd2);
      }
    },
    ['--sysctl', 'uvale.vhost_unsealed=0'],
  );
});

/** Runs a front-end as `user` in a child process: unsealable memory, the handshake, then it holds on for `ms`. */
function frontEndAs(user: TestUser, sock: string, ms: number): ChildProcess {
  const url = (p: string) => pathToFileURL(fileURLToPath(new URL(p, import.meta.url))).href;
  const code = `
    const sys = await import(${JSON.stringify(url('../../../src/sys/index.js'))});
    const fe = await import(${JSON.stringify(url('../../helpers/vhost.js'))});
    const memfd = sys.createMemfd('vh-member-guest', fe.MB, { seals: sys.F_SEAL_SEAL });
    fe.handshake(${JSON.stringify(sock)}, memfd, fe.MB, { refusable: true });
    setTimeout(() => process.exit(0), ${ms});`;
  return spawn('runuser', ['-u', user.name, '--', process.execPath, '--input-type=module', '-e', code], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

test('unsealable memory from a front-end run by another user: refused at the default, mapped at uvale.vhost_unsealed=2', {
  timeout: 60_000,
}, async (t) => {
  const user = testUser('uvale-t2');
  if (typeof user === 'string') {
    t.skip(user);
    return;
  }
  await withDaemon('member', async (dir, sock, d, a, b) => {
    chmodSync(dir, 0o755);
    chmodSync(sock, 0o666); // the owner lets the second user's front-end in
    const fe = frontEndAs(user, sock, 4000);
    try {
      await until(async () => (await vmRow(dir)).extra.unsealedRefused === 1, 15_000, 'the refusal');
      const row = await vmRow(dir);
      assert.match(
        row.lastError,
        new RegExp(`uid ${user.uid}: uvale\\.vhost_unsealed=1 maps such memory only for root`),
      );
      assert.equal(row.extra.unsealedTrusted, 0);
      alive(d);
      await forwards(a, b, 5);
    } finally {
      fe.kill('SIGKILL');
      await exited(fe, 5000).catch(() => {});
    }
    const s = await uvale(['sysctl', '--dir', dir, 'uvale.vhost_unsealed=2']);
    assert.equal(s.code, 0, s.stderr);
    const fe2 = frontEndAs(user, sock, 4000);
    try {
      await until(async () => (await vmRow(dir)).extra.unsealedTrusted === 1, 15_000, 'the mapping');
      assert.equal((await vmRow(dir)).extra.unsealedRefused, 1);
    } finally {
      fe2.kill('SIGKILL');
      await exited(fe2, 5000).catch(() => {});
    }
  });
});
