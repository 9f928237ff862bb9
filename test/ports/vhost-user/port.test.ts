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
import {
  closeFd,
  createMemfd,
  streamAccept,
  streamConnect,
  streamListen,
  streamRecv,
  streamSend,
  streamSendFds,
} from '../../../src/sys/index.js';

const openFds = () => readdirSync('/proc/self/fd').length;
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

test('the kind: vhost-user:PATH and vhost-user:PATH,connect; only a listening spec names a socket uvale makes', () => {
  const k = findKind('vhost-user');
  assert.ok(k);
  k.validate('vhost-user:/run/x.sock');
  k.validate('vhost-user:/run/x.sock,connect');
  assert.equal(k.absolutize?.('vhost-user:x.sock', '/tmp'), 'vhost-user:/tmp/x.sock');
  assert.equal(k.absolutize?.('vhost-user:x.sock,connect', '/tmp'), 'vhost-user:/tmp/x.sock,connect');
  assert.equal(k.listenPath?.('vhost-user:/run/x.sock'), '/run/x.sock');
  assert.equal(k.listenPath?.('vhost-user:/run/x.sock,connect'), null, 'dialing is for the owner only');
  for (const bad of ['vhost-user:', 'vhost-user:,connect', 'vhost-user:/a,b', 'vhost-user:/a,connect,connect']) {
    assert.throws(
      () => k.validate(bad),
      (e) => isValeError(e) && (e as { code: string }).code === ErrorCodes.INVALID_ARG,
      bad,
    );
  }
});

test('connect mode: dials the front-end, redials with backoff while it is absent and after it hangs up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-'));
  const sock = join(dir, 'fe.sock');
  const host = new ValeHost();
  const before = openFds();
  const port = VhostUserPort.attach(host, 'vale-vdial:vm', sock, { connect: true });
  let srv = -1;
  let c = -1;
  try {
    assert.equal(port.info().state, 'dialing');
    assert.equal(port.info().spec, `vhost-user:${sock},connect`);
    await tick(200); // nobody there: 50 + 100 ms of backoff, a few failures, no busy loop
    const failed = port.info().extra?.dialFailures as number;
    assert.ok(failed >= 2 && failed <= 4, `dial failures after 200 ms: ${failed}`);
    assert.match(port.info().lastError, /connect to/);
    // The front-end appears (QEMU server=on): uvale reaches it within the backoff (at most 1 s).
    srv = streamListen(sock);
    let waited = 0;
    for (; (c = streamAccept(srv)) < 0 && waited < 2000; waited += 20) await tick(20);
    assert.ok(c >= 0, 'uvale dialed in');
    await tick();
    assert.equal(port.connected, true);
    assert.equal(port.info().state, 'up');
    const req = encodeRequest(Req.GET_FEATURES, new Uint8Array(0));
    assert.equal(streamSend(c, req, req.length), req.length);
    await tick();
    const buf = new Uint8Array(64);
    assert.equal(streamRecv(c, buf, 64, new Int32Array(4)), 20, 'served over the dialed connection');
    // The front-end hangs up (QEMU restarts): the port redials within 50 ms of backoff.
    c = closeFd(c);
    for (waited = 0; (c = streamAccept(srv)) < 0 && waited < 1000; waited += 10) await tick(10);
    assert.ok(c >= 0, 'redialed after the hang-up');
    assert.ok(waited < 300, `redial took ${waited} ms`);
    await tick();
    assert.equal(port.info().extra?.connects, 2);
    assert.equal(port.info().extra?.disconnects, 1);
  } finally {
    port.close();
    closeFd(c);
    closeFd(srv);
    rmSync(dir, { recursive: true, force: true });
  }
  await tick(100);
  assert.equal(openFds(), before, 'no fd left behind, no redial after close');
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
