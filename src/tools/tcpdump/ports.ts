/*
 * tcpdump's view of the daemon: open a capture port (connectPort) and, for
 * -D, list the ports -i accepts, numbered as `tcpdump -D` numbers interfaces.
 */

import { DaemonClient } from '../../control/client.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { connectPort } from '../../index.js';
import type { NetmapPort } from '../../ports/port.js';

export function openPort(name: string, opts: { dir?: string }): Promise<NetmapPort> {
  return connectPort(name, opts);
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
