/*
 * A lone frame from a vhost-user guest reaches a receiver that sleeps on its
 * futex (DaemonPort.pollSync, as pkt-gen waits) promptly: the daemon puts a
 * receiver's wake-up off to the end of the callback that forwarded into its
 * ring (src/ports/shm/shm-server.ts) and drains the guest's ring with kicks
 * suppressed until it runs dry (src/ports/vhost-user/vhost-port.ts); neither
 * may leave one frame waiting for the receiver's timeout. One frame at a time,
 * each kicked, each waited for with a 5 s timeout.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectPort } from '../../../src/index.js';
import { closeFd, createMemfd, eventfdSignal, mapFdRange } from '../../../src/sys/index.js';
import { exited, spawnDaemon, until, uvale } from '../../helpers/daemon.js';
import { drain, frame } from '../../helpers/vale.js';
import { handshake, MB, putTx } from '../../helpers/vhost.js';

const FRAMES = 20;
const TIMEOUT_MS = 5000;

test('lone frames from a vhost-user guest wake a receiver blocked in pollSync, each well before its timeout', {
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vh-lf-'));
  const sock = join(dir, 'vm.sock');
  const daemon = await spawnDaemon(dir);
  const memfd = createMemfd('vh-lf-guest', MB, { seals: 0 });
  const m = mapFdRange(memfd, MB, 0);
  let fe: ReturnType<typeof handshake> | null = null;
  const rx = await connectPort('vale-vhlf:rx', { dir });
  try {
    const a = await uvale(['ctl', '--dir', dir, '-a', `vale-vhlf:vm=vhost-user:${sock}`], { timeoutMs: 10_000 });
    assert.equal(a.code, 0, a.stderr);
    fe = handshake(sock, memfd, MB);
    await until(
      async () => {
        const l = JSON.parse((await uvale(['ctl', '--dir', dir, '--json'])).stdout) as {
          adapters: Array<{ name: string; extra?: { queueSizes?: string } }>;
        };
        return l.adapters.find((x) => x.name === 'vale-vhlf:vm')?.extra?.queueSizes === '64,64';
      },
      10_000,
      'the vhost-user rings to start',
    );
    const waits: number[] = [];
    for (let i = 0; i < FRAMES; i++) {
      putTx(m.bytes, i, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a', { len: 60, seq: i }));
      const t0 = performance.now();
      eventfdSignal(fe.kicks[1]!);
      const r = rx.pollSync({ events: 'in', timeout: TIMEOUT_MS });
      waits.push(performance.now() - t0);
      assert.equal(r.in, true, `frame ${i} arrived`);
      assert.equal(drain(rx).length, 1, `frame ${i}: one frame`);
    }
    waits.sort((x, y) => x - y);
    t.diagnostic(
      `kick → receiver awake: median ${waits[FRAMES >> 1]!.toFixed(2)} ms, max ${waits[FRAMES - 1]!.toFixed(2)} ms`,
    );
    assert.ok(waits[FRAMES - 1]! < TIMEOUT_MS / 5, `every frame woke the receiver (slowest ${waits[FRAMES - 1]} ms)`);
  } finally {
    if (fe !== null) {
      closeFd(fe.conn);
      for (const f of [...fe.kicks, ...fe.calls]) closeFd(f);
    }
    rx.close();
    daemon.kill('SIGTERM');
    await exited(daemon, 5000).catch(() => daemon.kill('SIGKILL'));
    m.unmap();
    closeFd(memfd);
    rmSync(dir, { recursive: true, force: true });
  }
});
