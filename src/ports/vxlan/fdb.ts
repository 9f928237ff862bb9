/*
 * A tunnel port's forwarding database: inner MAC → remote VTEP (an index in
 * the port's remote table), as Linux's vxlan fdb. Entries are learned from
 * the inner source MAC of what a remote sends, or static (`uvale ctl --fdb
 * SW:PORT MAC=ADDR`). A learned entry not refreshed for the ageing time
 * (uvale.vxlan_ageing, seconds; 0 = never) is forgotten: lookups treat it as
 * unknown and remove it. Learning never overwrites a static entry. The table
 * is bounded (`max`): a MAC that does not fit is not learned (the caller
 * counts it) and its frames are flooded, as for any unknown MAC.
 *
 * Keys are the 48-bit MAC as one number (exact in a double), so a lookup and
 * a refresh on the data path allocate nothing; only a new MAC makes an entry.
 */

import { formatMac } from '../../pkt/ether.js';

export interface FdbEntry {
  remote: number;
  isStatic: boolean;
  /** Date.now() when last learned (static: when set). */
  seen: number;
}

/** The MAC at buf[off, off + 6) as a number. */
export function macKey(buf: Uint8Array, off: number): number {
  return (
    ((buf[off] << 8) | buf[off + 1]) * 0x1_0000_0000 +
    (((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>> 0)
  );
}

/** "aa:bb:cc:dd:ee:ff" of a key. */
export function keyToMac(key: number): string {
  const b = new Uint8Array(6);
  const hi = Math.floor(key / 0x1_0000_0000);
  const lo = key % 0x1_0000_0000;
  b[0] = hi >> 8;
  b[1] = hi & 0xff;
  b[2] = lo >>> 24;
  b[3] = (lo >>> 16) & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  return formatMac(b);
}

export class TunnelFdb {
  readonly max: number;
  private readonly m = new Map<number, FdbEntry>();

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.m.size;
  }

  /** The remote for `key`, or -1 (unknown, or learned and older than `ageMs`; 0 = no ageing). */
  lookup(key: number, now: number, ageMs: number): number {
    const e = this.m.get(key);
    if (e === undefined) return -1;
    if (!e.isStatic && ageMs > 0 && now - e.seen > ageMs) {
      this.m.delete(key);
      return -1;
    }
    return e.remote;
  }

  /** `key` was seen behind `remote`; false when it is new and the table is full (not learned). */
  learn(key: number, remote: number, now: number): boolean {
    const e = this.m.get(key);
    if (e !== undefined) {
      if (!e.isStatic) {
        e.remote = remote;
        e.seen = now;
      }
      return true;
    }
    if (this.m.size >= this.max) return false;
    this.m.set(key, { remote, isStatic: false, seen: now });
    return true;
  }

  /** Adds or replaces a static entry (a static entry may replace a learned one; the table bound applies to new keys). */
  setStatic(key: number, remote: number, now: number): boolean {
    const e = this.m.get(key);
    if (e === undefined && this.m.size >= this.max) return false;
    this.m.set(key, { remote, isStatic: true, seen: now });
    return true;
  }

  delete(key: number): boolean {
    return this.m.delete(key);
  }

  /** Removes learned entries older than `ageMs` (0: none); returns how many. */
  sweep(now: number, ageMs: number): number {
    if (ageMs <= 0) return 0;
    let n = 0;
    for (const [k, e] of this.m) {
      if (!e.isStatic && now - e.seen > ageMs) {
        this.m.delete(k);
        n++;
      }
    }
    return n;
  }

  entries(): Array<[number, FdbEntry]> {
    return [...this.m.entries()];
  }
}
