/*
 * The TAP adapter's I/O paths (src/ports/tap/tap-uring.ts): io_uring by
 * default, read/write per frame with uvale.tap_io=0, and the fallback when the
 * kernel refuses io_uring_setup (here: an SQ size it rejects, EINVAL). Frames
 * cross a pair of TAPs joined by a Linux bridge, one on each path, bit-exact,
 * chains included. Needs root and /dev/net/tun (skipped otherwise).
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type NetmapPort, openPort, ValeHost } from '../../src/index.js';
import { READ_MAX } from '../../src/ports/frame-io.js';
import { TapPort } from '../../src/ports/tap/tap-port.js';
import { TapUring } from '../../src/ports/tap/tap-uring.js';
import { closeFd, openTap } from '../../src/sys/index.js';
import { bounceChains } from '../helpers/vale.js';
import { Cleanup, ip, netSkipReason, nsRun, PID_TAG, quiet } from '../tap/net.js';

const skip = netSkipReason();
let seq = 0;
const ifName = (k: string): string => `ur${k}${PID_TAG}${(++seq).toString(36)}`;

if (skip !== null) {
  test('TAP I/O paths', { skip }, () => {});
} else {
  describe('TAP I/O paths', () => {
    const cleanup = new Cleanup();
    after(() => cleanup.run());

    test('io_uring is the default; uvale.tap_io=0 or io: syscall gives read/write per frame', () => {
      for (const [host, want] of [
        [new ValeHost(), 'uring'],
        [new ValeHost({ 'uvale.tap_io': 0 }), 'syscall'],
      ] as const) {
        const n = ifName('d');
        const t = TapPort.attach(host, `vale0:${n}`);
        cleanup.link(n);
        try {
          assert.equal(t.info().extra.io, want);
          assert.equal(t.info().lastError, '');
        } finally {
          t.close();
        }
      }
      const n = ifName('s');
      const t = TapPort.attach(new ValeHost(), `vale0:${n}`, { io: 'syscall' });
      cleanup.link(n);
      assert.equal(t.info().extra.io, 'syscall');
      t.close();
    });

    test('deferred completions: a frame the tap queues is read only when read() asks, not on the way out of a syscall', async () => {
      // Without DEFER_TASKRUN the kernel runs the multishot read as task work the next time this
      // thread leaves a system call (the event loop's epoll_wait, interrupted): the CQE is posted
      // while nobody asked. With it, the frame waits in the tap (which libuv watches) until read().
      for (const defer of [true, false]) {
        const n = ifName(defer ? 'f' : 'n');
        const ns = `l6-${process.pid}-${defer ? 'f' : 'n'}`;
        cleanup.netns(ns);
        const dev = openTap(n, { nonBlocking: true });
        const u = new TapUring(dev.fd, new ArrayBuffer(64), { deferTaskrun: defer });
        try {
          assert.equal(u.deferred, defer);
          assert.equal(u.watchFd, defer ? dev.fd : u.eventfd);
          ip('netns', 'add', ns);
          ip('link', 'set', n, 'netns', ns);
          quiet(n, ns);
          ip('-n', ns, 'addr', 'add', '10.199.46.1/24', 'dev', n);
          ip('-n', ns, 'link', 'set', n, 'up');
          // an ARP request for .2 goes out through the tap; nothing answers it
          await nsRun(ns, ['ping', '-c', '1', '-W', '0.3', '10.199.46.2']);
          await new Promise((r) => setTimeout(r, 50));
          const buf = new Uint8Array(READ_MAX);
          if (defer) {
            assert.equal(u.completions, 0, 'no CQE posted before read()');
            const len = u.read(buf);
            assert.ok(len >= 42, `read() ran the deferred read: a frame (${len})`);
          } else {
            assert.ok(u.completions > 0, 'the kernel posted the CQE on its own');
          }
        } finally {
          u.close();
          closeFd(dev.fd);
        }
      }
    });

    test('a refused io_uring_setup falls back to read/write, says so once, and frames cross both paths bit-exact', async () => {
      const logs: string[] = [];
      const hostA = new ValeHost();
      const hostB = new ValeHost();
      const ifA = ifName('a');
      const ifB = ifName('b');
      const br = ifName('r');
      cleanup.link(br);
      ip('link', 'add', br, 'type', 'bridge', 'mcast_snooping', '0');
      quiet(br);
      // A: the kernel refuses an SQ of 0 entries (EINVAL): the port must fall back
      const a = TapPort.attach(hostA, `vale0:${ifA}`, { uringEntries: 0, log: (l) => logs.push(l) });
      cleanup.add(() => a.close());
      const b = TapPort.attach(hostB, `vale0:${ifB}`, { log: (l) => logs.push(l) });
      cleanup.add(() => b.close());
      const again = ifName('c');
      const c = TapPort.attach(new ValeHost(), `vale0:${again}`, { uringEntries: 0, log: (l) => logs.push(l) });
      cleanup.link(again);
      c.close();
      assert.equal(a.info().extra.io, 'syscall');
      assert.match(a.info().lastError, /io_uring unavailable \(io_uring_setup: EINVAL.*using read\/write/);
      assert.equal(b.info().extra.io, 'uring');
      const refusals = logs.filter((l) => /io_uring unavailable/.test(l));
      assert.equal(refusals.length, 1, `said once per process, not per port: ${logs.join(' | ')}`);
      for (const t of [ifA, ifB]) {
        quiet(t);
        ip('link', 'set', t, 'mtu', '9000', 'txqueuelen', '10000', 'master', br, 'up');
      }
      ip('link', 'set', br, 'mtu', '9000', 'up');
      const pa = openPort('vale0:pa', { host: hostA });
      const pb = openPort('vale0:pb', { host: hostB });
      const ports: NetmapPort[] = [pa, pb];
      try {
        await bounceChains(pa, pb, 6, 40, [60, 1514, 2049, 4097, 9014, 61], 7);
        for (const t of [a, b]) {
          const k = t.info().counters;
          assert.equal(k.inFrames, 120, `${t.name}: 3 rounds of 40 read`);
          assert.equal(k.outFrames, 120, `${t.name}: 3 rounds of 40 written`);
          assert.equal(k.outDrops + k.errors, 0);
        }
        // io_uring with deferred completions: each burst's first frame came by read(2), the rest through the ring
        const x = b.info().extra;
        assert.ok(
          (x.directReads as number) > 0 && (x.directReads as number) < 120,
          `frames read by read(2): ${String(x.directReads)} of 120`,
        );
      } finally {
        for (const p of ports) p.close();
      }
    });
  });
}
