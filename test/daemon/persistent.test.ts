/* Persistent ports (vale-ctl -n/-r, attached with -a/-d): they keep their number and their rings while clients come and go. */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connectPort, Daemon, DaemonClient, ErrorCodes, isValeError } from '../../src/index.js';
import { tempRunDir, uvale } from '../helpers/daemon.js';
import { BROADCAST, drain, frame, macN, receive, send, seqOf } from '../helpers/vale.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

test('a persistent port keeps its number and rings, and receives only while open', async () => {
  const t = tempRunDir('persist');
  cleanups.push(t.cleanup);
  const dir = t.dir;
  const d = new Daemon({ dir, log: () => {}, autoExit: true, idleMs: 100 });
  await d.start();
  try {
    const c = await DaemonClient.connect({ dir });
    const req = (op: string, args: Record<string, unknown> = {}) => c.requestUntyped(op, args);
    const fails = async (p: Promise<unknown>, code: string) => assert.rejects(p, (e) => isValeError(e, code as never));

    assert.deepEqual(await req('newif', { name: 'p0', txSlots: 256, rxSlots: 256 }), {
      name: 'p0',
      attached: null,
      open: false,
      txRings: 1,
      rxRings: 1,
      txSlots: 256,
      rxSlots: 256,
    });
    await fails(req('newif', { name: 'p0' }), ErrorCodes.EXISTS);
    await fails(req('newif', { name: 'vale0' }), ErrorCodes.INVALID_NAME);
    await fails(req('newif', { name: 'p1', txSlots: 4096 }), ErrorCodes.LIMIT);
    assert.deepEqual(await req('attach', { name: 'vale-p:p0' }), {
      name: 'vale-p:p0',
      index: 0,
      kind: 'persistent',
      adapter: null,
    });
    await fails(req('attach', { name: 'vale-p:p0' }), ErrorCodes.BUSY);
    await fails(req('delif', { name: 'p0' }), ErrorCodes.BUSY);

    const x = await connectPort('vale-p:x', { dir });
    assert.equal(x.portIndex, 1);
    send(x, [frame(BROADCAST, macN(1), { seq: 1 })]);

    // opened: same number, the creator's rings (not the 1024 slots asked for)
    const p = await connectPort('vale-p:p0', { dir, txSlots: 1024, rxSlots: 1024 });
    assert.equal(p.portIndex, 0);
    assert.equal(p.rxRings[0]?.numSlots, 256);
    assert.deepEqual(drain(p), [], 'nothing was delivered while it was closed');
    send(x, [frame(BROADCAST, macN(1), { seq: 2 })]);
    assert.deepEqual((await receive(p, 1)).map(seqOf), [2]);
    send(p, [frame(BROADCAST, macN(5), { seq: 3 })]); // p's MAC is learnt
    await receive(x, 1);
    await assert.rejects(connectPort('vale-p:p0', { dir }), (e) => {
      assert.ok(isValeError(e, ErrorCodes.BUSY));
      assert.match((e as Error).message, /already open \(a port has one client at a time\)/);
      return true;
    });
    await fails(req('detach', { name: 'vale-p:p0' }), ErrorCodes.BUSY);

    // closed: the placeholder takes the number back and the switch stays
    p.close();
    await new Promise((r) => setTimeout(r, 50));
    const list = (await req('list')) as { ports: Array<{ name: string; index: number; kind: string }> };
    assert.deepEqual(
      list.ports.map((q) => [q.name, q.index, q.kind]),
      [
        ['vale-p:p0', 0, 'persistent'],
        ['vale-p:x', 1, 'shm'],
      ],
    );
    // its counters stay, as a NIC's do: 1 frame received while open
    const st = (await c.request('port', { name: 'vale-p:p0' })).counters;
    assert.equal(st.rxPackets, 1, 'the persistent port kept its counters after its client closed');
    // and its MACs, as a NIC's neighbours keep theirs (p sent from macN(5) while open)
    const macs = (await c.request('mac', { switch: 'vale-p' })).entries;
    assert.ok(
      macs.some((m) => m.portName === 'vale-p:p0' && m.mac === macN(5)),
      `the MAC learnt on the persistent port stays: ${JSON.stringify(macs)}`,
    );
    // reopened: still port 0, and the counters go on from there
    const p2 = await connectPort('vale-p:p0', { dir });
    assert.equal(p2.portIndex, 0);
    assert.equal((await c.request('port', { name: 'vale-p:p0' })).counters.rxPackets, 1);
    p2.close();
    x.close();
    c.close();
    // no client and no port open, but a persistent port: the auto daemon stays
    await new Promise((r) => setTimeout(r, 400));
    const c2 = await DaemonClient.connect({ dir, autostart: false });
    assert.deepEqual(await c2.request('detach', { name: 'vale-p:p0' }), { name: 'vale-p:p0', adapter: null });
    await c2.request('delif', { name: 'p0' });
    await assert.rejects(c2.request('delif', { name: 'p0' }), (e) => isValeError(e, ErrorCodes.NOT_FOUND));
    c2.close();
    // nothing left: it exits
    await d.stopped;
  } finally {
    await d.stop();
  }
});

test('uvale ctl -n/-a/-d/-r', async () => {
  const t = tempRunDir('ctlpersist');
  cleanups.push(t.cleanup);
  const env = { UVALE_RUN_DIR: t.dir };
  try {
    assert.equal(
      (await uvale(['ctl', '-n', 'pp', '-C', '512,256'], { env })).stdout,
      'pp created: 1x512 TX, 1x256 RX slots\n',
    );
    assert.equal((await uvale(['ctl', '-a', 'vale-q:pp'], { env })).stdout, 'vale-q:pp attached, port_idx 0\n');
    assert.equal((await uvale(['ctl'], { env })).stdout, 'vale-q:pp bridge_idx 0 port_idx 0\n');
    const g = JSON.parse((await uvale(['ctl', '-g', 'vale-q:pp', '--json'], { env })).stdout);
    assert.deepEqual([g.tx_slots, g.rx_slots], [512, 256]);
    const r = await uvale(['ctl', '-r', 'pp'], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /attached as vale-q:pp; detach it first/);
    assert.equal((await uvale(['ctl', '-d', 'vale-q:pp'], { env })).stdout, 'vale-q:pp detached\n');
    assert.equal((await uvale(['ctl', '-r', 'pp'], { env })).stdout, 'pp destroyed\n');
  } finally {
    await uvale(['ctl', '--shutdown'], { env });
  }
});
