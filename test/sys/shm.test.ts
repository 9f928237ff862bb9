import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import {
  checkSealed,
  closeFd,
  createMemfd,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  getSeals,
  mapShared,
  openProcFd,
  readFrame,
  writeFrame,
} from '../../src/sys/index.js';

const run = promisify(execFile);
const SYS_URL = new URL('../../src/sys/index.js', import.meta.url).href;
const SIZE = 64 * 1024;

/** Names /proc/self/fd links to, for fds whose target mentions `needle`. */
function fdsLinkingTo(needle: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${n}`).includes(needle)) out.push(n);
    } catch {
      // the fd readdir itself used is gone
    }
  }
  return out;
}

function code(c: string) {
  return (e: unknown) => isValeError(e) && e.code === c;
}

test('memfd: sealed, two mappings of one fd see the same bytes', () => {
  const fd = createMemfd('uvale-test-two-maps', SIZE);
  const a = mapShared(fd, SIZE);
  const b = mapShared(fd, SIZE);
  try {
    assert.notEqual(a.ptr, b.ptr, 'two distinct mappings');
    const seals = getSeals(fd);
    assert.equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    assert.equal(checkSealed(fd, SIZE), seals);
    // The seals hold: the size can change neither way.
    assert.throws(() => ftruncateSync(fd, 0), { code: 'EPERM' });
    assert.throws(() => ftruncateSync(fd, SIZE * 2), { code: 'EPERM' });

    const ua = new Uint8Array(a.buffer);
    const ub = new Uint8Array(b.buffer);
    assert.equal(ua.length, SIZE);
    assert.equal(ub[12345], 0, 'zero-filled');
    for (let i = 0; i < SIZE; i += 997) ua[i] = (i * 7) & 255;
    for (let i = 0; i < SIZE; i += 997) assert.equal(ub[i], (i * 7) & 255);
    // Atomics work on the plain ArrayBuffer, across the two mappings.
    Atomics.store(new Int32Array(a.buffer), 10, 0x12345678);
    assert.equal(Atomics.load(new Int32Array(b.buffer), 10), 0x12345678);
  } finally {
    a.unmap();
    b.unmap();
    closeFd(fd);
  }
});

test('memfd: another process opens it via /proc/<pid>/fd/<fd> and writes into it', async () => {
  const shmBefore = readdirSync('/dev/shm').sort();
  const name = `uvale-test-xproc-${process.pid}`;
  const fd = createMemfd(name, SIZE);
  const m = mapShared(fd, SIZE);
  const child = `
    const sys = await import(${JSON.stringify(SYS_URL)});
    const [pid, fd, size] = process.argv.slice(1).map(Number);
    const ours = sys.openProcFd(pid, fd);
    sys.checkSealed(ours, size);
    const m = sys.mapShared(ours, size);
    const u8 = new Uint8Array(m.buffer);
    for (let i = 0; i < 4096; i++) u8[4096 + i] = (i * 31 + 5) & 255;
    m.unmap();
    sys.closeFd(ours);
    console.log('ok');
  `;
  try {
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', child, `${process.pid}`, `${fd}`, `${SIZE}`],
      {
        timeout: 10_000,
      },
    );
    assert.equal(stdout.trim(), 'ok');
    const u8 = new Uint8Array(m.buffer);
    for (let i = 0; i < 4096; i++) assert.equal(u8[4096 + i], (i * 31 + 5) & 255, `byte ${i}`);
    assert.match(readlinkSync(`/proc/self/fd/${fd}`), new RegExp(`^/memfd:${name}`));
    assert.ok(readFileSync('/proc/self/maps', 'utf8').includes(`/memfd:${name}`), 'mapped');
  } finally {
    m.unmap();
    closeFd(fd);
  }
  assert.deepEqual(fdsLinkingTo(name), [], 'no fd left on the memfd');
  assert.ok(!readFileSync('/proc/self/maps', 'utf8').includes(`/memfd:${name}`), 'no mapping left');
  assert.deepEqual(readdirSync('/dev/shm').sort(), shmBefore, 'nothing new in /dev/shm');
});

test('checkSealed: rejects an unsealed memfd, a wrong size, a plain file, a closed fd', () => {
  const unsealed = createMemfd('uvale-test-unsealed', 4096, { seals: 0 });
  const sealed = createMemfd('uvale-test-sealed', 4096);
  const path = join(tmpdir(), `uvale-test-sys-${process.pid}`);
  const plain = openSync(path, 'w+');
  try {
    ftruncateSync(plain, 4096);
    assert.equal(getSeals(unsealed) & F_SEAL_SHRINK, 0);
    assert.throws(() => checkSealed(unsealed, 4096), code(ErrorCodes.PROTOCOL));
    assert.throws(() => checkSealed(unsealed, 4096), /not sealed against shrinking/);
    assert.throws(() => checkSealed(sealed, 8192), /has 4096 bytes, expected 8192/);
    assert.throws(() => checkSealed(sealed, 8192), code(ErrorCodes.PROTOCOL));
    assert.throws(() => checkSealed(plain, 4096), code(ErrorCodes.PROTOCOL));
    assert.throws(() => checkSealed(0x7ffffff0, 4096), /fstat fd 2147483632: EBADF \(9\)/);
    // The daemon's path: open the peer's fd through /proc, then check it.
    const viaProc = openProcFd(process.pid, unsealed);
    try {
      assert.throws(() => checkSealed(viaProc, 4096), code(ErrorCodes.PROTOCOL));
    } finally {
      closeFd(viaProc);
    }
  } finally {
    closeFd(unsealed);
    closeFd(sealed);
    closeSync(plain);
    unlinkSync(path);
  }
});

test('unmap and closeFd are idempotent; the buffer is withheld after unmap', () => {
  const fd = createMemfd('uvale-test-idem', 4096);
  const m = mapShared(fd, 4096);
  assert.equal(m.mapped, true);
  m.unmap();
  m.unmap();
  assert.equal(m.mapped, false);
  assert.throws(() => m.buffer, code(ErrorCodes.CLOSED));
  assert.equal(closeFd(fd), -1);
  assert.equal(closeFd(fd), -1, 'EBADF is ignored');
  assert.equal(closeFd(-1), -1);
});

test('readFrame/writeFrame move bytes to and from buf[off .. off+len) (on a memfd)', () => {
  const fd = createMemfd('uvale-test-rw', 4096);
  const m = mapShared(fd, 4096);
  // A second open file on the same memory, with its own file position at 0.
  const other = openProcFd(process.pid, fd);
  try {
    const src = new Uint8Array(300).map((_, i) => (i * 13 + 1) & 255);
    assert.equal(writeFrame(fd, src, 50, 200), 200); // file bytes 0..199 = src[50..249]
    const file = new Uint8Array(m.buffer);
    for (let i = 0; i < 200; i++) assert.equal(file[i], src[50 + i]);
    const dst = new Uint8Array(300).fill(0xee);
    assert.equal(readFrame(other, dst, 7, 100), 100);
    for (let i = 0; i < 100; i++) assert.equal(dst[7 + i], src[50 + i], `byte ${i}`);
    assert.equal(dst[6], 0xee, 'nothing before off');
    assert.equal(dst[107], 0xee, 'nothing after off + len');
  } finally {
    m.unmap();
    closeFd(other);
    closeFd(fd);
  }
});
