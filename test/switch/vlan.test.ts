/*
 * VLANs (src/switch/vlan.ts, docs/vlans.md): setting syntax, tag insertion
 * and removal as byte moves, and forwarding on an in-process VLAN-aware
 * switch: admission and its counters, flooding and learning per (VID, MAC),
 * chains, MAX_FRAME, virtio-net headers; properties: untag(tag(f)) = f, and
 * no frame crosses VIDs.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, isValeError, type LocalPort, layout, openPort } from '../../src/index.js';
import { buildIpv4, TCP_ACK, tcpHeader } from '../../src/pkt/build.js';
import { verifyIpv4HeaderChecksum, verifyL4Checksum4 } from '../../src/pkt/checksum.js';
import {
  formatVlanSpec,
  parseVidList,
  parseVlanSpec,
  TAG_LEN,
  tag,
  untag,
  type VlanSpec,
} from '../../src/switch/vlan.js';
import { bridge } from '../helpers/bridge.js';
import { BROADCAST, drain, drainSlots, frame, macN, putChain, send, seqOf, split } from '../helpers/vale.js';

const { MAX_FRAME, NM_BUF_SIZE, NS_MOREFRAG } = layout;

/** `f` with an 802.1Q tag (TCI `tci`) after its MAC addresses, built by hand. */
function tagged(f: Uint8Array, vid: number, pcp = 0): Uint8Array {
  const out = new Uint8Array(f.length + 4);
  out.set(f.subarray(0, 12), 0);
  out.set([0x81, 0x00, (pcp << 5) | (vid >>> 8), vid & 0xff], 12);
  out.set(f.subarray(12), 16);
  return out;
}

/** The VID of a received frame's tag, or -1 when untagged. */
function vidOf(f: Uint8Array): number {
  return f[12] === 0x81 && f[13] === 0x00 ? (((f[14] as number) & 0x0f) << 8) | (f[15] as number) : -1;
}

/** The seq of a frame sent tagged (frame()'s seq sits 4 bytes later). */
function seqTagged(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset).getUint32(18);
}

function counter(p: LocalPort, name: string): number {
  return (p.counters() as unknown as Record<string, number>)[name] as number;
}

describe('VLAN settings', () => {
  test('parse and format round-trip', () => {
    for (const t of ['none', 'access:10', 'trunk', 'trunk:1-10,20', 'trunk:1-10,20,native=1', 'trunk:native=7']) {
      assert.equal(formatVlanSpec(parseVlanSpec(t)), t);
    }
    assert.deepEqual(parseVlanSpec('trunk:20,1-3,2'), { mode: 'trunk', vids: [1, 2, 3, 20] });
    assert.deepEqual(parseVidList('4094,1'), [1, 4094]);
  });

  test('bad settings are INVALID_ARG', () => {
    for (const t of [
      'access',
      'access:0',
      'access:4095',
      'access:1,2',
      'trunk:0',
      'trunk:5-3',
      'trunk:x',
      'hybrid:1',
    ]) {
      assert.throws(
        () => parseVlanSpec(t),
        (e: unknown) => isValeError(e) && e.code === ErrorCodes.INVALID_ARG,
        t,
      );
    }
  });
});

describe('tag and untag', () => {
  test('tag inserts 81 00 TCI after the MACs, past a virtio-net header whose offsets follow', () => {
    const f = frame(macN(1), macN(2), { len: 64, seq: 9 });
    // NEEDS_CSUM, GSO TCPv4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16, num_buffers 1
    const hdr = Uint8Array.from([1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0]);
    const src = Buffer.concat([hdr, f]);
    const out = new Uint8Array(src.length + 4);
    assert.equal(tag(src, src.length, 12, 0x123, out), src.length + 4);
    const moved = Uint8Array.from([1, 1, 58, 0, 0xa8, 0x05, 38, 0, 16, 0, 1, 0]);
    assert.deepEqual(Buffer.from(out), Buffer.concat([moved, tagged(f, 0x123)]));
    const back = new Uint8Array(src.length);
    assert.equal(untag(out, out.length, 12, back), src.length);
    assert.deepEqual(Buffer.from(back), src);
    // a header asking for nothing is copied as it is
    const plain = Buffer.concat([new Uint8Array(10), f]);
    tag(plain, plain.length, 10, 7, out);
    assert.deepEqual(Buffer.from(out.subarray(0, 10)), Buffer.from(new Uint8Array(10)));
  });

  test('a tag that would pass MAX_FRAME is refused', () => {
    const big = new Uint8Array(MAX_FRAME + 10);
    const out = new Uint8Array(MAX_FRAME + 20);
    assert.equal(tag(big, MAX_FRAME, 0, 5, out), -1);
    assert.equal(tag(big, MAX_FRAME - 4, 0, 5, out), MAX_FRAME);
    assert.equal(tag(big, MAX_FRAME - 3 + 10, 10, 5, out), -1);
  });

  test('property: untag(tag(f)) is f, bit for bit', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 14, maxLength: 3000 }),
        fc.constantFrom(0, 10, 12),
        fc.integer({ min: 1, max: 4094 }),
        (body, hl, vid) => {
          const f = Buffer.concat([new Uint8Array(hl).fill(0x5a), body]);
          const t = new Uint8Array(f.length + TAG_LEN);
          const n = tag(f, f.length, hl, vid, t);
          assert.equal(n, f.length + TAG_LEN);
          assert.equal(vidOf(t.subarray(hl)), vid);
          const u = new Uint8Array(f.length);
          assert.equal(untag(t, n, hl, u), f.length);
          assert.deepEqual(Buffer.from(u), f);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('VLAN-aware forwarding', () => {
  test('access, trunk and none ports: who receives what, tagged how', () => {
    const { ports, sw } = bridge(['a10', 'b20', 'c', 'd', 'e10']);
    const [a, b, c, d, e] = ports as [LocalPort, LocalPort, LocalPort, LocalPort, LocalPort];
    sw.setVlan('a10', 'access:10');
    sw.setVlan('b20', { mode: 'access', vid: 20 });
    sw.setVlan('c', 'trunk:1-10,20');
    sw.setVlan('e10', 'access:10');
    const [ma, mb, mc] = [macN(0xa), macN(0xb), macN(0xc)];

    // a broadcast from an access port: untagged to the other access port of its VID,
    // tagged to the trunk and to the port without a setting (a trunk of every VID)
    const f1 = frame(BROADCAST, ma, { seq: 1 });
    send(a, [f1]);
    assert.deepEqual(drain(e), [Buffer.from(f1)]);
    assert.deepEqual(drain(c), [Buffer.from(tagged(f1, 10))]);
    assert.deepEqual(drain(d), [Buffer.from(tagged(f1, 10))]);
    assert.deepEqual(drain(b), []);

    // tagged 20 from the trunk: untagged at b only (a's MAC is unknown in VID 20: flooded there)
    const f2 = tagged(frame(ma, mc, { seq: 2 }), 20, 5);
    send(c, [f2]);
    assert.deepEqual(drain(b), [Buffer.from(frame(ma, mc, { seq: 2 }))]);
    assert.deepEqual(drain(d), [Buffer.from(f2)], 'trunk to trunk: the tag as it came, PCP included');
    assert.deepEqual(drain(a), []);
    assert.deepEqual(drain(e), []);

    // tagged 10 to a's MAC from the trunk: learnt in VID 10, so a alone, untagged
    send(c, [tagged(frame(ma, mc, { seq: 3 }), 10)]);
    assert.deepEqual(drain(a), [Buffer.from(frame(ma, mc, { seq: 3 }))]);
    assert.deepEqual(drain(e), []);
    assert.deepEqual(drain(d), []);

    // b answers c in VID 20: c was learnt in VID 20 by f2 → only c, tagged 20
    send(b, [frame(mc, mb, { seq: 4 })]);
    assert.deepEqual(
      drain(c).map((f) => [vidOf(f), seqTagged(f)]),
      [[20, 4]],
    );
    assert.deepEqual(drain(d), []);

    // the learning table: one entry per (VID, MAC)
    const entries = sw
      .macEntries()
      .map((x) => `${x.mac}@${x.vid}:${x.portName}`)
      .sort();
    assert.deepEqual(entries, [`${ma}@10:vale0:a10`, `${mb}@20:vale0:b20`, `${mc}@10:vale0:c`, `${mc}@20:vale0:c`]);

    // drops, counted per reason on the sender
    send(a, [tagged(frame(BROADCAST, ma, { seq: 5 }), 10)]);
    assert.equal(counter(a, 'dropVlanTagged'), 1);
    send(c, [frame(BROADCAST, mc, { seq: 6 })]);
    assert.equal(counter(c, 'dropVlanUntagged'), 1);
    send(c, [tagged(frame(BROADCAST, mc, { seq: 7 }), 30), tagged(frame(BROADCAST, mc, { seq: 8 }), 0)]);
    assert.equal(counter(c, 'dropVlanVid'), 2);
    send(d, [tagged(frame(BROADCAST, macN(0xd), { seq: 9 }), 4095)]);
    assert.equal(counter(d, 'dropVlanVid'), 1);
    for (const p of ports) assert.deepEqual(drain(p), [], 'nothing delivered of the dropped frames');
  });

  test('native VID: untagged in, untagged out; others tagged', () => {
    const { ports, sw } = bridge(['t', 'a1', 'a2']);
    const [t, a1, a2] = ports as [LocalPort, LocalPort, LocalPort];
    sw.setVlan('t', 'trunk:1-2,native=1');
    sw.setVlan('a1', 'access:1');
    sw.setVlan('a2', 'access:2');
    send(a1, [frame(BROADCAST, macN(1), { seq: 1 })]);
    send(a2, [frame(BROADCAST, macN(2), { seq: 2 })]);
    assert.deepEqual(
      drain(t).map((f) => vidOf(f)),
      [-1, 2],
    );
    send(t, [frame(BROADCAST, macN(3), { seq: 3 })]);
    assert.deepEqual(drain(a1).map(seqOf), [3]);
    assert.deepEqual(drain(a2), []);
  });

  test('untagged frames between ports without a setting pass as on VALE (VID 0)', () => {
    const { ports, sw } = bridge(['a', 'x', 'y']);
    const [a, x, y] = ports as [LocalPort, LocalPort, LocalPort];
    sw.setVlan('a', 'access:5');
    const f = frame(BROADCAST, macN(7), { seq: 1 });
    send(x, [f]);
    assert.deepEqual(drain(y), [Buffer.from(f)]);
    assert.deepEqual(drain(a), []);
  });

  test('removing the last setting gives back the VLAN-unaware bridge', () => {
    const { ports, sw } = bridge(['a', 'b']);
    const [a, b] = ports as [LocalPort, LocalPort];
    sw.setVlan('a', 'access:5');
    assert.equal(sw.vlans.on, true);
    sw.setVlan('a', 'none');
    assert.equal(sw.vlans.on, false);
    assert.deepEqual(sw.vlanList(), []);
    const f = tagged(frame(BROADCAST, macN(1), { seq: 1 }), 5);
    send(a, [f]);
    assert.deepEqual(drain(b), [Buffer.from(f)]);
    assert.equal(sw.macEntries()[0]?.vid, undefined);
  });

  test('a setting made before its port attaches applies when it does', () => {
    const { host, ports, sw } = bridge(['t']);
    sw.setVlan('late', 'access:3');
    sw.setVlan('t', 'trunk:3');
    const p = openPort('vale0:late', { host });
    send(ports[0] as LocalPort, [tagged(frame(BROADCAST, macN(1), { seq: 4 }), 3)]);
    assert.deepEqual(drain(p).map(seqOf), [4]);
    p.close();
  });

  test('chains: a tag removed from and added to multi-slot frames, a first slot of 2048 bytes spills', () => {
    const { ports, sw } = bridge(['a', 't']);
    const [a, t] = ports as [LocalPort, LocalPort];
    sw.setVlan('a', 'access:9');
    sw.setVlan('t', 'trunk:9');
    // access → trunk: 5000 bytes in slots of 2048, 2048, 904
    const f = frame(BROADCAST, macN(1), { len: 5000, seq: 1 });
    putChain(a, split(f, NM_BUF_SIZE));
    a.txsync();
    const slots = drainSlots(t);
    assert.deepEqual(
      slots.map((s) => [s.len, s.flags & NS_MOREFRAG]),
      [
        [2048, NS_MOREFRAG],
        [2048, NS_MOREFRAG],
        [908, 0],
      ],
    );
    assert.deepEqual(Buffer.concat(slots.map((s) => s.data)), Buffer.from(tagged(f, 9)));
    // trunk → access: a tagged chain of small odd fragments
    const g = tagged(frame(BROADCAST, macN(2), { len: 3001, seq: 2 }), 9);
    putChain(t, split(g, 333));
    t.txsync();
    assert.deepEqual(drain(a), [Buffer.from(frame(BROADCAST, macN(2), { len: 3001, seq: 2 }))]);
  });

  test('MAX_FRAME: a tag that would pass it drops the frame for that port, counted', () => {
    const { ports, sw } = bridge(['a', 'a2', 't'], { rxSlots: 64, txSlots: 64 });
    const [a, a2, t] = ports as [LocalPort, LocalPort, LocalPort];
    sw.setVlan('a', 'access:9');
    sw.setVlan('a2', 'access:9');
    sw.setVlan('t', 'trunk:9');
    const f = frame(BROADCAST, macN(1), { len: MAX_FRAME, seq: 1 });
    putChain(a, split(f, NM_BUF_SIZE));
    a.txsync();
    assert.deepEqual(drain(a2), [Buffer.from(f)]);
    assert.deepEqual(drain(t), []);
    assert.equal(counter(a, 'dropVlanOversize'), 1);
    // 4 bytes less fits, tagged, at exactly MAX_FRAME
    const g = frame(BROADCAST, macN(1), { len: MAX_FRAME - 4, seq: 2 });
    putChain(a, split(g, NM_BUF_SIZE));
    a.txsync();
    const got = drain(t);
    assert.equal(got[0]?.length, MAX_FRAME);
    assert.deepEqual(got, [Buffer.from(tagged(g, 9))]);
  });

  test('virtio-net headers stay in front; different header lengths are converted', () => {
    const { host, ports, sw } = bridge(['h12a', 'h12t'], { vnetHdrLen: 12 });
    const plain = openPort('vale0:p0', { host });
    sw.setVlan('h12a', 'access:4');
    sw.setVlan('h12t', 'trunk:4');
    sw.setVlan('p0', 'trunk:4');
    const [h12a, h12t] = ports as [LocalPort, LocalPort];
    const hdr = new Uint8Array(12);
    hdr[10] = 1; // num_buffers: the rest zero (nothing left to do)
    const f = frame(BROADCAST, macN(1), { seq: 1 });
    send(h12a, [Buffer.concat([hdr, f])]);
    assert.deepEqual(drain(h12t), [Buffer.concat([hdr, tagged(f, 4)])]);
    assert.deepEqual(drain(plain), [Buffer.from(tagged(f, 4))]);
    send(plain, [tagged(frame(BROADCAST, macN(2), { seq: 2 }), 4)]);
    const got = drain(h12a);
    assert.equal(got.length, 1);
    assert.deepEqual(
      Buffer.from((got[0] as Uint8Array).subarray(12)),
      Buffer.from(frame(BROADCAST, macN(2), { seq: 2 })),
    );
    plain.close();
  });

  test('TSO frames: offsets in the virtio-net header follow the tag; segmented for a port without a header, each tagged', () => {
    const { host, ports, sw } = bridge(['acc', 'trk'], { vnetHdrLen: 12, rxSlots: 256 });
    const plain = openPort('vale0:p0', { host, rxSlots: 256 });
    const [acc, trk] = ports as [LocalPort, LocalPort];
    sw.setVlan('acc', 'access:9');
    sw.setVlan('trk', 'trunk:9');
    sw.setVlan('p0', 'trunk:9');
    const payload = new Uint8Array(20000).map((_, i) => (i * 7) & 0xff);
    const l4 = tcpHeader({ sport: 40000, dport: 5201, seq: 1000, ack: 77, flags: TCP_ACK, payload });
    const eth = buildIpv4({
      srcMac: macN(1),
      dstMac: macN(2),
      proto: 6,
      l4,
      pad: false,
      src: '10.0.0.1',
      dst: '10.0.0.2',
      id: 5,
    });
    // NEEDS_CSUM, GSO TCPv4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16
    const hdr = Uint8Array.from([1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0]);
    putChain(acc, split(Buffer.concat([hdr, eth]), NM_BUF_SIZE));
    acc.txsync();
    const moved = Uint8Array.from([1, 1, 58, 0, 0xa8, 0x05, 38, 0, 16, 0, 1, 0]);
    assert.deepEqual(
      drain(trk),
      [Buffer.concat([moved, tagged(eth, 9)])],
      'to a trunk with offloads: one tagged chain',
    );
    const segs = drain(plain);
    assert.equal(segs.length, Math.ceil(20000 / 1448));
    const got: Uint8Array[] = [];
    for (const t of segs) {
      assert.equal(vidOf(t), 9);
      const u = Buffer.concat([t.subarray(0, 12), t.subarray(16)]);
      assert.ok(verifyIpv4HeaderChecksum(u, 14), 'IPv4 header checksum');
      assert.ok(verifyL4Checksum4(u, 14, 34, u.length - 34, 6), 'TCP checksum');
      got.push(u.subarray(54));
    }
    assert.deepEqual(Buffer.concat(got), Buffer.from(payload));
    plain.close();
  });

  test('a sender that rewrites its frame after admission cannot move it into another VLAN', () => {
    // a lookup function runs between admission and the copy: it plays a client racing the switch
    const { ports, sw } = bridge(['t1', 't2', 'a10', 'b10', 'a20']);
    const [t1, t2, a10, b10, a20] = ports as [LocalPort, LocalPort, LocalPort, LocalPort, LocalPort];
    sw.setVlan('t1', 'trunk:10,20');
    sw.setVlan('t2', 'trunk:10,20');
    sw.setVlan('a10', 'access:10');
    sw.setVlan('b10', 'access:10');
    sw.setVlan('a20', 'access:20');
    let rewrite: (b: Uint8Array, o: number) => void = () => {};
    sw.setLookup((bytes, offset) => {
      rewrite(bytes, offset);
      return 254; // NM_BDG_BROADCAST
    });
    // admitted in VID 10, then rewritten to 20: t2 gets it as VID 10, a20 nothing
    rewrite = (b, o) => {
      b[o + 15] = 20;
    };
    for (const len of [60, 3000]) {
      const f = tagged(frame(BROADCAST, macN(1), { len, seq: 1 }), 10, 6);
      putChain(t1, split(f, NM_BUF_SIZE));
      t1.txsync();
      assert.deepEqual(drain(t2), [Buffer.from(f)], `len ${len}: the VID decided at admission, PCP kept`);
      assert.deepEqual(drain(a20), []);
      assert.equal(drain(a10).length, 1);
      assert.equal(drain(b10).length, 1);
    }
    // admitted untagged in VID 10, then made to look tagged 20: not delivered as such
    rewrite = (b, o) => {
      b.set([0x81, 0x00, 0x00, 20], o + 12);
    };
    const before = counter(a10, 'dropVlanVid');
    for (const len of [60, 3000]) {
      putChain(a10, split(frame(BROADCAST, macN(2), { len, seq: 2 }), NM_BUF_SIZE));
      a10.txsync();
      assert.deepEqual(drain(b10), [], `len ${len}`);
      assert.deepEqual(drain(a20), []);
      for (const f of drain(t1)) assert.equal(vidOf(f), 10, 'the tag the switch added is the outer one');
    }
    assert.equal(counter(a10, 'dropVlanVid') - before, 2);
  });

  test('a /t monitor on a VLAN-aware switch sees the frames as its port sent them', () => {
    const { host, ports, sw } = bridge(['a', 't']);
    const [a, t] = ports as [LocalPort, LocalPort];
    sw.setVlan('a', 'access:3');
    sw.setVlan('t', 'trunk:3');
    const mon = openPort('vale0:a/t', { host });
    const f = frame(BROADCAST, macN(1), { seq: 1 });
    send(a, [f]);
    assert.deepEqual(drain(t), [Buffer.from(tagged(f, 3))]);
    assert.deepEqual(drain(mon), [Buffer.from(f)]);
    mon.close();
  });

  test('an /r monitor on a VLAN-aware switch sees what its port received, only its own VID, in order', () => {
    const { host, ports, sw } = bridge(['a', 'b', 't']);
    const [a, b, t] = ports as [LocalPort, LocalPort, LocalPort];
    sw.setVlan('a', 'access:3');
    sw.setVlan('b', 'access:4');
    sw.setVlan('t', 'trunk:3,4');
    const r = openPort('vale0:t/r', { host });
    const rt = openPort('vale0:b/rt', { host });
    const f1 = frame(BROADCAST, macN(1), { seq: 1 });
    const f2 = frame(BROADCAST, macN(2), { seq: 2 });
    const f3 = frame(BROADCAST, macN(1), { seq: 3 });
    send(a, [f1]);
    send(b, [f2]);
    send(a, [f3]);
    assert.deepEqual(
      drain(t),
      [tagged(f1, 3), tagged(f2, 4), tagged(f3, 3)].map((x) => Buffer.from(x)),
    );
    // copies are the frames as their senders sent them, in the order t got them
    assert.deepEqual(
      drain(r),
      [f1, f2, f3].map((x) => Buffer.from(x)),
    );
    // b got nothing (VID 3 floods stay in VID 3); its /rt monitor has b's own frame only
    assert.deepEqual(drain(b), []);
    assert.deepEqual(drain(rt), [Buffer.from(f2)]);
    r.close();
    rt.close();
  });

  test('property: no frame crosses VIDs, and each arrives tagged as its port says', () => {
    const vidSet = [1, 2, 3];
    const spec = fc.oneof(
      fc.record({ mode: fc.constant('access' as const), vid: fc.constantFrom(...vidSet) }),
      fc.record({
        mode: fc.constant('trunk' as const),
        vids: fc.subarray(vidSet, { minLength: 1 }),
        native: fc.option(fc.constantFrom(...vidSet), { nil: undefined }),
      }),
      fc.constant({ mode: 'none' as const }),
    );
    fc.assert(
      fc.property(
        fc.array(spec, { minLength: 2, maxLength: 5 }),
        fc.array(
          fc.record({
            from: fc.nat(4),
            to: fc.nat(5),
            tag: fc.option(fc.constantFrom(0, 1, 2, 3, 4), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (specs, sends) => {
          // with no setting at all the switch is VALE's VLAN-unaware bridge (tested elsewhere)
          fc.pre(specs.some((s) => s.mode !== 'none'));
          const names = specs.map((_, i) => `q${i}`);
          const { ports, sw } = bridge(names);
          specs.forEach((s, i) => {
            const clean: VlanSpec =
              s.mode === 'trunk'
                ? { mode: 'trunk', vids: s.vids, ...(s.native !== undefined ? { native: s.native } : {}) }
                : s;
            sw.setVlan(names[i] as string, clean);
          });
          // the model: the VID a frame belongs to on ingress (-1: dropped), and membership on egress
          const ingress = (s: (typeof specs)[number], t: number | undefined): number => {
            if (s.mode === 'access') return t === undefined ? s.vid : -1;
            if (s.mode === 'none') return t === undefined ? 0 : t >= 1 && t <= 4094 ? t : -1;
            if (t === undefined) return s.native ?? -1;
            return s.vids.includes(t) ? t : -1;
          };
          const egress = (s: (typeof specs)[number], vid: number): number => {
            if (s.mode === 'access') return vid === s.vid ? 1 : 0;
            if (s.mode === 'none') return vid === 0 ? 1 : vid >= 1 ? 2 : 0;
            return vid === s.native ? 1 : s.vids.includes(vid) ? 2 : 0;
          };
          sends.forEach((x, k) => {
            const from = x.from % ports.length;
            const dst = x.to >= ports.length ? BROADCAST : macN(0x100 + x.to);
            const base = frame(dst, macN(0x100 + from), { seq: k });
            send(ports[from] as LocalPort, [x.tag === undefined ? base : tagged(base, x.tag)]);
            const vid = ingress(specs[from] as (typeof specs)[number], x.tag);
            ports.forEach((p, i) => {
              const got = drain(p);
              if (got.length === 0) return;
              assert.equal(got.length, 1);
              assert.notEqual(i, from, 'no hairpin');
              assert.notEqual(vid, -1, 'a frame not admitted is not delivered');
              const how = egress(specs[i] as (typeof specs)[number], vid);
              assert.notEqual(how, 0, `port q${i} is not in VID ${vid}`);
              const f = got[0] as Uint8Array;
              if (how === 1) assert.deepEqual(Buffer.from(f), Buffer.from(base));
              else assert.deepEqual(Buffer.from(f), Buffer.from(tagged(base, vid)));
            });
          });
          for (const p of ports) p.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
