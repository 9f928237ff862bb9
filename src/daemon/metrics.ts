/*
 * The daemon's counters for Prometheus (prom-client, the ecosystem's
 * library): every value is read at scrape time from the ports' own counters
 * (src/switch/counters.ts) and the adapters' (src/control/types.ts), so
 * exporting costs nothing per frame. Series carry the switch, port and kind;
 * drops are one metric with the counter's own name as the reason. The
 * process's CPU and memory come from prom-client's default collectors.
 */

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { AdapterCounters, StatsSnapshot } from '../control/types.js';

/** What the metrics read from the daemon at each scrape. */
export interface MetricsSource {
  stats(): StatsSnapshot;
  adapters(): Array<{ name: string; kind: string; counters: AdapterCounters }>;
}

const DROPS = [
  'dropRxFull',
  'dropRunt',
  'dropNoDest',
  'dropFrags',
  'dropOffload',
  'dropOversize',
  'dropMonitor',
  'dropVlanTagged',
  'dropVlanVid',
  'dropVlanUntagged',
  'dropVlanOversize',
];
const ERRORS = ['badSlots', 'truncated', 'ringErrors'];
const ADAPTER: ReadonlyArray<[keyof AdapterCounters, string, string]> = [
  ['inFrames', 'uvale_adapter_in_frames_total', 'frames from the peer handed to the switch'],
  ['inBytes', 'uvale_adapter_in_bytes_total', 'bytes from the peer handed to the switch'],
  ['outFrames', 'uvale_adapter_out_frames_total', 'frames from the switch written to the peer'],
  ['outBytes', 'uvale_adapter_out_bytes_total', 'bytes from the switch written to the peer'],
  ['inDrops', 'uvale_adapter_in_drops_total', 'frames from the peer the adapter dropped'],
  ['outDrops', 'uvale_adapter_out_drops_total', 'frames for the peer the adapter dropped'],
  ['errors', 'uvale_adapter_errors_total', 'I/O and protocol errors of the adapter'],
];

/** A registry with uvale's metrics and the process's; `source` is read on every scrape. */
export function daemonMetrics(source: MetricsSource): Registry {
  const reg = new Registry();
  collectDefaultMetrics({ register: reg });
  const portLabels = ['switch', 'port', 'kind'] as const;
  // one snapshot per scrape, shared by the collectors of that scrape
  let snap: StatsSnapshot | null = null;
  let snapAt = -1;
  const stats = (): StatsSnapshot => {
    const now = Date.now();
    if (snap === null || now - snapAt > 100) {
      snap = source.stats();
      snapAt = now;
    }
    return snap;
  };
  const portCounter = (name: string, help: string, key: string): void => {
    new Counter({
      name,
      help,
      labelNames: portLabels,
      registers: [reg],
      collect() {
        this.reset();
        for (const sw of stats().switches) {
          for (const p of sw.ports) this.inc({ switch: sw.name, port: p.name, kind: p.kind }, p.counters[key] ?? 0);
        }
      },
    });
  };
  portCounter('uvale_port_tx_packets_total', 'frames the port sent into the switch', 'txPackets');
  portCounter('uvale_port_tx_bytes_total', 'bytes the port sent into the switch', 'txBytes');
  portCounter('uvale_port_rx_packets_total', 'frames the switch delivered to the port', 'rxPackets');
  portCounter('uvale_port_rx_bytes_total', 'bytes the switch delivered to the port', 'rxBytes');
  const byReason = (name: string, help: string, reasons: readonly string[]): void => {
    new Counter({
      name,
      help,
      labelNames: [...portLabels, 'reason'],
      registers: [reg],
      collect() {
        this.reset();
        for (const sw of stats().switches) {
          for (const p of sw.ports) {
            for (const r of reasons) {
              const v = p.counters[r];
              if (v !== undefined) this.inc({ switch: sw.name, port: p.name, kind: p.kind, reason: r }, v);
            }
          }
        }
      },
    });
  };
  byReason(
    'uvale_port_drops_total',
    'frames dropped at the port, by reason (the counter names of uvale ctl --stats)',
    DROPS,
  );
  byReason('uvale_port_errors_total', 'ring and slot errors of the port, by kind', ERRORS);
  new Gauge({
    name: 'uvale_switch_mac_entries',
    help: 'entries in the switch learning table',
    labelNames: ['switch'],
    registers: [reg],
    collect() {
      this.reset();
      for (const sw of stats().switches) this.set({ switch: sw.name }, sw.macs);
    },
  });
  new Gauge({
    name: 'uvale_switch_ports',
    help: 'ports on the switch',
    labelNames: ['switch'],
    registers: [reg],
    collect() {
      this.reset();
      for (const sw of stats().switches) this.set({ switch: sw.name }, sw.ports.length);
    },
  });
  for (const [key, name, help] of ADAPTER) {
    new Counter({
      name,
      help,
      labelNames: ['port', 'kind'],
      registers: [reg],
      collect() {
        this.reset();
        for (const a of source.adapters()) this.inc({ port: a.name, kind: a.kind }, a.counters[key]);
      },
    });
  }
  return reg;
}
