/*
 * The control requests, in one table: each request's name, its arguments (a
 * small schema that is both the TypeScript type and the daemon's check of what
 * arrives), what it needs of the requester, and (in `Replies`) the type of its
 * result. The client's request() and the daemon's handler table are both typed
 * from here, so a request is typed end to end and a new one is one entry here
 * plus one handler.
 *
 * Access, decided per request from the requester's credentials (SO_PEERCRED):
 *   'any'    anyone who can reach the socket (listings, counters, settings read)
 *   'client' anyone who can reach the socket, on its own ports and the switches
 *            it may use (open, close; attach and detach only sockets in its
 *            own directory; its switches' owner and group): the handler
 *            decides with the daemon's switch records (src/daemon/access.ts)
 *   'owner'  root or the daemon's own user: whatever changes the switches for
 *            everyone or acts on the host with the daemon's privileges
 *            (persistent ports, settings, static fdb entries, shutdown)
 * See docs/security.md.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type {
  AdapterInfo,
  FdbInfo,
  MacEntry,
  MirrorInfo,
  OpenReply,
  PersistentInfo,
  PortInfo,
  PortStats,
  SettingsReply,
  StatsSnapshot,
  SwitchInfo,
  VlanInfo,
} from './types.js';

/** An argument's type; a leading '?' makes it optional. */
export type Field = 'string' | 'int' | 'bool' | '?string' | '?int' | '?bool';
type Base<F> = F extends 'string' | '?string' ? string : F extends 'int' | '?int' ? number : boolean;
type Schema = Readonly<Record<string, Field>>;
export type ArgsOf<S extends Schema> = {
  [K in keyof S as S[K] extends `?${string}` ? never : K]: Base<S[K]>;
} & { [K in keyof S as S[K] extends `?${string}` ? K : never]?: Base<S[K]> };

export type Access = 'any' | 'client' | 'owner';

const RING_ARGS = { txRings: '?int', rxRings: '?int', txSlots: '?int', rxSlots: '?int' } as const;

export const REQUESTS = {
  hello: { access: 'any', args: { version: 'int' } },
  open: { access: 'client', args: { name: 'string', fd: 'int', vnetHdrLen: '?int', ...RING_ARGS } },
  close: { access: 'client', args: { handle: 'int' } },
  list: { access: 'any', args: {} },
  stats: { access: 'any', args: {} },
  port: { access: 'any', args: { name: 'string' } },
  mac: { access: 'client', args: { switch: 'string' } },
  switches: { access: 'any', args: {} },
  'switch-owner': { access: 'client', args: { switch: 'string', uid: '?int', gid: '?int', release: '?bool' } },
  adapters: { access: 'any', args: { kind: '?string' } },
  fdb: { access: 'client', args: { name: 'string' } },
  'fdb-set': { access: 'owner', args: { name: 'string', mac: 'string', remote: '?string' } },
  persistent: { access: 'any', args: {} },
  geometry: { access: 'any', args: { name: 'string' } },
  sysctl: { access: 'any', args: { name: '?string' } },
  'sysctl-set': { access: 'owner', args: { set: 'string' } },
  attach: { access: 'client', args: { name: 'string', offload: '?bool' } },
  detach: { access: 'client', args: { name: 'string' } },
  newif: { access: 'owner', args: { name: 'string', ...RING_ARGS } },
  delif: { access: 'owner', args: { name: 'string' } },
  shutdown: { access: 'owner', args: {} },
  mirror: { access: 'owner', args: { src: 'string', dst: 'string', remove: '?bool' } },
  mirrors: { access: 'any', args: {} },
  vlan: { access: 'owner', args: { name: 'string', mode: 'string' } },
  vlans: { access: 'any', args: { switch: '?string' } },
} as const satisfies Record<string, { access: Access; args: Schema }>;

export type RequestName = keyof typeof REQUESTS;
export type Args<K extends RequestName> = ArgsOf<(typeof REQUESTS)[K]['args']>;

/** What each request resolves with. */
export interface Replies {
  hello: { version: number; pid: number; dir: string; uid: number };
  open: OpenReply;
  close: Record<string, never>;
  list: { ports: PortInfo[] };
  stats: StatsSnapshot;
  /** `io`: how an adapter's port moves frames to its far side (a TAP: 'uring' or 'syscall'), when it says. */
  port: PortStats & { io?: string };
  mac: { switch: string; entries: MacEntry[] };
  switches: { switches: SwitchInfo[] };
  'switch-owner': { owner: SwitchInfo | null };
  adapters: { adapters: Array<AdapterInfo & { index: number }> };
  fdb: { name: string; entries: FdbInfo[] };
  /** The entry added, or null once deleted (no `remote`). */
  'fdb-set': { name: string; entry: FdbInfo | null };
  persistent: { ports: PersistentInfo[] };
  geometry: PersistentInfo | null;
  sysctl: SettingsReply;
  'sysctl-set': { name: string; old: number; value: number; note?: string };
  attach: { name: string; index: number; kind: string; adapter: AdapterInfo | null };
  detach: { name: string; adapter: AdapterInfo | null };
  newif: PersistentInfo;
  delif: Record<string, never>;
  shutdown: Record<string, never>;
  mirror: MirrorInfo;
  mirrors: { mirrors: MirrorInfo[] };
  vlan: VlanInfo;
  vlans: { vlans: VlanInfo[] };
}

export function isRequestName(op: unknown): op is RequestName {
  return typeof op === 'string' && Object.hasOwn(REQUESTS, op);
}

/**
 * Checks a request's arguments against its schema and returns them typed:
 * every declared field has its type, no undeclared field is present. Throws
 * INVALID_ARG naming the field.
 */
export function checkArgs<K extends RequestName>(op: K, m: Record<string, unknown>): Args<K> {
  const schema: Schema = REQUESTS[op].args;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k === 'id' || k === 'op') continue;
    const f = Object.hasOwn(schema, k) ? schema[k] : undefined; // never an inherited name (constructor, toString)
    if (f === undefined) throw new ValeError(ErrorCodes.INVALID_ARG, `'${op}' takes no argument '${k}'`);
    out[k] = v;
  }
  for (const [k, f] of Object.entries(schema)) {
    const v = out[k];
    const optional = f.startsWith('?');
    if (v === undefined || v === null) {
      if (!optional) throw new ValeError(ErrorCodes.INVALID_ARG, `'${op}' needs '${k}'`);
      delete out[k];
      continue;
    }
    const t = optional ? f.slice(1) : f;
    const ok =
      t === 'string'
        ? typeof v === 'string' && v.length <= 4096
        : t === 'int'
          ? typeof v === 'number' && Number.isSafeInteger(v)
          : typeof v === 'boolean';
    if (!ok) {
      const what = t === 'int' ? 'an integer' : t === 'bool' ? 'a boolean' : 'a string of at most 4096 characters';
      throw new ValeError(ErrorCodes.INVALID_ARG, `'${k}' of '${op}' must be ${what}`);
    }
  }
  return out as Args<K>;
}
