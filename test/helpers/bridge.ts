/*
 * A fresh host with one switch and some in-process ports: the setup most
 * switch tests start from. Each call makes its own ValeHost, never the
 * process default.
 */

import { type LocalPort, type OpenOptions, openPort, ValeHost, type ValeSwitch } from '../../src/index.js';

export interface Bridge {
  host: ValeHost;
  sw: ValeSwitch;
  ports: LocalPort[];
}

/** Opens `vale0:p0 .. vale0:p{n-1}` (or the given names) on a new host. */
export function bridge(
  n: number | string[],
  opts: OpenOptions = {},
  settings: Record<string, number> = {},
  switchName = 'vale0',
): Bridge {
  const host = new ValeHost(settings);
  const names = typeof n === 'number' ? Array.from({ length: n }, (_, i) => `p${i}`) : n;
  const ports = names.map((name) => openPort(`${switchName}:${name}`, { host, ...opts }));
  const sw = host.getSwitch(switchName);
  if (sw === undefined) throw new Error('switch not created');
  return { host, sw, ports };
}

/** Closes every port of a bridge (idempotent). */
export function closeAll(b: Bridge): void {
  for (const p of b.ports) p.close();
}
