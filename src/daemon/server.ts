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

import { chmodSync, chownSync, closeSync, constants, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { ensureRunDir, type RunPaths, runPaths } from '../control/paths.js';
import type { AdapterInfo, PortInfo, StatsSnapshot, SwitchInfo } from '../control/types.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { SETTINGS, type SettingsInit } from '../core/settings.js';
import type { Adapter, AttachContext, SocketAccess } from '../ports/adapter.js';
import { findKind, parseAttach } from '../ports/kinds.js';
import { TapPort } from '../ports/tap/tap-port.js';
import { VdeServer } from '../ports/vde/vde-server.js';
import { countersToObject } from '../switch/counters.js';
import { ValeHost } from '../switch/host.js';
import { parsePortName } from '../switch/name.js';
import type { VPort } from '../switch/vport.js';
import { type FileLock, lockFile } from '../sys/index.js';
import { type Requester, SwitchAccess } from './access.js';
import { BusyPoll } from './busy-poll.js';
import { Connection } from './connection.js';
import { type HttpDoor, startHttp } from './http.js';
import { DaemonLog, type LogFormat, type LogLevel } from './log.js';
import { daemonMetrics } from './metrics.js';
import { Mirrors } from './mirrors.js';
import { PersistentPorts } from './persistent.js';
import { Scheduler } from './scheduler.js';
import { checkInUserDir, userDir } from './user-dirs.js';

export type { PortInfo };

/** logLimited(): at most LOG_BURST lines of one reason per LOG_WINDOW_MS. */
const LOG_BURST = 5;
const LOG_WINDOW_MS = 10_000;

/** `s` with control characters (newlines included) written as \xNN, so one event stays one line. */
export function escapeControl(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

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
  /** Where diagnostics go (default: the log, see log.ts); tests collect the lines here. */
  log?: (line: string) => void;
  /** Log file (default stderr); SIGHUP reopens it (reopenLog). */
  logFile?: string;
  /** 'text' (default) or 'json', one object per line. */
  logFormat?: LogFormat;
  /** Serve /metrics and the live page on [ADDR:]PORT (src/daemon/http.ts); off by default. */
  http?: string;
  /** VDE switch directories to serve (vde_plug vde:///DIR joins SWITCH as port SWITCH:vdeN); see src/ports/vde. */
  vde?: Array<{ dir: string; switchName: string; mode?: number }>;
}

export class Daemon {
  readonly host: ValeHost;
  readonly scheduler: Scheduler;
  /** Keeps the event loop polling for a while after traffic (uvale.busy_poll). */
  readonly busyPoll: BusyPoll;
  /** Ports made with ctl -n; they keep the daemon up. */
  readonly persistent: PersistentPorts;
  /** Mirrors (ctl --mirror), kept by name and relinked as ports come back (mirrors.ts). */
  readonly mirrors: Mirrors;
  readonly paths: RunPaths;
  readonly stopped: Promise<void>;
  private readonly opts: DaemonOptions;
  private readonly conns = new Set<Connection>();
  /** Every adapter (TAP, QEMU, VDE, ... ports), by port name; they keep the daemon up. */
  private readonly adapterMap = new Map<string, Adapter>();
  /** Who attached each adapter (uid), by port name. */
  private readonly adapterUids = new Map<string, number>();
  /** Attaches still waiting for their adapter to listen or dial: the requester's uid by port name. */
  private readonly attaching = new Map<string, number>();
  /** VDE directories served (--vde); they keep the daemon up. */
  private readonly vdes: VdeServer[] = [];
  /** The uid the daemon runs as: with root, its owner (docs/security.md). */
  readonly uid: number = process.getuid?.() ?? 0;
  /** Who owns which switch (access.ts). */
  readonly access: SwitchAccess;
  /** The daemon itself, as a requester (its own attaches, the embedded API). */
  private readonly self: Requester = { uid: this.uid, gid: process.getgid?.() ?? 0, groups: [] };
  /** The HTTP door (--http), if any. */
  http: HttpDoor | null = null;
  private readonly logger: DaemonLog;
  private readonly logRates = new Map<string, { since: number; count: number; dropped: number }>();
  private server: Server | null = null;
  private lock: FileLock | null = null;
  private nextConn = 1;
  private idleTimer: NodeJS.Timeout | null = null;
  private resolveStopped: () => void = () => {};
  private stopping = false;

  constructor(opts: DaemonOptions = {}) {
    this.opts = opts;
    this.paths = runPaths(opts.dir);
    this.logger = new DaemonLog(opts.log === undefined ? opts.logFile : undefined, opts.logFormat ?? 'text');
    this.host = new ValeHost({ ...loadSettings(this.paths.settings), ...(opts.settings ?? {}) });
    this.host.log = (line) => this.log(line);
    this.persistent = new PersistentPorts(this.host);
    this.access = new SwitchAccess({
      exists: (name) => this.host.getSwitch(name) !== undefined,
      isAdmin: (uid) => this.isOwner(uid),
      daemonUid: this.uid,
      maxSwitches: () => this.host.settings.maxSwitchesPerUser,
    });
    this.mirrors = new Mirrors(this.host);
    this.busyPoll = new BusyPoll(
      () => this.host.settings.busyPoll,
      () => this.host.settings.busyPollBudget,
    );
    this.scheduler = new Scheduler((p, e) => this.log(`port ${p.vp.name}: ${(e as Error).message}`));
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
  }

  /** Writes one log line; control characters (from names, paths and messages users chose) are escaped. */
  log(line: string, level: LogLevel = 'info'): void {
    const safe = escapeControl(line);
    if (this.opts.log) this.opts.log(safe);
    else this.logger.write(level, safe);
  }

  /** Opens the log file anew (SIGHUP; after logrotate moved it). */
  reopenLog(): void {
    try {
      this.logger.reopen();
      this.log('log reopened');
    } catch (e) {
      this.log(`cannot reopen the log: ${(e as Error).message}`, 'error');
    }
  }

  /**
   * Logs `line` unless lines of the same `reason` came LOG_BURST times in the
   * last LOG_WINDOW_MS; how many were left out is said when the window ends.
   */
  logLimited(reason: string, line: string): void {
    const now = Date.now();
    let r = this.logRates.get(reason);
    if (r === undefined || now - r.since >= LOG_WINDOW_MS) {
      if (r !== undefined && r.dropped > 0) this.log(`${r.dropped} more lines like this were left out: ${reason}`);
      if (this.logRates.size > 1000) this.logRates.clear(); // bounded, whatever reasons clients make up
      r = { since: now, count: 0, dropped: 0 };
      this.logRates.set(reason, r);
    }
    if (++r.count <= LOG_BURST) this.log(line, 'warn');
    else r.dropped++;
  }

  async start(): Promise<void> {
    ensureRunDir(this.paths.dir, this.opts.group);
    let lock: FileLock | null;
    try {
      lock = lockFile(this.paths.lock);
    } catch (e) {
      const code = ((e as { cause?: NodeJS.ErrnoException }).cause ?? (e as NodeJS.ErrnoException)).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new ValeError(
          ErrorCodes.PERMISSION,
          `cannot write in run directory ${this.paths.dir}: run as its owner or root, or use your own (UVALE_RUN_DIR=...)`,
          { cause: e },
        );
      }
      throw e;
    }
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
            onAdapter: (a, up) => (up ? this.addAdapter(a) : this.removeAdapter(a)),
          }),
        );
      }
    } catch (e) {
      await this.stop(`cannot serve VDE: ${(e as Error).message}`);
      throw e;
    }
    if (this.opts.http !== undefined) {
      try {
        this.http = await startHttp(this.opts.http, daemonMetrics(this), {
          stats: () => this.stats(),
          adapters: () => this.adapters(),
          macs: (name) => this.host.getSwitch(name)?.macEntries() ?? [],
        });
      } catch (e) {
        await this.stop(`cannot serve HTTP: ${(e as Error).message}`);
        throw e;
      }
      this.log(
        `serving metrics and the live view on http://${this.opts.http.includes(':') ? this.opts.http : `127.0.0.1:${this.opts.http}`}/`,
      );
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
    await this.http?.close();
    this.http = null;
    for (const v of this.vdes.splice(0)) await v.close();
    for (const a of [...this.adapterMap.values()]) a.close();
    this.adapterMap.clear();
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
    this.logger.close();
    this.resolveStopped();
    return this.stopped;
  }

  /** Keeps the settings in the run directory, so a later daemon starts with them. */
  settingsChanged(): void {
    try {
      const fd = openSync(
        this.paths.settings,
        constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        writeFileSync(fd, `${JSON.stringify(this.host.settings.all(), null, 2)}\n`);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      this.log(`cannot save settings to ${this.paths.settings}: ${(e as Error).message}`);
    }
  }

  connectionClosed(c: Connection): void {
    this.conns.delete(c);
    this.checkIdle();
  }

  portsChanged(): void {
    this.mirrors.sync();
    this.checkIdle();
  }

  /** Root and the daemon's own user may act on the host with the daemon's privileges. */
  isOwner(uid: number): boolean {
    return uid === 0 || uid === this.uid;
  }

  /**
   * Owner, group and mode of a socket an attach by `by` listens at: the
   * requester's, shared with the switch's group. A daemon that is not root
   * cannot give a file away: the socket stays its own, and a member reaches it
   * through the group (the switch's, else --group's).
   */
  private socketAccess(by: Requester, shared: number | null): SocketAccess {
    if (this.uid === 0) return { uid: by.uid, gid: shared ?? by.gid, mode: shared !== null ? 0o660 : 0o600 };
    const gid = shared ?? (by.uid !== this.uid ? (this.opts.group ?? -1) : -1);
    return { uid: -1, gid, mode: gid !== -1 ? 0o660 : 0o600 };
  }

  /** Ports `uid` holds: opened by its connections, attached by it (or being attached). */
  portsOf(uid: number): number {
    let n = 0;
    for (const c of this.conns) if (c.uid === uid) n += c.portCount;
    for (const u of this.adapterUids.values()) if (u === uid) n++;
    for (const u of this.attaching.values()) if (u === uid) n++;
    return n;
  }

  /** Throws LIMIT if `r` (not root, not the daemon's owner) holds uvale.max_ports_per_user ports. */
  checkPortLimit(r: Requester): void {
    if (this.isOwner(r.uid)) return;
    const max = this.host.settings.maxPortsPerUser;
    const have = this.portsOf(r.uid);
    if (have >= max) {
      throw new ValeError(
        ErrorCodes.LIMIT,
        `uid ${r.uid} holds ${have} ports already; the limit is uvale.max_ports_per_user (${max})`,
      );
    }
  }

  /**
   * Attaches `text` ("SWITCH:PORT[=KIND:ARGS]", src/ports/kinds.ts): a
   * persistent port PORT, else the TAP interface PORT (created if absent), or
   * an adapter of KIND. Resolves once the adapter listens, is bound or dials.
   * `by` is who asks: root and the daemon's owner may attach anything; anyone
   * else only a socket uvale listens at in users/UID/, on a switch they may use
   * (docs/security.md).
   */
  async attach(
    text: string,
    opts: { offload?: boolean } = {},
    by: Requester = this.self,
  ): Promise<{
    name: string;
    index: number;
    kind: string;
    adapter: AdapterInfo | null;
  }> {
    const req = parseAttach(text);
    if (!this.isOwner(by.uid)) {
      const path = req.kind === null ? null : (findKind(req.kind)?.listenPath?.(req.spec as string) ?? null);
      if (path === null) {
        throw new ValeError(
          ErrorCodes.PERMISSION,
          `uid ${by.uid} may attach only a socket uvale listens at in its own directory (${this.paths.users}/${by.uid}/NAME: ${req.switchName}:PORT=vhost-user:PATH or =stream:unix:PATH); TAP interfaces, persistent ports, addresses and dialing are for root or the daemon's owner (docs/security.md)`,
        );
      }
      checkInUserDir(path, userDir(this.paths.users, by.uid), by.uid);
      this.checkPortLimit(by);
    }
    this.access.enter(by, req.switchName, `attach ${req.name}`);
    if (req.kind === null && this.persistent.has(req.name)) {
      const vp = this.persistent.attach(req.name);
      this.portsChanged();
      return { name: vp.name, index: vp.index, kind: 'persistent', adapter: null };
    }
    if (this.adapterMap.has(req.name) || this.attaching.has(req.name)) {
      throw new ValeError(ErrorCodes.BUSY, `port ${req.name} already exists: it is already attached; detach it first`);
    }
    const owner = this.access.ownerOf(req.switchName);
    const shared = owner?.gid ?? null;
    const ctx: AttachContext = {
      host: this.host,
      socketAccess: this.socketAccess(by, shared),
      log: (line) => this.log(line),
      onTraffic: this.busyPoll.kick,
      onGone: (a, reason) => {
        this.log(`${a.name} detached itself: ${reason}`);
        this.removeAdapter(a);
      },
    };
    let a: Adapter;
    this.attaching.set(req.name, by.uid);
    try {
      if (req.kind === null) {
        a = TapPort.attach(this.host, req.name, {
          offload: opts.offload !== false,
          onTraffic: ctx.onTraffic,
          log: ctx.log,
          onGone: (t, reason) => ctx.onGone(t, reason),
        });
      } else {
        a = await (findKind(req.kind) as NonNullable<ReturnType<typeof findKind>>).attach(
          ctx,
          req.name,
          req.spec as string,
        );
      }
    } finally {
      this.attaching.delete(req.name);
    }
    if (this.stopping) {
      a.close();
      throw new ValeError(ErrorCodes.DAEMON, 'the daemon is stopping');
    }
    this.addAdapter(a, by.uid);
    const info = a.info();
    this.log(
      `attached ${info.kind} ${info.spec} as ${a.name}${opts.offload === false ? ' (no offloads)' : ''} for uid ${by.uid}`,
    );
    return { name: a.name, index: a.vport.index, kind: a.kind, adapter: info };
  }

  /**
   * Detaches port `name` (SWITCH:PORT, or a TAP's interface name): an adapter
   * or a persistent port. Root and the daemon's owner may detach anything;
   * anyone else only the adapters it attached.
   */
  detach(name: string, by: Requester = this.self): { name: string; adapter: AdapterInfo | null } {
    const a =
      this.adapterMap.get(name) ??
      [...this.adapterMap.values()].find((x) => x.kind === 'tap' && x.info().spec === name);
    if (!this.isOwner(by.uid) && (a === undefined || this.adapterUids.get(a.name) !== by.uid)) {
      throw new ValeError(
        ErrorCodes.PERMISSION,
        `uid ${by.uid} may detach only the adapters it attached; ${name} is not one (docs/security.md)`,
      );
    }
    if (a !== undefined) {
      if (a.kind === 'vde') {
        throw new ValeError(ErrorCodes.BUSY, `${a.name} is a VDE client's port; it goes when the client leaves`);
      }
      const info = a.info();
      a.close();
      this.removeAdapter(a);
      this.log(`detached ${info.kind} ${info.spec} from ${a.name}`);
      return { name: a.name, adapter: info };
    }
    if (this.persistent.has(name)) {
      this.persistent.detach(name);
      this.portsChanged();
      return { name, adapter: null };
    }
    throw new ValeError(ErrorCodes.NOT_FOUND, `nothing is attached as ${name}`);
  }

  /** Every adapter, or those of one kind, with its switch port number, by port name. */
  adapters(kind?: string): Array<AdapterInfo & { index: number }> {
    const out: Array<AdapterInfo & { index: number }> = [];
    for (const a of this.adapterMap.values()) {
      if (kind === undefined || a.kind === kind) out.push({ ...a.info(), index: a.vport.index });
    }
    return out.sort((x, y) => x.name.localeCompare(y.name));
  }

  /** The adapter attached as port `name`, if any. */
  adapter(name: string): Adapter | undefined {
    return this.adapterMap.get(name);
  }

  private addAdapter(a: Adapter, uid = this.uid): void {
    this.adapterMap.set(a.name, a);
    this.adapterUids.set(a.name, uid);
    this.portsChanged();
  }

  private removeAdapter(a: Adapter): void {
    if (this.adapterMap.get(a.name) === a) {
      this.adapterMap.delete(a.name);
      this.adapterUids.delete(a.name);
    }
    this.portsChanged();
  }

  /** Who holds `vp`, in words for an error to the process `askingPid`. */
  holderOf(vp: VPort, askingPid: number): string {
    for (const c of this.conns) {
      if (c.holds(vp)) return c.pid === askingPid ? `this process (pid ${c.pid})` : `pid ${c.pid}`;
    }
    const a = this.adapterMap.get(vp.name);
    return a !== undefined ? `the daemon (a ${a.kind} port)` : `another client (kind ${vp.kind})`;
  }

  findPort(name: string): VPort {
    const pn = parsePortName(name);
    if (pn.monitor !== 0) {
      throw new ValeError(ErrorCodes.NOT_FOUND, `${name} is a monitor: it has no port number (uvale ctl --mirrors)`);
    }
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

  /** Every switch and claimed name, with its owner and group (`uvale ctl --switches`). */
  switches(): SwitchInfo[] {
    const out = new Map<string, SwitchInfo>();
    for (const sw of this.host.listSwitches()) {
      const o = this.access.ownerOf(sw.name);
      out.set(sw.name, {
        switch: sw.name,
        index: sw.index,
        ports: sw.list().length,
        uid: o?.uid ?? this.uid,
        gid: o?.gid ?? null,
        claimed: o?.claimed ?? false,
      });
    }
    for (const c of this.access.list()) {
      if (!out.has(c.switch))
        out.set(c.switch, { switch: c.switch, index: -1, ports: 0, uid: c.uid, gid: c.gid, claimed: c.claimed });
    }
    return [...out.values()].sort((x, y) => x.switch.localeCompare(y.switch));
  }

  /** Every port, by switch index then port number (vale-ctl's listing order). */
  listPorts(): PortInfo[] {
    const out: PortInfo[] = [];
    const sws = this.host.listSwitches().sort((a, b) => a.index - b.index);
    for (const sw of sws) for (const vp of sw.list()) out.push(this.describePort(vp));
    return out;
  }

  /** Switches, ports and counters in one snapshot (for top and ctl). */
  stats(): StatsSnapshot {
    const sws = this.host.listSwitches().sort((a, b) => a.index - b.index);
    return {
      time: Date.now(),
      switches: sws.map((sw) => ({
        name: sw.name,
        index: sw.index,
        macs: sw.macEntries().length,
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
      this.logLimited('rejected a client', `rejected a client: ${(e as Error).message}`);
      s.destroy();
      return;
    }
    const max = this.host.settings.maxClientsPerUser;
    let mine = 0;
    for (const o of this.conns) if (o.uid === c.uid) mine++;
    if (mine >= max) {
      const err = new ValeError(
        ErrorCodes.LIMIT,
        `uid ${c.uid} has ${mine} connections to the daemon already; raise uvale.max_clients_per_user (${max})`,
      );
      this.logLimited('connection limit', `refused a connection of pid ${c.pid}: ${err.message}`);
      c.refuse(err);
      return;
    }
    this.conns.add(c);
    this.checkIdle();
  }

  /** No client, no switch, no attached TAP and no persistent port: nothing to serve. */
  private idle(): boolean {
    return (
      this.conns.size === 0 &&
      this.adapterMap.size === 0 &&
      this.attaching.size === 0 &&
      this.vdes.length === 0 &&
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
export function loadSettings(path: string): SettingsInit {
  let o: unknown;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      o = JSON.parse(readFileSync(fd, 'utf8'));
    } finally {
      closeSync(fd);
    }
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
