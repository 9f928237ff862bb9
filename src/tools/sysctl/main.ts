/*
 * `uvale sysctl`: reads and sets the daemon's dev.netmap.* and uvale.* settings, in the
 * style of sysctl(8): `-a` lists all, `name` prints one, `name=value` sets one.
 * Values set here persist in the run directory while it exists, so a daemon
 * started later (or again) uses them.
 */

import { parseArgs } from 'node:util';
import { DaemonClient } from '../../control/client.js';

export const USAGE = `usage: uvale sysctl [options] [-a | name[=value] ...]

Reads or sets the switch's tunables (as netmap's sysctl variables):
  dev.netmap.bridge       frames per forwarding iteration (default 1024)
  dev.netmap.verbose      diagnostics level (default 0)
  dev.netmap.max_bridges  switches (default 4)
  dev.netmap.max_ports    ports per switch (default 16)
  dev.netmap.max_buffers  buffers per port and direction (default 1024)
  dev.netmap.buf_size     bytes per buffer (2048, read-only)

options:
  -a, --all      print every setting
  -n             print values only
  -d             print descriptions instead of values
  --json         print a JSON object
  --dir DIR      run directory of the daemon
  -h, --help     this text

A daemon is started if none runs. Setting a value prints "name: old -> new".`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      all: { type: 'boolean', short: 'a' },
      n: { type: 'boolean', short: 'n' },
      d: { type: 'boolean', short: 'd' },
      json: { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.all && positionals.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const client = await DaemonClient.connect(values.dir !== undefined ? { dir: values.dir } : {});
  try {
    const all = await client.request('sysctl');
    const desc = new Map(all.specs.map((s) => [s.name, s.description]));
    const out: Record<string, number> = {};
    const lines: string[] = [];
    const show = (name: string, value: number): void => {
      out[name] = value;
      if (values.d) lines.push(`${name}: ${desc.get(name) ?? ''}`);
      else lines.push(values.n ? String(value) : `${name}: ${value}`);
    };
    if (values.all) for (const [k, v] of Object.entries(all.settings)) show(k, v);
    for (const p of positionals) {
      if (p.includes('=')) {
        const r = await client.request('sysctl-set', { set: p });
        out[r.name] = r.value;
        lines.push(values.n ? String(r.value) : `${r.name}: ${r.old} -> ${r.value}`);
      } else {
        const r = await client.request('sysctl', { name: p });
        show(p, r.settings[p] as number);
      }
    }
    process.stdout.write(values.json ? `${JSON.stringify(out)}\n` : `${lines.join('\n')}\n`);
    return 0;
  } finally {
    client.close();
  }
}
