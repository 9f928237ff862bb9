/*
 * What `uvale apply` must do to bring a daemon to a configuration: the
 * difference between the running state and the file, as a list of control
 * requests. Applying the same file twice plans nothing the second time;
 * `prune` also removes what the file does not name (adapters and persistent
 * ports, VLAN modes, mirrors; VDE clients come and go on their own and are
 * never touched). VLAN modes and mirrors come after the attachments, so the
 * ports they name are there.
 * exportConfig() is the other way round: the running state as a file.
 */

import { stringify } from 'yaml';
import type { DaemonClient } from '../../control/client.js';
import type { AdapterInfo, MirrorInfo, PersistentInfo, VlanInfo } from '../../control/types.js';
import { SETTINGS } from '../../core/settings.js';
import type { AttachSpec, Config, MirrorSpec } from './config.js';

export interface RunningState {
  settings: Record<string, number>;
  persistent: PersistentInfo[];
  adapters: AdapterInfo[];
  vlans: VlanInfo[];
  /** Mirrors only (the 'mirrors' reply also lists monitors, which clients open). */
  mirrors: MirrorInfo[];
}

export type Step =
  | { op: 'sysctl-set'; set: string }
  | { op: 'newif'; name: string; txSlots?: number; rxSlots?: number; txRings?: number; rxRings?: number }
  | { op: 'delif'; name: string }
  | { op: 'attach'; name: string; offload?: boolean }
  | { op: 'detach'; name: string }
  | { op: 'vlan'; name: string; mode: string }
  | { op: 'mirror'; src: string; dst: string; remove?: boolean };

/** How a running mirror is written in a file: SW:SRC[/r|/t]=SW:DST. */
function mirrorOf(m: MirrorInfo): MirrorSpec {
  return { src: m.dirs === 'rt' ? m.src : `${m.src}/${m.dirs}`, dst: m.dst };
}

const mirrorKey = (m: MirrorSpec): string => `${m.src.split('/')[0]}=${m.dst}`;

/** How an adapter would be written in an attach entry. */
function attachOf(a: AdapterInfo): AttachSpec {
  if (a.kind === 'tap') return { port: a.name, offload: a.extra.vnetHdrLen !== 0 };
  return { port: `${a.name}=${a.spec}`, offload: true };
}

function sameAttach(x: AttachSpec, y: AttachSpec): boolean {
  return x.port === y.port && x.offload === y.offload;
}

export function plan(cur: RunningState, want: Config, prune = false): Step[] {
  const steps: Step[] = [];
  const curMirrors = new Map(cur.mirrors.map((m) => [mirrorKey(mirrorOf(m)), mirrorOf(m)]));
  const wantMirrors = new Map((want.mirrors ?? []).map((m) => [mirrorKey(m), m]));
  if (prune) {
    for (const [k, m] of curMirrors) if (!wantMirrors.has(k)) steps.push({ op: 'mirror', ...m, remove: true });
  }
  for (const [name, value] of Object.entries(want.settings)) {
    if (cur.settings[name] !== value) steps.push({ op: 'sysctl-set', set: `${name}=${value}` });
  }
  const attachedPersistent = new Map(cur.persistent.filter((p) => p.attached !== null).map((p) => [p.attached, p]));
  const adapters = new Map(cur.adapters.filter((a) => a.kind !== 'vde').map((a) => [a.name, a]));
  const wanted = new Set(want.attach.map((a) => a.port.split('=')[0] as string));
  // detach first what goes away or changes, so that names and numbers are free
  for (const [name, a] of adapters) {
    const w = want.attach.find((x) => x.port.split('=')[0] === name);
    if ((w === undefined && prune) || (w !== undefined && !sameAttach(w, attachOf(a))))
      steps.push({ op: 'detach', name });
  }
  for (const [name] of attachedPersistent) {
    if (name !== null && prune && !wanted.has(name)) steps.push({ op: 'detach', name });
  }
  for (const p of want.persistent) {
    const c = cur.persistent.find((x) => x.name === p.name);
    if (c === undefined) steps.push({ op: 'newif', ...p });
  }
  if (prune) {
    for (const c of cur.persistent) {
      if (!want.persistent.some((p) => p.name === c.name)) steps.push({ op: 'delif', name: c.name });
    }
  }
  for (const w of want.attach) {
    const name = w.port.split('=')[0] as string;
    const a = adapters.get(name);
    if (a !== undefined && sameAttach(w, attachOf(a))) continue;
    if (attachedPersistent.has(name) && !w.port.includes('=')) continue;
    steps.push(w.offload ? { op: 'attach', name: w.port } : { op: 'attach', name: w.port, offload: false });
  }
  const wantVlans = want.vlans ?? {};
  for (const [name, mode] of Object.entries(wantVlans)) {
    if ((cur.vlans.find((v) => v.name === name)?.mode ?? 'none') !== mode) steps.push({ op: 'vlan', name, mode });
  }
  if (prune) {
    for (const v of cur.vlans) {
      if (v.mode !== 'none' && wantVlans[v.name] === undefined) steps.push({ op: 'vlan', name: v.name, mode: 'none' });
    }
  }
  for (const [k, m] of wantMirrors) {
    const c = curMirrors.get(k);
    if (c === undefined || c.src !== m.src) steps.push({ op: 'mirror', ...m }); // a new direction replaces the old
  }
  return steps;
}

/** The running state as a configuration: settings that differ from their defaults, persistent ports, attachments. */
export function exportConfig(cur: RunningState): Config {
  const settings: Record<string, number> = {};
  for (const s of SETTINGS) {
    const v = cur.settings[s.name];
    if (v !== undefined && v !== s.default && !s.readonly) settings[s.name] = v;
  }
  const persistent = cur.persistent.map((p) => ({
    name: p.name,
    txSlots: p.txSlots,
    rxSlots: p.rxSlots,
    txRings: p.txRings,
    rxRings: p.rxRings,
  }));
  const attach: AttachSpec[] = [
    ...cur.persistent.filter((p) => p.attached !== null).map((p) => ({ port: p.attached as string, offload: true })),
    ...cur.adapters.filter((a) => a.kind !== 'vde').map(attachOf),
  ];
  const out: Config = { settings, persistent, attach };
  const vlans = cur.vlans.filter((v) => v.mode !== 'none');
  if (vlans.length > 0) out.vlans = Object.fromEntries(vlans.map((v) => [v.name, v.mode]));
  if (cur.mirrors.length > 0) out.mirrors = cur.mirrors.map(mirrorOf);
  return out;
}

/** A mirror as a file and `uvale ctl --mirror` write it: SW:SRC[/r|/t]=SW:DST. */
export function mirrorText(m: MirrorSpec): string {
  return `${m.src}=${m.dst}`;
}

/** A configuration as the text of a file (`--export`): YAML, mirrors written as text. */
export function configText(c: Config): string {
  const { mirrors, ...rest } = c;
  return stringify(mirrors === undefined ? rest : { ...rest, mirrors: mirrors.map(mirrorText) });
}

/** What the daemon behind `c` runs now: settings, persistent ports, adapters, VLAN modes, mirrors. */
export async function runningState(c: DaemonClient): Promise<RunningState> {
  const [st, pers, ad, vl, mi] = await Promise.all([
    c.request('sysctl'),
    c.request('persistent'),
    c.request('adapters'),
    c.request('vlans', {}),
    c.request('mirrors'),
  ]);
  return {
    settings: st.settings,
    persistent: pers.ports,
    adapters: ad.adapters,
    vlans: vl.vlans,
    mirrors: mi.mirrors.filter((m) => m.kind === 'mirror'),
  };
}
