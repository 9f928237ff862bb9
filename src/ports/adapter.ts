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

import type { ValeHost } from '../switch/host.js';
import type { VPort } from '../switch/vport.js';

/** The statistics every adapter keeps, with these names and meanings. */
export interface AdapterCounters {
  /** Frames and bytes from the peer handed to the switch. */
  inFrames: number;
  inBytes: number;
  /** Frames and bytes from the switch written to the peer. */
  outFrames: number;
  outBytes: number;
  /** Frames from the peer the adapter dropped (malformed, too long, no TX room). */
  inDrops: number;
  /** Frames for the peer the adapter dropped (no peer, refused by the peer's transport). */
  outDrops: number;
  /** I/O and protocol errors (each may have dropped a connection or a frame). */
  errors: number;
}

export function zeroAdapterCounters(): AdapterCounters {
  return { inFrames: 0, inBytes: 0, outFrames: 0, outBytes: 0, inDrops: 0, outDrops: 0, errors: 0 };
}

/** A snapshot of one adapter, as `uvale ctl --adapters` and the `adapters` request show it. */
export interface AdapterInfo {
  /** The switch port, "SWITCH:PORT". */
  name: string;
  /** The kind, as written in an attach spec ("tap", "stream", "dgram", "socket", "vde", ...). */
  kind: string;
  /** What it is attached to, in the kind's own words (an interface, a spec, a client path). */
  spec: string;
  /** "up", or what it waits for ("listening", "connecting", "down"). */
  state: string;
  counters: AdapterCounters;
  /** Kind-specific facts and counters. */
  extra: Record<string, string | number | boolean>;
  /** The last error the adapter met, or ''. */
  lastError: string;
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
  /** Builds the adapter for port `name`; resolves once it listens, is bound, or dials. */
  attach(ctx: AttachContext, name: string, spec: string): Promise<Adapter>;
}
