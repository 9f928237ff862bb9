/*
 * `uvale apply`: a file brings the daemon to its state, twice changes nothing,
 * a changed file does only the difference, --export round-trips, and mistakes
 * name their line before anything changes.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DaemonClient } from '../../src/control/client.js';
import { Daemon } from '../../src/daemon/server.js';
import { parseConfig } from '../../src/tools/apply/config.js';
import { exportConfig, plan, runningState } from '../../src/tools/apply/plan.js';
import { tempRunDir, uvale } from '../helpers/daemon.js';

const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('mistakes are refused with their line, before anything is applied', () => {
  const bad = (text: string, re: RegExp): void => assert.throws(() => parseConfig(text, 'f.yaml'), re, text);
  bad(
    'settings:\n  dev.netmap.max_ports: 999\n',
    /^.*f\.yaml:2: dev\.netmap\.max_ports must be an integer from 1 to 252/,
  );
  bad('settings:\n  dev.netmap.nope: 1\n', /f\.yaml:2: unknown setting 'dev\.netmap\.nope'/);
  bad('swiches: {}\n', /f\.yaml:1: unknown section 'swiches'/);
  bad('attach:\n  - vale0:a\n  - eth0\n', /f\.yaml:3: .*must start with 'vale'/);
  bad('attach:\n  - vale0:a=bogus:x\n', /f\.yaml:2: unknown port kind 'bogus'/);
  bad('attach:\n  - vale0:a\n  - vale0:a=stream:tcp:h:1\n', /f\.yaml:3: vale0:a is attached twice/);
  bad('persistent:\n  - { name: p0, txSlots: many }\n', /f\.yaml:2: txSlots of p0 must be an integer/);
  bad('a: [1\n', /f\.yaml:\d+: /);
  bad('vlans:\n  vale0:a: access:5000\n', /f\.yaml:2: .*VID/);
  bad('vlans:\n  vale0:a/r: access:5\n', /f\.yaml:2: a VLAN mode belongs to a port/);
  bad('vlans:\n  - vale0:a\n', /f\.yaml:2: vlans is a mapping/);
  bad('mirrors:\n  - vale0:a=vale1:b\n', /f\.yaml:2: .*different switches/);
  bad('mirrors:\n  - vale0:a=vale0:b/r\n', /f\.yaml:2: a mirror's destination is a port/);
  bad('mirrors:\n  - vale0:a\n', /f\.yaml:2: a mirror is SW:SRC/);
  bad(
    'mirrors:\n  - vale0:a=vale0:b\n  - vale0:a/t=vale0:b\n',
    /f\.yaml:3: the mirror vale0:a=vale0:b is listed twice/,
  );
  assert.deepEqual(parseConfig('vlans:\n  vale0:a: trunk:3,1-2\n', 'f').vlans, { 'vale0:a': 'trunk:1-3' });
  assert.deepEqual(parseConfig('', 'f'), { settings: {}, persistent: [], attach: [] });
});

test('apply, apply again (nothing), apply a changed file with --prune (the difference), export round-trips', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('attaching a TAP needs root');
    return;
  }
  const tmp = tempRunDir('apply');
  cleanups.push(tmp.cleanup);
  const d = new Daemon({ dir: tmp.dir, log: () => {} });
  await d.start();
  cleanups.push(() => d.stop());
  const file = join(tmp.dir, 'uvale.yaml');
  const sock = join(tmp.dir, 'vm1.sock');
  writeFileSync(
    file,
    `settings:\n  dev.netmap.max_ports: 20\npersistent:\n  - { name: pa0, txSlots: 256, rxSlots: 256 }\nattach:\n  - vale-ap:pa0\n  - { port: vale-ap:uvapt0, offload: false }\n  - vale-ap:vm1=stream:unix:${sock}\nvlans:\n  vale-ap:uvapt0: access:10\n  vale-ap:vm1: trunk:20-22,10\nmirrors:\n  - vale-ap:pa0/r=vale-ap:vm1\n`,
  );
  const env = { UVALE_RUN_DIR: tmp.dir };
  const r1 = await uvale(['apply', file], { env });
  assert.equal(r1.code, 0, r1.stderr);
  assert.deepEqual(r1.stdout.trim().split('\n'), [
    'uvale sysctl dev.netmap.max_ports=20',
    'uvale ctl -n pa0',
    'uvale ctl -a vale-ap:pa0',
    'uvale ctl -a vale-ap:uvapt0 --no-offload',
    `uvale ctl -a vale-ap:vm1=stream:unix:${sock}`,
    'uvale ctl --vlan vale-ap:uvapt0=access:10',
    'uvale ctl --vlan vale-ap:vm1=trunk:10,20-22',
    'uvale ctl --mirror vale-ap:pa0/r=vale-ap:vm1',
  ]);
  const vlans = (await uvale(['ctl', '--vlans'], { env })).stdout;
  assert.match(vlans, /vale-ap:uvapt0\s+access:10/);
  assert.match(vlans, /vale-ap:vm1\s+trunk:10,20-22/);
  assert.match((await uvale(['ctl', '--mirrors'], { env })).stdout, /vale-ap:pa0\s+r\s+vale-ap:vm1\s+mirror\s+yes/);
  assert.equal(d.host.settings.maxPorts, 20);
  assert.deepEqual(
    d.adapters().map((a) => [a.name, a.kind]),
    [
      ['vale-ap:uvapt0', 'tap'],
      ['vale-ap:vm1', 'stream'],
    ],
  );
  const r2 = await uvale(['apply', file], { env });
  assert.equal(r2.stdout, 'nothing to do: the daemon runs this configuration\n');

  const exported = await uvale(['apply', '--export'], { env });
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal((await uvale(['ctl', '--export'], { env })).stdout, exported.stdout, 'ctl --export is the same');
  const client = await DaemonClient.connect({ dir: tmp.dir, autostart: false });
  const cur = await runningState(client);
  client.close();
  assert.deepEqual(plan(cur, parseConfig(exported.stdout, 'export')), [], 'the export applies as nothing to do');
  assert.deepEqual(exportConfig(cur).attach.length, 3);
  assert.deepEqual(exportConfig(cur).vlans, { 'vale-ap:uvapt0': 'access:10', 'vale-ap:vm1': 'trunk:10,20-22' });
  assert.deepEqual(exportConfig(cur).mirrors, [{ src: 'vale-ap:pa0/r', dst: 'vale-ap:vm1' }]);

  writeFileSync(
    file,
    `settings:\n  dev.netmap.max_ports: 20\npersistent:\n  - { name: pa0, txSlots: 256, rxSlots: 256 }\nattach:\n  - vale-ap:pa0\n  - vale-ap:uvapt0\n`,
  );
  const r3 = await uvale(['apply', '--prune', file], { env });
  assert.equal(r3.code, 0, r3.stderr);
  assert.deepEqual(r3.stdout.trim().split('\n'), [
    'uvale ctl --no-mirror vale-ap:pa0/r=vale-ap:vm1',
    'uvale ctl -d vale-ap:uvapt0',
    'uvale ctl -d vale-ap:vm1',
    'uvale ctl -a vale-ap:uvapt0',
    'uvale ctl --vlan vale-ap:uvapt0=none',
    'uvale ctl --vlan vale-ap:vm1=none',
  ]);
  assert.deepEqual(
    d.adapters().map((a) => [a.name, a.extra.vnetHdrLen]),
    [['vale-ap:uvapt0', 12]],
    'the TAP now has offloads; the QEMU port is gone',
  );
  const r4 = await uvale(['apply', '--prune', '--dry-run', file], { env });
  assert.match(r4.stdout, /nothing to do/);
  await uvale(['ctl', '-d', 'vale-ap:uvapt0'], { env });
});
