/*
 * A vhost-user port through the daemon: `uvale ctl -a SW:PORT=vhost-user:PATH`,
 * testpmd (txonly) dials it, a netmap client of the daemon receives its
 * frames, `ctl --json` lists the adapter with its kind, state and counters,
 * and `ctl -d` takes it away with its socket file. Skipped without dpdk-testpmd.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectPort } from '../../../src/index.js';
import { exited, spawnDaemon, until, uvale } from '../../helpers/daemon.js';
import { receive } from '../../helpers/vale.js';

const TESTPMD = '/usr/bin/dpdk-testpmd';
const skip = !existsSync(TESTPMD) ? 'dpdk-testpmd is not installed (Debian package dpdk-dev)' : false;

test('uvale ctl -a ...=vhost-user:PATH: testpmd frames reach a daemon client; listed; detached', {
  skip,
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-d-'));
  const sock = join(dir, 'vm.sock');
  // testpmd's --no-huge memory cannot be sealed against shrinking: the owner trusts it (docs/vhost-user.md).
  const daemon = await spawnDaemon(dir, ['--sysctl', 'uvale.vhost_unsealed=1']);
  let pmd: ReturnType<typeof spawn> | null = null;
  const p = await connectPort('vale0:np', { dir });
  try {
    const a = await uvale(['ctl', '--dir', dir, '-a', `vale0:vm=vhost-user:${sock}`], { timeoutMs: 10_000 });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(lstatSync(sock).mode & 0o777, 0o600);
    pmd = spawn(
      TESTPMD,
      [
        '--no-pci',
        '--no-huge',
        '-m',
        '512',
        `--file-prefix=uvxd${process.pid}`,
        '-l',
        '0,1',
        '--main-lcore',
        '0',
        '--vdev',
        `virtio_user0,path=${sock},queues=1`,
        '--',
        '--total-num-mbufs=16384',
        '--nb-cores=1',
        '--forward-mode=txonly',
        '--txpkts=64',
        '--stats-period',
        '1',
      ],
      { stdio: 'ignore' },
    );
    const got = await receive(p, 1000, 20_000);
    assert.ok(got.length >= 1000, `received ${got.length}`);
    assert.equal(got[0]!.length, 64);
    const list = JSON.parse((await uvale(['ctl', '--dir', dir, '--json'])).stdout) as {
      adapters: Array<{ name: string; kind: string; state: string; counters: { inFrames: number } }>;
    };
    const vm = list.adapters.find((x) => x.name === 'vale0:vm');
    assert.equal(vm?.kind, 'vhost-user');
    assert.equal(vm?.state, 'up');
    assert.ok((vm?.counters.inFrames ?? 0) >= 1000);
    pmd.kill('SIGKILL');
    await until(
      async () => {
        const l = JSON.parse((await uvale(['ctl', '--dir', dir, '--json'])).stdout) as typeof list;
        return l.adapters.find((x) => x.name === 'vale0:vm')?.state === 'listening';
      },
      10_000,
      'the port to listen again after testpmd died',
    );
    const d = await uvale(['ctl', '--dir', dir, '-d', 'vale0:vm']);
    assert.equal(d.code, 0, d.stderr);
    assert.throws(() => lstatSync(sock), /ENOENT/, 'the socket file went with the port');
  } finally {
    pmd?.kill('SIGKILL');
    p.close();
    daemon.kill('SIGTERM');
    await exited(daemon, 5000).catch(() => daemon.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  }
});
