/*
 * Access control between users (docs/security.md), with real second users
 * made by useradd and commands run as them by runuser: a switch belongs to
 * the user who made or claimed it and is shared only with the group its owner
 * names; a member may attach only sockets uvale listens at in its own
 * directory, and detach only what it attached; per-user limits on switches
 * and ports; root may do everything. Skipped (with the reason) when not root.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DaemonClient } from '../../src/control/client.js';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import { Daemon } from '../../src/daemon/server.js';
import { BIN, tempRunDir } from '../helpers/daemon.js';
import { type TestUser, testGroup, testUser, uvaleAs } from '../helpers/users.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

interface Setup {
  d: Daemon;
  t2: TestUser;
  t3: TestUser;
  gid: number;
  env: NodeJS.ProcessEnv;
  as: (u: TestUser, args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** A daemon with --group uvale-tg, whose members are uvale-t2 and uvale-t3; or the reason it cannot be had. */
async function setup(tag: string): Promise<Setup | string> {
  const t2 = testUser('uvale-t2');
  if (typeof t2 === 'string') return t2;
  const t3 = testUser('uvale-t3');
  if (typeof t3 === 'string') return t3;
  const gid = testGroup('uvale-tg', [t2, t3]);
  if (typeof gid === 'string') return gid;
  const tmp = tempRunDir(tag);
  cleanups.push(tmp.cleanup);
  const d = new Daemon({ dir: tmp.dir, log: () => {}, group: gid });
  await d.start();
  const env = { UVALE_RUN_DIR: tmp.dir };
  return { d, t2, t3, gid, env, as: (u, args) => uvaleAs(u, args, env) };
}

function refused(
  r: { code: number | null; stdout: string; stderr: string },
  code: string,
  what: RegExp,
  label: string,
): void {
  assert.equal(r.code, 1, `${label}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(code), label);
  assert.match(r.stderr, what, label);
}

test("a switch is its maker's: another member may not open, claim or read it until it is shared with a group", async (t) => {
  const s = await setup('owner');
  if (typeof s === 'string') {
    t.skip(s);
    return;
  }
  const { d, t2, t3, as } = s;
  try {
    const claim = await as(t2, ['ctl', '--owner', 'vale-a=']);
    assert.equal(claim.code, 0, claim.stderr);
    assert.match(claim.stdout, /vale-a: owner uvale-t2/);
    // t3 may not open a port there, take it over, or end the claim
    refused(
      await as(t3, ['pkt-gen', '-i', 'vale-a:1', '-f', 'tx', '-n', '10']),
      'VALE_ERR_PERMISSION',
      /switch vale-a belongs to uid/,
      't3 opens',
    );
    refused(await as(t3, ['ctl', '--owner', 'vale-a=uvale-t3']), 'VALE_ERR_PERMISSION', /belongs to uid/, 't3 claims');
    refused(await as(t3, ['ctl', '--disown', 'vale-a']), 'VALE_ERR_PERMISSION', /only it or root/, 't3 disowns');
    // nor watch its traffic through a monitor (netmap's PORT/rt)
    refused(
      await as(t3, ['tcpdump', '-i', 'vale-a:1/rt', '-c', '1']),
      'VALE_ERR_PERMISSION',
      /switch vale-a belongs to uid/,
      't3 monitors',
    );
    // t2 may not give it away, nor share it with a group it is not in
    refused(
      await as(t2, ['ctl', '--owner', 'vale-a=uvale-t3']),
      'VALE_ERR_PERMISSION',
      /another user/,
      't2 gives away',
    );
    refused(
      await as(t2, ['ctl', '--owner', 'vale-a=:root']),
      'VALE_ERR_PERMISSION',
      /not in group/,
      't2 shares with root',
    );
    // its owner opens ports there; while it does, t3 still may not read its learning table
    const own = await as(t2, ['pkt-gen', '-i', 'vale-a:1', '-f', 'tx', '-n', '10']);
    assert.equal(own.code, 0, own.stderr);
    // shared with the group both are in, t3 may
    const share = await as(t2, ['ctl', '--owner', 'vale-a=:uvale-tg']);
    assert.equal(share.code, 0, share.stderr);
    assert.match(share.stdout, /group uvale-tg/);
    const t3open = await as(t3, ['pkt-gen', '-i', 'vale-a:2', '-f', 'tx', '-n', '10']);
    assert.equal(t3open.code, 0, `a group member opens: ${t3open.stderr}`);
    // the listing shows owners, to everyone
    const list = await as(t3, ['ctl', '--switches']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /vale-a\s+-\s+0\s+uvale-t2\s+uvale-tg\s+yes/);
    const c = await DaemonClient.connect({ dir: s.env.UVALE_RUN_DIR as string, autostart: false });
    try {
      // root may do everything: give vale-b to t2, then use it
      await c.request('switch-owner', { switch: 'vale-b', uid: t2.uid });
      refused(
        await as(t3, ['pkt-gen', '-i', 'vale-b:1', '-f', 'tx', '-n', '10']),
        'VALE_ERR_PERMISSION',
        /vale-b belongs/,
        't3 on vale-b',
      );
      const sw = await c.request('switches');
      assert.deepEqual(
        sw.switches.map((w) => [w.switch, w.uid, w.gid, w.claimed]),
        [
          ['vale-a', t2.uid, s.gid, true],
          ['vale-b', t2.uid, null, true],
        ],
      );
      await c.request('switch-owner', { switch: 'vale-b', release: true });
    } finally {
      c.close();
    }
    assert.equal(d.access.ownerOf('vale-b'), undefined, 'a released claim of a switch without ports is forgotten');
  } finally {
    await d.stop();
  }
});

test('a member attaches sockets only in its own directory, owned by it, and detaches only what it attached', async (t) => {
  const s = await setup('attach');
  if (typeof s === 'string') {
    t.skip(s);
    return;
  }
  const { d, t2, t3, as } = s;
  const mine = join(d.paths.users, String(t2.uid));
  try {
    for (const spec of [
      'vale-m:tap0',
      'vale-m:q=stream:unix:/tmp/uvale-t2-x.sock',
      `vale-m:q=stream:unix:${mine}/../x.sock`,
      `vale-m:q=stream:unix:${join(d.paths.users, String(t3.uid))}/x.sock`,
      `vale-m:q=stream:unix:${mine}/q.sock,connect`,
      `vale-m:q=vhost-user:${mine}/q.sock,connect`,
      'vale-m:q=stream:tcp:127.0.0.1:0',
      'vale-m:q=dgram:udp:127.0.0.1:0:127.0.0.1:9',
    ]) {
      refused(await as(t2, ['ctl', '-a', spec]), 'VALE_ERR_PERMISSION', /root or the daemon's owner/, spec);
    }
    assert.deepEqual(d.adapters(), [], 'nothing was attached');
    assert.equal(existsSync('/tmp/uvale-t2-x.sock'), false);
    // in its directory, shared with the group: the socket is t2's, mode 0660, group uvale-tg
    assert.equal((await as(t2, ['ctl', '--owner', 'vale-m=:uvale-tg'])).code, 0);
    const vh = await as(t2, ['ctl', '-a', `vale-m:vm=vhost-user:${mine}/vm.sock`]);
    assert.equal(vh.code, 0, vh.stderr);
    const st = statSync(join(mine, 'vm.sock'));
    assert.equal(st.uid, t2.uid);
    assert.equal(st.gid, s.gid);
    assert.equal(st.mode & 0o777, 0o660);
    const q = await as(t2, ['ctl', '-a', `vale-m:q=stream:unix:${mine}/q.sock`]);
    assert.equal(q.code, 0, q.stderr);
    // the directory is the daemon's: t2 cannot plant anything in it
    const dst = statSync(mine);
    assert.equal(dst.uid, 0);
    assert.equal(dst.mode & 0o022, 0);
    // t3 may not detach t2's ports, even on a shared switch; t2 may
    refused(
      await as(t3, ['ctl', '-d', 'vale-m:vm']),
      'VALE_ERR_PERMISSION',
      /only the adapters it attached/,
      't3 detaches',
    );
    const det = await as(t2, ['ctl', '-d', 'vale-m:vm']);
    assert.equal(det.code, 0, det.stderr);
    assert.equal(existsSync(join(mine, 'vm.sock')), false, 'its socket went with it');
    assert.deepEqual(
      d.adapters().map((a) => a.name),
      ['vale-m:q'],
    );
  } finally {
    await d.stop();
  }
});

test('per-user limits on switches and ports name their setting; root is not limited', async (t) => {
  const s = await setup('limits');
  if (typeof s === 'string') {
    t.skip(s);
    return;
  }
  const { d, t2, as } = s;
  try {
    d.host.settings.set('uvale.max_switches_per_user', 1);
    assert.equal((await as(t2, ['ctl', '--owner', 'vale-l1='])).code, 0);
    refused(
      await as(t2, ['ctl', '--owner', 'vale-l2=']),
      'VALE_ERR_LIMIT',
      /uvale.max_switches_per_user \(1\)/,
      'switch 2',
    );
    refused(
      await as(t2, ['pkt-gen', '-i', 'vale-l3:1', '-f', 'tx', '-n', '1']),
      'VALE_ERR_LIMIT',
      /max_switches_per_user/,
      'open on a new switch',
    );
    d.host.settings.set('uvale.max_ports_per_user', 0);
    refused(
      await as(t2, ['pkt-gen', '-i', 'vale-l1:1', '-f', 'tx', '-n', '1']),
      'VALE_ERR_LIMIT',
      /uvale.max_ports_per_user \(0\)/,
      'a port',
    );
    // root is not limited
    const c = await DaemonClient.connect({ dir: s.env.UVALE_RUN_DIR as string, autostart: false });
    try {
      for (const sw of ['vale-r1', 'vale-r2']) await c.request('switch-owner', { switch: sw });
    } finally {
      c.close();
    }
  } finally {
    await d.stop();
  }
});

test('uvale never takes the place of a live socket or a file that is not a socket; a stale socket is replaced', async () => {
  const tmp = tempRunDir('sockfile');
  cleanups.push(tmp.cleanup);
  const d = new Daemon({ dir: tmp.dir, log: () => {} });
  await d.start();
  const live = join(tmp.dir, 'live.sock');
  const srv = createServer(() => {});
  await new Promise<void>((r) => srv.listen(live, r));
  try {
    for (const kind of ['stream:unix:', 'vhost-user:']) {
      await assert.rejects(d.attach(`vale0:x=${kind}${live}`), (e: unknown) => isValeError(e, ErrorCodes.BUSY));
    }
    assert.ok(statSync(live).isSocket(), 'the live socket is still there');
    const file = join(tmp.dir, 'file');
    writeFileSync(file, 'precious');
    for (const kind of ['stream:unix:', 'vhost-user:']) {
      await assert.rejects(d.attach(`vale0:y=${kind}${file}`), (e: unknown) => isValeError(e, ErrorCodes.EXISTS));
    }
    assert.ok(statSync(file).isFile());
    // a socket nobody answers at any more is stale: it is replaced
    await new Promise<void>((r) => srv.close(() => r()));
    const stale = join(tmp.dir, 'stale.sock');
    // bound and left behind by a process that is gone, as a killed server leaves its socket
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
    assert.ok(statSync(stale).isSocket());
    const r = await d.attach(`vale0:z=vhost-user:${stale}`);
    assert.equal(r.name, 'vale0:z');
  } finally {
    srv.close();
    await d.stop();
  }
});

test('a daemon that is not root keeps the socket of a member as its own, shared with its --group', async (t) => {
  const t2 = testUser('uvale-t2');
  const t3 = testUser('uvale-t3');
  if (typeof t2 === 'string' || typeof t3 === 'string') {
    t.skip(typeof t2 === 'string' ? t2 : (t3 as string));
    return;
  }
  const gid = testGroup('uvale-tg', [t2, t3]);
  if (typeof gid === 'string') {
    t.skip(gid);
    return;
  }
  const tmp = tempRunDir('nonroot');
  cleanups.push(tmp.cleanup);
  chownSync(tmp.dir, t2.uid, t2.gid);
  // uvale-t2 runs the daemon; uvale-t3 is a member of its group
  const daemon = spawn(
    'runuser',
    ['-u', t2.name, '--', process.execPath, BIN, 'daemon', '--dir', tmp.dir, '--group', 'uvale-tg'],
    {
      stdio: 'ignore',
    },
  );
  try {
    const sock = join(tmp.dir, 'uvale.sock');
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const mine = join(tmp.dir, 'users', String(t3.uid));
    const r = await uvaleAs(t3, ['ctl', '-a', `vale-nr:vm=vhost-user:${mine}/vm.sock`], { UVALE_RUN_DIR: tmp.dir });
    assert.equal(r.code, 0, r.stderr);
    const st = statSync(join(mine, 'vm.sock'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [t2.uid, gid, 0o660]);
    const stop = await uvaleAs(t2, ['ctl', '--shutdown'], { UVALE_RUN_DIR: tmp.dir });
    assert.equal(stop.code, 0, stop.stderr);
  } finally {
    daemon.kill('SIGTERM');
  }
});
