/*
 * lockFile (src/sys/process.ts) refuses a symlink planted at the lock path
 * (issue 8, defect 6): the link's target is neither truncated nor written.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lockFile } from '../../src/sys/process.js';

test('a symlink at the lock path is refused, its target untouched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-lock-'));
  try {
    const target = join(dir, 'precious');
    writeFileSync(target, 'keep me\n');
    symlinkSync(target, join(dir, 'uvale.lock'));
    assert.throws(() => lockFile(join(dir, 'uvale.lock')));
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
    const lock = lockFile(join(dir, 'real.lock'));
    assert.ok(lock, 'a plain lock file still works');
    lock.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
