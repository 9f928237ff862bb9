/*
 * The daemon: a host (the switches) plus a control server on a unix socket,
 * serving every process that opens a port in its run directory.
 *
 * Start-up takes an exclusive lock on <dir>/uvale.lock (flock: released by the
 * kernel when the daemon dies, however it dies), so two daemons never serve one
 * directory; only the lock holder may remove a stale socket and listen. The
 * socket is mode 0600, or 0660 with a group granted.
 *
 * An auto-started daemon (the first client started it) exits once it has had
 * no port, no attached TAP and no client for `idleMs`; `uvale daemon` in the foreground stays
 * until SIGINT/SIGTERM or a shutdown request.
 */

import { chmodSync, chownSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { SETTINGS, type SettingsInit } from '../core/settings.js';
import type { AdapterInfo } from '../ports/adapter.js';
import { QemuPort } from '../ports/qemu/qemu-port.js';
import { TapPort, type TapStats } from '../ports/tap/tap-port.js';
import { type VdeClientInfo, VdeServer } from '../ports/vde/vde-server.js';
import { countersToObject } from '../switch/counters.js';
import { ValeHost } from '../switch/host.js';
import { parsePortName } from '../switch/name.js';
import type { VPort } from '../switch/vport.js';
import { type FileLock, lockFile } from '../sys/index.js';
import { BusyPoll } from './busy-poll.js';
import { Connection } from './connection.js';
import { ensureRunDir, type RunPaths, runPaths } from './paths.js';
import { PersistentPorts } from './persistent.js';
import { Scheduler } from './scheduler.js';

export interface DaemonOptions {
  /** Run directory (default: paths.runDir()). */
  dir?: string;
  /** Exit when idle (no ports, no clients) for `idleMs`. */
  autoExit?: boolean;
  idleMs?: number;
  /** Initial settings (dev.netmap.*). */
  settings?: SettingsInit;
  /** Grant this group id access to the socket (mode 0660). */
  group?: number;
  /** Where diagnostics go (default: stderr with a timestamp). */
  log?: (line: string) => void;
  /** VDE switch directories to serve (vde_plug vde:///DIR joins SWITCH as port SWITCH:vdeN); see src/ports/vde. */
  vde?: Array<{ dir: string; switchName: string; mode?: number }>;
}

export interface PortInfo {
  name: string;
  switch: string | null;
  bridgeIndex: number;
  index: number;
  kind: string;
  txRings: number;
  rxRings: number;
  txSlots: number;
  rxSlots: number;
  memsize: number;
  /** Bytes of virtio-net header in front of each frame (12 for a TAP with offloads). */
  vnetHdrLen: number;
}

export class Daemon {
  readonly host: ValeHost;
  readonly scheduler: Scheduler;
  /** Keeps the event loop polling for a while after traffic (uvale.busy_poll). */
  readonly busyPoll: BusyPoll;
  /** Ports made with ctl -n; they keep the daemon up. */
  readonly persistent: PersistentPorts;
  readonly paths: RunPaths;
  readonly stopped: Promise<void>;
  private readonly opts: DaemonOptions;
  private readonly conns = new Set<Connection>();
  /** TAP interfaces attached with `uvale ctl -a`, by interface name; they keep the daemon up. */
  private readonly taps = new Map<string, TapPort>();
  /** VDE directories served (--vde); they keep the daemon up. */
  private readonly vdes: VdeServer[] = [];
  /** QEMU socket ports attached with `uvale ctl -a SWITCH:PORT=SPEC`, by port name; they keep the daemon up. */
  private readonly qemus = new Map<string, QemuPort>();
  private server: Server | null = null;
  private lock: FileLock | null = null;
  private nextConn = 1;
  private idleTimer: NodeJS.Timeout | null = null;
  private resolveStopped: () => void = () => {};
  private stopping = false;

  constructor(opts: DaemonOptions = {}) {
    this.opts = opts;
    this.paths = runPaths(opts.dir);
    this.host = new ValeHost({ ...loadSettings(this.paths.settings), ...(opts.settings ?? {}) });
    this.host.log = (line) => this.log(line);
    this.persistent = new PersistentPorts(this.host);
    this.busyPoll = new BusyPoll(() => this.host.settings.busyPoll);
    this.scheduler = new Scheduler((p, e) => this.log(`port ${p.vp.name}: ${(e as Error).message}`));
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
  }

  log(line: string): void {
    if (this.opts.log) this.opts.log(line);
    else process.stderr.write(`${new Date().toISOString()} uvale daemon[${process.pid}]: ${line}\n`);
  }

  async start(): Promise<void> {
    ensureRunDir(this.paths.dir);
    const lock = lockFile(this.paths.lock);
    if (lock === null) {
      throw new ValeError(ErrorCodes.BUSY, `another uvale daemon already serves ${this.paths.dir}`);
    }
    this.lock = lock;
    try {
      unlinkSync(this.paths.socket); // stale: its daemon no longer holds the lock
    } catch {
      // no socket left behind
    }
    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.paths.socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    if (this.opts.group !== undefined) {
      chownSync(this.paths.socket, process.getuid?.() ?? 0, this.opts.group);
      chmodSync(this.paths.socket, 0o660);
    } else {
      chmodSync(this.paths.socket, 0o600);
    }
    try {
      for (const v of this.opts.vde ?? []) {
        const mode = v.mode ?? (this.opts.group !== undefined ? 0o660 : 0o600);
        this.vdes.push(
          await VdeServer.listen(this.host, {
            dir: v.dir,
            switchName: v.switchName,
            mode,
            log: (line) => this.log(line),
            onPortsChanged: () => this.portsChanged(),
          }),
        );
      }
    } catch (e) {
      await this.stop(`cannot serve VDE: ${(e as Error).message}`);
      throw e;
    }
    this.log(`serving ${this.paths.socket}`);
    this.checkIdle();
  }

  /** Closes every client connection and the socket, and releases the lock. */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    this.log(`exiting: ${reason}`);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const c of [...this.conns]) {
      c.event({ event: 'shutdown', reason });
      c.close();
    }
    for (const t of this.taps.values()) t.close();
    this.taps.clear();
    for (const v of this.vdes.splice(0)) await v.close();
    for (const q of this.qemus.values()) q.close();
    this.qemus.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((r) => server.close(() => r()));
    try {
      unlinkSync(this.paths.socket);
    } catch {
      // already gone
    }
    this.lock?.release();
    this.lock = null;
    this.resolveStopped();
    return this.stopped;
  }

  /** Keeps the settings in the run directory, so a later daemon starts with them. */
  settingsChanged(): void {
    try {
      writeFileSync(this.paths.settings, `${JSON.stringify(this.host.settings.all(), null, 2)}\n`, { mode: 0o600 });
    } catch (e) {
      this.log(`cannot save settings to ${this.paths.settings}: ${(e as Error).message}`);
    }
  }

  connectionClosed(c: Connection): void {
    this.conns.delete(c);
    this.checkIdle();
  }

  portsChanged(): void {
    this.checkIdle();
  }

  /** Attaches the TAP interface IFNAME as port SWITCH:IFNAME (vale-ctl -a), creating the tap if needed. */
  attachTap(name: string, offload = true): TapStats & { index: number } {
    const ifname = name.slice(name.indexOf(':') + 1);
    const old = this.taps.get(ifname);
    if (old !== undefined) {
      throw new ValeError(ErrorCodes.BUSY, `interface ${ifname} is already attached (as ${old.name})`);
    }
    const tap = TapPort.attach(this.host, name, {
      offload,
      onTraffic: this.busyPoll.kick,
      log: (line) => this.log(line),
      onGone: (t) => {
        if (this.taps.get(t.ifname) === t) this.taps.delete(t.ifname);
        this.portsChanged();
      },
    });
    this.taps.set(tap.ifname, tap);
    this.log(
      `attached ${tap.created ? 'new' : 'existing'} tap ${tap.ifname} as ${tap.name}${offload ? '' : ' (no offloads)'}`,
    );
    this.portsChanged();
    return { ...tap.stats(), index: tap.vport.index };
  }

  /** Detaches a TAP attached with attachTap (vale-ctl -d); a tap the daemon created goes away. */
  detachTap(name: string): TapStats {
    const tap = [...this.taps.values()].find((t) => t.name === name || t.ifname === name);
    if (tap === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no interface attached as ${name}`);
    const st = tap.stats();
    this.taps.delete(tap.ifname);
    tap.close();
    this.log(`detached tap ${tap.ifname} from ${tap.name}`);
    this.portsChanged();
    return st;
  }

  /**
   * Attaches a QEMU socket back-end: "SWITCH:PORT=SPEC" (grammar in
   * src/ports/qemu/spec.ts). Resolves once it listens, is bound, or dials.
   */
  async attachQemu(nameSpec: string): Promise<AdapterInfo & { index: number }> {
    const q = QemuPort.attach(this.host, nameSpec, { log: (line) => this.log(line) });
    this.qemus.set(q.name, q);
    this.log(`attached QEMU ${q.spec.text} as ${q.name}`);
    this.portsChanged();
    try {
      await q.ready;
    } catch (e) {
      if (this.qemus.get(q.name) === q) this.qemus.delete(q.name);
      this.portsChanged();
      throw e;
    }
    return { ...q.info(), index: q.vport.index };
  }

  hasQemu(name: string): boolean {
    return this.qemus.has(name);
  }

  /** Detaches a QEMU port attached with attachQemu (vale-ctl -d SWITCH:PORT). */
  detachQemu(name: string): AdapterInfo {
    const q = this.qemus.get(name);
    if (q === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no QEMU port attached as ${name}`);
    const st = q.info();
    this.qemus.delete(name);
    q.close();
    this.log(`detached QEMU port ${name}`);
    this.portsChanged();
    return st;
  }

  /** Attached QEMU ports with their adapter counters. */
  listQemus(): AdapterInfo[] {
    return [...this.qemus.values()].map((q) => q.info());
  }

  /** VDE clients joined through --vde directories, with their adapter counters. */
  listVde(): VdeClientInfo[] {
    return this.vdes.flatMap((v) => v.list());
  }

  /** Attached TAPs with their adapter counters. */
  listTaps(): TapStats[] {
    return [...this.taps.values()].map((t) => t.stats());
  }

  findPort(name: string): VPort {
    const pn = parsePortName(name);
    const vp = this.host.getSwitch(pn.bridge)?.find(pn.port);
    if (vp === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no port named ${name}`);
    return vp;
  }

  describePort(vp: VPort): PortInfo {
    const g = vp.region.geometry;
    const sw = vp.sw !== null ? this.host.getSwitch(vp.sw.name) : undefined;
    return {
      name: vp.name,
      switch: sw?.name ?? null,
      bridgeIndex: sw?.index ?? -1,
      index: vp.index,
      kind: vp.kind,
      txRings: g.txRings,
      rxRings: g.rxRings,
      txSlots: g.txSlots,
      rxSlots: g.rxSlots,
      memsize: g.size,
      vnetHdrLen: vp.hdrLen,
    };
  }

  /** Every port, by switch index then port number (vale-ctl's listing order). */
  listPorts(): PortInfo[] {
    const out: PortInfo[] = [];
    const sws = this.host.listSwitches().sort((a, b) => a.index - b.index);
    for (const sw of sws) for (const vp of sw.list()) out.push(this.describePort(vp));
    return out;
  }

  /** Switches, ports and counters in one snapshot (for top and ctl). */
  stats(): unknown {
    const sws = this.host.listSwitches().sort((a, b) => a.index - b.index);
    return {
      time: Date.now(),
      switches: sws.map((sw) => ({
        name: sw.name,
        index: sw.index,
        macs: sw.macTable.entries().length,
        ports: sw.list().map((vp) => ({ ...this.describePort(vp), counters: countersToObject(vp.counters) })),
      })),
    };
  }

  private accept(s: Socket): void {
    if (this.stopping) {
      s.destroy();
      return;
    }
    let c: Connection;
    try {
      c = new Connection(this, s, this.nextConn++);
    } catch (e) {
      this.log(`rejected a client: ${(e as Error).message}`);
      s.destroy();
      return;
    }
    this.conns.add(c);
    this.checkIdle();
  }

  /** No client, no switch, no attached TAP and no persistent port: nothing to serve. */
  private idle(): boolean {
    return (
      this.conns.size === 0 &&
      this.taps.size === 0 &&
      this.vdes.length === 0 &&
      this.qemus.size === 0 &&
      this.persistent.size === 0 &&
      this.host.listSwitches().length === 0
    );
  }

  private checkIdle(): void {
    if (!this.opts.autoExit || this.stopping) return;
    if (!this.idle()) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = null;
      return;
    }
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.idle()) void this.stop('idle');
    }, this.opts.idleMs ?? 2000);
    this.idleTimer.unref?.();
  }
}

/** Settings saved by an earlier daemon of this directory; unreadable or invalid entries are ignored. */
function loadSettings(path: string): SettingsInit {
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
  const out: SettingsInit = {};
  if (o === null || typeof o !== 'object') return out;
  for (const s of SETTINGS) {
    const v = (o as Record<string, unknown>)[s.name];
    if (!s.readonly && typeof v === 'number' && Number.isInteger(v) && v >= s.min && v <= s.max) out[s.name] = v;
  }
  return out;
}
