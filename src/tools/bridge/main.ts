/*
 * `uvale bridge`: netmap's apps/bridge on uvale ports. Forwards every frame
 * both ways between two ports, e.g. to join two switches:
 *
 *   uvale bridge -i vale-1:up -i vale-2:up
 *
 * The engine is in functions.ts; this file parses the options, opens the two
 * ports through the daemon and prints a line per direction on exit.
 */

import { parseArgs } from 'node:util';
import { DaemonClient } from '../../control/client.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { connectPort } from '../../index.js';
import type { NetmapPort } from '../../ports/port.js';
import { parsePortName } from '../../switch/name.js';
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
(frames, bytes, drops) goes to stdout.`;

function int(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `${name} must be an integer from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

/** The summary line of one direction. */
export function directionLine(from: string, to: string, s: DirStats): string {
  return `${from} --> ${to}: ${s.frames} packets ${s.bytes} bytes ${s.drops} dropped`;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
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
    process.stderr.write(
      `uvale bridge: ${names.length < 2 ? 'two ports are needed' : 'only two ports can be bridged'}` +
        ` (-i PORT_A -i PORT_B)\n\n${USAGE}\n`,
    );
    return 2;
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
  try {
    pa = await connectPort(a.full, { client });
    pb = await connectPort(b.full, { client });
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
    pb?.close();
    pa?.close();
    client.close();
    if (dirs !== null) {
      process.stdout.write(
        `${directionLine(a.full, b.full, dirs[0].stats)}\n${directionLine(b.full, a.full, dirs[1].stats)}\n`,
      );
    }
  }
  return 0;
}
