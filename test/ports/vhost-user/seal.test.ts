/*
 * sealShrink and mapGuestRegion (src/sys/map-fd.ts) on real files: which
 * memory a vhost-user port may map without fearing a truncation (SIGBUS).
 */

import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes } from '../../../src/index.js';
import {
  closeFd,
  createMemfd,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  getSeals,
  mapGuestRegion,
  sealShrink,
} from '../../../src/sys/index.js';
import { assertCode } from '../../helpers/vale.js';

const SIZE = 64 * 1024;

test('sealShrink: sealed stays, sealable gets F_SEAL_SHRINK (and cannot shrink), the rest cannot be sealed', () => {
  const sealed = createMemfd('vh-seal-a', SIZE); // GROW | SHRINK | SEAL
  const sealable = createMemfd('vh-seal-b', SIZE, { seals: 0 });
  const locked = createMemfd('vh-seal-c', SIZE, { seals: F_SEAL_SEAL | F_SEAL_GROW }); // as DPDK's, plus GROW
  const dir = mkdtempSync(join(tmpdir(), 'vh-seal-'));
  const file = openSync(join(dir, 'f'), 'w+');
  ftruncateSync(file, SIZE);
  try {
    assert.deepEqual(sealShrink(sealed), { ok: true, added: false });
    assert.deepEqual(sealShrink(sealable), { ok: true, added: true });
    assert.ok((getSeals(sealable) & F_SEAL_SHRINK) !== 0);
    assert.throws(() => ftruncateSync(sealable, 0), /EPERM/, 'the peer cannot shrink it any more');
    ftruncateSync(sealable, 2 * SIZE); // growing is still allowed
    const l = sealShrink(locked);
    assert.equal(l.ok, false);
    assert.match(l.ok ? '' : l.why, /MFD_ALLOW_SEALING/);
    const f = sealShrink(file);
    assert.equal(f.ok, false, 'a disk file has no seals');
    // mapGuestRegion: refused without trust, mapped with it.
    assertCode(() => mapGuestRegion(locked, SIZE, 0, false), ErrorCodes.PERMISSION, /could be truncated/);
    assertCode(() => mapGuestRegion(file, SIZE, 0, false), ErrorCodes.PERMISSION, /cannot be sealed/);
    const t = mapGuestRegion(locked, SIZE - 4096, 4096, true);
    assert.equal(t.shrink, 'trusted');
    assert.equal(t.bytes.length, SIZE - 4096);
    t.unmap();
    // Too short a file is still refused after sealing (the size check follows the seal).
    assertCode(() => mapGuestRegion(sealed, SIZE, 4096, false), ErrorCodes.INVALID_ARG, /fewer than/);
    const m = mapGuestRegion(sealed, SIZE, 0, false);
    assert.equal(m.shrink, 'sealed');
    m.unmap();
  } finally {
    closeFd(sealed);
    closeFd(sealable);
    closeFd(locked);
    closeSync(file);
    rmSync(dir, { recursive: true, force: true });
  }
});
