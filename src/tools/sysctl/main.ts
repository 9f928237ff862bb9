/*
 * `uvale sysctl`: reads and sets the daemon's dev.netmap.* and uvale.* settings, in the
 * style of sysctl(8): `-a` lists all, `name` prints one, `name=value` sets one.
 * Values set here persist in the run directory while it exists, so a daemon
 * started later (or again) uses them. With no daemon running, reading shows
 * what a new one would start with; setting fails and says how to set it at start.
 */

import { runPaths } from '../../control/paths.js';
import type { SettingSpec } from '../../core/settings.js';
import { parseAssignment, SETTINGS, Settings } from '../../core/settings.js';
import { loadSettings } from '../../daemon/server.js';
import { parseToolArgs, runTool, UsageError } from '../common/cli.js';
import { connectForAction, connectForListing } from '../common/daemon.js';

const describe = (s: SettingSpec): string =>
  `  ${s.name.padEnd(28)} ${s.description} (${s.readonly ? `${s.default}, read-only` : `default ${s.default}, ${s.min}..${s.max}`})`;

export const USAGE = `usage: uvale sysctl [options] [-a | name[=value] ...]

Reads or sets the switch's tunables (as netmap's sysctl variables):
${SETTINGS.map(describe).join('\n')}

options:
  -a, --all      print every setting
  -n             print values only
  -d             print descriptions instead of values
  --json         print a JSON object
  --dir DIR      run directory of the daemon
  -h, --help     this text

Setting a value prints "name: old -> new" and needs a running daemon (or set it
at start: uvale daemon --sysctl NAME=VALUE). With no daemon, reading shows the
values a new daemon would start with.`;

export function run(argv: string[]): Promise<number> {
  return runTool('sysctl', () => sysctl(argv));
}

async function sysctl(argv: string[]): Promise<number> {
  const { values, positionals } = parseToolArgs({
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
  if (!values.all && positionals.length === 0) throw new UsageError('name a setting, name=value, or -a');
  if (positionals.includes('=') || positionals.some((p) => p.endsWith('=') || p.startsWith('='))) {
    throw new UsageError(`write NAME=VALUE as one word, without spaces (e.g. dev.netmap.bridge=10)`);
  }
  const scratch = new Settings();
  for (const p of positionals) {
    const name = p.includes('=') ? p.slice(0, p.indexOf('=')) : p;
    Settings.spec(name); // NOT_FOUND listing the known names, before anything changes
    if (p.includes('=')) {
      const a = parseAssignment(p);
      scratch.set(a.name, a.value); // INVALID_ARG for a value out of range, with or without a daemon
    }
  }
  const sets = positionals.filter((p) => p.includes('='));
  const client =
    sets.length > 0
      ? await connectForAction(values.dir, 'set')
      : await connectForListing('sysctl', values.dir, 'these are the values a new one would start with');
  let current: Record<string, number>;
  if (client === null) {
    current = new Settings(loadSettings(runPaths(values.dir).settings)).all();
  } else {
    current = (await client.request('sysctl')).settings;
  }
  try {
    const desc = new Map(SETTINGS.map((s) => [s.name, s.description]));
    const out: Record<string, number> = {};
    const lines: string[] = [];
    const show = (name: string, value: number): void => {
      out[name] = value;
      if (values.d) lines.push(`${name}: ${desc.get(name) ?? ''}`);
      else lines.push(values.n ? String(value) : `${name}: ${value}`);
    };
    if (values.all) for (const [k, v] of Object.entries(current)) show(k, v);
    for (const p of positionals) {
      if (p.includes('=') && client !== null) {
        const r = await client.request('sysctl-set', { set: p });
        out[r.name] = r.value;
        lines.push(values.n ? String(r.value) : `${r.name}: ${r.old} -> ${r.value}`);
        if (r.note !== undefined) process.stderr.write(`uvale sysctl: ${r.name}: ${r.note}\n`);
      } else {
        show(p, current[p] as number);
      }
    }
    process.stdout.write(values.json ? `${JSON.stringify(out)}\n` : `${lines.join('\n')}\n`);
    return 0;
  } finally {
    client?.close();
  }
}
