/*
 * The attach grammar and the table of adapter kinds.
 *
 *   SWITCH:PORT                 a persistent port PORT, else the TAP interface PORT
 *   SWITCH:PORT=KIND:ARGS       an adapter of KIND (stream, dgram, socket, ...)
 *
 * One parser (parseAttach) splits every attach request; each kind says what its
 * ARGS mean (parse), whether they name something on the host that only the
 * daemon's owner may use (a path, an address, an interface), how to make paths
 * absolute on the requester's side, and how to build the adapter. A new kind
 * is one entry in KINDS.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { parsePortName } from '../switch/name.js';
import type { AdapterKind } from './adapter.js';
import { QEMU_KINDS } from './qemu/kind.js';
import { VHOST_USER_KIND } from './vhost-user/kind.js';
import { TUNNEL_KINDS } from './vxlan/kind.js';

/** An attach request split: the port, and the spec after '=' if any. */
export interface AttachRequest {
  /** "SWITCH:PORT". */
  name: string;
  switchName: string;
  port: string;
  /** The kind and the full spec ("stream:unix:/x"), or null for a persistent port or a TAP. */
  kind: string | null;
  spec: string | null;
}

/** Every kind an attach spec may name: one line per adapter module. */
const KINDS = new Map<string, AdapterKind>([...QEMU_KINDS, VHOST_USER_KIND, ...TUNNEL_KINDS].map((k) => [k.kind, k]));

export function findKind(kind: string): AdapterKind | undefined {
  return KINDS.get(kind);
}

export function kindNames(): string[] {
  return [...KINDS.keys()].sort();
}

/** Every spec form of every kind, for help texts. */
export function specForms(): string[] {
  return [...KINDS.values()].flatMap((k) => [...k.forms]);
}

/** Parses "SWITCH:PORT[=KIND:ARGS]"; throws INVALID_NAME / INVALID_ARG saying what is wrong. */
export function parseAttach(text: string): AttachRequest {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  const pn = parsePortName(name);
  if (pn.monitor !== 0) {
    throw new ValeError(ErrorCodes.INVALID_NAME, `'${name}' is a monitor (docs/monitors.md); attach takes SWITCH:PORT`);
  }
  if (!name.includes(':')) {
    throw new ValeError(ErrorCodes.INVALID_NAME, `attach needs SWITCH:PORT, got '${name}'`);
  }
  if (eq < 0) return { name: pn.full, switchName: pn.bridge, port: pn.port, kind: null, spec: null };
  const spec = text.slice(eq + 1);
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const k = KINDS.get(kind);
  if (k === undefined) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `unknown port kind '${kind}' in '${text}' (kinds: ${kindNames().join(', ')}; forms: ${specForms().join(' | ')})`,
    );
  }
  k.validate(spec);
  return { name: pn.full, switchName: pn.bridge, port: pn.port, kind, spec };
}

/** The attach text with the kind's relative paths made absolute against `cwd` (run on the requester's side). */
export function absolutizeAttach(text: string, cwd: string): string {
  const eq = text.indexOf('=');
  if (eq < 0) return text;
  const spec = text.slice(eq + 1);
  const colon = spec.indexOf(':');
  const k = KINDS.get(colon < 0 ? spec : spec.slice(0, colon));
  if (k?.absolutize === undefined) return text;
  return `${text.slice(0, eq)}=${k.absolutize(spec, cwd)}`;
}
