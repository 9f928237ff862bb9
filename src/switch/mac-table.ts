/*
 * VALE's learning table: 1024 direct-mapped buckets indexed by rthash() of the
 * MAC, each holding one {MAC, port}. A new MAC in a bucket overwrites the old
 * one (no chaining), so two MACs that collide take turns, and the loser's frames
 * are flooded as unknown unicast. Ageing is off by default, as in VALE ("XXX
 * expire ?"); with uvale.mac_ageing = N an entry not learnt again for N seconds
 * is not used (forward.ts checks its stamp on lookup) and not listed.
 *
 * Struct-of-arrays in typed arrays; the forwarder reads a/b/port directly. A
 * bucket is empty until written: `b` carries a valid bit (VALID_B), so the
 * all-zero MAC never matches an unwritten bucket (netmap's zeroed table would
 * send it to port 0: that quirk is dropped on purpose). A VLAN-aware switch
 * keys on (VID, MAC): `b` then also carries VID << 17 (vlan.ts).
 */

import { formatMac, HASH_SIZE } from './hash.js';

export const VALID_B = 0x10000;

export interface MacEntry {
  bucket: number;
  mac: string;
  port: number;
  /** The VID the MAC was learnt in, when not 0 (a VLAN-aware switch's entries). */
  vid?: number;
}

export class MacTable {
  /** MAC bytes 0..3, little-endian, as a signed 32-bit integer. */
  readonly a = new Int32Array(HASH_SIZE);
  /** MAC bytes 4..5 | VALID_B; 0 = empty bucket. */
  readonly b = new Int32Array(HASH_SIZE);
  /** Port index of the MAC. */
  readonly port = new Int32Array(HASH_SIZE);
  /** The second (of a monotonic clock) the MAC was last learnt, for ageing. */
  readonly stamp = new Uint32Array(HASH_SIZE);

  clear(): void {
    this.a.fill(0);
    this.b.fill(0);
    this.port.fill(0);
  }

  /** Stamps every entry learnt at second `now`: ageing just turned on counts from then, not from 0. */
  restamp(now: number): void {
    this.stamp.fill(now);
  }

  /** Forgets every MAC learned on `port` (when the port leaves the switch). */
  forgetPort(port: number): void {
    for (let i = 0; i < HASH_SIZE; i++) {
      if (this.b[i] !== 0 && this.port[i] === port) this.b[i] = 0;
    }
  }

  /** The entries in use; with `ageing` seconds, those learnt again within that time. */
  entries(ageing = 0): MacEntry[] {
    const out: MacEntry[] = [];
    const now = (performance.now() / 1000) | 0;
    for (let i = 0; i < HASH_SIZE; i++) {
      const b = this.b[i];
      if (b !== 0 && (ageing === 0 || now - (this.stamp[i] as number) <= ageing)) {
        const e: MacEntry = { bucket: i, mac: formatMac(this.a[i], b & 0xffff), port: this.port[i] };
        if (b >>> 17 !== 0) e.vid = b >>> 17;
        out.push(e);
      }
    }
    return out;
  }
}
