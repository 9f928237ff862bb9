/*
 * The daemon's mirrors (`uvale ctl --mirror SRC=DST`, docs/monitors.md): each
 * is kept by name, as an OVS mirror is, and linked in the switch
 * (ValeSwitch.mirror) whenever both ports are there: when a client reopens
 * SRC, or a TAP is attached again as DST, the copies resume. The switch
 * undoes a link when either port leaves; sync() (run on every port change)
 * makes it again when both are back.
 */

import type { MirrorInfo } from '../control/types.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import type { ValeHost } from '../switch/host.js';
import { MON_RX, MON_TX, parsePortName } from '../switch/name.js';

interface Mirror {
  bridge: string;
  src: string;
  dst: string;
  dirs: number;
}

export function dirsText(dirs: number): string {
  return `${dirs & MON_RX ? 'r' : ''}${dirs & MON_TX ? 't' : ''}`;
}

export class Mirrors {
  private readonly host: ValeHost;
  private readonly all = new Map<string, Mirror>();

  constructor(host: ValeHost) {
    this.host = host;
  }

  /**
   * Adds (or with `remove`, removes) the mirror `src` → `dst`. `src` may carry
   * a direction as a monitor name does (SW:PORT/r, /t; /rt is the default);
   * both ports must exist when it is added, on one switch.
   */
  set(srcText: string, dstText: string, remove: boolean): MirrorInfo {
    const s = parsePortName(srcText.includes('/') ? srcText : `${srcText}/rt`);
    const d = parsePortName(dstText);
    if (d.monitor !== 0)
      throw new ValeError(ErrorCodes.INVALID_ARG, `a mirror's destination is a port, not ${dstText}`);
    if (s.bridge !== d.bridge) {
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `${srcText} and ${dstText} are on different switches; a mirror copies within one switch`,
      );
    }
    const src = `${s.bridge}:${s.port}`;
    const dst = `${d.bridge}:${d.port}`;
    const key = `${src}=${dst}`;
    const sw = this.host.getSwitch(s.bridge);
    if (remove) {
      const m = this.all.get(key);
      if (m === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no mirror from ${src} to ${dst}`);
      this.all.delete(key);
      sw?.unmirror(s.port, d.port);
      return this.info(m);
    }
    if (sw === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no switch named ${s.bridge}`);
    const m: Mirror = { bridge: s.bridge, src: s.port, dst: d.port, dirs: s.monitor };
    const old = this.all.get(key);
    if (old !== undefined) sw.unmirror(old.src, old.dst); // a new direction replaces the old one
    sw.mirror(m.src, m.dst, m.dirs); // NOT_FOUND for a port that is not there, INVALID_ARG for SRC = DST
    this.all.set(key, m);
    return this.info(m);
  }

  /** Links every mirror whose ports are both there (after a port came or went). */
  sync(): void {
    for (const m of this.all.values()) {
      const sw = this.host.getSwitch(m.bridge);
      if (sw !== undefined && sw.find(m.src) !== undefined && sw.find(m.dst) !== undefined) {
        sw.mirror(m.src, m.dst, m.dirs);
      }
    }
  }

  /** Mirrors, then the monitors of every switch, by source port. */
  list(): MirrorInfo[] {
    const out = [...this.all.values()].map((m) => this.info(m));
    for (const sw of this.host.listSwitches()) {
      for (const l of sw.copyList()) {
        if (l.dst.monitor === 0) continue;
        out.push({ src: l.src.name, dst: l.dst.name, dirs: dirsText(l.dirs), kind: 'monitor', active: true });
      }
    }
    return out.sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst));
  }

  private info(m: Mirror): MirrorInfo {
    const sw = this.host.getSwitch(m.bridge);
    const s = sw?.find(m.src);
    const d = sw?.find(m.dst);
    const active = s !== undefined && d !== undefined && (s.rxCopies?.includes(d) || s.txCopies?.includes(d)) === true;
    return { src: `${m.bridge}:${m.src}`, dst: `${m.bridge}:${m.dst}`, dirs: dirsText(m.dirs), kind: 'mirror', active };
  }
}
