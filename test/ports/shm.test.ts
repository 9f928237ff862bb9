/* The port contract, run against ports opened through the daemon (shared memory in another process's daemon). */

import { after } from 'node:test';
import { connectPort, Daemon } from '../../src/index.js';
import { tempRunDir } from '../helpers/daemon.js';
import { portCompliance } from './compliance.js';

const dirs: Array<() => void> = [];
after(() => {
  for (const c of dirs) c();
});

portCompliance('daemon (shm) ports', async () => {
  const t = tempRunDir('compliance');
  dirs.push(t.cleanup);
  const d = new Daemon({ dir: t.dir, log: () => {} });
  await d.start();
  return {
    open: (name, opts) => connectPort(name, { dir: t.dir, ...opts }),
    teardown: async () => {
      await new Promise((r) => setTimeout(r, 20));
      await d.stop();
    },
  };
});
