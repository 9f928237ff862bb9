/*
 * The vhost-user back-end state machine driven by messages as a front-end
 * sends them (bytes through the codec), with real fds: guest memory is a
 * memfd (two regions at different offsets), kick and call are eventfds.
 * A chain the "guest" makes in that memory is read back through the ring
 * the back-end built. Hostile requests end the connection without leaking
 * an fd or a mapping.
 */

import assert from 'node:assert/strict';
import { openSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { isValeError } from '../../../src/core/errors.js';
import { OFFERED_FEATURES, VhostUserBackend } from '../../../src/ports/vhost-user/backend.js';
import {
  bit,
  decodeHeader,
  encodeRequest,
  Feature,
  type Message,
  MessageReader,
  ProtocolFeature,
  Req,
} from '../../../src/ports/vhost-user/protocol.js';
import { closeFd, createEventfd, createMemfd, mapFdRange } from '../../../src/sys/index.js';
import { VIRTQ_DESC_F_NEXT } from '../../../src/virtio/index.js';
import { le, MB } from '../../helpers/vhost.js';

/** Guest layout: region 0 = gpa 0 .. 1 MiB at fd offset 0; region 1 = gpa 4 GiB .. +1 MiB at fd offset 1 MiB. */
const UVA0 = 0x7f00_0000_0000;
const UVA1 = 0x7f00_1000_0000;
const GPA1 = 0x1_0000_0000;

const openFds = () => readdirSync('/proc/self/fd').length;

/** One request through the codec, as the bytes a front-end writes. */
function msg(request: number, payload: Uint8Array, fds: number[] = [], needReply = false): Message {
  const r = new MessageReader();
  r.push(encodeRequest(request, payload, needReply), fds);
  const m = r.next();
  assert.ok(m !== null);
  return m;
}

function replyValue(bytes: Uint8Array | null): bigint {
  assert.ok(bytes !== null, 'a reply');
  const h = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(h.getUint32(4, true), 0x5, 'REPLY | version 1');
  return h.getBigUint64(12, true);
}

/** A guest: its memfd, our own view of it, and fresh fds for each region. */
function guestMemory() {
  const fd = createMemfd('uvale-test-guest', 2 * MB, { seals: 0 });
  const view = mapFdRange(fd, 2 * MB, 0);
  const dup = () => openSync(`/proc/self/fd/${fd}`, 'r+');
  const table = (gpa1 = GPA1) =>
    le([4, 2], [4, 0], [8, 0], [8, MB], [8, UVA0], [8, 0], [8, gpa1], [8, MB], [8, UVA1], [8, MB]);
  return { fd, view, dup, table };
}

function negotiate(b: VhostUserBackend, features: bigint): void {
  assert.equal(replyValue(b.handle(msg(Req.GET_FEATURES, new Uint8Array(0)))), OFFERED_FEATURES);
  assert.equal(b.handle(msg(Req.SET_FEATURES, le([8, features]))), null);
  const pf = replyValue(b.handle(msg(Req.GET_PROTOCOL_FEATURES, new Uint8Array(0))));
  assert.ok((pf & bit(ProtocolFeature.REPLY_ACK)) !== 0n);
  b.handle(msg(Req.SET_PROTOCOL_FEATURES, le([8, bit(ProtocolFeature.REPLY_ACK)])));
  assert.equal(replyValue(b.handle(msg(Req.SET_OWNER, new Uint8Array(0), [], true))), 0n, 'ack 0');
}

const FEATURES =
  bit(Feature.F_VERSION_1) |
  bit(Feature.RING_F_EVENT_IDX) |
  bit(Feature.RING_F_INDIRECT_DESC) |
  bit(Feature.NET_F_MRG_RXBUF) |
  bit(Feature.USER_F_PROTOCOL_FEATURES);

test('a whole setup: features, memory table, ring 1 started by its kick fd, a guest chain read back, then stopped', () => {
  const before = openFds();
  const g = guestMemory();
  const b = new VhostUserBackend();
  const kick = createEventfd();
  const call = createEventfd();
  try {
    negotiate(b, FEATURES);
    assert.equal(b.vnetHdrLen, 12);
    assert.equal(b.handle(msg(Req.SET_MEM_TABLE, g.table(), [g.dup(), g.dup()], true))!.length, 20, 'ack');
    assert.equal(b.memory?.count, 2);
    // Rings of ring 1 in region 1 (user addresses), 256 entries.
    const DESC = UVA1 + 0x1000;
    const AVAIL = UVA1 + 0x3000;
    const USED = UVA1 + 0x4000;
    b.handle(msg(Req.SET_VRING_NUM, le([4, 1], [4, 256])));
    b.handle(msg(Req.SET_VRING_ADDR, le([4, 1], [4, 0], [8, DESC], [8, USED], [8, AVAIL], [8, 0])));
    b.handle(msg(Req.SET_VRING_BASE, le([4, 1], [4, 7])));
    b.handle(msg(Req.SET_VRING_CALL, le([8, 1]), [call]));
    const changes: number[] = [];
    b.onRingChange = (i) => changes.push(i);
    assert.equal(b.ring(1).started, false);
    b.handle(msg(Req.SET_VRING_KICK, le([8, 1]), [kick]));
    assert.equal(b.ring(1).started, true);
    assert.equal(b.ring(1).enabled, false, 'protocol features: disabled until SET_VRING_ENABLE');
    b.handle(msg(Req.SET_VRING_ENABLE, le([4, 1], [4, 1])));
    assert.equal(b.ring(1).enabled, true);
    assert.deepEqual(changes, [1, 1]);
    // The guest: a two-descriptor chain, header in region 0 and frame in region 1, offered at avail index 7.
    const dv = new DataView(g.view.bytes.buffer, g.view.bytes.byteOffset);
    const r1 = MB; // region 1's bytes start at fd offset 1 MiB
    const d = r1 + 0x1000 + 16 * 3;
    dv.setBigUint64(d, 0x8000n, true);
    dv.setUint32(d + 8, 12, true);
    dv.setUint16(d + 12, VIRTQ_DESC_F_NEXT, true);
    dv.setUint16(d + 14, 4, true);
    dv.setBigUint64(d + 16, BigInt(GPA1 + 0x10000), true);
    dv.setUint32(d + 24, 60, true);
    dv.setUint16(d + 28, 0, true);
    for (let i = 0; i < 60; i++) g.view.bytes[r1 + 0x10000 + i] = i * 7;
    dv.setUint16(r1 + 0x3000 + 4 + 2 * 7, 3, true);
    dv.setUint16(r1 + 0x3000 + 2, 8, true);
    const q = b.ring(1).queue!;
    assert.equal(q.nextChain(), 3);
    assert.equal(q.readBytes, 72);
    const frame = q.segBytes[1]!.subarray(q.segOff[1]!, q.segOff[1]! + q.segLen[1]!);
    assert.deepEqual(
      [...frame],
      Array.from({ length: 60 }, (_, i) => (i * 7) & 0xff),
    );
    q.pushUsed(3, 0);
    q.publishUsed();
    assert.equal(dv.getUint16(r1 + 0x4000 + 2, true), 8, 'used.idx in the guest');
    // A new memory table (same layout) keeps the ring where it was.
    b.handle(msg(Req.SET_MEM_TABLE, g.table(), [g.dup(), g.dup()]));
    assert.equal(b.ring(1).queue!.lastAvail, 8);
    // GET_VRING_BASE stops the ring and says where.
    const st = b.handle(msg(Req.GET_VRING_BASE, le([4, 1], [4, 0])))!;
    assert.deepEqual([...st.subarray(12)], [...le([4, 1], [4, 8])]);
    assert.equal(b.ring(1).started, false);
    assert.equal(b.ring(1).kickFd, -1);
  } finally {
    b.close();
    g.view.unmap();
    closeFd(g.fd);
  }
  assert.equal(openFds(), before, 'every fd closed (kick, call, region fds)');
});

test('refusals: REPLY_ACK failure for SET_LOG_BASE, protocol errors for the rest, no fd leaked', () => {
  const g = guestMemory();
  try {
    const before = openFds();
    const fresh = () => {
      const b = new VhostUserBackend();
      negotiate(b, FEATURES);
      return b;
    };
    {
      const b = fresh();
      const logFd = g.dup();
      assert.equal(
        replyValue(b.handle(msg(Req.SET_LOG_BASE, le([8, 4096], [8, 0]), [logFd], true))),
        1n,
        'ack 1: refused',
      );
      b.close();
    }
    const hostile: [string, (b: VhostUserBackend) => void, RegExp][] = [
      [
        'a feature not offered (LOG_ALL)',
        (b) => b.handle(msg(Req.SET_FEATURES, le([8, bit(Feature.F_LOG_ALL)]))),
        /not offered/,
      ],
      ['a packed ring', (b) => b.handle(msg(Req.SET_FEATURES, le([8, bit(Feature.F_RING_PACKED)]))), /not offered/],
      [
        'SET_LOG_BASE without REPLY_ACK asked',
        (b) => b.handle(msg(Req.SET_LOG_BASE, le([8, 4096], [8, 0]), [g.dup()])),
        /SET_LOG_BASE/,
      ],
      ['ring 2', (b) => b.handle(msg(Req.SET_VRING_NUM, le([4, 2], [4, 256]))), /ring 2/],
      ['ring size 100', (b) => b.handle(msg(Req.SET_VRING_NUM, le([4, 0], [4, 100]))), /power of two/],
      ['ring size 65536', (b) => b.handle(msg(Req.SET_VRING_NUM, le([4, 0], [4, 65536]))), /power of two/],
      ['base beyond 16 bits', (b) => b.handle(msg(Req.SET_VRING_BASE, le([4, 0], [4, 0x10000]))), /16 bits/],
      ['a kick without its fd', (b) => b.handle(msg(Req.SET_VRING_KICK, le([8, 0]))), /0 fds/],
      [
        'a kick with two fds',
        (b) => b.handle(msg(Req.SET_VRING_KICK, le([8, 0]), [createEventfd(), createEventfd()])),
        /2 fds/,
      ],
      [
        'an fd on SET_OWNER',
        (b) => b.handle(msg(Req.SET_OWNER, new Uint8Array(0), [createEventfd()])),
        /unexpected fds/,
      ],
      ['fewer fds than regions', (b) => b.handle(msg(Req.SET_MEM_TABLE, g.table(), [g.dup()])), /2 regions and 1 fds/],
      [
        'overlapping regions',
        (b) => b.handle(msg(Req.SET_MEM_TABLE, g.table(0x8_0000), [g.dup(), g.dup()])),
        /overlap/,
      ],
      [
        'a region past the end of its fd',
        (b) => b.handle(msg(Req.SET_MEM_TABLE, le([4, 1], [4, 0], [8, 0], [8, MB], [8, UVA0], [8, 2 * MB]), [g.dup()])),
        /fewer than offset/,
      ],
      [
        'rings outside guest memory',
        (b) => {
          b.handle(msg(Req.SET_MEM_TABLE, g.table(), [g.dup(), g.dup()]));
          b.handle(msg(Req.SET_VRING_NUM, le([4, 0], [4, 256])));
          b.handle(
            msg(Req.SET_VRING_ADDR, le([4, 0], [4, 0], [8, UVA1 + MB - 64], [8, UVA1], [8, UVA1 + 0x3000], [8, 0])),
          );
          b.handle(msg(Req.SET_VRING_KICK, le([8, 0]), [createEventfd()]));
        },
        /outside guest memory/,
      ],
      [
        'vring logging',
        (b) => b.handle(msg(Req.SET_VRING_ADDR, le([4, 0], [4, 1], [8, UVA1], [8, UVA1], [8, UVA1], [8, 0]))),
        /logging/,
      ],
    ];
    for (const [name, run, why] of hostile) {
      const b = fresh();
      assert.throws(
        () => run(b),
        (e) => isValeError(e) && why.test((e as Error).message),
        name,
      );
      b.close();
      assert.equal(openFds(), before, `no fd left open after: ${name}`);
    }
    // An unknown request without REPLY_ACK asked ends the connection; with it, it is acked with failure.
    const b = fresh();
    assert.equal(replyValue(b.handle(msg(99, new Uint8Array(4), [], true))), 1n);
    assert.throws(() => b.handle(msg(99, new Uint8Array(4))), isValeError);
    b.close();
  } finally {
    g.view.unmap();
    closeFd(g.fd);
  }
});

test('without VHOST_USER_F_PROTOCOL_FEATURES rings start enabled; RESET_OWNER forgets everything', () => {
  const b = new VhostUserBackend();
  b.handle(msg(Req.SET_FEATURES, le([8, bit(Feature.F_VERSION_1)])));
  assert.equal(b.ring(0).enabled, true);
  assert.equal(b.ring(1).enabled, true);
  b.handle(msg(Req.RESET_OWNER, new Uint8Array(0)));
  assert.equal(b.features, 0n);
  assert.equal(b.ring(0).enabled, false);
  assert.equal(decodeHeader(encodeRequest(1, new Uint8Array(0))).request, 1);
});
