/*
 * Bugs the fuzz properties found, each pinned by the smallest case fast-check
 * shrank it to (docs/reliability.md lists them with their seeds).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkArgs } from '../../src/control/requests.js';
import { ErrorCodes, ValeError } from '../../src/core/errors.js';
import { BpfError, BpfProgram } from '../../src/pkt/bpf.js';
import { PcapngReader } from '../../src/pkt/pcapng.js';
import { encodeRequest, parseRequest } from '../../src/ports/vde/protocol.js';
import { parseConfig } from '../../src/tools/apply/config.js';

test('fuzz: a VDE join request for port 0x800000 or above encodes (type field past 2^31)', () => {
  // vde/join: encodeRequest computed port << 8 as a signed 32-bit int and writeUInt32LE threw
  for (const port of [0x7fffff, 0x800000, 0xffffff]) {
    const r = parseRequest(encodeRequest('/tmp/vde.ctl', { port }));
    assert.deepEqual(r, { port, path: '/tmp/vde.ctl', description: '' });
  }
});

test('fuzz: pcapng reader stays at the end after an if_tsresol out of range, as after every other error', () => {
  // pcapng/reader, seed 1412738998: an IDB whose if_tsresol is 10^64 threw, but the reader then
  // went on parsing the next block instead of ending, unlike every other malformed block
  const bytes = Uint8Array.from([
    10, 13, 13, 10, 0, 0, 0, 28, 26, 43, 60, 77, 0, 1, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 28, 0, 0,
    0, 1, 0, 0, 0, 28, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 64, 0, 0, 0, 0, 0, 0, 28, 10,
  ]);
  const r = new PcapngReader(bytes);
  assert.throws(
    () => r.next(),
    (e: unknown) => e instanceof ValeError && e.code === ErrorCodes.PROTOCOL && /if_tsresol/.test(e.message),
  );
  assert.equal(r.next(), undefined);
});

test('fuzz: checkArgs refuses inherited names such as constructor (control/args, seed 1764377719)', () => {
  // checkArgs looked keys up on a plain object, so 'constructor' or 'toString' passed as arguments
  for (const k of ['constructor', 'toString', 'hasOwnProperty']) {
    assert.throws(
      () => checkArgs('adapters', { [k]: [] }),
      (e: unknown) => e instanceof ValeError && e.code === ErrorCodes.INVALID_ARG,
    );
  }
});

test('fuzz: the BPF validator refuses unknown opcodes with bits run() ignores (bpf/program, seed -1170193414)', () => {
  // 0xd8e6 (a RET K with stray high bits) and 0x26 (RET with mode bits) were accepted and run as RET K,
  // 0x120 as LD ABS W: "known opcodes only" held for the low byte's class only
  for (const code of [0xd8e6, 0x26, 0xe6, 0x120, 0x115]) {
    assert.throws(
      () =>
        new BpfProgram([
          { code, jt: 0, jf: 0, k: 0 },
          { code: 0x06, jt: 0, jf: 0, k: 0 },
        ]),
      (e: unknown) => e instanceof BpfError && /unknown opcode/.test((e as Error).message),
      `0x${code.toString(16)}`,
    );
  }
  assert.equal(new BpfProgram([{ code: 0x06, jt: 0, jf: 0, k: 7 }]).run(new Uint8Array(1), 0, 1, 1), 7);
});

test('fuzz: an apply file with a YAML alias is refused by its line, never read as another value (apply/text, seed 2029353344)', () => {
  // "offload: *no" (an alias of false, or of nothing) was read as offload true: the checks read the alias node
  for (const text of [
    'attach:\n  - {port: vale0:b, offload: &no false}\n  - {port: vale0:c, offload: *no}\n',
    'attach:\n  - { port: vale0:p0, offload: *x }\n',
    'settings:\n  dev.netmap.verbose: &v 1\n  dev.netmap.bridge: *v\n',
  ]) {
    assert.throws(
      () => parseConfig(text, 'f.yaml'),
      (e: unknown) =>
        e instanceof ValeError && e.code === ErrorCodes.INVALID_ARG && /^f\.yaml:[23]: YAML aliases/.test(e.message),
      text,
    );
  }
});
