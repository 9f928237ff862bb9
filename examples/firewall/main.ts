/*
 * A userspace firewall on uvale: sits between two ports, passes or drops
 * every frame by ordered rules (first match wins), both ways.
 *
 *   npm run build
 *   node dist/examples/firewall/main.js -i vale-in:fw -i vale-out:fw -r rules.txt
 *   node dist/examples/firewall/main.js -i vale-in:fw -i vale-out:fw --rule 'drop udp dst port 53'
 *
 * rules.ts is the rule language, frame.ts and match.ts the per-frame work,
 * forward.ts the loop between the two ports; README.md shows how to write
 * other packet processors the same way.
 */

import { parseArgs } from 'node:util';
import { connectPort, type NetmapPort } from '../../src/index.js';
import { Forwarder } from './forward.js';
import { Firewall } from './match.js';
import { DROP, loadRules, PASS, RuleError } from './rules.js';

const USAGE = `usage: node dist/examples/firewall/main.js -i PORT_IN -i PORT_OUT [-r FILE]... [--rule RULE]...
                                       [--default pass|drop] [--dir DIR] [--check]

A firewall between two uvale ports: every frame, both ways, goes through the
rules in order; the first rule that matches passes or drops it; a frame no
rule matches gets the default action (pass).

  -i PORT            the two ports: frames arriving on the first go 'in', on the second 'out'
  -r, --rules FILE   read rules from FILE, one per line (# comments); repeatable
  --rule RULE        a rule on the command line; repeatable, tried after the files' rules
  --default ACTION   pass (default) or drop
  --check            parse the rules, print them and exit
  --dir DIR          run directory of the uvale daemon
  -h, --help         this text

Rules:  pass|drop [in|out] (all | CRITERION...)    every criterion must hold
  mac [src|dst] MAC          ethertype TYPE|ip|ip6|arp     arp   ip   ip6
  ip [src|dst] ADDR[/LEN]    ip6 [src|dst] ADDR6[/LEN]     (IPv4 or IPv6 prefixes)
  tcp  udp  sctp  icmp  icmp6  proto N    [src|dst] port N[-M]
e.g.  drop udp dst port 53  |  pass ip src 10.1.0.0/16  |  drop mac src 02:00:00:00:00:09

The rule counters go to stdout on SIGUSR1 and at exit (SIGINT, SIGTERM).`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      i: { type: 'string', short: 'i', multiple: true },
      rules: { type: 'string', short: 'r', multiple: true },
      rule: { type: 'string', multiple: true },
      default: { type: 'string' },
      check: { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dflt = values.default ?? 'pass';
  if (dflt !== 'pass' && dflt !== 'drop') throw new RuleError('--default', `must be pass or drop, got '${dflt}'`);
  const fw = new Firewall(loadRules(values.rules ?? [], values.rule ?? []), dflt === 'drop' ? DROP : PASS);
  if (values.check) {
    process.stdout.write(`${fw.table()}\n`);
    return 0;
  }
  const names = values.i ?? [];
  if (names.length !== 2) {
    process.stderr.write(`firewall: give two ports: -i PORT_IN -i PORT_OUT\n\n${USAGE}\n`);
    return 2;
  }
  const [inName, outName] = names as [string, string];
  const opts = values.dir !== undefined ? { dir: values.dir } : {};
  const a: NetmapPort = await connectPort(inName, opts);
  let b: NetmapPort;
  try {
    b = await connectPort(outName, opts);
  } catch (e) {
    a.close();
    throw e;
  }
  const fwd = new Forwarder(a, b, (buf, off, len, total, dir) => fw.decide(buf, off, len, total, dir));
  const onStop = (): void => fwd.stop();
  const print = (): void => void process.stdout.write(`${fw.report(a.name, b.name)}\n`);
  process.once('SIGINT', onStop);
  process.once('SIGTERM', onStop);
  process.on('SIGUSR1', print);
  process.stderr.write(
    `firewall: ${a.name} <-> ${b.name}, ${fw.rules.length} rules, default ${dflt}; SIGUSR1 prints the counters\n`,
  );
  try {
    await fwd.run();
  } finally {
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    process.off('SIGUSR1', print);
    b.close();
    a.close();
    print();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // bad rules or options: exit 2; the port or the daemon refused: exit 1
    const usage = e instanceof RuleError || String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`firewall: ${(e as Error).message}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
