/*
 * tcpdump's view of the daemon: open a capture port (connectPort) and, for
 * -D, list the ports -i accepts, numbered as `tcpdump -D` numbers interfaces.
 *
 * openCapture() picks what to open for -i PORT and -Q (docs/monitors.md):
 * tcpdump's "in" is what the interface receives, and a VALE port's interface
 * is the port as its program sees it, so -Q in is netmap's PORT/r (what the
 * switch delivers to PORT), -Q out is PORT/t (what PORT's program sends into
 * the switch) and -Q inout (the default) is PORT/rt. A port nobody holds is
 * opened by tcpdump itself, as before (it receives what the switch floods or
 * forwards to it: "in", which is also all there is of "inout"); a port another
 * program holds (VALE_ERR_BUSY) is watched through a monitor, said on stderr.
 */

import { DaemonClient } from '../../control/client.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { connectPort } from '../../index.js';
import type { NetmapPort } from '../../ports/port.js';
import { UsageError } from '../common/cli.js';

export type Direction = 'in' | 'out' | 'inout';
const SUFFIX: Record<Direction, string> = { in: 'r', out: 't', inout: 'rt' };
const WHAT: Record<Direction, string> = {
  in: 'what it receives',
  out: 'what it sends',
  inout: 'what it receives and sends',
};

/** The capture port for -i `name` and -Q `q`, and a note for stderr when it is a monitor opened for the user. */
export async function openCapture(
  name: string,
  q: Direction | undefined,
  opts: { dir?: string },
): Promise<{ port: NetmapPort; note: string | null }> {
  if (name.includes('/')) {
    if (q !== undefined) throw new UsageError(`give -Q or a monitor name (${name}), not both`);
    return { port: await connectPort(name, opts), note: null };
  }
  const dir = q ?? 'inout';
  const monitor = `${name}/${SUFFIX[dir]}`;
  const note = (why: string): string =>
    `tcpdump: ${why}; capturing through the monitor ${monitor} (a copy of ${WHAT[dir]})`;
  if (dir === 'out') {
    // a port of our own sends nothing: -Q out always watches another program's port
    try {
      return { port: await connectPort(monitor, opts), note: note(`-Q out watches what ${name} sends`) };
    } catch (e) {
      if (e instanceof ValeError && e.code === ErrorCodes.NOT_FOUND) {
        throw new ValeError(
          ErrorCodes.NOT_FOUND,
          `-Q out captures what ${name}'s program sends, but no program has ${name} open`,
        );
      }
      throw e;
    }
  }
  try {
    return { port: await connectPort(name, opts), note: null };
  } catch (e) {
    if (!(e instanceof ValeError && e.code === ErrorCodes.BUSY)) throw e;
  }
  return { port: await connectPort(monitor, opts), note: note(`${name} is held by another program`) };
}

/** `N.NAME [kind, switch S]` per port; with no daemon, a note on stderr and nothing listed. */
export async function listPorts(opts: { dir?: string }): Promise<string> {
  let client: DaemonClient;
  try {
    client = await DaemonClient.connect({ ...opts, autostart: false });
  } catch (e) {
    if (e instanceof ValeError && e.code === ErrorCodes.DAEMON) {
      process.stderr.write('uvale tcpdump: no uvale daemon running, so no ports to list\n');
      return '';
    }
    throw e;
  }
  try {
    const r = await client.request('list');
    return r.ports.map((p, i) => `${i + 1}.${p.name} [${p.kind}, switch ${p.switch ?? '-'}]\n`).join('');
  } finally {
    client.close();
  }
}
