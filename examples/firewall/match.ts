/*
 * Matching: the per-frame hot path. decodeFrame() fills one reused FrameInfo,
 * then the rules are tried in order over plain numbers; the first match
 * decides, else the default action. Nothing here allocates.
 */

import { decodeFrame, FrameInfo } from './frame.js';
import { DIR_IN, DIR_OUT, DROP, DST, PASS, type Rule, SRC } from './rules.js';

/** Do the first `bits` bits of buf[off..] equal those of `prefix`? */
function prefixEquals(buf: Uint8Array, off: number, prefix: Uint8Array, bits: number): boolean {
  let k = 0;
  for (; bits >= 8; bits -= 8, k++) if (buf[off + k] !== prefix[k]) return false;
  if (bits === 0) return true;
  const mask = (0xff00 >>> bits) & 0xff;
  return ((buf[off + k] as number) & mask) === prefix[k];
}

/** Does rule `r` match the decoded frame `f`, travelling in direction `dir` (DIR_IN or DIR_OUT)? */
export function matchRule(r: Rule, f: FrameInfo, dir: number): boolean {
  if ((r.dirs & dir) === 0) return false;
  if (r.ethertype >= 0 && f.ethertype !== r.ethertype) return false;
  if (r.family !== 0 && f.family !== r.family) return false;
  if (r.proto >= 0 && f.proto !== r.proto) return false;
  for (let k = 0; k < r.macs.length; k++) {
    const m = r.macs[k] as Rule['macs'][number];
    const src = (m.which & SRC) !== 0 && f.srcA === m.a && f.srcB === m.b;
    const dst = (m.which & DST) !== 0 && f.dstA === m.a && f.dstB === m.b;
    if (!src && !dst) return false;
  }
  for (let k = 0; k < r.nets4.length; k++) {
    const n = r.nets4[k] as Rule['nets4'][number];
    const src = (n.which & SRC) !== 0 && (f.src4 & n.mask) >>> 0 === n.addr;
    const dst = (n.which & DST) !== 0 && (f.dst4 & n.mask) >>> 0 === n.addr;
    if (!src && !dst) return false;
  }
  for (let k = 0; k < r.nets6.length; k++) {
    const n = r.nets6[k] as Rule['nets6'][number];
    const src = (n.which & SRC) !== 0 && prefixEquals(f.buf, f.src6, n.addr, n.bits);
    const dst = (n.which & DST) !== 0 && prefixEquals(f.buf, f.dst6, n.addr, n.bits);
    if (!src && !dst) return false;
  }
  for (let k = 0; k < r.ports.length; k++) {
    const p = r.ports[k] as Rule['ports'][number];
    const src = (p.which & SRC) !== 0 && f.sport >= p.lo && f.sport <= p.hi;
    const dst = (p.which & DST) !== 0 && f.dport >= p.lo && f.dport <= p.hi;
    if (!src && !dst) return false;
  }
  return true;
}

/** A rule set with its counters: what the firewall asks once per frame. */
export class Firewall {
  readonly rules: readonly Rule[];
  readonly defaultAction: number;
  /** Frames and bytes decided by the default action. */
  defaultHits = 0;
  defaultBytes = 0;
  /** Frames passed and dropped per direction, indexed by DIR_IN / DIR_OUT. */
  readonly passed = new Float64Array(3);
  readonly dropped = new Float64Array(3);
  private readonly info = new FrameInfo();

  constructor(rules: readonly Rule[], defaultAction = PASS) {
    this.rules = rules;
    this.defaultAction = defaultAction;
  }

  /** Index of the first rule matching the frame at buf[off, off+len), or -1. */
  firstMatch(buf: Uint8Array, off: number, len: number, dir: number): number {
    decodeFrame(buf, off, len, this.info);
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) if (matchRule(rules[i] as Rule, this.info, dir)) return i;
    return -1;
  }

  /**
   * Decides one frame and counts it: true to pass. `buf[off, off+len)` is its
   * first slot (the headers), `total` its whole length (all fragments).
   */
  decide(buf: Uint8Array, off: number, len: number, total: number, dir: number): boolean {
    const i = this.firstMatch(buf, off, len, dir);
    let action = this.defaultAction;
    if (i >= 0) {
      const r = this.rules[i] as Rule;
      r.hits++;
      r.bytes += total;
      action = r.action;
    } else {
      this.defaultHits++;
      this.defaultBytes += total;
    }
    if (action === DROP) this.dropped[dir]++;
    else this.passed[dir]++;
    return action !== DROP;
  }

  /** The rules with their counters, a line each, and the default's. */
  table(): string {
    const rows: string[][] = [['#', 'frames', 'bytes', 'rule']];
    this.rules.forEach((r, i) => {
      rows.push([String(i + 1), String(r.hits), String(r.bytes), `${r.text}  (${r.where})`]);
    });
    const dflt = this.defaultAction === DROP ? 'drop' : 'pass';
    rows.push(['-', String(this.defaultHits), String(this.defaultBytes), `${dflt} (default)`]);
    const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => (row[c] as string).length)));
    return rows
      .map((row) => row.map((cell, c) => (c === 3 ? cell : cell.padStart(widths[c] as number))).join('  '))
      .join('\n');
  }

  /** table(), then a line per direction with the frames passed and dropped. */
  report(inPort: string, outPort: string): string {
    return [
      this.table(),
      `in  ${inPort} -> ${outPort}: ${this.passed[DIR_IN]} passed, ${this.dropped[DIR_IN]} dropped`,
      `out ${outPort} -> ${inPort}: ${this.passed[DIR_OUT]} passed, ${this.dropped[DIR_OUT]} dropped`,
    ].join('\n');
  }
}
