/*
 * `uvale top`: a live view of the switches and their ports, refreshed every
 * interval from the daemon's counters: packet and bit rates each way and drop
 * rates. On a terminal it redraws in place; otherwise (or with -n) it prints
 * one block per sample, for logs and scripts.
 */

import { parseArgs } from 'node:util';
import { DaemonClient } from '../../control/client.js';
import type { StatsSnapshot } from '../../control/types.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { norm, table } from '../common/format.js';

export const USAGE = `usage: uvale top [options]

Shows every switch and port of the daemon with rates, refreshed each interval.

  -d, --delay SEC    seconds between samples (default 1)
  -n, --count N      print N samples and exit (default: until q or Ctrl-C)
  --json             print each sample as a JSON line
  --dir DIR          run directory of the daemon
  -h, --help         this text

Columns: RX = frames the switch delivered to the port, TX = frames the port
sent; DROP = frames lost at the port (RX ring full, runts, no destination).`;

type Sample = StatsSnapshot;

const DROPS = ['dropRxFull', 'dropRunt', 'dropNoDest', 'dropFrags'];

export function render(prev: Sample, cur: Sample): { text: string; json: unknown } {
  const dt = (cur.time - prev.time) / 1000;
  const before = new Map<string, Record<string, number>>();
  for (const s of prev.switches) for (const p of s.ports) before.set(p.name, p.counters);
  const rows: string[][] = [['PORT', 'IDX', 'KIND', 'RX pps', 'RX bps', 'TX pps', 'TX bps', 'DROP/s', 'DROPS']];
  const json: Array<Record<string, unknown>> = [];
  for (const s of cur.switches) {
    rows.push([`${s.name} (switch ${s.index}, ${s.ports.length} ports, ${s.macs} MACs)`]);
    for (const p of s.ports) {
      const c = p.counters;
      const b = before.get(p.name);
      const rate = (k: string): number => (b !== undefined && dt > 0 ? ((c[k] ?? 0) - (b[k] ?? 0)) / dt : 0);
      const drops = DROPS.reduce((a, k) => a + (c[k] ?? 0), 0);
      const dropRate = DROPS.reduce((a, k) => a + rate(k), 0);
      const r = {
        name: p.name,
        rxPps: rate('rxPackets'),
        rxBps: rate('rxBytes') * 8,
        txPps: rate('txPackets'),
        txBps: rate('txBytes') * 8,
        dropPps: dropRate,
        drops,
      };
      json.push(r);
      rows.push([
        `  ${p.name}`,
        String(p.index),
        p.kind,
        norm(r.rxPps),
        norm(r.rxBps),
        norm(r.txPps),
        norm(r.txBps),
        norm(r.dropPps),
        String(drops),
      ]);
    }
  }
  if (cur.switches.length === 0) rows.push(['(no switches)']);
  return { text: table(rows), json: { time: cur.time, ports: json } };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      delay: { type: 'string', short: 'd' },
      count: { type: 'string', short: 'n' },
      json: { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const delay = Number(values.delay ?? '1');
  if (!(delay > 0)) throw new ValeError(ErrorCodes.INVALID_ARG, '--delay must be a positive number of seconds');
  const count = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
  if (!(count >= 1)) throw new ValeError(ErrorCodes.INVALID_ARG, '--count must be at least 1');
  const client = await DaemonClient.connect({
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    autostart: false,
  });
  const tty = process.stdout.isTTY === true && values.json !== true && values.count === undefined;
  let stop = false;
  if (tty && process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (d) => {
      if (d[0] === 0x71 || d[0] === 0x03) stop = true; // q or Ctrl-C
    });
  }
  try {
    // rates need two samples: the first one only primes them
    let prev = await client.request('stats');
    for (let i = 0; i < count && !stop; i++) {
      await new Promise((r) => setTimeout(r, delay * 1000));
      const cur = await client.request('stats');
      const { text, json } = render(prev, cur);
      const when = new Date(cur.time).toLocaleTimeString();
      if (values.json) process.stdout.write(`${JSON.stringify(json)}\n`);
      else if (tty) process.stdout.write(`\x1b[H\x1b[2Juvale top - ${when} (q quits)\n\n${text}\n`);
      else process.stdout.write(`${text}\n\n`);
      prev = cur;
    }
    return 0;
  } finally {
    if (tty && process.stdin.isTTY) {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    }
    client.close();
  }
}
