/*
 * Who may watch another client's traffic: the one place the daemon decides
 * it, for monitors (PORT/r, /t, /rt) and mirrors (docs/monitors.md).
 *
 * For now a monitor is allowed to whoever may open a port on that switch (the
 * `open` request's access, 'client'), as netmap allows a monitor to whoever
 * may open /dev/netmap; a mirror is an `owner` request (requests.ts). When the
 * daemon gains per-switch ownership, tighten it here and only here.
 */

import type { PortName } from '../switch/name.js';

export interface Requester {
  readonly uid: number;
  readonly pid: number;
}

/** Throws (a ValeError, VALE_ERR_PERMISSION) if `who` may not monitor `target`; today everyone may. */
export function checkMonitorAccess(_who: Requester, _target: PortName): void {}
