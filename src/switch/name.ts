/*
 * Port names: vale[bdg:][port], as the seed (vale(4)) gives them.
 *
 *   vale-a:1    switch "vale-a", port "1"
 *   vale:x      switch "vale",   port "x"
 *   vale0       switch "vale" (the default switch), port "vale0"
 *
 * The prefix "vale" marks a VALE port. With a colon, everything before the
 * first colon (the prefix included) names the switch and the rest names the
 * port; without one the port sits on the default switch "vale" and is named by
 * the whole string (netmap's 2013 rule). Names are "arbitrary strings" (seed):
 * any printable ASCII except space; the full name must fit a 16-byte interface
 * name field with its NUL, so at most 15 characters.
 *
 * Deviations from current netmap, on purpose: the full "vale" prefix is
 * required (netmap accepts "val"), and a bad name is VALE_ERR_INVALID_NAME
 * (EINVAL), where netmap says ENOMEM.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';

export const VALE_PREFIX = 'vale';
export const DEFAULT_SWITCH = 'vale';
/** IFNAMSIZ - 1. */
export const MAX_NAME_LEN = 15;

export interface PortName {
  /** The full name, as given. */
  readonly full: string;
  /** The switch name (includes the "vale" prefix). */
  readonly bridge: string;
  /** The port name within the switch. */
  readonly port: string;
}

const PRINTABLE = /^[\x21-\x7e]*$/;

function invalid(name: string, why: string): ValeError {
  return new ValeError(ErrorCodes.INVALID_NAME, `invalid port name '${name}': ${why}`);
}

/** True if `name` is meant for VALE (starts with the prefix); parse it with parsePortName. */
export function isValeName(name: string): boolean {
  return name.startsWith(VALE_PREFIX);
}

export function parsePortName(name: string): PortName {
  if (typeof name !== 'string' || name.length === 0) throw invalid(String(name), 'empty');
  if (name.startsWith('netmap:')) {
    throw invalid(name, `drop the 'netmap:' prefix: uvale names VALE ports only, as '${name.slice(7)}'`);
  }
  if (!name.startsWith(VALE_PREFIX)) {
    throw invalid(name, `must start with '${VALE_PREFIX}' (vale[bdg:][port], e.g. vale-a:1)`);
  }
  if (!PRINTABLE.test(name)) throw invalid(name, 'only printable ASCII without spaces is allowed');
  if (name.length > MAX_NAME_LEN) {
    throw invalid(name, `${name.length} characters, the limit is ${MAX_NAME_LEN} (16-byte interface name)`);
  }
  const colon = name.indexOf(':');
  if (colon < 0) return { full: name, bridge: DEFAULT_SWITCH, port: name };
  const port = name.slice(colon + 1);
  if (port.length === 0) throw invalid(name, "nothing after ':' (the port name is missing)");
  if (port.includes('/')) {
    throw invalid(
      name,
      `'/' is not allowed in a port name: netmap's monitor ports (${name.slice(0, name.indexOf('/'))}/r, /t, /rt) are not in uvale yet`,
    );
  }
  return { full: name, bridge: name.slice(0, colon), port };
}

/** Validates a switch name alone (as used by ctl to name a switch). */
export function parseSwitchName(name: string): string {
  if (typeof name !== 'string' || !name.startsWith(VALE_PREFIX)) {
    throw new ValeError(ErrorCodes.INVALID_NAME, `invalid switch name '${String(name)}': must start with 'vale'`);
  }
  if (!PRINTABLE.test(name) || name.includes(':') || name.length > MAX_NAME_LEN - 2) {
    throw new ValeError(
      ErrorCodes.INVALID_NAME,
      `invalid switch name '${name}': printable ASCII without ':' or spaces, at most ${MAX_NAME_LEN - 2} characters`,
    );
  }
  return name;
}
