/*
 * Who may use which switch (docs/security.md, "Switches and their owners").
 *
 * A switch belongs to the user who made it: the first to open or attach a port
 * on it, or to claim its name beforehand (the `switch-owner` request, `uvale
 * ctl --owner`). Its owner may share it with one group. Root and the daemon's
 * own user may use every switch; anyone else only the switches they own or
 * share a group with (SO_PEERCRED's gid or one of SO_PEERGROUPS' groups).
 *
 * A record whose switch is gone is forgotten when it is next looked at (as the
 * switch itself, VALE's switches vanish with their last port), unless it was
 * claimed: a claim keeps the name, its owner and its group until it is
 * released or the daemon exits. A switch the daemon made itself (a --vde
 * directory) belongs to the daemon's owner.
 *
 * The records are the daemon's; the switch engine knows nothing of users.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';

/** Who asks, as the kernel said when it connected. */
export interface Requester {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups. */
  readonly groups: readonly number[];
}

export interface SwitchOwner {
  uid: number;
  /** The group the switch is shared with, or null. */
  gid: number | null;
  /** Kept while the switch does not exist. */
  claimed: boolean;
}

export interface AccessPolicy {
  /** True if switch `name` exists now. */
  exists(name: string): boolean;
  /** Root and the daemon's owner. */
  isAdmin(uid: number): boolean;
  /** The daemon's own uid: owner of a switch without a record. */
  readonly daemonUid: number;
  /** uvale.max_switches_per_user. */
  maxSwitches(): number;
}

export function inGroup(r: Requester, gid: number): boolean {
  return r.gid === gid || r.groups.includes(gid);
}

export class SwitchAccess {
  private readonly owners = new Map<string, SwitchOwner>();
  private readonly policy: AccessPolicy;

  constructor(policy: AccessPolicy) {
    this.policy = policy;
  }

  /** The owner of switch `name`, or undefined if nobody has it (it may be made by anyone). */
  ownerOf(name: string): SwitchOwner | undefined {
    const o = this.owners.get(name);
    if (o !== undefined) {
      if (o.claimed || this.policy.exists(name)) return o;
      this.owners.delete(name);
      return undefined;
    }
    return this.policy.exists(name) ? { uid: this.policy.daemonUid, gid: null, claimed: false } : undefined;
  }

  /** True if `r` may open, attach, detach, monitor and read the learning table on switch `name`. */
  mayUse(r: Requester, name: string): boolean {
    if (this.policy.isAdmin(r.uid)) return true;
    const o = this.ownerOf(name);
    return o === undefined || o.uid === r.uid || (o.gid !== null && inGroup(r, o.gid));
  }

  /** Throws PERMISSION unless `r` may use switch `name` (`what` says for what, in the error). */
  check(r: Requester, name: string, what: string): void {
    if (this.mayUse(r, name)) return;
    const o = this.ownerOf(name) as SwitchOwner;
    throw new ValeError(
      ErrorCodes.PERMISSION,
      `switch ${name} belongs to uid ${o.uid}${o.gid !== null ? ` and is shared with gid ${o.gid}` : ''}: uid ${r.uid} may not ${what} (its owner may share it: uvale ctl --owner ${name}=:GROUP; docs/security.md)`,
    );
  }

  /**
   * Before a request uses switch `name` (it may make it): checks `r` may, and
   * records a switch nobody has as r's, within uvale.max_switches_per_user.
   */
  enter(r: Requester, name: string, what: string): void {
    if (this.ownerOf(name) !== undefined) {
      this.check(r, name, what);
      return;
    }
    this.checkLimit(r);
    this.owners.set(name, { uid: r.uid, gid: null, claimed: false });
  }

  /**
   * Claims switch `name` for user `uid` (default: r's) shared with group `gid`
   * (null: with no group; undefined: unchanged). Root and the daemon's owner may
   * give any switch to anyone; another user may claim a switch nobody has, or
   * change the group of one they own to a group they are in.
   */
  claim(r: Requester, name: string, uid: number | undefined, gid: number | null | undefined): SwitchOwner {
    const admin = this.policy.isAdmin(r.uid);
    const cur = this.ownerOf(name);
    if (!admin) {
      if (cur !== undefined && cur.uid !== r.uid) {
        throw new ValeError(
          ErrorCodes.PERMISSION,
          `switch ${name} belongs to uid ${cur.uid}: only that user, root or the daemon's owner may change its owner or group`,
        );
      }
      if (uid !== undefined && uid !== r.uid) {
        throw new ValeError(
          ErrorCodes.PERMISSION,
          `only root or the daemon's owner may give a switch to another user (uid ${uid})`,
        );
      }
      if (gid !== undefined && gid !== null && !inGroup(r, gid)) {
        throw new ValeError(
          ErrorCodes.PERMISSION,
          `uid ${r.uid} is not in group ${gid}: share a switch with a group you are in`,
        );
      }
      if (cur === undefined) this.checkLimit(r);
    }
    const next: SwitchOwner = {
      uid: uid ?? cur?.uid ?? r.uid,
      gid: gid === undefined ? (cur?.gid ?? null) : gid,
      claimed: true,
    };
    this.owners.set(name, next);
    return next;
  }

  /** Ends a claim: the record goes with the switch (root, the daemon's owner or the switch's owner). */
  release(r: Requester, name: string): void {
    const cur = this.owners.get(name);
    if (cur === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `nobody has claimed switch ${name}`);
    if (!this.policy.isAdmin(r.uid) && cur.uid !== r.uid) {
      throw new ValeError(
        ErrorCodes.PERMISSION,
        `switch ${name} belongs to uid ${cur.uid}; only it or root may release it`,
      );
    }
    cur.claimed = false;
    this.ownerOf(name); // forgotten now if the switch is gone
  }

  /** Switches (existing or claimed) `uid` owns. */
  countOwned(uid: number): number {
    let n = 0;
    for (const name of [...this.owners.keys()]) if (this.ownerOf(name)?.uid === uid) n++;
    return n;
  }

  /** Every record in force, by switch name. */
  list(): Array<{ switch: string } & SwitchOwner> {
    const out: Array<{ switch: string } & SwitchOwner> = [];
    for (const name of [...this.owners.keys()]) {
      const o = this.ownerOf(name);
      if (o !== undefined) out.push({ switch: name, ...o });
    }
    return out.sort((a, b) => a.switch.localeCompare(b.switch));
  }

  private checkLimit(r: Requester): void {
    if (this.policy.isAdmin(r.uid)) return;
    const max = this.policy.maxSwitches();
    const have = this.countOwned(r.uid);
    if (have >= max) {
      throw new ValeError(
        ErrorCodes.LIMIT,
        `uid ${r.uid} owns ${have} switches already; the limit is uvale.max_switches_per_user (${max})`,
      );
    }
  }
}
