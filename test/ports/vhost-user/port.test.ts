/*
 * The vhost-user port without a real front-end: the attach kind's grammar,
 * and a hand-made front-end on the socket that misbehaves (garbage, a
 * second connection, a memory table it lies about). Each misdeed ends that
 * connection only: logged, counted, fds closed, and the port listens again.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, isValeError } from '../../../src/core/errors.js';
import { ValeHost } from '../../../src/index.js';
import { findKind } from '../../../src/ports/kinds.js';
import { encodeRequest, Req } from '../../../src/ports/vhost-user/protocol.js';
import { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import { closeFd, createMemfd, streamConnect, streamRecv, streamSend, streamSendFds } from '../../../src/sys/index.js';

const openFds = () => readdirSync('/proc/self/fd').length;
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

test('the kind: vhost-user:PATH; ",connect" is refused as not supported yet', () => {
  const k = findKind('vhost-user');
  assert.ok(k);
  k.validate('vhost-user:/run/x.sock');
  assert.equal(k.absolutize?.('vhost-user:x.sock', '/tmp'), 'vhost-user:/tmp/x.sock');
  assert.throws(
    () => k.validate('vhost-user:/run/x.sock,connect'),
    (e) => isValeError(e) && (e as { code: string }).code === ErrorCodes.NOT_SUPPORTED,
  );
  assert.throws(() => k.validate('vhost-user:'), isValeError);
  assert.throws(() => k.validate('vhost-user:/a,b'), isValeError);
});

test('misbehaving front-ends end their own connection; the port listens again and leaks nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-'));
  const sock = join(dir, 'vm.sock');
  const host = new ValeHost();
  const logs: string[] = [];
  const before = openFds();
  const port = VhostUserPort.attach(host, 'vale-vbad:vm', sock, { log: (l) => logs.push(l) });
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    assert.equal(port.info().state, 'listening');
    // 1. A good exchange: GET_FEATURES answered.
    let c = streamConnect(sock);
    await tick();
    assert.equal(port.connected, true);
    const req = encodeRequest(Req.GET_FEATURES, new Uint8Array(0));
    assert.equal(streamSend(c, req, req.length), req.length);
    await tick();
    const buf = new Uint8Array(64);
    const fds = new Int32Array(4);
    assert.equal(streamRecv(c, buf, 64, fds), 20);
    // 2. A second front-end while the first is connected: closed at once.
    const c2 = streamConnect(sock);
    await tick();
    assert.equal(streamRecv(c2, buf, 64, fds), 0, 'closed');
    closeFd(c2);
    // 3. Garbage: a header with version 3.
    const junk = new Uint8Array([1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
    streamSend(c, junk, junk.length);
    await tick();
    assert.equal(port.connected, false);
    assert.match(port.info().lastError, /version/);
    assert.equal(port.info().counters.errors, 1);
    closeFd(c);
    // 4. A memory table whose region runs past its fd: refused, the fd closed.
    c = streamConnect(sock);
    await tick();
    const mem = createMemfd('uvale-test', 4096, { seals: 0 });
    const table = new Uint8Array(8 + 32);
    const dv = new DataView(table.buffer);
    dv.setUint32(0, 1, true);
    dv.setBigUint64(16, 1n << 20n, true); // size 1 MiB of a 4 KiB memfd
    const m = encodeRequest(Req.SET_MEM_TABLE, table);
    assert.equal(streamSendFds(c, m, m.length, [mem]), m.length);
    closeFd(mem);
    await tick();
    assert.equal(port.connected, false);
    assert.match(port.info().lastError, /fewer than offset/);
    closeFd(c);
    // 5. A front-end that hangs up mid-message.
    c = streamConnect(sock);
    await tick();
    streamSend(c, req.subarray(0, 5), 5);
    closeFd(c);
    await tick();
    assert.equal(port.connected, false);
    assert.equal(port.info().state, 'listening');
    assert.equal(port.info().extra?.connects, 3, 'the refused second front-end is not counted');
  } finally {
    port.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(openFds(), before, 'no fd left behind');
  assert.ok(logs.length >= 3, logs.join('\n'));
});
