/*
 * `uvale top`: a live view of the switches and their ports, refreshed every
 * interval from the daemon's counters: packet and bit rates each way and drop
 * rates. On a terminal it redraws in place; otherwise (or with -n) it prints
 * one block per sample, for logs and scripts. Number columns have fixed
 * widths and are right-aligned, so a redraw does not shift them; JSON rates
 * are whole frames and bits per second.
 */

import type { StatsSnapshot } from '../../control/types.js';
import { onEarlyExit, parseToolArgs, runTool, UsageError } from '../common/cli.js';
import { connectForListing } from '../common/daemon.js';
import { norm } from '../common/format.js';

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

const DROPS = ['dropRxFull', 'dropRunt', 'dropNoDest', 'dropFrags', 'dropOffload', 'dropOversize', 'dropMonitor'];

/** Widths of the number columns: norm() prints at most '999.999 T' (9), counts up to 12 digits. */
const NUM_W = 10;
const COUNT_W = 12;
const HEAD = ['IDX', 'KIND', 'RX pps', 'RX bps', 'TX pps', 'TX bps', 'DROP/s', 'DROPS'];
const WIDTHS = [4, 8, NUM_W, NUM_W, NUM_W, NUM_W, NUM_W, COUNT_W];

function row(name: string, nameW: number, cells: string[]): string {
  return `${name.padEnd(nameW)}${cells.map((c, i) => (i === 1 ? `  ${c.padEnd(WIDTHS[i] as number)}` : c.padStart((WIDTHS[i] as number) + 2))).join('')}`.trimEnd();
}

export function render(prev: Sample, cur: Sample): { text: string; json: unknown } {
  const dt = (cur.time - prev.time) / 1000;
  const before = new Map<string, Record<string, number>>();
  for (const s of prev.switches) for (const p of s.ports) before.set(p.name, p.counters);
  const rows: Array<[string, string[]] | [string]> = [];
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
        rxPps: Math.round(rate('rxPackets')),
        rxBps: Math.round(rate('rxBytes') * 8),
        txPps: Math.round(rate('txPackets')),
        txBps: Math.round(rate('txBytes') * 8),
        dropPps: Math.round(dropRate),
        drops,
      };
      json.push(r);
      rows.push([
        `  ${p.name}`,
        [
          String(p.index),
          p.kind,
          norm(r.rxPps),
          norm(r.rxBps),
          norm(r.txPps),
          norm(r.txBps),
          norm(r.dropPps),
          String(drops),
        ],
      ]);
    }
  }
  if (cur.switches.length === 0) rows.push(['(no switches)']);
  // the name column fits the longest port name, at least 24: it changes only when ports come and go
  const nameW = Math.max(24, ...rows.filter((r) => r.length === 2).map((r) => r[0].length)) + 2;
  const text = [row('PORT', nameW, HEAD), ...rows.map((r) => (r.length === 2 ? row(r[0], nameW, r[1]) : r[0]))].join(
    '\n',
  );
  return { text, json: { time: cur.time, ports: json } };
}

export function run(argv: string[]): Promise<number> {
  return runTool('top', () => top(argv));
}

async function top(argv: string[]): Promise<number> {
  const { values } = parseToolArgs({
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
  if (!(delay > 0 && delay <= 86400))
    throw new UsageError(`-d must be a number of seconds from 0 to 86400, got '${values.delay}'`);
  const count = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
  if (!(Number.isInteger(count) || count === Number.POSITIVE_INFINITY) || !(count >= 1)) {
    throw new UsageError(`-n must be a whole number of samples, at least 1, got '${values.count}'`);
  }
  const client = await connectForListing('top', values.dir);
  if (client === null) return 0;
  const tty = process.stdout.isTTY === true && values.json !== true && values.count === undefined;
  const forget = onEarlyExit(() => client.close());
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
    forget();
  }
}
