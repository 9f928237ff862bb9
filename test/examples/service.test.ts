/* examples/uvale.service: systemd accepts it, and the daemon command line it runs is one uvale accepts. */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { uvale } from '../helpers/daemon.js';

const UNIT = fileURLToPath(new URL('../../../examples/uvale.service', import.meta.url));

test('systemd-analyze verify accepts the unit', (t) => {
  try {
    execFileSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' });
  } catch {
    t.skip('no systemd-analyze here');
    return;
  }
  const out = execFileSync('systemd-analyze', ['verify', UNIT], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.equal(out.trim(), '');
});

test("the unit's uvale daemon options are all known to uvale daemon", async () => {
  const exec = /^ExecStart=\/usr\/bin\/env uvale daemon (.*)$/m.exec(readFileSync(UNIT, 'utf8'));
  assert.ok(exec !== null);
  const help = (await uvale(['daemon', '--help'])).stdout;
  for (const opt of (exec[1] as string).split(' ').filter((w) => w.startsWith('--'))) {
    assert.ok(help.includes(opt), `${opt} is documented in uvale daemon --help`);
  }
});
