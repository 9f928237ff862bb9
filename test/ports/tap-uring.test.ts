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
import { TapPort } from '../../src/ports/tap/tap-port.js';
import { bounceChains } from '../helpers/vale.js';
import { Cleanup, ip, netSkipReason, PID_TAG, quiet } from '../tap/net.js';

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
      } finally {
        for (const p of ports) p.close();
      }
    });
  });
}
