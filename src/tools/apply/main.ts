/*
 * `uvale apply FILE`: sets a daemon up from a configuration file (config.ts):
 * settings, persistent ports and attachments of every kind. It applies only
 * the difference from what runs (plan.ts), so applying a file twice changes
 * nothing; `--prune` also removes what the file does not name; `--dry-run`
 * prints the steps; `--export` prints the running state as such a file.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DaemonClient } from '../../control/client.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { parseConfig } from './config.js';
import { configText, exportConfig, mirrorText, plan, runningState, type Step } from './plan.js';

export const USAGE = `usage: uvale apply [--dry-run] [--prune] FILE | uvale apply --export

Brings the daemon to the configuration in FILE (YAML or JSON): settings, persistent
ports, attachments (TAPs, QEMU sockets, any adapter kind), VLAN modes and mirrors. Only the difference
from what runs is applied: applying a file twice changes nothing.

  settings:
    dev.netmap.max_ports: 32
  persistent:
    - { name: p0, txSlots: 256 }
  attach:
    - vale0:p0
    - vale0:tap0
    - { port: vale0:tap1, offload: false }
    - vale0:vm1=stream:unix:/run/vm1.sock
  vlans:
    vale0:tap0: access:10
  mirrors:
    - vale0:tap0=vale0:tap1

  --dry-run    print the steps, change nothing
  --prune      also detach adapters, delete persistent ports, reset VLAN modes and remove
               mirrors FILE does not name
  --export     print the running state in this format (to start a FILE from; also uvale ctl --export)
  --dir DIR    run directory of the daemon
  -h, --help   this text`;

function describe(s: Step): string {
  switch (s.op) {
    case 'sysctl-set':
      return `sysctl ${s.set}`;
    case 'newif':
      return `ctl -n ${s.name}`;
    case 'delif':
      return `ctl -r ${s.name}`;
    case 'attach':
      return `ctl -a ${s.name}${s.offload === false ? ' --no-offload' : ''}`;
    case 'detach':
      return `ctl -d ${s.name}`;
    case 'vlan':
      return `ctl --vlan ${s.name}=${s.mode}`;
    case 'mirror':
      return `ctl ${s.remove === true ? '--no-mirror' : '--mirror'} ${mirrorText(s)}`;
  }
}

async function perform(c: DaemonClient, s: Step): Promise<void> {
  switch (s.op) {
    case 'sysctl-set':
      await c.request('sysctl-set', { set: s.set });
      return;
    case 'newif': {
      const { op: _, ...args } = s;
      await c.request('newif', args);
      return;
    }
    case 'delif':
      await c.request('delif', { name: s.name });
      return;
    case 'attach':
      await c.request('attach', s.offload === false ? { name: s.name, offload: false } : { name: s.name });
      return;
    case 'detach':
      await c.request('detach', { name: s.name });
      return;
    case 'vlan':
      await c.request('vlan', { name: s.name, mode: s.mode });
      return;
    case 'mirror':
      await c.request(
        'mirror',
        s.remove === true ? { src: s.src, dst: s.dst, remove: true } : { src: s.src, dst: s.dst },
      );
      return;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'dry-run': { type: 'boolean' },
      prune: { type: 'boolean' },
      export: { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dir = values.dir !== undefined ? { dir: values.dir } : {};
  if (values.export) {
    const c = await DaemonClient.connect({ ...dir, autostart: false });
    try {
      process.stdout.write(configText(exportConfig(await runningState(c))));
      return 0;
    } finally {
      c.close();
    }
  }
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ValeError(ErrorCodes.NOT_FOUND, `cannot read ${file}: ${(e as Error).message}`);
  }
  const want = parseConfig(text, file); // all checked before anything changes
  const c = await DaemonClient.connect(dir);
  try {
    const steps = plan(await runningState(c), want, values.prune === true);
    if (steps.length === 0) {
      process.stdout.write('nothing to do: the daemon runs this configuration\n');
      return 0;
    }
    for (const s of steps) {
      process.stdout.write(`${values['dry-run'] ? 'would run' : 'uvale'} ${describe(s)}\n`);
      if (values['dry-run']) continue;
      await perform(c, s);
    }
    return 0;
  } finally {
    c.close();
  }
}
