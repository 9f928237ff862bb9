/*
 * One client connection to the daemon: its protocol state, the ports it
 * opened, and the requests it may make. A connection owns its ports: when it
 * closes (the client exited, crashed or was killed) every port it opened is
 * released at once and its shared memory unmapped.
 *
 * Faults stay here. A malformed message gets one VALE_ERR_PROTOCOL reply and
 * the connection is closed; a failing request gets an error reply with the
 * request's id; neither touches other connections or ports.
 */

import type { Socket } from 'node:net';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { parseAssignment, SETTINGS } from '../core/settings.js';
import { ShmPortServer } from '../ports/shm/shm-server.js';
import { DEFAULT_RING_CONFIG, type RingConfig } from '../ring/layout.js';
import { countersToObject } from '../switch/counters.js';
import type { VPort } from '../switch/vport.js';
import { peerPid } from '../sys/index.js';
import {
  encodeJson,
  encodeSignal,
  MAX_REQUEST,
  MessageReader,
  MSG_KICK,
  MSG_WAKE,
  PROTOCOL_VERSION,
} from './protocol.js';
import type { Daemon } from './server.js';

type Request = Record<string, unknown>;

export class Connection {
  readonly id: number;
  readonly pid: number;
  private readonly socket: Socket;
  private readonly daemon: Daemon;
  private readonly reader: MessageReader;
  private readonly ports = new Map<number, ShmPortServer>();
  private readonly wakeMsgs = new Map<number, Buffer>();
  private nextHandle = 1;
  private greeted = false;
  private closed = false;

  constructor(daemon: Daemon, socket: Socket, id: number) {
    this.daemon = daemon;
    this.socket = socket;
    this.id = id;
    this.pid = peerPid(socket);
    this.reader = new MessageReader(MAX_REQUEST, {
      json: (m) => this.onRequest(m),
      signal: (type, handle) => this.onSignal(type, handle),
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.reader.feed(chunk);
      } catch (e) {
        this.fail(e);
      }
    });
    socket.on('error', () => this.cleanup());
    socket.on('close', () => this.cleanup());
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** ShmPeer: tells the client one of its ports changed. */
  wake(handle: number): void {
    if (this.closed) return;
    let m = this.wakeMsgs.get(handle);
    if (m === undefined) {
      m = encodeSignal(MSG_WAKE, handle);
      this.wakeMsgs.set(handle, m);
    }
    this.socket.write(m);
  }

  /** Sends an unsolicited event (e.g. the daemon shutting down). */
  event(obj: Record<string, unknown>): void {
    if (!this.closed) this.socket.write(encodeJson(obj));
  }

  close(): void {
    this.socket.end();
    this.cleanup();
  }

  private onSignal(type: number, handle: number): void {
    if (type !== MSG_KICK) throw new ValeError(ErrorCodes.PROTOCOL, 'clients may only send KICK signals');
    const p = this.ports.get(handle);
    if (p !== undefined) this.daemon.scheduler.wake(p);
  }

  private onRequest(m: Request): void {
    const id = m.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
      throw new ValeError(ErrorCodes.PROTOCOL, 'request without a numeric id');
    }
    let result: unknown;
    try {
      if (!this.greeted && m.op !== 'hello') {
        throw new ValeError(ErrorCodes.PROTOCOL, "the first request must be 'hello'");
      }
      result = this.dispatch(m);
    } catch (e) {
      this.replyError(id, e);
      return;
    }
    if (result instanceof Promise) {
      // a request that completes later (attaching a QEMU port waits for its listener)
      result.then(
        (r: unknown) => {
          if (!this.closed) this.socket.write(encodeJson({ id, ok: true, result: r }));
        },
        (e: unknown) => {
          if (!this.closed) this.replyError(id, e);
        },
      );
      return;
    }
    this.socket.write(encodeJson({ id, ok: true, result }));
  }

  private replyError(id: number, e: unknown): void {
    const err =
      e instanceof ValeError ? e : new ValeError(ErrorCodes.SYSTEM, `internal error: ${(e as Error).message}`);
    this.socket.write(encodeJson({ id, ok: false, error: err.toJSON() }));
    if (err.code === ErrorCodes.PROTOCOL) this.close();
  }

  private dispatch(m: Request): unknown {
    const d = this.daemon;
    switch (m.op) {
      case 'hello': {
        if (m.version !== PROTOCOL_VERSION) {
          throw new ValeError(
            ErrorCodes.PROTOCOL,
            `protocol version ${String(m.version)} not supported (daemon speaks ${PROTOCOL_VERSION})`,
          );
        }
        this.greeted = true;
        return { version: PROTOCOL_VERSION, pid: process.pid, dir: d.paths.dir };
      }
      case 'open':
        return this.open(m);
      case 'close': {
        const h = intArg(m, 'handle');
        const p = this.ports.get(h);
        if (p === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no open port with handle ${h}`);
        this.closePort(h, p);
        return {};
      }
      case 'list':
        return { ports: d.listPorts() };
      case 'stats':
        return d.stats();
      case 'mac': {
        const sw = d.host.getSwitch(strArg(m, 'switch'));
        if (sw === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no switch named ${String(m.switch)}`);
        return { switch: sw.name, entries: sw.macEntries() };
      }
      case 'port': {
        const vp = d.findPort(strArg(m, 'name'));
        return { ...d.describePort(vp), counters: countersToObject(vp.counters) };
      }
      case 'sysctl': {
        const s = d.host.settings;
        if (typeof m.set === 'string') {
          const { name, value } = parseAssignment(m.set);
          s.set(name, value);
          d.settingsChanged();
          return { [name]: s.get(name) };
        }
        if (typeof m.name === 'string') return { [m.name]: s.get(m.name) };
        return { settings: s.all(), specs: SETTINGS };
      }
      case 'attach': {
        const name = strArg(m, 'name');
        if (name.includes('=')) return d.attachQemu(name); // SWITCH:PORT=SPEC: a QEMU socket back-end
        if (!d.persistent.has(name)) return d.attachTap(name, m.offload !== false);
        const vp = d.persistent.attach(name);
        d.portsChanged();
        return { name: vp.name, index: vp.index };
      }
      case 'detach': {
        const name = strArg(m, 'name');
        if (d.hasQemu(name)) return d.detachQemu(name);
        if (!d.persistent.has(name)) return d.detachTap(name);
        d.persistent.detach(name);
        d.portsChanged();
        return { name };
      }
      case 'newif': {
        const r = d.persistent.create(strArg(m, 'name'), ringArgs(m));
        d.portsChanged();
        return r;
      }
      case 'delif':
        d.persistent.destroy(strArg(m, 'name'));
        d.portsChanged();
        return {};
      case 'persistent':
        return { ports: d.persistent.list() };
      case 'geometry': {
        // the rings a port must be opened with: a persistent port's, fixed at its creation
        const name = strArg(m, 'name');
        return d.persistent.has(name) ? (d.persistent.list().find((p) => p.attached === name) ?? null) : null;
      }
      case 'taps':
        return { taps: d.listTaps() };
      case 'qemus':
        return { qemus: d.listQemus() };
      case 'shutdown':
        setImmediate(() => void d.stop(`shutdown requested by pid ${this.pid}`));
        return {};
      default:
        throw new ValeError(ErrorCodes.INVALID_ARG, `unknown request '${String(m.op)}'`);
    }
  }

  private open(m: Request): unknown {
    const d = this.daemon;
    const name = strArg(m, 'name');
    const cfg: RingConfig = {
      txRings: optInt(m, 'txRings', DEFAULT_RING_CONFIG.txRings),
      rxRings: optInt(m, 'rxRings', DEFAULT_RING_CONFIG.rxRings),
      txSlots: optInt(m, 'txSlots', Math.min(DEFAULT_RING_CONFIG.txSlots, d.host.settings.maxBuffers)),
      rxSlots: optInt(m, 'rxSlots', Math.min(DEFAULT_RING_CONFIG.rxSlots, d.host.settings.maxBuffers)),
    };
    const fd = intArg(m, 'fd');
    const vnetHdrLen = optInt(m, 'vnetHdrLen', 0);
    const forced = d.persistent.beginOpen(name);
    if (
      forced !== undefined &&
      (['txRings', 'rxRings', 'txSlots', 'rxSlots'] as const).some((k) => forced[k] !== cfg[k])
    ) {
      d.persistent.restore(name);
      throw new ValeError(
        ErrorCodes.INVALID_ARG,
        `persistent port ${name} has ${forced.txRings}x${forced.txSlots} TX and ${forced.rxRings}x${forced.rxSlots} RX slots; open it with those`,
      );
    }
    const handle = this.nextHandle++;
    const refuse = (vp: VPort): void => {
      throw new ValeError(
        ErrorCodes.BUSY,
        `port ${vp.name} is already open by another process; a port's memory is private to one client`,
      );
    };
    let server: ShmPortServer;
    try {
      server = ShmPortServer.open(d.host, name, { ...cfg, vnetHdrLen }, handle, this, { pid: this.pid, fd }, refuse);
    } catch (e) {
      if (forced !== undefined) d.persistent.restore(name);
      throw e;
    }
    if (forced !== undefined) d.persistent.opened(name, server.vp);
    this.ports.set(handle, server);
    d.scheduler.wake(server);
    d.portsChanged();
    const g = server.vp.region.geometry;
    return {
      handle,
      name: server.vp.name,
      switch: server.vp.sw?.name ?? null,
      index: server.vp.index,
      txRings: g.txRings,
      rxRings: g.rxRings,
      txSlots: g.txSlots,
      rxSlots: g.rxSlots,
      size: g.size,
    };
  }

  private closePort(handle: number, p: ShmPortServer): void {
    this.ports.delete(handle);
    this.wakeMsgs.delete(handle);
    this.daemon.scheduler.remove(p);
    // frames the client handed over with txsync() are sent, as netmap's txsync would have
    if (p.txPending()) {
      try {
        p.process();
      } catch (e) {
        this.daemon.log(`port ${p.vp.name}: ${(e as Error).message}`);
      }
    }
    this.daemon.persistent.closing(p.vp); // a persistent port's placeholder takes its number back
    p.close(this.daemon.host);
    this.daemon.portsChanged();
  }

  private fail(e: unknown): void {
    const err = e instanceof ValeError ? e : new ValeError(ErrorCodes.PROTOCOL, String(e));
    this.daemon.log(`client pid ${this.pid}: ${err.message}; disconnecting it`);
    if (!this.closed) this.socket.end(encodeJson({ id: null, ok: false, error: err.toJSON() }));
    this.cleanup();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [h, p] of this.ports) this.closePort(h, p);
    this.daemon.connectionClosed(this);
  }
}

function strArg(m: Request, k: string): string {
  const v = m[k];
  if (typeof v !== 'string') throw new ValeError(ErrorCodes.INVALID_ARG, `'${k}' must be a string`);
  return v;
}

function intArg(m: Request, k: string): number {
  const v = m[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `'${k}' must be an integer`);
  }
  return v;
}

function optInt(m: Request, k: string, dflt: number): number {
  return m[k] === undefined ? dflt : intArg(m, k);
}

/** Optional ring geometry fields of a request (txRings, rxRings, txSlots, rxSlots). */
function ringArgs(m: Request): Partial<RingConfig> {
  const out: Partial<RingConfig> = {};
  for (const k of ['txRings', 'rxRings', 'txSlots', 'rxSlots'] as const) if (m[k] !== undefined) out[k] = intArg(m, k);
  return out;
}
