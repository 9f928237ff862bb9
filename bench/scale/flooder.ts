/*
 * A broadcast flooder for the storm figure and test (bench/scale/storm.ts):
 * a child process holding daemon ports PORTS (comma-separated, env
 * UVALE_FLOOD_PORTS) that fills every TX ring with 60-byte frames to
 * ff:ff:ff:ff:ff:ff, txsyncs, releases whatever arrived on its RX rings, and
 * does it again on the next event-loop turn, as fast as it can, until killed.
 * It prints "ready" on stdout when every port is open. Runs only with
 * UVALE_FLOOD=1 in its environment.
 */

import { connectPort, DaemonClient, type DaemonPort, type NetmapRing } from '../../src/index.js';

async function main(): Promise<void> {
  const dir = process.env.UVALE_FLOOD_DIR as string;
  const names = (process.env.UVALE_FLOOD_PORTS as string).split(',');
  const slots = Number(process.env.UVALE_FLOOD_SLOTS ?? 0);
  const geometry = slots > 0 ? { txSlots: slots, rxSlots: slots } : {};
  const ports: DaemonPort[] = [];
  const client = await DaemonClient.connect({ dir, autostart: false }); // one connection for all its ports
  for (let i = 0; i < names.length; i++) {
    const p = await connectPort(names[i] as string, { client, ...geometry });
    ports.push(p);
    const r = p.txRings[0] as NetmapRing;
    for (let s = 0; s < r.numSlots; s++) {
      const o = r.buf(s);
      for (let k = 0; k < 6; k++) r.u8[o + k] = 0xff;
      r.u8.set([2, 0x5f, 0, 0, 0, i + 1, 0x88, 0xb5], o + 6);
    }
  }
  process.stdout.write('ready\n');
  const loop = (): void => {
    for (const p of ports) {
      const tx = p.txRings[0] as NetmapRing;
      let s = tx.cur;
      let n = tx.space();
      while (n-- > 0) {
        tx.setLen(s, 60);
        s = tx.next(s);
      }
      tx.head = tx.cur = s;
      p.txsync();
      p.rxsync();
      const rx = p.rxRings[0] as NetmapRing;
      rx.head = rx.cur = rx.tail;
      p.rxsync();
    }
    setImmediate(loop);
  };
  loop();
}

if (process.env.UVALE_FLOOD === '1') {
  main().catch((e) => {
    process.stderr.write(`flooder: ${(e as Error).stack}\n`);
    process.exit(3);
  });
}
