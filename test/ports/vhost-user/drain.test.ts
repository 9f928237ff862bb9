/*
 * Draining a vhost-user port's TX ring across kicks (docs/vhost-user.md,
 * "Performance"): after a kick the port keeps taking chains while the guest
 * keeps making them available, with its kicks suppressed (the used ring's
 * NO_NOTIFY flag: this front-end does not negotiate EVENT_IDX), up to a
 * budget per event-loop turn and then in the next turn; when a pass finds the
 * ring empty it asks for kicks again and looks once more, so a chain made
 * available while the guest still saw NO_NOTIFY (and so did not kick) is not
 * stranded. The guest here is the test itself, acting at the moments the race
 * needs through the port's own queue (its methods wrapped, not replaced).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { openPort } from '../../../src/index.js';
import type { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import { eventfdSignal } from '../../../src/sys/index.js';
import { type SplitQueue, VRING_USED_F_NO_NOTIFY } from '../../../src/virtio/index.js';
import { frame, receive } from '../../helpers/vale.js';
import { FE, putTx, withGuest } from '../../helpers/vhost.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ctx {
  port: VhostUserPort;
  np: ReturnType<typeof openPort>;
  mem: Uint8Array;
  kickTx: () => void;
  usedFlags: () => number;
  /** The port's TX queue (the guest's TX ring as the port walks it). */
  txq: () => SplitQueue;
}

async function withPort(tag: string, body: (ctx: Ctx) => Promise<void>): Promise<void> {
  await withGuest(tag, {}, (g) =>
    body({
      port: g.port,
      np: g.open('np'),
      mem: g.mem,
      kickTx: () => eventfdSignal(g.fe.kicks[1]!),
      usedFlags: () => g.dv.getUint16(FE.rings[1]!.used, true),
      txq: () => (g.port as unknown as { backend: { ring(i: number): { queue: SplitQueue } } }).backend.ring(1).queue,
    }),
  );
}

const f = (seq: number) => frame('02:00:00:00:00:0b', '02:00:00:00:00:0a', { len: 60 + (seq % 64), seq });

test('a chain made available just before kicks are asked for again is taken, not stranded', {
  timeout: 20_000,
}, async () => {
  await withPort('vhdr1', async ({ port, np, mem, kickTx, usedFlags, txq }) => {
    const q = txq();
    const setKicks = q.setKicks.bind(q);
    let raced = 0;
    q.setKicks = (on: boolean) => {
      // the guest, still seeing NO_NOTIFY, makes frame 1 available and does not kick; then the port asks for kicks
      if (on && raced === 0) {
        assert.equal(usedFlags() & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY, 'kicks suppressed while draining');
        raced = 1;
        putTx(mem, 1, f(1));
      }
      setKicks(on);
    };
    putTx(mem, 0, f(0));
    kickTx();
    const got = await receive(np, 2, 2000);
    assert.equal(raced, 1, 'the race was played');
    assert.equal(got.length, 2, 'both frames crossed after one kick');
    assert.deepEqual(
      got.map((x) => x.length),
      [60, 61],
    );
    assert.equal(port.info().extra?.drainRechecks, 1, 'found by the look after asking for kicks');
    assert.equal(port.info().extra?.kicks, 1);
    assert.equal(usedFlags() & VRING_USED_F_NO_NOTIFY, 0, 'kicks asked for again at the end');
    // and the next frame needs (and gets) a kick
    putTx(mem, 2, f(2));
    assert.equal((await receive(np, 1, 200)).length, 0, 'no kick, no drain');
    kickTx();
    assert.equal((await receive(np, 1, 2000)).length, 1);
  });
});

test('chains that keep coming during a drain are taken with kicks suppressed, across turns, after one kick', {
  timeout: 20_000,
}, async () => {
  await withPort('vhdr2', async ({ port, np, mem, kickTx, usedFlags, txq }) => {
    const q = txq();
    const publish = q.publishUsed.bind(q);
    const BURST = 32;
    const BURSTS = 30; // 960 frames: more than one turn's budget, less than np's ring
    let put = 0;
    let suppressed = 0;
    let publishes = 0;
    q.publishUsed = () => {
      const r = publish(); // every chain taken is back in the used ring: the guest may reuse its descriptors
      publishes++;
      if ((usedFlags() & VRING_USED_F_NO_NOTIFY) !== 0) suppressed++;
      if (put < BURST * BURSTS) {
        for (let i = 0; i < BURST; i++, put++) putTx(mem, put, f(put)); // no kick: the guest sees NO_NOTIFY
      }
      return r;
    };
    for (; put < BURST; put++) putTx(mem, put, f(put));
    kickTx();
    const got = await receive(np, BURST * BURSTS, 5000);
    assert.equal(got.length, BURST * BURSTS, 'every frame crossed');
    for (let i = 0; i < got.length; i++) assert.equal(got[i]!.length, 60 + (i % 64), `frame ${i} in order`);
    const x = port.info().extra!;
    assert.equal(x.kicks, 1, 'one kick for all of them');
    assert.equal(suppressed, publishes, 'kicks were suppressed at every pass');
    assert.ok(Number(x.drainTurns) >= 1, `the drain went on in a later turn (${x.drainTurns})`);
    await tick(20);
    assert.equal(usedFlags() & VRING_USED_F_NO_NOTIFY, 0, 'kicks asked for again when the ring ran dry');
    assert.equal(port.info().counters.inFrames, BURST * BURSTS);
  });
});
