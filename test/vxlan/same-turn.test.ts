/*
 * A frame that arrives through a tunnel port is written to its TAP inside
 * the event-loop callback that received its datagram: the tunnel's receive
 * brackets its txsync with RxDrain.hold()/release() (as an fd port's read
 * burst does, src/ports/rx-drain.ts), so the TAP's drain runs right after the
 * pass, not from a microtask queued by the pass (10-25 µs later on an idle
 * daemon; vxlan-rtt pays this hop twice per ping: docs/performance-notes.md).
 *
 * How it is seen: the tunnel calls its context's onTraffic inside the receive,
 * before its txsync; the test queues a microtask there, which runs after the
 * callback returns, and checks that by then the TAP has written every frame
 * the tunnel took in. A drain left to a microtask is queued after that one
 * and has not run yet.
 *
 * Needs root and /dev/net/tun (the TAP is up in this namespace, without an
 * address: the kernel drops the test frames). Names: l6<tag>v (this work's prefix).
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, test } from 'node:test';
import { ValeHost } from '../../src/index.js';
import type { AttachContext } from '../../src/ports/adapter.js';
import { TapPort } from '../../src/ports/tap/tap-port.js';
import { parseTunnelSpec } from '../../src/ports/vxlan/spec.js';
import { TunnelPort } from '../../src/ports/vxlan/tunnel-port.js';
import { BROADCAST, frame, macN } from '../helpers/vale.js';
import { Cleanup, ip, netSkipReason, PID_TAG, quiet } from '../tap/net.js';

const skip = netSkipReason();
const NET = `127.${(process.pid >> 8) & 0xff}.${process.pid & 0xff}`;
const cleanup = new Cleanup();
after(() => cleanup.run());

for (const io of ['uring', 'syscall'] as const) {
  test(`tunnel → TAP (${io}): a frame is written inside the callback that received its datagram`, {
    skip: skip ?? false,
  }, async (t) => {
    const host = new ValeHost();
    const ifname = `l6${PID_TAG}v${io[0]}`;
    cleanup.link(ifname);
    let together = 0; // receives whose frames were all written before the callback returned
    let late = 0; // receives whose frames were not written yet
    let tap: TapPort | null = null;
    let tun: TunnelPort | null = null;
    const check = (): void => {
      if (tap === null || tun === null) return;
      if (tap.info().counters.outFrames >= tun.info().counters.inFrames) together++;
      else late++;
    };
    const ctx: AttachContext = { host, log: () => {}, onTraffic: () => queueMicrotask(check), onGone: () => {} };
    tun = TunnelPort.attach(ctx, 'valel6:tun', parseTunnelSpec(`vxlan:vni=7,local=${NET}.1,remote=${NET}.2`));
    tap = TapPort.attach(host, `valel6:${ifname}`, { io });
    const peer = createSocket('udp4');
    t.after(() => {
      peer.close();
      tap?.close();
      tun?.close();
    });
    quiet(ifname);
    ip('link', 'set', ifname, 'up');
    await new Promise<void>((r) => peer.bind(4789, `${NET}.2`, r));

    const vxlan = Buffer.from([0x08, 0, 0, 0, 0, 0, 7, 0]);
    const count = 20;
    for (let i = 0; i < count; i++) {
      const f = frame(BROADCAST, macN(3), { seq: i, len: 60 });
      await new Promise<void>((r) => peer.send(Buffer.concat([vxlan, f]), 4789, `${NET}.1`, () => r()));
      await new Promise((r) => setTimeout(r, 5));
    }
    const until = Date.now() + 2000;
    while ((tap as TapPort).info().counters.outFrames < count && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10));
    t.diagnostic(`written before the callback returned ${together}, after ${late}, of ${count}`);
    assert.equal((tap as TapPort).info().counters.outFrames, count, 'every frame reached the TAP');
    assert.equal(
      late,
      0,
      `receives whose frames were written only after the callback: ${late} (inside it: ${together})`,
    );
    assert.ok(together > 0);
  });
}
