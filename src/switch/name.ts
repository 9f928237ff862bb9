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
 * A monitor (netmap(4)'s monitor ports, docs/monitors.md) is a port name
 * followed by '/' and the directions to copy: PORT/r (what PORT receives),
 * PORT/t (what it sends), PORT/rt (both); 'z', netmap's zero-copy monitor, is
 * accepted and gives a copy monitor (alone it means both directions). The
 * 15-character limit applies to PORT; the suffix comes on top, as netmap
 * parses it out of the name before the interface name is used.
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
  /** The port name within the switch (for a monitor, the monitored port's). */
  readonly port: string;
  /** For a monitor (PORT/r, /t, /rt): MON_RX | MON_TX; 0 for a port. */
  readonly monitor: number;
}

/** Monitor directions: copies of what the port receives (RX) and sends (TX). */
export const MON_RX = 1;
export const MON_TX = 2;
const MON_SUFFIX = /^[rtz]{1,3}$/;

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
  const slash = name.indexOf('/');
  if (slash >= 0) {
    const flags = name.slice(slash + 1);
    if (!MON_SUFFIX.test(flags) || new Set(flags).size !== flags.length) {
      throw invalid(name, `a monitor is PORT/r, PORT/t or PORT/rt (netmap's monitor ports), not '/${flags}'`);
    }
    const base = parseBase(name.slice(0, slash), name);
    let monitor = (flags.includes('r') ? MON_RX : 0) | (flags.includes('t') ? MON_TX : 0);
    if (monitor === 0) monitor = MON_RX | MON_TX; // '/z' alone: both directions, as a copy monitor
    return { full: name, bridge: base.bridge, port: base.port, monitor };
  }
  return parseBase(name, name);
}

/** The name without a monitor suffix; `whole` is what the user wrote, for errors. */
function parseBase(name: string, whole: string): PortName {
  if (name.length === 0) throw invalid(whole, "nothing before '/' (the monitored port's name is missing)");
  if (name.startsWith('netmap:')) {
    throw invalid(whole, `drop the 'netmap:' prefix: uvale names VALE ports only, as '${whole.slice(7)}'`);
  }
  if (!name.startsWith(VALE_PREFIX)) {
    throw invalid(whole, `must start with '${VALE_PREFIX}' (vale[bdg:][port], e.g. vale-a:1)`);
  }
  if (!PRINTABLE.test(name)) throw invalid(whole, 'only printable ASCII without spaces is allowed');
  if (name.length > MAX_NAME_LEN) {
    throw invalid(whole, `${name.length} characters, the limit is ${MAX_NAME_LEN} (16-byte interface name)`);
  }
  const colon = name.indexOf(':');
  if (colon < 0) return { full: whole, bridge: DEFAULT_SWITCH, port: name, monitor: 0 };
  const port = name.slice(colon + 1);
  if (port.length === 0) throw invalid(whole, "nothing after ':' (the port name is missing)");
  return { full: whole, bridge: name.slice(0, colon), port, monitor: 0 };
}

/** Validates a switch name alone (as used by ctl to name a switch). */
export function parseSwitchName(name: string): string {
  if (typeof name !== 'string' || !name.startsWith(VALE_PREFIX)) {
    throw new ValeError(ErrorCodes.INVALID_NAME, `invalid switch name '${String(name)}': must start with 'vale'`);
  }
  if (!PRINTABLE.test(name) || name.includes(':') || name.includes('/') || name.length > MAX_NAME_LEN - 2) {
    throw new ValeError(
      ErrorCodes.INVALID_NAME,
      `invalid switch name '${name}': printable ASCII without ':', '/' or spaces, at most ${MAX_NAME_LEN - 2} characters`,
    );
  }
  return name;
}
