/*
 * The adapter contract: what the daemon knows of every port whose far side is
 * not a netmap client (a TAP, a QEMU socket, a VDE client, a vhost-user
 * frontend, a tunnel). Each adapter drives one switch port (`vport`) itself
 * and reports one set of statistics under one set of names, so that `uvale
 * ctl`, `top` and the metrics never care which transport is behind a port.
 *
 * Directions are seen from the switch: "in" is from the peer into the switch
 * (the port's TX side), "out" is from the switch to the peer. What only one
 * kind has (a QEMU port's connection count, a TAP's interface name, a
 * vhost-user port's negotiated features) goes in `extra`.
 */

import type { AdapterCounters, AdapterInfo } from '../control/types.js';
import type { ValeHost } from '../switch/host.js';
import type { VPort } from '../switch/vport.js';

export type { AdapterCounters, AdapterInfo };

export function zeroAdapterCounters(): AdapterCounters {
  return { inFrames: 0, inBytes: 0, outFrames: 0, outBytes: 0, inDrops: 0, outDrops: 0, errors: 0 };
}

export interface Adapter {
  /** The switch port, "SWITCH:PORT". */
  readonly name: string;
  readonly kind: string;
  /** The switch port the adapter drives. */
  readonly vport: VPort;
  info(): AdapterInfo;
  /** Detaches: closes the transport and releases the switch port. Safe to call twice. */
  close(): void;
}

/** What the daemon lends an adapter while it builds it. */
export interface AttachContext {
  host: ValeHost;
  log: (line: string) => void;
  /** Called after the adapter moved frames (the daemon's busy polling hangs here). */
  onTraffic: () => void;
  /** Called once if the adapter detaches itself (its peer or interface vanished for good). */
  onGone: (a: Adapter, reason: string) => void;
  /** Owner, group and mode of a socket file the adapter creates (the requester's, shared with the switch's group). */
  socketAccess?: SocketAccess;
}

export interface SocketAccess {
  uid: number;
  gid: number;
  mode: number;
}

export interface AdapterKind {
  /** The word before the first ':' of the spec. */
  readonly kind: string;
  /** The spec forms, for --help and error messages. */
  readonly forms: readonly string[];
  /** Validates ARGS (the spec without "KIND:"); throws INVALID_ARG saying what is wrong. */
  validate(spec: string): void;
  /** Makes relative paths in `spec` absolute against the requester's `cwd`. */
  absolutize?(spec: string, cwd: string): string;
  /**
   * The unix socket path the adapter would create and listen at, if that is
   * all `spec` names on the host (no address, no dialing, no interface);
   * otherwise null. Users other than the daemon's owner may attach only such
   * specs, in their own directory (docs/security.md).
   */
  listenPath?(spec: string): string | null;
  /** Builds the adapter for port `name`; resolves once it listens, is bound, or dials. */
  attach(ctx: AttachContext, name: string, spec: string): Promise<Adapter>;
}

/** The common counters out of an adapter's own counter record (which may hold more fields). */
export function adapterCounters(st: AdapterCounters): AdapterCounters {
  return {
    inFrames: st.inFrames,
    inBytes: st.inBytes,
    outFrames: st.outFrames,
    outBytes: st.outBytes,
    inDrops: st.inDrops,
    outDrops: st.outDrops,
    errors: st.errors,
  };
}
