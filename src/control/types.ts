/*
 * What the daemon's replies carry: plain JSON shapes shared by the daemon that
 * builds them and the tools that print them. Nothing here has behaviour.
 */

import type { SettingSpec } from '../core/settings.js';

/** A switch port as `uvale ctl` lists it. */
export interface PortInfo {
  name: string;
  switch: string | null;
  bridgeIndex: number;
  index: number;
  /** 'netmap' (a client), 'tap', 'stream', 'vde', 'persistent', ... */
  kind: string;
  txRings: number;
  rxRings: number;
  txSlots: number;
  rxSlots: number;
  memsize: number;
  /** Bytes of virtio-net header in front of each frame (12 for a TAP with offloads). */
  vnetHdrLen: number;
}

/** A port with its counters (src/switch/counters.ts names). */
export interface PortStats extends PortInfo {
  counters: Record<string, number>;
}

export interface SwitchStats {
  name: string;
  index: number;
  macs: number;
  ports: PortStats[];
}

/** A switch (or a name claimed for one) and who owns it (docs/security.md). */
export interface SwitchInfo {
  switch: string;
  /** The switch's number, or -1 for a claimed name with no switch yet. */
  index: number;
  ports: number;
  /** The owner's uid, and the group the switch is shared with (null: none). */
  uid: number;
  gid: number | null;
  /** Kept without ports (uvale ctl --owner). */
  claimed: boolean;
}

export interface StatsSnapshot {
  /** Milliseconds since the epoch when the snapshot was taken. */
  time: number;
  switches: SwitchStats[];
}

/** The statistics every adapter keeps, with these names and meanings (see docs/architecture.md). */
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

/** A snapshot of one adapter (a port whose far side is not a netmap client). */
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

export interface MacEntry {
  bucket: number;
  mac: string;
  port: number;
  portName: string;
  /** On a VLAN-aware switch: the VID the MAC was learnt in. */
  vid?: number;
}

/** A port's VLAN setting (docs/vlans.md): `none`, `access:V` or `trunk[:VIDS][,native=V]`. */
export interface VlanInfo {
  /** SWITCH:PORT */
  name: string;
  mode: string;
  /** The port is attached now (a setting may wait for its port). */
  attached: boolean;
}

/** One entry of a tunnel port's forwarding database (uvale ctl --fdb). */
export interface FdbInfo {
  mac: string;
  /** The remote VTEP, "ADDR:PORT" ("[ADDR]:PORT" for IPv6). */
  remote: string;
  type: 'static' | 'learned';
  /** Seconds since it was learned or set. */
  age: number;
}

export interface PersistentInfo {
  name: string;
  /** "SWITCH:PORT" while attached to a switch, else null. */
  attached: string | null;
  /** A client has it open. */
  open: boolean;
  txRings: number;
  rxRings: number;
  txSlots: number;
  rxSlots: number;
}

export interface OpenReply {
  handle: number;
  name: string;
  switch: string | null;
  index: number;
  txRings: number;
  rxRings: number;
  txSlots: number;
  rxSlots: number;
  size: number;
  /** uvale.shm_tx_chunk when the port opened: TX slots handed back in the middle of a pass (0: none). */
  txChunk: number;
}

export interface SettingsReply {
  settings: Record<string, number>;
  specs: readonly SettingSpec[];
}

/** A mirror (ctl --mirror) or a monitor (PORT/r, /t, /rt), docs/monitors.md. */
export interface MirrorInfo {
  /** The watched port, SWITCH:PORT. */
  src: string;
  /** Where the copies go: a port of the same switch (mirror) or a monitor's name. */
  dst: string;
  /** "r", "t" or "rt": copies of what src receives, sends, or both. */
  dirs: string;
  kind: 'mirror' | 'monitor';
  /** A mirror whose ports are both there (it waits for them otherwise). */
  active: boolean;
}
