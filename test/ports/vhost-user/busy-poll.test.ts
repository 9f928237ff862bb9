/*
 * Busy polling of a vhost-user port's TX ring (uvale.busy_poll): after a
 * kicked burst the port keeps checking the ring for the window's length with
 * the guest's kicks suppressed (the used ring's NO_NOTIFY flag, the front-end
 * here does not negotiate EVENT_IDX), so frames made available without a
 * kick still cross; when the window closes kicks are asked for again. With
 * busy_poll 0 the flag is never set and an unkicked frame waits.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { openPort } from '../../../src/index.js';
import type { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import { eventfdSignal } from '../../../src/sys/index.js';
import { VRING_USED_F_NO_NOTIFY } from '../../../src/virtio/index.js';
import { frame, receive } from '../../helpers/vale.js';
import { FE, putTx, withGuest } from '../../helpers/vhost.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withPort(
  busyPollUs: number,
  body: (ctx: {
    port: VhostUserPort;
    np: ReturnType<typeof openPort>;
    mem: Uint8Array;
    kickTx: () => void;
    usedFlags: () => number;
  }) => Promise<void>,
): Promise<void> {
  const tag = busyPollUs > 0 ? 'vhbp1' : 'vhbp0';
  await withGuest(tag, { settings: { 'uvale.busy_poll': busyPollUs } }, (g) =>
    body({
      port: g.port,
      np: g.open('np'),
      mem: g.mem,
      kickTx: () => eventfdSignal(g.fe.kicks[1]!),
      usedFlags: () => g.dv.getUint16(FE.rings[1]!.used, true),
    }),
  );
}

const f = (seq: number) => frame('02:00:00:00:00:0b', '02:00:00:00:00:0a', { len: 60 + seq, seq });

test('busy_poll 300 ms: kicks suppressed while polling, unkicked frames cross; kicks asked again after', {
  timeout: 20_000,
}, async () => {
  await withPort(300_000, async ({ port, np, mem, kickTx, usedFlags }) => {
    putTx(mem, 0, f(0));
    kickTx();
    assert.equal((await receive(np, 1, 2000)).length, 1, 'the kicked frame');
    assert.equal(usedFlags() & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY, 'kicks suppressed while polling');
    for (let n = 1; n <= 5; n++) {
      putTx(mem, n, f(n)); // no kick
      const got = await receive(np, 1, 150);
      assert.equal(got.length, 1, `unkicked frame ${n} picked up by the poll`);
      assert.equal(got[0]!.length, 60 + n);
    }
    assert.equal(port.info().extra?.busyPolls, 1, 'one window, extended by each burst');
    await tick(800); // the window closes 300 ms after the last frame
    assert.equal(usedFlags() & VRING_USED_F_NO_NOTIFY, 0, 'kicks asked for again');
    putTx(mem, 6, f(6)); // no kick: waits now
    assert.equal((await receive(np, 1, 200)).length, 0, 'not polled any more');
    kickTx();
    assert.equal((await receive(np, 1, 2000)).length, 1, 'the kick brings it');
    assert.equal(port.info().counters.inFrames, 7);
  });
});

test('busy_poll 0 (default): kicks stay on and an unkicked frame waits for its kick', {
  timeout: 20_000,
}, async () => {
  await withPort(0, async ({ port, np, mem, kickTx, usedFlags }) => {
    putTx(mem, 0, f(0));
    kickTx();
    assert.equal((await receive(np, 1, 2000)).length, 1);
    assert.equal(usedFlags() & VRING_USED_F_NO_NOTIFY, 0);
    putTx(mem, 1, f(1));
    assert.equal((await receive(np, 1, 200)).length, 0, 'no kick, no poll');
    kickTx();
    assert.equal((await receive(np, 1, 2000)).length, 1);
    assert.equal(port.info().extra?.busyPolls, 0);
  });
});
