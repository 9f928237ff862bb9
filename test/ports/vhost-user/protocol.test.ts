/* vhost-user codec: hand-built messages (bytes laid out by hand, as the spec draws them) decoded and refused. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, isValeError } from '../../../src/core/errors.js';
import {
  decodeHeader,
  decodeMessage,
  encodeReply,
  encodeRequest,
  MessageReader,
  Req,
  replyState,
  replyU64,
} from '../../../src/ports/vhost-user/protocol.js';
import { le } from '../../helpers/vhost.js';

/** Little-endian bytes from a list of [width, value] fields. */

const isProto = (e: unknown) => isValeError(e) && (e as { code: string }).code === ErrorCodes.PROTOCOL;

function decode(bytes: Uint8Array, fds: number[] = []) {
  const h = decodeHeader(bytes);
  return decodeMessage(h, bytes.subarray(12, 12 + h.size), fds);
}

test('header: request, flags, size; version 1 only, no REPLY on requests, bounded size', () => {
  assert.deepEqual(decodeHeader(le([4, 1], [4, 1], [4, 0])), { request: 1, flags: 1, size: 0 });
  assert.deepEqual(decodeHeader(le([4, 5], [4, 9], [4, 40])), { request: 5, flags: 9, size: 40 });
  assert.throws(() => decodeHeader(le([4, 1], [4, 2], [4, 0])), isProto, 'version 2');
  assert.throws(() => decodeHeader(le([4, 1], [4, 0], [4, 0])), isProto, 'version 0');
  assert.throws(() => decodeHeader(le([4, 1], [4, 5], [4, 0])), isProto, 'REPLY set');
  assert.throws(() => decodeHeader(le([4, 1], [4, 1], [4, 4097])), isProto, 'size');
  assert.throws(() => decodeHeader(le([4, 1], [4, 1], [4, 0xffff_ffff])), isProto, 'size 2^32-1');
});

test('payloads: u64, vring state, vring address (desc, used, avail order), memory table', () => {
  const f = decode(new Uint8Array([...le([4, 2], [4, 1], [4, 8]), ...le([8, 0x1_4000_8000n])]));
  assert.equal(f.kind, 'u64');
  assert.equal(f.kind === 'u64' && f.value, 0x1_4000_8000n);
  const s = decode(new Uint8Array([...le([4, 8], [4, 9], [4, 8]), ...le([4, 1], [4, 256])]));
  assert.deepEqual(s, { kind: 'state', request: Req.SET_VRING_NUM, needReply: true, fds: [], index: 1, num: 256 });
  const a = decode(
    new Uint8Array([
      ...le([4, 9], [4, 1], [4, 40]),
      ...le([4, 1], [4, 0], [8, 0x7f00_0000_1000], [8, 0x7f00_0000_3000], [8, 0x7f00_0000_2000], [8, 0]),
    ]),
  );
  assert.equal(a.kind, 'addr');
  if (a.kind === 'addr') {
    assert.equal(a.index, 1);
    assert.equal(a.desc, 0x7f00_0000_1000);
    assert.equal(a.used, 0x7f00_0000_3000);
    assert.equal(a.avail, 0x7f00_0000_2000);
  }
  const regs = le(
    [4, 2],
    [4, 0],
    [8, 0],
    [8, 0xa0000],
    [8, 0x7f10_0000_0000],
    [8, 0],
    [8, 0x10_0000],
    [8, 0x100_0000],
    [8, 0x7f20_0000_0000],
    [8, 0x10_0000],
  );
  const m = decode(new Uint8Array([...le([4, 5], [4, 1], [4, regs.length]), ...regs]), [7, 8]);
  assert.equal(m.kind, 'mem');
  if (m.kind === 'mem') {
    assert.deepEqual(m.fds, [7, 8]);
    assert.deepEqual(m.regions[1], {
      guestAddr: 0x10_0000,
      size: 0x100_0000,
      userAddr: 0x7f20_0000_0000,
      mmapOffset: 0x10_0000,
    });
  }
  // A memory table sent as the full 8-region struct (DPDK does) decodes its n regions only.
  const full = new Uint8Array(8 + 32 * 8);
  full.set(regs);
  const m8 = decode(new Uint8Array([...le([4, 5], [4, 1], [4, full.length]), ...full]));
  assert.equal(m8.kind === 'mem' && m8.regions.length, 2);
  const none = decode(le([4, 3], [4, 1], [4, 0]));
  assert.equal(none.kind, 'none');
  const raw = decode(new Uint8Array([...le([4, 99], [4, 1], [4, 3]), 1, 2, 3]));
  assert.equal(raw.kind, 'raw');
});

test('payloads of the wrong size or with impossible values are protocol errors', () => {
  const bad: Uint8Array[] = [
    new Uint8Array([...le([4, 2], [4, 1], [4, 4]), ...le([4, 0])]), // SET_FEATURES with 4 bytes
    new Uint8Array([...le([4, 8], [4, 1], [4, 12]), ...le([4, 0], [4, 0], [4, 0])]), // state of 12
    new Uint8Array([...le([4, 9], [4, 1], [4, 32]), ...new Uint8Array(32)]), // addr of 32
    new Uint8Array([...le([4, 9], [4, 1], [4, 40]), ...le([4, 0], [4, 0], [8, 1n << 60n], [8, 0], [8, 0], [8, 0])]),
    new Uint8Array([...le([4, 5], [4, 1], [4, 8]), ...le([4, 1], [4, 0])]), // 1 region announced, none sent
    new Uint8Array([...le([4, 5], [4, 1], [4, 8 + 32 * 9]), ...le([4, 9], [4, 0]), ...new Uint8Array(32 * 9)]),
    new Uint8Array([...le([4, 3], [4, 1], [4, 4]), 0, 0, 0, 0]), // SET_OWNER with 4 bytes
  ];
  for (const b of bad) assert.throws(() => decode(b), isProto);
});

test('replies: REPLY flag, version 1, size, payload', () => {
  assert.deepEqual([...replyU64(1, 0x1_0000_0001n)], [...le([4, 1], [4, 5], [4, 8], [8, 0x1_0000_0001n])]);
  assert.deepEqual([...replyState(11, 1, 77)], [...le([4, 11], [4, 5], [4, 8], [4, 1], [4, 77])]);
  assert.deepEqual([...encodeReply(3, new Uint8Array(0))], [...le([4, 3], [4, 5], [4, 0])]);
  assert.deepEqual([...encodeRequest(2, le([8, 5]), true)], [...le([4, 2], [4, 9], [4, 8], [8, 5])]);
});

test('MessageReader: reads of `want` bytes never cross a message; fds stay with their message', () => {
  const a = encodeRequest(Req.SET_OWNER, new Uint8Array(0));
  const b = encodeRequest(Req.SET_VRING_KICK, le([8, 1]));
  const c = encodeRequest(Req.SET_VRING_NUM, le([4, 0], [4, 64]));
  const all = new Uint8Array([...a, ...b, ...c]);
  // The stream as the kernel queues it, with the fd on b's first byte; reads of at most `max` bytes.
  for (const max of [1, 3, 7, 12, 13, 20, 64]) {
    const r = new MessageReader();
    const got: string[] = [];
    let pos = 0;
    while (pos < all.length) {
      const n = Math.min(r.want, max, all.length - pos);
      r.push(all.subarray(pos, pos + n), pos === a.length ? [42] : []);
      pos += n;
      for (let m = r.next(); m !== null; m = r.next()) got.push(`${m.request}:${m.fds.join(',')}`);
    }
    assert.deepEqual(got, ['3:', '12:42', '8:'], `reads of ${max}`);
    assert.equal(r.pending, 0);
    assert.equal(r.want, 12);
  }
});

test('MessageReader: a bad header throws and leaves the fds to the caller', () => {
  const r = new MessageReader();
  r.push(le([4, 1], [4, 1], [4, 5000]), [5, 6]);
  assert.throws(() => r.next(), isProto);
  const r2 = new MessageReader();
  r2.push(new Uint8Array([...le([4, 2], [4, 1], [4, 4]), 0, 0, 0, 0]), [9]);
  assert.throws(() => r2.next(), isProto);
  assert.deepEqual(r2.takeFds(), [9]);
});
