/*
 * The figures `npm run bench` knows. A figure is a name bound to one engine
 * configuration (topology, frame size, batch); several names may share a
 * configuration (engine-unicast-60 and engine-unicast-60-b1024), which the
 * runner then measures once per round and reports under each name.
 *
 *   engine-unicast-60, engine-unicast-1514
 *       2 ports, each sending to the other's learned MAC; frames in = frames out
 *   engine-broadcast4-60
 *       5 ports, port 0 sends to ff:ff:ff:ff:ff:ff, the switch floods each frame
 *       to the 4 others; Mpps counts frames in, Gbit/s the 4 copies out
 *   <any of the above>-b1, -b32, -b256, -b1024
 *       the same at dev.netmap.bridge = 1, 32, 256, 1024 frames per txsync
 *   daemon-unicast-60, daemon-unicast-1514
 *       across processes: uvale pkt-gen tx -> daemon -> uvale pkt-gen rx
 *       (bench/daemon/daemon-child.ts); the reference is the in-process
 *       engine-unicast figure of the same frame size, measured in the same round
 *
 * The headline figures run at batch 1024 (netmap's default bridge batch).
 */

import type { Topology } from './engine/frames.js';

export interface Config {
  topo: Topology | 'daemon';
  size: number;
  batch: number;
}

export interface Figure extends Config {
  name: string;
  /** Measurement key: names with equal keys share runs. */
  key: string;
}

export const BATCHES = [1, 32, 256, 1024] as const;
const BASES: Array<{ base: string; topo: Topology; size: number }> = [
  { base: 'engine-unicast-60', topo: 'unicast', size: 60 },
  { base: 'engine-unicast-1514', topo: 'unicast', size: 1514 },
  { base: 'engine-broadcast4-60', topo: 'broadcast4', size: 60 },
];

export function configKey(c: Config): string {
  return `${c.topo}-${c.size}-b${c.batch}`;
}

function figure(name: string, topo: Config['topo'], size: number, batch: number): Figure {
  return { name, topo, size, batch, key: configKey({ topo, size, batch }) };
}

/** Every figure, in report order: the three headline figures, then the batch sweeps. */
export const FIGURES: readonly Figure[] = [
  ...BASES.map((b) => figure(b.base, b.topo, b.size, 1024)),
  ...BASES.flatMap((b) => BATCHES.map((n) => figure(`${b.base}-b${n}`, b.topo, b.size, n))),
  figure('daemon-unicast-60', 'daemon', 60, 512),
  figure('daemon-unicast-1514', 'daemon', 1514, 512),
];

/** Frames leaving the switch per frame entering it. */
export function fanout(topo: Config['topo']): number {
  return topo === 'broadcast4' ? 4 : 1;
}
