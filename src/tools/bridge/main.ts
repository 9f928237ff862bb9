/*
 * `uvale bridge`: netmap's apps/bridge on uvale ports. Forwards every frame
 * both ways between two ports, e.g. to join two switches:
 *
 *   uvale bridge -i vale-1:up -i vale-2:up
 *
 * The engine is in functions.ts; this file parses the options, opens the two
 * ports through the daemon and prints a line per direction on exit. A
 * direction's drops are the bridge's own plus what the two ports' counters
 * (in their memory, as `ctl --stats` reads them) grew by on its way: frames
 * the first switch could not put in the bridge's RX ring, and frames the
 * second switch refused from its TX ring.
 */

import { DaemonClient } from '../../control/client.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { connectPort } from '../../index.js';
import type { NetmapPort } from '../../ports/port.js';
import type { PortCounters } from '../../switch/counters.js';
import { parsePortName } from '../../switch/name.js';
import { intArg, onEarlyExit, parseToolArgs, runTool, UsageError } from '../common/cli.js';
import { bridgeLoop, Direction, type DirStats, Side, Waker } from './functions.js';

export const USAGE = `usage: uvale bridge -i PORT_A -i PORT_B [-b BURST] [-w SEC] [--dir DIR]

netmap's bridge on uvale ports: forwards every frame both ways between two
ports, e.g. to join two switches: uvale bridge -i vale-1:up -i vale-2:up

  -i PORT        a port to bridge, vale[bdg:][port]; given exactly twice,
                 for ports on two different switches
  -b BURST       frames moved per direction in one round, 1..8192 (default 1024)
  -w SEC         wait before forwarding, 0..100 (default 0: vale ports have no link to wait for)
  --dir DIR      run directory of the daemon
  -h, --help     this text

Frames are copied whole, NS_MOREFRAG chains included; a chain waits until the
other side's TX ring has room for all of it. Frames are dropped only if that
ring stays full for a second. Stop with SIGINT or SIGTERM: a line per direction
(frames, bytes, drops) goes to stdout. Drops count the bridge's own and those
at the two ports on the way: RX ring full at the first, refused by the second
switch (no destination, runt, too many slots).`;

const int = intArg;

/** Frames of one direction lost at its two ports: RX ring full at `from`, refused from `to`'s TX ring. */
export interface PortDrops {
  rxFull: number;
  refused: number;
}

export function portDrops(from0: PortCounters, from1: PortCounters, to0: PortCounters, to1: PortCounters): PortDrops {
  const refused = (k: keyof PortCounters): number => to1[k] - to0[k];
  return {
    rxFull: from1.dropRxFull - from0.dropRxFull,
    refused: refused('dropNoDest') + refused('dropRunt') + refused('dropFrags') + refused('dropOffload'),
  };
}

/** The summary line of one direction. */
export function directionLine(from: string, to: string, s: DirStats, p: PortDrops = { rxFull: 0, refused: 0 }): string {
  const total = s.drops + p.rxFull + p.refused;
  const detail =
    total > 0 ? ` (bridge ${s.drops}, RX ring full at ${from} ${p.rxFull}, refused at ${to} ${p.refused})` : '';
  return `${from} --> ${to}: ${s.frames} packets ${s.bytes} bytes ${total} dropped${detail}`;
}

export function run(argv: string[]): Promise<number> {
  return runTool('bridge', () => bridge(argv));
}

async function bridge(argv: string[]): Promise<number> {
  const { values } = parseToolArgs({
    args: argv,
    options: {
      i: { type: 'string', short: 'i', multiple: true },
      b: { type: 'string', short: 'b' },
      w: { type: 'string', short: 'w' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const names = values.i ?? [];
  if (names.length !== 2) {
    throw new UsageError(
      `${names.length < 2 ? 'two ports are needed' : 'only two ports can be bridged'} (-i PORT_A -i PORT_B)`,
    );
  }
  const [a, b] = names.map(parsePortName) as [ReturnType<typeof parsePortName>, ReturnType<typeof parsePortName>];
  if (a.bridge === b.bridge && a.port === b.port) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `the same port twice ('${a.full}', '${b.full}')`);
  }
  if (a.bridge === b.bridge) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `both ports are on switch ${a.bridge}: bridging them would loop every broadcast frame`,
    );
  }
  const burst = int(values.b, '-b', 1024, 1, 8192);
  const waitSec = int(values.w, '-w', 0, 0, 100);

  const client = await DaemonClient.connect(values.dir !== undefined ? { dir: values.dir } : {});
  const waker = new Waker();
  const stop = { stopped: false };
  const onSignal = (): void => {
    stop.stopped = true;
    waker.notify();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let pa: NetmapPort | null = null;
  let pb: NetmapPort | null = null;
  let dirs: [Direction, Direction] | null = null;
  let c0: [PortCounters, PortCounters] | null = null;
  let c1: [PortCounters, PortCounters] | null = null;
  const forget = onEarlyExit(() => {
    pb?.close();
    pa?.close();
  });
  try {
    pa = await connectPort(a.full, { client });
    pb = await connectPort(b.full, { client });
    c0 = [pa.counters(), pb.counters()];
    const sa = new Side(pa, waker);
    const sb = new Side(pb, waker);
    dirs = [new Direction(sa, sb), new Direction(sb, sa)];
    if (waitSec > 0) {
      process.stderr.write(`bridge: waiting ${waitSec} s before forwarding\n`);
      const timer = setTimeout(waker.notify, waitSec * 1000);
      await waker.wait();
      clearTimeout(timer);
    }
    if (!stop.stopped) {
      process.stderr.write(`bridge: ready to go, ${pa.name} <-> ${pb.name}, burst ${burst}\n`);
      await bridgeLoop(dirs[0], dirs[1], burst, waker, stop);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (pa !== null && pb !== null) c1 = [pa.counters(), pb.counters()];
    pb?.close();
    pa?.close();
    forget();
    client.close();
    if (dirs !== null && c0 !== null && c1 !== null) {
      const [a0, b0] = c0;
      const [a1, b1] = c1;
      process.stdout.write(
        `${directionLine(a.full, b.full, dirs[0].stats, portDrops(a0, a1, b0, b1))}\n` +
          `${directionLine(b.full, a.full, dirs[1].stats, portDrops(b0, b1, a0, a1))}\n`,
      );
    }
  }
  return 0;
}
