/*
 * One client connection to the daemon: its protocol state, the ports it
 * opened, and the requests it may make. A connection owns its ports: when it
 * closes (the client exited, crashed or was killed) every port it opened is
 * released at once and its shared memory unmapped.
 *
 * Requests are dispatched through the handler table (handlers.ts) after their
 * arguments are checked against src/control/requests.ts and the requester's
 * credentials (SO_PEERCRED, taken once at connect) against the request's access.
 *
 * A client that does not read hurts only itself: while replies it has not
 * read pile up past OUT_LIMIT its requests are not read either, and a WAKE it
 * has not read yet is never queued twice for one port (one pending wake per
 * port is all a client can need). A client must say hello within
 * HELLO_TIMEOUT_MS and finish any message it starts within STALL_TIMEOUT_MS.
 *
 * Faults stay here. A malformed message gets one VALE_ERR_PROTOCOL reply and
 * the connection is closed; a failing request gets an error reply with the
 * request's id; neither touches other connections or ports.
 */

import type { Socket } from 'node:net';
import { type Args, checkArgs, isRequestName, REQUESTS, type Replies } from '../control/requests.js';
import { encodeJson, encodeSignal, MAX_REQUEST, MessageReader, MSG_KICK, MSG_WAKE } from '../control/wire.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { ShmPortServer } from '../ports/shm/shm-server.js';
import { DEFAULT_RING_CONFIG, type RingConfig } from '../ring/layout.js';
import { parsePortName } from '../switch/name.js';
import type { VPort } from '../switch/vport.js';
import { closeFd, peerCred, peerGroups, peerPidfd } from '../sys/index.js';
import type { Requester } from './access.js';
import { HANDLERS } from './handlers.js';
import type { Daemon } from './server.js';

type Request = Record<string, unknown>;

/** The peer's supplementary groups; none if the kernel cannot say (SO_PEERGROUPS is Linux 4.13+). */
function groupsOf(socket: Socket): number[] {
  try {
    return peerGroups(socket);
  } catch {
    return [];
  }
}

/** Time a new connection has to send its hello. */
export const HELLO_TIMEOUT_MS = 5000;
/** Time a started message may take to arrive whole. */
export const STALL_TIMEOUT_MS = 10000;
/** Time a closed connection's client has to read what was sent before it is cut off. */
export const CLOSE_GRACE_MS = 1000;
/** Reply bytes a client may leave unread before the daemon stops reading its requests. */
export const OUT_LIMIT = 1 << 20;

export class Connection implements Requester {
  readonly id: number;
  readonly pid: number;
  /** The requester's user and group, from the kernel (SO_PEERCRED). */
  readonly uid: number;
  readonly gid: number;
  /** Its supplementary groups (SO_PEERGROUPS): a switch shared with one of them is open to it. */
  readonly groups: readonly number[];
  /** The client process itself (SO_PEERPIDFD), or -1: its memfds are taken through it (src/sys/pidfd.ts). */
  private readonly pidfd: number;
  /** The first request, hello, was answered. */
  greeted = false;
  private readonly socket: Socket;
  private readonly daemon: Daemon;
  private readonly reader: MessageReader;
  private readonly ports = new Map<number, ShmPortServer>();
  private readonly wakeMsgs = new Map<number, Buffer>();
  /** Ports whose WAKE waits for the client to read what was sent before. */
  private readonly deferredWakes = new Set<number>();
  private nextHandle = 1;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  /** The incomplete message in the reader started arriving then (0: none). */
  private partialSince = 0;

  constructor(daemon: Daemon, socket: Socket, id: number) {
    this.daemon = daemon;
    this.socket = socket;
    this.id = id;
    const cred = peerCred(socket);
    this.pid = cred.pid;
    this.uid = cred.uid;
    this.gid = cred.gid;
    this.groups = groupsOf(socket);
    this.pidfd = peerPidfd(socket);
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
        return;
      }
      if (this.reader.pending === 0) this.partialSince = 0;
      else if (this.partialSince === 0) this.partialSince = Date.now();
      if (socket.writableLength > OUT_LIMIT) socket.pause(); // it reads its replies first
    });
    socket.on('drain', () => {
      if (this.closed) return;
      for (const h of this.deferredWakes) this.socket.write(this.wakeMsg(h));
      this.deferredWakes.clear();
      socket.resume();
    });
    socket.on('error', () => this.cleanup());
    socket.on('close', () => this.cleanup());
    this.timer = setTimeout(() => this.watchdog(), HELLO_TIMEOUT_MS);
    this.timer.unref();
  }

  /** Closes a connection that never said hello, or that stalls in the middle of a message. */
  private watchdog(): void {
    this.timer = null;
    if (this.closed) return;
    if (!this.greeted) {
      this.fail(new ValeError(ErrorCodes.PROTOCOL, `no hello within ${HELLO_TIMEOUT_MS} ms`));
      return;
    }
    if (this.partialSince !== 0 && Date.now() - this.partialSince >= STALL_TIMEOUT_MS) {
      this.fail(
        new ValeError(
          ErrorCodes.PROTOCOL,
          `a message stalled for ${STALL_TIMEOUT_MS} ms (${this.reader.pending} bytes)`,
        ),
      );
      return;
    }
    this.timer = setTimeout(() => this.watchdog(), STALL_TIMEOUT_MS / 4);
    this.timer.unref();
  }

  private wakeMsg(handle: number): Buffer {
    let m = this.wakeMsgs.get(handle);
    if (m === undefined) {
      m = encodeSignal(MSG_WAKE, handle);
      this.wakeMsgs.set(handle, m);
    }
    return m;
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** ShmPeer: tells the client one of its ports changed. */
  wake(handle: number): void {
    if (this.closed) return;
    if (this.socket.writableNeedDrain) {
      // the client has not read what was sent before: one WAKE per port waits for it
      this.deferredWakes.add(handle);
      return;
    }
    this.socket.write(this.wakeMsg(handle));
  }

  /** Sends an unsolicited event (e.g. the daemon shutting down). */
  event(obj: Record<string, unknown>): void {
    if (!this.closed) this.socket.write(encodeJson(obj));
  }

  /** Ends the connection; a client that does not read its end is cut off after CLOSE_GRACE_MS. */
  close(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
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

  /** Checks the request's name, order, access and arguments, then runs its handler. */
  private dispatch(m: Request): unknown {
    const op = m.op;
    if (!isRequestName(op)) throw new ValeError(ErrorCodes.INVALID_ARG, `unknown request '${String(op)}'`);
    if (!this.greeted && op !== 'hello') throw new ValeError(ErrorCodes.PROTOCOL, "the first request must be 'hello'");
    if (REQUESTS[op].access === 'owner' && !this.daemon.isOwner(this.uid)) {
      throw new ValeError(
        ErrorCodes.PERMISSION,
        `'${op}' is for root or the daemon's owner (uid ${this.daemon.uid}); uid ${this.uid} may list, read counters, and open and attach ports on the switches it may use (docs/security.md)`,
      );
    }
    const handler = HANDLERS[op] as (cx: { daemon: Daemon; conn: Connection }, a: unknown) => unknown;
    return handler({ daemon: this.daemon, conn: this }, checkArgs(op, m));
  }

  private replyError(id: number, e: unknown): void {
    const err =
      e instanceof ValeError ? e : new ValeError(ErrorCodes.SYSTEM, `internal error: ${(e as Error).message}`);
    this.socket.write(encodeJson({ id, ok: false, error: err.toJSON() }));
    if (err.code === ErrorCodes.PROTOCOL) this.close();
  }

  /** The `open` request: builds port `a.name` in the memfd the client handed over. */
  openPort(a: Args<'open'>): Replies['open'] {
    const d = this.daemon;
    const name = a.name;
    const cfg: RingConfig = {
      txRings: a.txRings ?? DEFAULT_RING_CONFIG.txRings,
      rxRings: a.rxRings ?? DEFAULT_RING_CONFIG.rxRings,
      txSlots: a.txSlots ?? Math.min(DEFAULT_RING_CONFIG.txSlots, d.host.settings.maxBuffers),
      rxSlots: a.rxSlots ?? Math.min(DEFAULT_RING_CONFIG.rxSlots, d.host.settings.maxBuffers),
    };
    const fd = a.fd;
    const vnetHdrLen = a.vnetHdrLen ?? 0;
    const pn = parsePortName(name);
    d.checkPortLimit(this);
    // its owner's, or shared with a group it is in; a monitor (PORT/rt) needs the same right and
    // never makes or claims a switch
    if (pn.monitor !== 0) d.access.check(this, pn.bridge, `monitor ${name}`);
    else d.access.enter(this, pn.bridge, `open ${name}`);
    const forced = pn.monitor !== 0 ? undefined : d.persistent.beginOpen(name);
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
        `port ${vp.name} is already open by ${this.daemon.holderOf(vp, this.pid)}; a port's memory is private to one client`,
      );
    };
    let server: ShmPortServer;
    try {
      server = ShmPortServer.open(
        d.host,
        name,
        { ...cfg, vnetHdrLen },
        handle,
        this,
        { pid: this.pid, fd, pidfd: this.pidfd },
        refuse,
      );
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
      txChunk: server.vp.onTxChunk === null ? 0 : server.vp.txChunk,
    };
  }

  /** True when this connection has `vp` open. */
  holds(vp: VPort): boolean {
    for (const p of this.ports.values()) if (p.vp === vp) return true;
    return false;
  }

  /** The `close` request: closes this connection's port `handle`. */
  closeHandle(handle: number): void {
    const p = this.ports.get(handle);
    if (p === undefined) throw new ValeError(ErrorCodes.NOT_FOUND, `no open port with handle ${handle}`);
    this.closePort(handle, p);
  }

  private closePort(handle: number, p: ShmPortServer): void {
    this.ports.delete(handle);
    this.wakeMsgs.delete(handle);
    this.deferredWakes.delete(handle);
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

  /** Ends a connection the daemon will not serve, saying why; it was never counted. */
  refuse(err: ValeError): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.pidfd >= 0) closeFd(this.pidfd);
    this.socket.end(encodeJson({ id: null, ok: false, error: err.toJSON() }));
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private fail(e: unknown): void {
    const err = e instanceof ValeError ? e : new ValeError(ErrorCodes.PROTOCOL, String(e));
    this.daemon.logLimited(err.message, `client pid ${this.pid} uid ${this.uid}: ${err.message}; disconnecting it`);
    if (!this.closed) {
      this.socket.end(encodeJson({ id: null, ok: false, error: err.toJSON() }));
      setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    this.cleanup();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.deferredWakes.clear();
    for (const [h, p] of this.ports) this.closePort(h, p);
    if (this.pidfd >= 0) closeFd(this.pidfd);
    this.daemon.connectionClosed(this);
  }
}
