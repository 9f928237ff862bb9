/*
 * The port-memory figure: what one default port costs the daemon. A daemon in
 * a fresh run directory; this process opens `ports` ports with netmap's
 * default geometry through it (one control connection, as a client with many
 * ports would), then sends one full ring of frames from every port to the
 * next (so the daemon has read every TX buffer and written every RX buffer of
 * every port at least once). The daemon's RSS (VmRSS, and its RssShmem part:
 * the ports' regions it mapped) is read idle, after the opens and after the
 * traffic; the figure is the growth per port after the traffic, the worst
 * case. The size of a default port's region is the `memsize` of `list`.
 *
 *   node dist/bench/scale/port-memory.js [--ports 64]
 *
 * prints one JSON line.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectPort, DaemonClient, type DaemonPort, type NetmapRing } from '../../src/index.js';
import { spawnDaemon } from '../../test/helpers/daemon.js';

export interface PortMemory {
  ports: number;
  region_bytes: number;
  rss_idle_kib: number;
  rss_open_kib: number;
  rss_traffic_kib: number;
  shmem_traffic_kib: number;
  /** (rss_traffic - rss_idle) / ports, MiB. */
  per_port_mib: number;
  /** The same after the opens only (regions mapped, few pages touched). */
  per_port_open_mib: number;
}

function status(pid: number): { rss: number; shmem: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return { rss: get('VmRSS'), shmem: get('RssShmem') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lets the daemon forward, then reads its RSS once it stops changing. */
async function settled(pid: number): Promise<{ rss: number; shmem: number }> {
  let last = status(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(100);
    const now = status(pid);
    if (now.rss === last.rss) return now;
    last = now;
  }
  return last;
}

export async function measurePortMemory(nports: number): Promise<PortMemory> {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-portmem-'));
  const switches = Math.ceil(nports / 252);
  const daemon = await spawnDaemon(dir, [
    '--sysctl',
    `dev.netmap.max_ports=${Math.min(252, nports)}`,
    '--sysctl',
    `dev.netmap.max_bridges=${Math.max(4, switches)}`,
  ]);
  daemon.stderr?.resume();
  const pid = daemon.pid as number;
  const ports: DaemonPort[] = [];
  let client: DaemonClient | null = null;
  try {
    client = await DaemonClient.connect({ dir, autostart: false });
    await client.request('list');
    const idle = await settled(pid);
    for (let i = 0; i < nports; i++) {
      ports.push(await connectPort(`vale-pm${Math.floor(i / 252)}:${i % 252}`, { client }));
    }
    const open = await settled(pid);
    // one full TX ring from every port, to the next port's MAC (unknown: flooded to its switch);
    // every port then releases what it got, and the whole thing once more so RX rings wrap
    for (let round = 0; round < 2; round++) {
      for (const p of ports) {
        const r = p.txRings[0] as NetmapRing;
        while (r.space() > 0) {
          const s = r.cur;
          const o = r.buf(s);
          r.u8.fill(0xff, o, o + 6);
          r.u8.set([2, 0x5e, 0, 0, 1, 1, 0x88, 0xb5], o + 6);
          r.setLen(s, 60);
          r.head = r.cur = r.next(s);
        }
        p.txsync();
        await sleep(1);
      }
      await sleep(300);
      for (const p of ports) {
        p.rxsync();
        const rx = p.rxRings[0] as NetmapRing;
        rx.head = rx.cur = rx.tail;
        p.rxsync();
      }
    }
    const traffic = await settled(pid);
    const list = (await client.request('list')) as { ports: Array<{ memsize: number }> };
    return {
      ports: nports,
      region_bytes: list.ports[0]?.memsize ?? 0,
      rss_idle_kib: idle.rss,
      rss_open_kib: open.rss,
      rss_traffic_kib: traffic.rss,
      shmem_traffic_kib: traffic.shmem,
      per_port_mib: (traffic.rss - idle.rss) / 1024 / nports,
      per_port_open_mib: (open.rss - idle.rss) / 1024 / nports,
    };
  } finally {
    for (const p of ports) p.close();
    client?.close();
    daemon.kill('SIGKILL');
    await new Promise((r) =>
      daemon.exitCode !== null || daemon.signalCode !== null ? r(null) : daemon.once('exit', r),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { ports: { type: 'string', default: '64' } } });
  measurePortMemory(Number(values.ports))
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((e) => {
      process.stderr.write(`port-memory: ${(e as Error).stack}\n`);
      process.exitCode = 1;
    });
}
