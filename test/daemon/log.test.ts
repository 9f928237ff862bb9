/* The daemon's log: JSON lines on request, reopened on SIGHUP (logrotate), never through a link. */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BIN, exited, tempRunDir, until } from '../helpers/daemon.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

test('--log-format json writes one object per line; SIGHUP reopens the file after it was moved', async () => {
  const t = tempRunDir('log');
  cleanups.push(t.cleanup);
  const file = join(t.dir, 'd.log');
  const d = spawn(process.execPath, [BIN, 'daemon', '--dir', t.dir, '--log', file, '--log-format', 'json'], {
    stdio: 'ignore',
  });
  cleanups.push(() => d.kill('SIGKILL'));
  await until(() => existsSync(file) && readFileSync(file, 'utf8').includes('serving'), 10000, 'the daemon to log');
  const first = readFileSync(file, 'utf8').trim().split('\n');
  for (const line of first) {
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), ['time', 'level', 'pid', 'msg']);
    assert.equal(o.pid, d.pid);
  }
  renameSync(file, `${file}.1`);
  d.kill('SIGHUP');
  await until(() => existsSync(file) && readFileSync(file, 'utf8').includes('log reopened'), 5000, 'a new file');
  d.kill('SIGTERM');
  assert.equal(await exited(d, 10000), 0);
  assert.match(readFileSync(file, 'utf8'), /exiting: signal SIGTERM/, 'later lines go to the new file');
  assert.doesNotMatch(readFileSync(`${file}.1`, 'utf8'), /exiting/);
});

test('a log path that is a symbolic link is refused, the link target untouched', async () => {
  const t = tempRunDir('loglink');
  cleanups.push(t.cleanup);
  const target = join(t.dir, 'precious');
  writeFileSync(target, 'keep me\n');
  const file = join(t.dir, 'd.log');
  symlinkSync(target, file);
  const d = spawn(process.execPath, [BIN, 'daemon', '--dir', t.dir, '--log', file], { stdio: 'ignore' });
  cleanups.push(() => d.kill('SIGKILL'));
  assert.notEqual(await exited(d, 10000), 0);
  assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
});
