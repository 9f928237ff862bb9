/*
 * The port contract every transport must honour (src/ports/port.ts), as a
 * reusable suite. A transport's test file calls
 *
 *   portCompliance('my transport', async () => ({
 *     open: (name, opts) => openMyPort(name, opts),   // NetmapPort or a promise of one
 *     teardown: async () => { ... },                  // optional: stop what the factory started
 *   }));
 *
 * The factory runs once per test and must give a fresh, empty set of switches
 * (names are reused between tests). Every port a test opens is closed after it,
 * then teardown() runs. Frames are awaited with poll(), so transports that
 * deliver asynchronously pass as well as in-process ones.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, layout, type NetmapPort, type NetmapRing } from '../../src/index.js';
import {
  assertCode,
  assertRejectsCode,
  BROADCAST,
  frame,
  macN,
  put,
  putChain,
  Rng,
  receive,
  seqOf,
  split,
} from '../helpers/vale.js';

export interface CompliancePortOptions {
  txRings?: number;
  rxRings?: number;
  txSlots?: number;
  rxSlots?: number;
}

export interface ComplianceEnv {
  /** Opens (creates or shares) the port `name` of this transport. */
  open(name: string, opts?: CompliancePortOptions): NetmapPort | Promise<NetmapPort>;
  /** Releases what the factory made; runs after every port of the test was closed. */
  teardown?(): void | Promise<void>;
}

export type ComplianceFactory = () => ComplianceEnv | Promise<ComplianceEnv>;

type Body = (open: (name: string, opts?: CompliancePortOptions) => Promise<NetmapPort>) => Promise<void>;

/** How long to wait for frames or counters that a transport delivers asynchronously. */
const WAIT_MS = 3000;

export function portCompliance(label: string, factory: ComplianceFactory): void {
  const withEnv = async (body: Body): Promise<void> => {
    const env = await factory();
    const opened: NetmapPort[] = [];
    try {
      await body(async (name, opts) => {
        const p = await env.open(name, opts);
        opened.push(p);
        return p;
      });
    } finally {
      for (const p of opened) p.close();
      await env.teardown?.();
    }
  };

  /** Waits until `pred` holds (counters of asynchronous transports may lag a little). */
  const eventually = async (pred: () => boolean, what: string): Promise<void> => {
    const end = Date.now() + WAIT_MS;
    while (!pred()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  describe(`port compliance: ${label}`, () => {
    test('open: name, rings in netmap’s initial state, zero counters', async () => {
      await withEnv(async (open) => {
        const p = await open('vale0:a', { txSlots: 64, rxSlots: 128 });
        assert.equal(p.name, 'vale0:a');
        assert.ok(p.txRings.length >= 1 && p.rxRings.length >= 1);
        const tx = p.txRings[0] as NetmapRing;
        const rx = p.rxRings[0] as NetmapRing;
        assert.equal(tx.numSlots, 64);
        assert.equal(rx.numSlots, 128);
        assert.equal(tx.dir, 'tx');
        assert.equal(rx.dir, 'rx');
        assert.deepEqual([tx.head, tx.cur, tx.tail], [0, 0, 63]);
        assert.deepEqual([rx.head, rx.cur, rx.tail], [0, 0, 0]);
        assert.equal(tx.bufSize, 2048);
        for (const [k, v] of Object.entries(p.counters())) assert.equal(v, 0, k);
      });
    });

    test('send/receive round trip between two ports, both ways, bit-exact', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b');
        const f1 = frame(BROADCAST, macN(1), { seq: 1, len: 1514 });
        put(a, [f1]);
        a.txsync();
        const got1 = await receive(b, 1, WAIT_MS);
        assert.equal(got1.length, 1);
        assert.ok(Buffer.from(f1).equals(got1[0] as Uint8Array));
        // b answers a's (now learned) MAC
        const f2 = frame(macN(1), macN(2), { seq: 2, len: 60 });
        put(b, [f2]);
        b.txsync();
        const got2 = await receive(a, 1, WAIT_MS);
        assert.ok(Buffer.from(f2).equals(got2[0] as Uint8Array));
        // the sender does not hear itself
        assert.deepEqual(await receive(b, 1, 20), []);
      });
    });

    test('TX is fully reclaimed after txsync: tail = head - 1 (daemon ports: by a later sync)', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a', { txSlots: 32 });
        await open('vale0:b');
        const tx = a.txRings[0] as NetmapRing;
        for (let round = 0; round < 3; round++) {
          put(
            a,
            Array.from({ length: 20 }, () => frame(BROADCAST, macN(1))),
          );
          a.txsync();
          await eventually(() => {
            a.txsync();
            return tx.tail === (tx.head + 31) % 32;
          }, 'the TX ring to be reclaimed');
          assert.equal(tx.space(), 31);
        }
      });
    });

    test('a batch of many frames arrives complete and in order', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b');
        const total = 3000;
        const tx = a.txRings[0] as NetmapRing;
        const rxRoom = (b.rxRings[0] as NetmapRing).numSlots - 1;
        const rng = new Rng(5);
        const got: Uint8Array[] = [];
        const want: Uint8Array[] = [];
        for (let seq = 0; seq < total; ) {
          const n = Math.min(total - seq, tx.space(), rxRoom);
          const chunk = Array.from({ length: n }, () =>
            frame(BROADCAST, macN(1), { seq: seq++, len: rng.int(60, 1514) }),
          );
          want.push(...chunk);
          put(a, chunk);
          a.txsync();
          got.push(...(await receive(b, n, WAIT_MS)));
        }
        assert.equal(got.length, total);
        assert.deepEqual(got.map(seqOf), want.map(seqOf));
        for (let i = 0; i < total; i++) {
          if (!Buffer.from(want[i] as Uint8Array).equals(got[i] as Uint8Array)) assert.fail(`frame ${i} differs`);
        }
      });
    });

    test('fragment chains arrive whole', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b');
        const big = frame(BROADCAST, macN(1), { len: 9000, seq: 77, fill: new Rng(9).bytes(9000) });
        putChain(a, split(big, 2048));
        a.txsync();
        const got = await receive(b, 1, WAIT_MS);
        assert.equal(got.length, 1);
        assert.ok(Buffer.from(big).equals(got[0] as Uint8Array));
      });
    });

    test('counters add up on both sides; a full receiver drops, the sender never blocks', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b', { rxSlots: 16 });
        const lens = [60, 61, 100, 1514, 2048];
        put(
          a,
          lens.map((len) => frame(BROADCAST, macN(1), { len })),
        );
        a.txsync();
        await receive(b, lens.length, WAIT_MS);
        const sum = lens.reduce((x, y) => x + y, 0);
        await eventually(() => b.counters().rxPackets === lens.length, 'rxPackets');
        assert.equal(a.counters().txPackets, lens.length);
        assert.equal(a.counters().txBytes, sum);
        assert.equal(b.counters().rxBytes, sum);
        assert.equal(b.counters().txPackets, 0);
        assert.equal(a.counters().rxPackets, 0);
        // 40 frames into 15 free slots, not drained in between
        put(
          a,
          Array.from({ length: 40 }, (_, i) => frame(BROADCAST, macN(1), { seq: i })),
        );
        a.txsync();
        await eventually(
          () => b.counters().rxPackets + b.counters().dropRxFull === lens.length + 40,
          'rx + dropRxFull = sent',
        );
        assert.equal(b.counters().dropRxFull, 40 - 15);
        assert.deepEqual(
          (await receive(b, 15, WAIT_MS)).map(seqOf),
          Array.from({ length: 15 }, (_, i) => i),
        );
      });
    });

    test('poll: resolves with in when a frame arrives, with nothing on timeout', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b');
        const t0 = Date.now();
        assert.deepEqual(await b.poll({ timeout: 30 }), { in: false, out: false });
        assert.ok(Date.now() - t0 >= 20, 'waited for the timeout');
        assert.deepEqual(await b.poll({ timeout: 0 }), { in: false, out: false });
        assert.deepEqual(await b.poll({ events: 'out', timeout: 0 }), { in: false, out: true });
        const waiting = b.poll({ timeout: WAIT_MS });
        put(a, [frame(BROADCAST, macN(1))]);
        a.txsync();
        assert.deepEqual(await waiting, { in: true, out: false });
        assert.equal((await receive(b, 1, WAIT_MS)).length, 1);
      });
    });

    test('close twice is safe; every later call throws VALE_ERR_CLOSED', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b');
        a.close();
        a.close();
        assertCode(() => a.txsync(), ErrorCodes.CLOSED);
        assertCode(() => a.rxsync(), ErrorCodes.CLOSED);
        assertCode(() => a.counters(), ErrorCodes.CLOSED);
        await assertRejectsCode(a.poll({ timeout: 0 }), ErrorCodes.CLOSED);
        // the other port is unaffected and the name can be opened again
        put(b, [frame(BROADCAST, macN(2))]);
        b.txsync();
        const a2 = await open('vale0:a');
        put(b, [frame(BROADCAST, macN(2), { seq: 3 })]);
        b.txsync();
        assert.deepEqual((await receive(a2, 1, WAIT_MS)).map(seqOf), [3]);
      });
    });

    test('closing while a poll waits rejects it with VALE_ERR_CLOSED', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const waiting = a.poll({ timeout: 10_000 });
        a.close();
        await assertRejectsCode(waiting, ErrorCodes.CLOSED);
      });
    });

    test('an illegal head throws VALE_ERR_RING_REINIT and re-initialises the ring', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a', { txSlots: 64 });
        const b = await open('vale0:b');
        const tx = a.txRings[0] as NetmapRing;
        tx.head = 64;
        assertCode(() => a.txsync(), ErrorCodes.RING_REINIT);
        assert.deepEqual([tx.head, tx.cur, tx.tail], [0, 0, 63]);
        // and the port keeps working
        put(a, [frame(BROADCAST, macN(1), { seq: 8 })]);
        a.txsync();
        assert.deepEqual((await receive(b, 1, WAIT_MS)).map(seqOf), [8]);
        assert.equal(a.counters().ringErrors, 1);
      });
    });

    test('slot flags on RX: 0x100 for a plain frame', async () => {
      await withEnv(async (open) => {
        const a = await open('vale0:a');
        const b = await open('vale0:b');
        put(a, [frame(BROADCAST, macN(1))]);
        a.txsync();
        await b.poll({ timeout: WAIT_MS });
        const rx = b.rxRings[0] as NetmapRing;
        assert.ok(!rx.empty());
        assert.equal(rx.flags(rx.cur), 1 << layout.NS_RFRAGS_SHIFT);
      });
    });
  });
}
