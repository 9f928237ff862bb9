/*
 * Per-port counters, from the port's client's point of view (as ifconfig counts
 * on an interface): "tx" is what the client sent into the switch, "rx" what the
 * switch delivered to it. Drops are counted on the port that caused or suffered
 * them, never thrown. The data path adds to a Float64Array once per batch.
 */

export const C_TX_PACKETS = 0;
export const C_TX_BYTES = 1;
export const C_RX_PACKETS = 2;
export const C_RX_BYTES = 3;
/** Frames for this port dropped because its RX ring had no room (VALE's drop-on-full). */
export const C_DROP_RX_FULL = 4;
/** Frames from this port shorter than an Ethernet header (14 bytes). */
export const C_DROP_RUNT = 5;
/** Frames from this port with no destination: the lookup said drop, or the target was the sender. */
export const C_DROP_NO_DEST = 6;
/** Frames from this port longer than 64 fragments. */
export const C_DROP_FRAGS = 7;
/**
 * TX slots from this port with an invalid buf_idx or a len over the buffer size, sent as length 0
 * (so a frame of one such slot is also counted in dropRunt).
 */
export const C_BAD_SLOTS = 8;
/** Fragment chains from this port cut short because a txsync ended inside them. */
export const C_TRUNCATED = 9;
/** Illegal head/cur moves that re-initialised one of this port's rings. */
export const C_RING_ERRORS = 10;
/**
 * Frames from this port whose virtio-net header could not be acted on for a
 * port with another header length (switch/offload.ts), once per such port.
 */
export const C_DROP_OFFLOAD = 11;
/** Frames from this port longer than MAX_FRAME (65535 bytes, virtio-net header not counted). */
export const C_DROP_OVERSIZE = 12;
/**
 * Copies for this port as a monitor or mirror destination (docs/monitors.md) dropped because its
 * RX ring had no room; the monitored port is never held up by them. A monitor's own TX frames
 * (monitors are read-only) are counted in dropNoDest.
 */
export const C_DROP_MONITOR = 13;
/** VLAN-aware switches (vlan.ts): tagged frames from this access port. */
export const C_DROP_VLAN_TAGGED = 14;
/** Tagged frames from this port whose VID it does not admit (not in a trunk's list, or 0 or 4095). */
export const C_DROP_VLAN_VID = 15;
/** Untagged frames from this trunk port, which has no native VID. */
export const C_DROP_VLAN_UNTAGGED = 16;
/** Frames from this port that a tag would take past MAX_FRAME, once per port that wanted them tagged. */
export const C_DROP_VLAN_OVERSIZE = 17;
export const NUM_COUNTERS = 18; // at most layout.IF_COUNTERS_MAX

export const COUNTER_NAMES = [
  'txPackets',
  'txBytes',
  'rxPackets',
  'rxBytes',
  'dropRxFull',
  'dropRunt',
  'dropNoDest',
  'dropFrags',
  'badSlots',
  'truncated',
  'ringErrors',
  'dropOffload',
  'dropOversize',
  'dropMonitor',
  'dropVlanTagged',
  'dropVlanVid',
  'dropVlanUntagged',
  'dropVlanOversize',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export type PortCounters = Record<CounterName, number>;

export function countersToObject(c: Float64Array): PortCounters {
  const o = {} as PortCounters;
  for (let i = 0; i < NUM_COUNTERS; i++) o[COUNTER_NAMES[i] as CounterName] = c[i];
  return o;
}
