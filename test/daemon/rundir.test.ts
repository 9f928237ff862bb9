/*
 * The run directory's rules (docs/security.md): a directory others can write
 * is refused, a planted link is never followed, --group works as shipped, and
 * a directory one cannot write gives a coded error with a way out.
 */

import assert from 'node:assert/strict';
import { chmodSync, chownSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import { Daemon } from '../../src/daemon/server.js';
import { tempRunDir } from '../helpers/daemon.js';
import { testUser, uvaleAs } from '../helpers/users.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

function dir(tag: string): string {
  const t = tempRunDir(tag);
  cleanups.push(t.cleanup);
  return t.dir;
}

test('a run directory its group or others can write is refused', async () => {
  const d = dir('ww');
  chmodSync(d, 0o777);
  await assert.rejects(new Daemon({ dir: d, log: () => {} }).start(), (e: unknown) => {
    assert.ok(isValeError(e, ErrorCodes.PERMISSION), String(e));
    assert.match((e as Error).message, /writable by its group or others \(mode 777\)/);
    return true;
  });
});

test('a planted uvale.lock link is refused and its target left as it was', async () => {
  const d = dir('link');
  const other = dir('target');
  const target = join(other, 'precious');
  writeFileSync(target, 'keep me\n');
  symlinkSync(target, join(d, 'uvale.lock'));
  await assert.rejects(new Daemon({ dir: d, log: () => {} }).start(), (e: unknown) => {
    assert.ok(isValeError(e, ErrorCodes.PERMISSION), String(e));
    assert.match((e as Error).message, /uvale\.lock is a symbolic link/);
    return true;
  });
  assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
});

test('--group makes the run directory reachable for the group, and no more', async () => {
  const d = dir('grp');
  const daemon = new Daemon({ dir: d, log: () => {}, group: 4242 });
  await daemon.start();
  try {
    const st = statSync(d);
    assert.equal(st.gid, 4242);
    assert.equal(st.mode & 0o777, 0o750);
    assert.equal(statSync(join(d, 'uvale.sock')).mode & 0o777, 0o660);
  } finally {
    await daemon.stop();
  }
});

test('a run directory the user cannot write gives VALE_ERR_PERMISSION and a way out', async (t) => {
  const user = testUser('uvale-t2');
  if (typeof user === 'string') {
    t.skip(user);
    return;
  }
  const d = dir('ro');
  chownSync(d, user.uid, user.gid);
  chmodSync(d, 0o500);
  const r = await uvaleAs(user, ['daemon', '--dir', d]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /VALE_ERR_PERMISSION/);
  assert.match(r.stderr, /UVALE_RUN_DIR/);
});
