/*
 * netmap's -C argument (vale-ctl -n -C, pkt-gen -C): tx_slots[,rx_slots[,tx_rings[,rx_rings]]].
 * One number sets both slot counts; three set both ring counts to the third.
 * A malformed value is a usage mistake (UsageError: exit 2), found before any daemon is reached.
 */

import type { RingConfig } from '../../ring/layout.js';
import { UsageError } from './cli.js';

export function parseRingConfig(spec: string | undefined): Partial<RingConfig> {
  if (spec === undefined) return {};
  const v = spec.split(',').map((x) => Number(x));
  if (v.length > 4 || v.some((x) => !Number.isInteger(x) || x <= 0)) {
    throw new UsageError(`-C takes 1 to 4 positive integers separated by commas, got '${spec}'`);
  }
  const [txSlots, rxSlots = txSlots, txRings, rxRings = txRings] = v as [number, number?, number?, number?];
  return {
    txSlots,
    rxSlots,
    ...(txRings !== undefined ? { txRings } : {}),
    ...(rxRings !== undefined ? { rxRings } : {}),
  };
}
