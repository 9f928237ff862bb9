/*
 * The control protocol as one typed table (src/control/requests.ts): the
 * daemon checks every request's name, arguments and access before a handler
 * runs, answers a mistake with a stable code, and keeps the connection.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DaemonClient } from '../../src/control/client.js';
import { checkArgs, REQUESTS, type RequestName } from '../../src/control/requests.js';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import { Daemon } from '../../src/daemon/server.js';
import { tempRunDir } from '../helpers/daemon.js';
import { testUser, uvaleAs } from '../helpers/users.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

test('checkArgs: missing, unknown and mistyped arguments are INVALID_ARG naming the field', () => {
  const bad = (op: RequestName, m: Record<string, unknown>, field: RegExp): void => {
    assert.throws(
      () => checkArgs(op, m),
      (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG) && field.test((e as Error).message),
      `${op} ${JSON.stringify(m)}`,
    );
  };
  bad('port', {}, /needs 'name'/);
  bad('port', { name: 7 }, /'name' of 'port' must be a string/);
  bad('port', { name: 'vale0:a', extra: 1 }, /takes no argument 'extra'/);
  bad('close', { handle: 1.5 }, /'handle' of 'close' must be an integer/);
  bad('close', { handle: '1' }, /must be an integer/);
  bad('attach', { name: 'vale0:a', offload: 'no' }, /'offload' of 'attach' must be a boolean/);
  bad('mac', { switch: 'x'.repeat(5000) }, /at most 4096 characters/);
  assert.deepEqual(checkArgs('open', { id: 3, op: 'open', name: 'vale0:a', fd: 4, txSlots: null }), {
    name: 'vale0:a',
    fd: 4,
  });
});

test('every request with a bogus argument gets INVALID_ARG; unknown requests too; the connection stays', async () => {
  const t = tempRunDir('requests');
  cleanups.push(t.cleanup);
  const d = new Daemon({ dir: t.dir, log: () => {} });
  await d.start();
  try {
    const c = await DaemonClient.connect({ dir: t.dir, autostart: false });
    for (const op of Object.keys(REQUESTS)) {
      await assert.rejects(
        c.requestUntyped(op, { bogus: 1 }),
        (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG),
        op,
      );
    }
    await assert.rejects(c.requestUntyped('frobnicate'), (e: unknown) => {
      assert.ok(isValeError(e, ErrorCodes.INVALID_ARG));
      assert.match((e as Error).message, /unknown request 'frobnicate'/);
      return true;
    });
    await assert.rejects(c.requestUntyped('__proto__'), (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG));
    await assert.rejects(c.requestUntyped('toString'), (e: unknown) => isValeError(e, ErrorCodes.INVALID_ARG));
    const r = await c.request('list');
    assert.deepEqual(r.ports, [], 'the connection still answers');
    const a = await c.request('adapters');
    assert.deepEqual(a.adapters, []);
    c.close();
  } finally {
    await d.stop();
  }
});

test('a second user reaching a --group socket may list and open ports, not act as the owner', async (t) => {
  const user = testUser('uvale-t2');
  if (typeof user === 'string') {
    t.skip(user);
    return;
  }
  const tmp = tempRunDir('access');
  cleanups.push(tmp.cleanup);
  // nothing by hand: --group makes the run directory reachable for the group (docs/security.md)
  const d = new Daemon({ dir: tmp.dir, log: () => {}, group: user.gid });
  await d.start();
  try {
    const env = { UVALE_RUN_DIR: tmp.dir };
    const list = await uvaleAs(user, ['ctl'], env);
    assert.equal(list.code, 0, list.stderr);
    for (const args of [
      ['ctl', '-a', 'vale0:uvt2tap'],
      ['ctl', '-a', 'vale0:q=stream:unix:/tmp/uvale-t2.sock'],
      ['ctl', '-n', 'pp'],
      ['sysctl', 'dev.netmap.max_ports=1'],
      ['ctl', '--shutdown'],
    ]) {
      const r = await uvaleAs(user, args, env);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /VALE_ERR_PERMISSION/, args.join(' '));
      assert.match(r.stderr, /root or the daemon's owner/);
    }
    assert.deepEqual(d.adapters(), [], 'nothing was attached');
    assert.equal(d.host.settings.maxPorts, 16, 'no setting changed');
    const pg = await uvaleAs(user, ['pkt-gen', '-i', 'vale0:u', '-f', 'tx', '-n', '100'], env);
    assert.equal(pg.code, 0, `a member opens ports: ${pg.stderr}`);
  } finally {
    await d.stop();
  }
});

test('a user who cannot reach the socket is told why and how, with a non-zero exit', async (t) => {
  const user = testUser('uvale-t2');
  if (typeof user === 'string') {
    t.skip(user);
    return;
  }
  const tmp = tempRunDir('noaccess');
  cleanups.push(tmp.cleanup);
  const d = new Daemon({ dir: tmp.dir, log: () => {} });
  await d.start();
  try {
    for (const args of [['ctl'], ['ctl', '-a', 'vale0:uvt2tap'], ['ctl', '--stats']]) {
      const r = await uvaleAs(user, args, { UVALE_RUN_DIR: tmp.dir });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /VALE_ERR_PERMISSION/);
      assert.match(r.stderr, /--group/);
    }
    assert.deepEqual(d.adapters(), []);
  } finally {
    await d.stop();
  }
});
