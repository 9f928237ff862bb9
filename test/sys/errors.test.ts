import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, isValeError, type ValeError } from '../../src/core/errors.js';
import {
  checkSealed,
  closeFd,
  createMemfd,
  errnoName,
  futexWait,
  futexWake,
  MAX_MAPPING_SIZE,
  mapShared,
  openProcFd,
  openTap,
  readFrame,
  TUN_F_CSUM,
  TUN_F_TSO4,
  writeFrame,
} from '../../src/sys/index.js';

const BAD_FD = 0x7ffffff0;

/** assert.throws matcher: a ValeError with `code` whose message matches `re`. */
function vale(code: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(isValeError(e), `not a ValeError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  };
}

test('errnoName', () => {
  assert.equal(errnoName(12), 'ENOMEM');
  assert.equal(errnoName(11), 'EAGAIN');
  assert.equal(errnoName(95), 'EOPNOTSUPP');
  assert.equal(errnoName(100000), 'E?');
});

test('bad fds: INVALID_ARG for a bad number, SYSTEM with the errno for a closed fd', () => {
  assert.throws(() => mapShared(-1, 4096), vale(ErrorCodes.INVALID_ARG, /fd must be an integer >= 0, got -1/));
  assert.throws(() => mapShared(1.5, 4096), vale(ErrorCodes.INVALID_ARG, /fd must be/));
  assert.throws(() => mapShared(BAD_FD, 4096), vale(ErrorCodes.SYSTEM, /^mmap fd \d+ 4096 bytes: EBADF \(9\)$/));
  try {
    mapShared(BAD_FD, 4096);
  } catch (e) {
    const cause = (e as ValeError).cause as NodeJS.ErrnoException;
    assert.equal(cause.code, 'EBADF');
    assert.equal(cause.errno, -9);
    assert.equal(cause.syscall, 'mmap');
  }
  assert.throws(() => checkSealed(BAD_FD, 4096), vale(ErrorCodes.SYSTEM, /fstat fd \d+: EBADF \(9\)/));
  assert.throws(
    () => readFrame(BAD_FD, new Uint8Array(64), 0, 64),
    vale(ErrorCodes.SYSTEM, /^read fd \d+: EBADF \(9\)$/),
  );
  assert.throws(() => writeFrame(BAD_FD, new Uint8Array(64), 0, 64), vale(ErrorCodes.SYSTEM, /EBADF \(9\)/));
  assert.equal(closeFd(BAD_FD), -1, 'closeFd ignores EBADF');
  assert.throws(
    () => openProcFd(process.pid, BAD_FD),
    vale(ErrorCodes.SYSTEM, /^open \/proc\/\d+\/fd\/\d+: ENOENT \(2\)$/),
  );
  assert.throws(() => openProcFd(0, 3), vale(ErrorCodes.INVALID_ARG, /pid must be a positive integer/));
});

test('bad sizes and names', () => {
  for (const size of [0, -1, 1.5, Number.NaN, MAX_MAPPING_SIZE + 1]) {
    assert.throws(() => createMemfd('x', size), vale(ErrorCodes.INVALID_ARG, /size must be an integer from 1 to/));
    assert.throws(() => mapShared(0, size), vale(ErrorCodes.INVALID_ARG, /size must be an integer/));
  }
  assert.throws(() => createMemfd('x'.repeat(250), 4096), vale(ErrorCodes.INVALID_ARG, /at most 249 bytes/));
  assert.throws(() => createMemfd('a\0b', 4096), vale(ErrorCodes.INVALID_ARG, /without NUL/));
  assert.throws(() => createMemfd('x', 4096, { seals: 8 }), vale(ErrorCodes.INVALID_ARG, /seals must combine/));
  // A mapping larger than the file is allowed by mmap, but checkSealed catches it.
  const fd = createMemfd('uvale-test-size', 4096);
  try {
    assert.throws(() => checkSealed(fd, 8192), vale(ErrorCodes.PROTOCOL, /has 4096 bytes, expected 8192/));
  } finally {
    closeFd(fd);
  }
});

test('bad tap names and options are refused before any system call', () => {
  assert.throws(() => openTap('x'.repeat(16)), vale(ErrorCodes.INVALID_ARG, /is too long: 16 bytes, at most 15/));
  assert.throws(() => openTap('a/b'), vale(ErrorCodes.INVALID_ARG, /not a valid interface name/));
  assert.throws(() => openTap('a b'), vale(ErrorCodes.INVALID_ARG, /not a valid interface name/));
  assert.throws(() => openTap('..'), vale(ErrorCodes.INVALID_ARG, /not a valid interface name/));
  assert.throws(() => openTap('t0', { offloads: TUN_F_CSUM }), vale(ErrorCodes.INVALID_ARG, /need vnetHdr/));
  assert.throws(
    () => openTap('t0', { vnetHdr: true, offloads: TUN_F_TSO4 }),
    vale(ErrorCodes.INVALID_ARG, /need TUN_F_CSUM/),
  );
  assert.throws(() => openTap('t0', { vnetHdr: true, offloads: 0x100 }), vale(ErrorCodes.INVALID_ARG, /TUN_F_/));
});

test('bad frame ranges', () => {
  const buf = new Uint8Array(64);
  assert.throws(() => readFrame(0, buf, 10, 60), vale(ErrorCodes.INVALID_ARG, /off \+ len <= 64/));
  assert.throws(() => readFrame(0, buf, -1, 10), vale(ErrorCodes.INVALID_ARG, /readFrame/));
  assert.throws(() => writeFrame(0, buf, 0, 0), vale(ErrorCodes.INVALID_ARG, /writeFrame/));
});

test('futex: bad offsets, values and unmapped memory', () => {
  const fd = createMemfd('uvale-test-futex-args', 4096);
  const m = mapShared(fd, 4096);
  try {
    assert.throws(() => futexWait(m, 2, 0, 0), vale(ErrorCodes.INVALID_ARG, /multiple of 4 from 0 to 4092, got 2/));
    assert.throws(() => futexWake(m, 4096), vale(ErrorCodes.INVALID_ARG, /multiple of 4/));
    assert.throws(() => futexWait(m, 0, 2 ** 33, 0), vale(ErrorCodes.INVALID_ARG, /32-bit integer/));
    assert.throws(() => futexWait(m, 0, 0, -1), vale(ErrorCodes.INVALID_ARG, /timeoutMs must be >= 0/));
    assert.throws(() => futexWake(m, 0, 0), vale(ErrorCodes.INVALID_ARG, /count must be/));
    assert.equal(futexWait(m, 0, 0xffffffff, 0), 'mismatch', 'a uint32 expected value wraps to int32');
  } finally {
    m.unmap();
    closeFd(fd);
  }
  assert.throws(() => futexWake(m, 0), vale(ErrorCodes.CLOSED, /unmapped/));
  assert.throws(() => futexWait(m, 0, 0, 0), vale(ErrorCodes.CLOSED, /unmapped/));
});
