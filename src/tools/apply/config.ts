/*
 * The configuration file of `uvale apply` (YAML, or JSON which is YAML too):
 *
 *   settings:                      # any dev.netmap.* / uvale.* setting
 *     dev.netmap.max_ports: 32
 *   persistent:                    # ports made with `uvale ctl -n`
 *     - name: p0
 *       txSlots: 256               # optional: txSlots, rxSlots, txRings, rxRings
 *   attach:                        # what `uvale ctl -a` attaches, one entry each
 *     - vale0:p0                   #   a persistent port
 *     - vale0:tap0                 #   a TAP (created if absent), with offloads
 *     - { port: vale0:tap1, offload: false }
 *     - vale0:vm1=stream:unix:/run/vm1.sock   # any adapter kind
 *   vlans:                         # what `uvale ctl --vlan` sets (docs/vlans.md)
 *     vale0:tap0: access:10
 *     vale0:up: trunk:10,20
 *   mirrors:                       # what `uvale ctl --mirror` adds (docs/monitors.md)
 *     - vale0:tap0=vale0:span0     #   SW:SRC[/r|/t]=SW:DST
 *
 * parseConfig() checks the whole file against this shape and the attach
 * grammar before anything is applied, and names the line of every mistake.
 * YAML aliases (*name) are refused: the checks read each node as written.
 */

import { isMap, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { SETTINGS } from '../../core/settings.js';
import { parseAttach } from '../../ports/kinds.js';
import { parsePortName } from '../../switch/name.js';
import { formatVlanSpec, parseVlanSpec } from '../../switch/vlan.js';

export interface PersistentSpec {
  name: string;
  txSlots?: number;
  rxSlots?: number;
  txRings?: number;
  rxRings?: number;
}

export interface AttachSpec {
  /** "SWITCH:PORT[=KIND:ARGS]", as `uvale ctl -a` takes it. */
  port: string;
  /** For a TAP: offloads (default true). */
  offload: boolean;
}

export interface MirrorSpec {
  /** SWITCH:PORT, with /r or /t for one direction (both by default). */
  src: string;
  /** SWITCH:PORT on the same switch. */
  dst: string;
}

export interface Config {
  settings: Record<string, number>;
  persistent: PersistentSpec[];
  attach: AttachSpec[];
  /** SWITCH:PORT → VLAN mode, written as `uvale ctl --vlans` shows it (present when the file has the section). */
  vlans?: Record<string, string>;
  mirrors?: MirrorSpec[];
}

const TOP = ['settings', 'persistent', 'attach', 'vlans', 'mirrors'];

/** "SW:SRC[/r|/t]=SW:DST" as a mirror, both names checked; throws the parser's message. */
export function parseMirror(text: string): MirrorSpec {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new Error(`a mirror is SW:SRC[/r|/t]=SW:DST, not '${text}'`);
  const src = text.slice(0, eq);
  const dst = text.slice(eq + 1);
  const s = parsePortName(src);
  const d = parsePortName(dst);
  if (s.monitor !== 0 && src.endsWith('/rt')) throw new Error(`write ${src.slice(0, -3)} for both directions`);
  if (d.monitor !== 0) throw new Error(`a mirror's destination is a port, not ${dst}`);
  if (s.bridge !== d.bridge) throw new Error(`${src} and ${dst} are on different switches`);
  if (s.port === d.port) throw new Error(`a port cannot mirror to itself (${text})`);
  return { src, dst };
}
const RING_KEYS = ['txSlots', 'rxSlots', 'txRings', 'rxRings'] as const;

/** Parses and checks `text` (from `file`, for messages); throws INVALID_ARG naming the line. */
export function parseConfig(text: string, file: string): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const at = (n: Node | null | undefined): string => {
    const off = n?.range?.[0];
    return off === undefined ? file : `${file}:${lc.linePos(off).line}`;
  };
  const bad = (n: Node | null | undefined, why: string): ValeError =>
    new ValeError(ErrorCodes.INVALID_ARG, `${at(n)}: ${why}`);
  if (doc.errors.length > 0) {
    const e = doc.errors[0] as { message: string; linePos?: Array<{ line: number }> };
    throw new ValeError(ErrorCodes.INVALID_ARG, `${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
  }
  // an alias would be read as a value of its own (offload: *no read as true): refuse it by its line
  visit(doc, {
    Alias(_, n) {
      throw bad(n, `YAML aliases (*${n.source}) are not supported here: write the value`);
    },
  });
  const out: Config = { settings: {}, persistent: [], attach: [] };
  const root = doc.contents;
  if (root === null) return out;
  if (!isMap(root)) throw bad(root as Node, 'the file must be a mapping with settings, persistent and attach');
  for (const item of root.items) {
    const key = String((item.key as { value?: unknown }).value);
    const val = item.value as Node | null;
    if (!TOP.includes(key)) throw bad(item.key as Node, `unknown section '${key}' (sections: ${TOP.join(', ')})`);
    if (key === 'settings') {
      if (!isMap(val)) throw bad(val, 'settings is a mapping of NAME: VALUE');
      for (const s of val.items) {
        const name = String((s.key as { value?: unknown }).value);
        const v = (s.value as { value?: unknown } | null)?.value;
        const spec = SETTINGS.find((x) => x.name === name);
        if (spec === undefined) throw bad(s.key as Node, `unknown setting '${name}'`);
        if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) {
          throw bad(s.value as Node, `${name} must be an integer from ${spec.min} to ${spec.max}`);
        }
        if (spec.readonly && v !== spec.default) throw bad(s.value as Node, `${name} is read-only (${spec.default})`);
        out.settings[name] = v;
      }
    } else if (key === 'persistent') {
      if (!isSeq(val)) throw bad(val, 'persistent is a list of {name, txSlots?, rxSlots?, txRings?, rxRings?}');
      for (const p of val.items as Node[]) {
        const o = (p as { toJSON(): unknown }).toJSON() as Record<string, unknown>;
        if (!isMap(p) || typeof o.name !== 'string') throw bad(p, 'a persistent port needs a name');
        const spec: PersistentSpec = { name: o.name };
        for (const [k, v] of Object.entries(o)) {
          if (k === 'name') continue;
          if (!(RING_KEYS as readonly string[]).includes(k))
            throw bad(p, `unknown key '${k}' of persistent port ${o.name}`);
          if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(p, `${k} of ${o.name} must be an integer`);
          spec[k as (typeof RING_KEYS)[number]] = v;
        }
        out.persistent.push(spec);
      }
    } else if (key === 'vlans') {
      if (!isMap(val))
        throw bad(val, 'vlans is a mapping of SWITCH:PORT: MODE (none, access:V, trunk[:VIDS][,native=V])');
      const vlans: Record<string, string> = {};
      for (const v of val.items) {
        const name = String((v.key as { value?: unknown }).value);
        const mode = (v.value as { value?: unknown } | null)?.value;
        try {
          const pn = parsePortName(name);
          if (pn.monitor !== 0) throw new Error(`a VLAN mode belongs to a port, not to ${name}`);
          if (typeof mode !== 'string') throw new Error(`the VLAN mode of ${name} is text such as access:10`);
          vlans[`${pn.bridge}:${pn.port}`] = formatVlanSpec(parseVlanSpec(mode));
        } catch (e) {
          throw bad(v.key as Node, (e as Error).message);
        }
      }
      out.vlans = vlans;
    } else if (key === 'mirrors') {
      if (!isSeq(val)) throw bad(val, 'mirrors is a list of SW:SRC[/r|/t]=SW:DST');
      const mirrors: MirrorSpec[] = [];
      for (const m of val.items as Node[]) {
        const text = (m as { toJSON(): unknown }).toJSON();
        let spec: MirrorSpec;
        try {
          if (typeof text !== 'string') throw new Error('a mirror is SW:SRC[/r|/t]=SW:DST');
          spec = parseMirror(text);
        } catch (e) {
          throw bad(m, (e as Error).message);
        }
        const port = (x: string): string => x.split('/')[0] as string;
        if (mirrors.some((x) => port(x.src) === port(spec.src) && x.dst === spec.dst)) {
          throw bad(m, `the mirror ${port(spec.src)}=${spec.dst} is listed twice`);
        }
        mirrors.push(spec);
      }
      out.mirrors = mirrors;
    } else {
      if (!isSeq(val)) throw bad(val, 'attach is a list of SWITCH:PORT[=KIND:ARGS] or {port, offload}');
      for (const a of val.items as Node[]) {
        const o = (a as { toJSON(): unknown }).toJSON();
        const spec: AttachSpec =
          typeof o === 'string'
            ? { port: o, offload: true }
            : o !== null && typeof o === 'object' && typeof (o as { port?: unknown }).port === 'string'
              ? { port: (o as { port: string }).port, offload: (o as { offload?: unknown }).offload !== false }
              : (() => {
                  throw bad(a, 'an attach entry is SWITCH:PORT[=KIND:ARGS] or {port: ..., offload: false}');
                })();
        try {
          parseAttach(spec.port);
        } catch (e) {
          throw bad(a, (e as Error).message);
        }
        if (out.attach.some((x) => x.port.split('=')[0] === spec.port.split('=')[0])) {
          throw bad(a, `${spec.port.split('=')[0]} is attached twice`);
        }
        out.attach.push(spec);
      }
    }
  }
  return out;
}
