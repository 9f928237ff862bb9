/*
 * What `uvale apply` must do to bring a daemon to a configuration: the
 * difference between the running state and the file, as a list of control
 * requests. Applying the same file twice plans nothing the second time;
 * `prune` also removes what the file does not name (adapters and persistent
 * ports; VDE clients come and go on their own and are never touched).
 * exportConfig() is the other way round: the running state as a file.
 */

import type { DaemonClient } from '../../control/client.js';
import type { AdapterInfo, PersistentInfo } from '../../control/types.js';
import { SETTINGS } from '../../core/settings.js';
import type { AttachSpec, Config } from './config.js';

export interface RunningState {
  settings: Record<string, number>;
  persistent: PersistentInfo[];
  adapters: AdapterInfo[];
}

export type Step =
  | { op: 'sysctl-set'; set: string }
  | { op: 'newif'; name: string; txSlots?: number; rxSlots?: number; txRings?: number; rxRings?: number }
  | { op: 'delif'; name: string }
  | { op: 'attach'; name: string; offload?: boolean }
  | { op: 'detach'; name: string };

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
  return { settings, persistent, attach };
}

/** What the daemon behind `c` runs now: settings, persistent ports, adapters. */
export async function runningState(c: DaemonClient): Promise<RunningState> {
  const [st, pers, ad] = await Promise.all([c.request('sysctl'), c.request('persistent'), c.request('adapters')]);
  return { settings: st.settings, persistent: pers.ports, adapters: ad.adapters };
}
