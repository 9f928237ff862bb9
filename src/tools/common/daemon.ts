/*
 * How every tool reaches the daemon, with one behaviour when none runs
 * (README "The daemon"): a listing or a view says so on stderr and shows
 * nothing (status 0); an action that needs a daemon fails with
 * VALE_ERR_DAEMON and says how to start one. Tools that create something
 * (ctl -a/-n, pkt-gen, tcpdump, apply) start one instead, as opening
 * /dev/netmap finds the kernel ready.
 */

import { DaemonClient } from '../../control/client.js';
import { runDir } from '../../control/paths.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';

/** A client for a listing, or null (after a note on stderr) when no daemon runs in `dir`. */
export async function connectForListing(
  tool: string,
  dir: string | undefined,
  note = 'nothing to show',
): Promise<DaemonClient | null> {
  try {
    return await DaemonClient.connect({ ...(dir !== undefined ? { dir } : {}), autostart: false });
  } catch (e) {
    if (e instanceof ValeError && e.code === ErrorCodes.DAEMON) {
      process.stderr.write(`uvale ${tool}: no uvale daemon runs in ${dir ?? runDir()}; ${note}\n`);
      return null;
    }
    throw e;
  }
}

/** A client for an action on what a daemon holds; none running is VALE_ERR_DAEMON. */
export async function connectForAction(dir: string | undefined, what: string): Promise<DaemonClient> {
  try {
    return await DaemonClient.connect({ ...(dir !== undefined ? { dir } : {}), autostart: false });
  } catch (e) {
    if (e instanceof ValeError && e.code === ErrorCodes.DAEMON) {
      throw new ValeError(
        ErrorCodes.DAEMON,
        `no uvale daemon runs in ${dir ?? runDir()}, so nothing to ${what} (start one with 'uvale daemon')`,
      );
    }
    throw e;
  }
}
