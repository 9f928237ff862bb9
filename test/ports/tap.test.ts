/*
 * TAP ports (src/ports/tap/tap-port.ts): the shared port contract, then what
 * is specific to attaching a Linux interface. Needs root and /dev/net/tun
 * (skipped otherwise, with the reason; CI runs as root).
 *
 * How the contract suite meets a TAP: a TAP port has no netmap client of its
 * own, the kernel interface is its far side. So each name the suite opens
 * ("vale0:a") gets an endpoint on the far side of a TAP: a fresh in-process
 * switch of the same name whose TapPort is bridged by a Linux bridge to the
 * TapPort on the switch under test, and the suite's port is a netmap port on
 * that endpoint switch:
 *
 *   a ─ vale0(ep a) ─ TapPort ═ tap ─ Linux bridge ─ tap ═ TapPort ─ vale0 (under test) ─ ... ─ b
 *
 * Every frame the suite sends crosses four TapPorts (each direction of the
 * adapter twice) and two kernel bridges, so round trips, order, fragment
 * chains, back-pressure drops and poll wake-ups all go through the adapter.
 * Ring-level behaviour (reclaim, illegal head) is the endpoint's own.
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ErrorCodes, type NetmapPort, openPort, parsePortName, ValeHost } from '../../src/index.js';
import { TapPort } from '../../src/ports/tap/tap-port.js';
import { C_RX_PACKETS, C_TX_PACKETS } from '../../src/switch/counters.js';
import { until } from '../helpers/daemon.js';
import { assertCode, BROADCAST, bounceChains, frame, macN, put, receive, seqOf } from '../helpers/vale.js';
import { Cleanup, ip, linkExists, netSkipReason, PID_TAG, quiet } from '../tap/net.js';
import { type ComplianceEnv, portCompliance } from './compliance.js';

const skip = netSkipReason();
let linkSeq = 0;

/** A fresh interface name of at most 9 bytes (so SWITCH:IF fits 15). */
function ifName(kind: string): string {
  return `${kind}${PID_TAG}${(++linkSeq).toString(36)}`;
}

interface TapEnv extends ComplianceEnv {
  /** The switches under test. */
  readonly host: ValeHost;
  /** Every TapPort made so far (both ends of every endpoint). */
  readonly taps: TapPort[];
  /** Waits until no TapPort has read a frame for a while (frames in flight have landed). */
  settle(): Promise<void>;
}

/** The environment described at the top: endpoints behind TAPs, built on first open of each name. */
function tapEnv(): TapEnv {
  const host = new ValeHost();
  const cleanup = new Cleanup();
  const endpoints = new Map<string, ValeHost>();
  const taps: TapPort[] = [];
  const settle = async (): Promise<void> => {
    const sum = (): number => taps.reduce((s, t) => s + t.info().counters.inFrames + t.info().counters.outFrames, 0);
    let last = -1;
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      const now = sum();
      if (now === last) return;
      last = now;
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  const plumb = (name: string): ValeHost => {
    const pn = parsePortName(name);
    const mainIf = ifName('tm');
    const epIf = ifName('te');
    const br = ifName('br');
    cleanup.link(br);
    ip('link', 'add', br, 'type', 'bridge', 'mcast_snooping', '0');
    quiet(br);
    const main = TapPort.attach(host, `${pn.bridge}:${mainIf}`);
    taps.push(main);
    cleanup.add(() => main.close());
    const epHost = new ValeHost();
    const ep = TapPort.attach(epHost, `${pn.bridge}:${epIf}`);
    taps.push(ep);
    cleanup.add(() => ep.close());
    for (const t of [mainIf, epIf]) {
      quiet(t);
      ip('link', 'set', t, 'mtu', '9000', 'txqueuelen', '10000', 'master', br, 'up');
    }
    ip('link', 'set', br, 'mtu', '9000', 'up');
    return epHost;
  };
  return {
    host,
    taps,
    settle,
    async open(name, opts) {
      let epHost = endpoints.get(name);
      if (epHost === undefined) {
        epHost = plumb(name);
        endpoints.set(name, epHost);
      } else {
        // a reopened name must not receive what was sent before it opened
        await settle();
      }
      return openPort(name, { host: epHost, ...opts });
    },
    async teardown() {
      await cleanup.run();
      assert.deepEqual(host.listSwitches(), [], 'every switch under test is gone once its TAPs are detached');
    },
  };
}

if (skip !== null) {
  test('TAP ports', { skip }, () => {});
} else {
  portCompliance('tap (each frame crosses two TAPs and a Linux bridge each way)', tapEnv);

  describe('TapPort', () => {
    const cleanup = new Cleanup();
    after(() => cleanup.run());

    test('attach creates the interface and a tap port; close removes both; close twice is safe', () => {
      const host = new ValeHost();
      const n = ifName('ta');
      const t = TapPort.attach(host, `vale0:${n}`);
      cleanup.link(n);
      assert.ok(linkExists(n));
      assert.equal(t.created, true);
      assert.equal(t.name, `vale0:${n}`);
      assert.equal(t.ifname, n);
      assert.equal(t.vport.kind, 'tap');
      assert.equal(host.getSwitch('vale0')?.find(n), t.vport);
      t.close();
      t.close();
      assert.equal(t.attached, false);
      assert.equal(linkExists(n), false, 'the tap the adapter created went away with its fd');
      assert.deepEqual(host.listSwitches(), []);
      assert.equal(t.info().counters.inFrames, 0, 'stats stay readable after close');
      // and the name can be attached again
      const t2 = TapPort.attach(host, `vale0:${n}`);
      t2.close();
    });

    test('a persistent TAP (ip tuntap add) is attached as it is and stays after detach', () => {
      const host = new ValeHost();
      const n = ifName('tp');
      ip('tuntap', 'add', 'dev', n, 'mode', 'tap');
      cleanup.link(n);
      const t = TapPort.attach(host, `vale0:${n}`);
      assert.equal(t.created, false);
      t.close();
      assert.ok(linkExists(n));
    });

    test('clear errors: not a TAP, a TUN, no switch, twice, held elsewhere, port taken', () => {
      const host = new ValeHost();
      assertCode(() => TapPort.attach(host, 'vale0:lo'), ErrorCodes.INVALID_ARG, /lo exists and is not a TAP/);
      const tun = ifName('tu');
      ip('tuntap', 'add', 'dev', tun, 'mode', 'tun');
      cleanup.link(tun);
      assertCode(() => TapPort.attach(host, `vale0:${tun}`), ErrorCodes.INVALID_ARG, /TUN/);
      assertCode(() => TapPort.attach(host, 'vale0'), ErrorCodes.INVALID_NAME, /SWITCH:IFNAME/);
      assertCode(() => TapPort.attach(host, 'vale0:a/b'), ErrorCodes.INVALID_NAME); // '/' is netmap's monitor syntax, refused by the name grammar
      const small = new ValeHost({ 'dev.netmap.max_buffers': 32 });
      assertCode(() => TapPort.attach(small, `vale0:${ifName('ts')}`), ErrorCodes.LIMIT, /max_buffers/);
      const n = ifName('tb');
      const t = TapPort.attach(host, `vale0:${n}`);
      cleanup.link(n);
      try {
        assertCode(() => TapPort.attach(host, `vale0:${n}`), ErrorCodes.BUSY, /already exists/);
        // another switch (here: another host) cannot take a tap this one holds
        assertCode(() => TapPort.attach(new ValeHost(), `vale1:${n}`), ErrorCodes.BUSY, /in use/);
      } finally {
        t.close();
      }
      const p = openPort('vale0:np', { host });
      assertCode(() => TapPort.attach(host, 'vale0:np'), ErrorCodes.BUSY, /already exists/);
      p.close();
      assert.deepEqual(host.listSwitches(), [], 'failed attaches leave nothing behind');
      assert.equal(linkExists('np'), false, 'a refused attach created no interface');
    });

    test('a TAP deleted under the adapter is detached with a reason; the other ports go on', async () => {
      const host = new ValeHost();
      const n = ifName('td');
      let reason = '';
      const t = TapPort.attach(host, `vale0:${n}`, {
        onGone: (_tap, why) => {
          reason = why;
        },
      });
      const p = openPort('vale0:p', { host });
      const q = openPort('vale0:q', { host });
      try {
        ip('link', 'del', n);
        await until(() => reason !== '', 3000, 'the adapter to notice the deleted interface');
        assert.match(reason, new RegExp(`interface ${n} gone .*EBADFD`));
        assert.equal(t.attached, false);
        assert.equal(host.getSwitch('vale0')?.find(n), undefined, 'its port left the switch');
        put(p, [frame(BROADCAST, macN(1), { seq: 5 })]);
        p.txsync();
        assert.deepEqual((await receive(q, 1, 1000)).map(seqOf), [5]);
      } finally {
        t.close();
        p.close();
        q.close();
      }
    });

    test('frames for a down interface are counted as writeDrops, never thrown', async () => {
      const host = new ValeHost();
      const n = ifName('tw');
      const logs: string[] = [];
      const t = TapPort.attach(host, `vale0:${n}`, { log: (l) => logs.push(l) });
      cleanup.link(n);
      const p = openPort('vale0:p', { host });
      try {
        put(
          p,
          Array.from({ length: 10 }, (_, i) => frame(BROADCAST, macN(1), { seq: i })),
        );
        p.txsync();
        await until(() => t.info().counters.outDrops === 10, 2000, '10 write drops');
        assert.equal(t.vport.counters[C_RX_PACKETS], 10, 'the switch delivered them to the port');
        assert.equal(logs.length, 1, `one log line for the error, not one per frame: ${logs.join(' | ')}`);
        assert.match(logs[0] as string, /EIO/);
      } finally {
        t.close();
        p.close();
      }
    });

    // ~1270 TX slots per TapPort: reads wrap the 1024-slot ring, so some land in the scratch buffer
    test('jumbo chains of every size across the ring’s end, both ways, in order; counters add up', async () => {
      const env = tapEnv();
      const opened: NetmapPort[] = [];
      try {
        const a = await env.open('vale0:a');
        const b = await env.open('vale0:b');
        opened.push(a, b);
        await bounceChains(a, b, 20, 60, [60, 2047, 2048, 2049, 4096, 4097, 6144, 9014, 1514], 11);
        await env.settle();
        for (const t of env.taps) {
          const s = t.info().counters;
          assert.equal(s.inFrames, t.vport.counters[C_TX_PACKETS], `${t.name}: frames read = frames sent in`);
          assert.equal(
            s.outFrames + s.outDrops,
            t.vport.counters[C_RX_PACKETS],
            `${t.name}: written + dropped = delivered`,
          );
          assert.equal(s.outDrops, 0);
          assert.equal(s.inFrames, 600, `${t.name}: 10 rounds of 60 frames each way`);
        }
      } finally {
        for (const p of opened) p.close();
        await env.teardown?.();
      }
    });
  });
}
