/*
 * UDP GSO and GRO in tunnel ports (uvale.vxlan_offload), between two uvale
 * switches in this process over loopback: a burst of equal frames leaves the
 * sender as GSO messages (runs joined per remote, a shorter frame ending a
 * run) and reaches the receiver as GRO buffers, which the port cuts back
 * into datagrams; every frame arrives once, in order, byte for byte. With
 * the offloads off, the same burst crosses with neither counter moving.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type NetmapPort, openPort, ValeHost } from '../../src/index.js';
import type { AttachContext } from '../../src/ports/adapter.js';
import { parseTunnelSpec } from '../../src/ports/vxlan/spec.js';
import { TunnelPort } from '../../src/ports/vxlan/tunnel-port.js';
import { frame, macN, receive, send } from '../helpers/vale.js';

const NET = `127.${(process.pid >> 8) & 0xff}.${process.pid & 0xff}`;

function ctx(host: ValeHost): AttachContext {
  return { host, log: () => {}, onTraffic: () => {}, onGone: () => {} };
}

interface Site {
  tun: TunnelPort;
  nm: NetmapPort;
}

function site(offload: number, me: string, peer: string, port: number): Site {
  const host = new ValeHost();
  host.settings.set('uvale.vxlan_offload', offload);
  const tun = TunnelPort.attach(
    ctx(host),
    'valeof:tun',
    parseTunnelSpec(`vxlan:vni=7,local=${me}:${port},remote=${peer}:${port}`),
  );
  return { tun, nm: openPort('valeof:nm', { host }) };
}

for (const offload of [3, 0]) {
  describe(`uvale.vxlan_offload=${offload}`, () => {
    test('a burst of 300 frames (60 B, one of 59 in the middle) crosses once each, in order, byte for byte', async () => {
      const port = 20000 + (process.pid % 20000) + offload;
      const a = site(offload, `${NET}.61`, `${NET}.62`, port);
      const b = site(offload, `${NET}.62`, `${NET}.61`, port);
      try {
        // an unknown unicast MAC: flooded by a's switch to the tunnel, by the tunnel to its one remote
        const frames = Array.from({ length: 300 }, (_, i) =>
          frame(macN(2), macN(1), { seq: i, len: i === 150 ? 59 : 60 }),
        );
        for (let i = 0; i < 300; i += 100) send(a.nm, frames.slice(i, i + 100));
        const got = await receive(b.nm, 300, 5000);
        assert.equal(got.length, 300);
        for (const [i, g] of got.entries()) assert.ok(Buffer.from(g).equals(frames[i] as Uint8Array), `frame ${i}`);
        const ea = a.tun.info().extra;
        const eb = b.tun.info().extra;
        assert.equal(ea.datagramsOut, 300);
        assert.equal(b.tun.info().counters.inFrames, 300);
        assert.equal(b.tun.info().counters.inDrops, 0);
        if (offload === 3) {
          assert.equal(ea.gso, true);
          assert.ok((ea.gsoMessages as number) >= 3, `runs joined: ${ea.gsoMessages} messages`);
          assert.ok((ea.gsoDatagrams as number) > 200, `${ea.gsoDatagrams} datagrams in them`);
          assert.equal(eb.gro, true);
          assert.ok((eb.groBuffers as number) >= 1, `coalesced on receive: ${eb.groBuffers}`);
        } else {
          assert.deepEqual([ea.gso, ea.gsoMessages, eb.gro, eb.groBuffers], [false, 0, false, 0]);
        }
      } finally {
        for (const s of [a, b]) {
          s.nm.close();
          s.tun.close();
        }
      }
    });
  });
}
