/*
 * The figures `npm run bench` knows. A figure is a name bound to one engine
 * configuration (topology, frame size, batch); several names may share a
 * configuration (engine-unicast-60 and engine-unicast-60-b1024), which the
 * runner then measures once per round and reports under each name.
 *
 *   engine-unicast-60, engine-unicast-1514
 *       2 ports, each sending to the other's learned MAC; frames in = frames out
 *   engine-broadcast4-60
 *       5 ports, port 0 sends to ff:ff:ff:ff:ff:ff, the switch floods each frame
 *       to the 4 others; Mpps counts frames in, Gbit/s the 4 copies out
 *   <any of the above>-b1, -b32, -b256, -b1024
 *       the same at dev.netmap.bridge = 1, 32, 256, 1024 frames per txsync
 *   daemon-unicast-60, daemon-unicast-1514
 *       across processes: uvale pkt-gen tx -> daemon -> uvale pkt-gen rx
 *       (bench/daemon/daemon-child.ts); the reference is the in-process
 *       engine-unicast figure of the same frame size, measured in the same round
 *   daemon-unicast-60-r4096
 *       the same with 4096-slot rings on both pkt-gen ports (pkt-gen -C 4096,
 *       dev.netmap.max_buffers=4096): a quarter of the wake-up round trips per
 *       frame (BENCHMARKS.md, the daemon path)
 *   monitor-stalled-60
 *       engine-unicast-60 with a stalled monitor (PORT/rt, 64 slots, never
 *       read) on each of the two ports (docs/monitors.md); the reference is
 *       engine-unicast-60 without monitors, measured in the same round, so the
 *       ratio is what a stalled monitor costs the monitored ports (the issue
 *       asks for >= 0.9)
 *
 * The headline figures run at batch 1024 (netmap's default bridge batch).
 */

import type { Topology } from './engine/frames.js';

export interface Config {
  topo: Topology | 'daemon';
  size: number;
  batch: number;
  /** daemon figures: slots per ring of the pkt-gen ports (default: pkt-gen's, 1024). */
  slots?: number;
  /** A monitor on every port of the engine run: 'stalled' never reads it. */
  monitor?: 'stalled';
}

export interface Figure extends Config {
  name: string;
  /** Measurement key: names with equal keys share runs. */
  key: string;
}

export const BATCHES = [1, 32, 256, 1024] as const;
const BASES: Array<{ base: string; topo: Topology; size: number }> = [
  { base: 'engine-unicast-60', topo: 'unicast', size: 60 },
  { base: 'engine-unicast-1514', topo: 'unicast', size: 1514 },
  { base: 'engine-broadcast4-60', topo: 'broadcast4', size: 60 },
];

export function configKey(c: Config): string {
  return `${c.topo}-${c.size}-b${c.batch}${c.slots === undefined ? '' : `-r${c.slots}`}${c.monitor === undefined ? '' : `-m${c.monitor}`}`;
}

function figure(name: string, topo: Config['topo'], size: number, batch: number, slots?: number): Figure {
  const c: Config = slots === undefined ? { topo, size, batch } : { topo, size, batch, slots };
  return { name, ...c, key: configKey(c) };
}

/** Every figure, in report order: the three headline figures, then the batch sweeps. */
export const FIGURES: readonly Figure[] = [
  ...BASES.map((b) => figure(b.base, b.topo, b.size, 1024)),
  ...BASES.flatMap((b) => BATCHES.map((n) => figure(`${b.base}-b${n}`, b.topo, b.size, n))),
  figure('daemon-unicast-60', 'daemon', 60, 512),
  figure('daemon-unicast-1514', 'daemon', 1514, 512),
  figure('daemon-unicast-60-r4096', 'daemon', 60, 512, 4096),
  {
    name: 'monitor-stalled-60',
    topo: 'unicast',
    size: 60,
    batch: 1024,
    monitor: 'stalled',
    key: configKey({ topo: 'unicast', size: 60, batch: 1024, monitor: 'stalled' }),
  },
];

/** Frames leaving the switch per frame entering it. */
export function fanout(topo: Config['topo']): number {
  return topo === 'broadcast4' ? 4 : 1;
}

/*
 * End-to-end figures (bench/e2e/): real traffic through the uvale daemon,
 * each measured side by side with a reference system in the same run, rounds
 * interleaved (uvale, reference, uvale, reference, ...).
 *
 *   tap-tcp     iperf3 TCP goodput between two network namespaces whose
 *               interfaces are TAPs attached to a uvale switch; reference:
 *               the Linux bridge (two namespaces on veth pairs enslaved to a
 *               bridge)
 *   tap-udp-60  the same hosts, iperf3 UDP with 18-byte payloads (60-byte
 *               frames) at full speed (-b 0): frames per second received
 *   tap-rtt     the same hosts, ping's average round trip (lower is better)
 *   stream-60   60-byte frames through a QEMU stream port (4-byte length
 *               framing) to a counter on another stream port of the same
 *               switch, unicast to its learned MAC: frames per second
 *               received; reference: vde_switch with the same generator and
 *               counter joined as VDE clients (one datagram per frame)
 *
 *   vhost-60    testpmd `txonly` (64-byte frames, busy-polling one core) on a
 *               virtio-user device into a vhost-user port of the daemon, to
 *               `uvale pkt-gen -f rx` on a netmap port of the same switch:
 *               frames per second received; reference: the same generator
 *               into DPDK's vhost PMD (a second testpmd in `rxonly`)
 *   vhost-1514  the same with 1514-byte frames, in Gbit/s
 *   vxlan-tcp   iperf3 TCP between a TAP host behind a uvale daemon in
 *               namespace A and one behind a uvale daemon in namespace B,
 *               joined by VXLAN on a veth underlay; reference: the same
 *               topology with Linux vxlan + bridge on both sides
 *   vxlan-rtt   ping's average round trip in the same topology
 *   vxlan-60    uvale pkt-gen -f tx (60 B) on daemon A's switch -> VXLAN ->
 *               pkt-gen -f rx on daemon B's: frames/s received; no
 *               reference (Linux has no pkt-gen), an absolute goal
 *               (bench/e2e/vxlan.ts)
 *
 * tap-rtt and stream-60 also measure a third system in every round, "wire",
 * with no switch at all: for tap-rtt a C relay between two TAPs (the least a
 * userspace switch can do), for stream-60 the generator writing straight into
 * the counter (showing the generator and counter are not the limit).
 */

export type E2eGroup = 'tap' | 'stream' | 'vhost' | 'vxlan';

export interface E2eFigure {
  name: string;
  group: E2eGroup;
  /** The JSON field of uvale's value (the reference's is ref_<field>). */
  field: 'gbps' | 'fps' | 'rtt_ms';
  /** Table unit; a table cell is value / scale with `digits` decimals. */
  unit: string;
  scale: number;
  digits: number;
  better: 'higher' | 'lower';
  /** The ratio uvale / reference must be >= target (higher is better) or <= target (lower is better). */
  target?: number;
  /** An absolute goal instead (figures without a reference): uvale's median must reach it. */
  goal?: number;
  reference: string;
  /** Tools the figure needs besides the group's. */
  needs: readonly string[];
  /** What its third system, "wire", is: a floor or ceiling without any switch, measured in every round. */
  wire?: string;
}

export const E2E_FIGURES: readonly E2eFigure[] = [
  {
    name: 'tap-tcp',
    group: 'tap',
    field: 'gbps',
    unit: 'Gbit/s',
    scale: 1,
    digits: 2,
    better: 'higher',
    target: 0.5,
    reference: 'Linux bridge',
    needs: ['iperf3'],
  },
  {
    name: 'tap-udp-60',
    group: 'tap',
    field: 'fps',
    unit: 'kframes/s',
    scale: 1e3,
    digits: 1,
    better: 'higher',
    reference: 'Linux bridge',
    needs: ['iperf3'],
  },
  {
    name: 'tap-rtt',
    group: 'tap',
    field: 'rtt_ms',
    unit: 'ms',
    scale: 1,
    digits: 3,
    better: 'lower',
    target: 2,
    reference: 'Linux bridge',
    needs: ['ping'],
    wire: 'two TAPs joined by a C relay (bench/c/taprelay.c), no switch: the floor for a userspace switch',
  },
  {
    name: 'stream-60',
    group: 'stream',
    field: 'fps',
    unit: 'Mframes/s',
    scale: 1e6,
    digits: 3,
    better: 'higher',
    target: 10,
    reference: 'vde_switch',
    needs: [],
    wire: 'the generator straight into the counter, no switch: what they can move',
  },
  {
    name: 'vhost-60',
    group: 'vhost',
    field: 'fps',
    unit: 'Mframes/s',
    scale: 1e6,
    digits: 3,
    better: 'higher',
    target: 0.5,
    reference: 'DPDK vhost PMD',
    needs: [],
  },
  {
    name: 'vhost-1514',
    group: 'vhost',
    field: 'gbps',
    unit: 'Gbit/s',
    scale: 1,
    digits: 2,
    better: 'higher',
    target: 0.5,
    reference: 'DPDK vhost PMD',
    needs: [],
  },
  {
    name: 'vxlan-tcp',
    group: 'vxlan',
    field: 'gbps',
    unit: 'Gbit/s',
    scale: 1,
    digits: 2,
    better: 'higher',
    target: 0.5,
    reference: 'Linux vxlan+bridge',
    needs: ['iperf3'],
  },
  {
    name: 'vxlan-rtt',
    group: 'vxlan',
    field: 'rtt_ms',
    unit: 'ms',
    scale: 1,
    digits: 3,
    better: 'lower',
    target: 2,
    reference: 'Linux vxlan+bridge',
    needs: ['ping'],
  },
  {
    name: 'vxlan-60',
    group: 'vxlan',
    field: 'fps',
    unit: 'Mframes/s',
    scale: 1e6,
    digits: 3,
    better: 'higher',
    goal: 1e6,
    reference: 'none',
    needs: [],
  },
];
