/*
 * A connection from a client process to the daemon of a run directory,
 * starting the daemon if none runs (no set-up step: the first program that
 * opens a port brings the daemon up, as opening /dev/netmap loads nothing but
 * finds the kernel ready).
 *
 * Requests are JSON messages with an id; replies resolve the matching promise.
 * WAKE signals are routed to the port that owns the handle. If the daemon goes
 * away every pending request rejects and every port reports VALE_ERR_DAEMON.
 */

import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, errorFromJSON, ValeError } from '../core/errors.js';
import { ensureRunDir, type RunPaths, runPaths } from './paths.js';
import type { Args, Replies, RequestName } from './requests.js';
import { encodeJson, MAX_REPLY, MessageReader, MSG_WAKE, PROTOCOL_VERSION } from './wire.js';

export interface ConnectOptions {
  /** Run directory (default: paths.runDir()). */
  dir?: string;
  /** Start a daemon if none answers (default true). */
  autostart?: boolean;
  /** How long to wait for a daemon to answer, in ms (default 5000). */
  timeoutMs?: number;
}

/** A request's arguments: optional when every field of its schema is. */
type ArgsTuple<K extends RequestName> = Record<string, never> extends Args<K> ? [Args<K>?] : [Args<K>];

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class DaemonClient {
  readonly paths: RunPaths;
  /** The daemon's pid (from its hello reply). */
  daemonPid = 0;
  /** The uid the daemon runs as (from its hello reply). */
  daemonUid = -1;
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly wakeHandlers = new Map<number, () => void>();
  private readonly closeHandlers = new Set<(e: ValeError) => void>();
  private nextId = 1;
  private dead: ValeError | null = null;

  private constructor(paths: RunPaths, socket: Socket) {
    this.paths = paths;
    this.socket = socket;
    const reader = new MessageReader(MAX_REPLY, {
      json: (m) => this.onMessage(m),
      signal: (type, handle) => {
        if (type === MSG_WAKE) this.wakeHandlers.get(handle)?.();
      },
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.feed(chunk);
      } catch (e) {
        this.die(new ValeError(ErrorCodes.DAEMON, `bad message from the daemon: ${(e as Error).message}`));
        socket.destroy();
      }
    });
    socket.on('error', (e) => this.die(new ValeError(ErrorCodes.DAEMON, `daemon connection: ${e.message}`)));
    socket.on('close', () => this.die(new ValeError(ErrorCodes.DAEMON, 'the uvale daemon went away')));
  }

  /** Connects to the daemon of `opts.dir`, starting one if needed. */
  static async connect(opts: ConnectOptions = {}): Promise<DaemonClient> {
    const paths = runPaths(opts.dir);
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let started = false;
    for (;;) {
      try {
        const socket = await dial(paths.socket);
        const c = new DaemonClient(paths, socket);
        const hello = await c.request('hello', { version: PROTOCOL_VERSION });
        c.daemonPid = hello.pid;
        c.daemonUid = hello.uid;
        return c;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM') {
          throw new ValeError(
            ErrorCodes.PERMISSION,
            `no access to the uvale daemon's socket ${paths.socket}: run as the daemon's user or root, or ask for a daemon started with 'uvale daemon --group GROUP' that you are a member of`,
          );
        }
        const absent = code === 'ENOENT' || code === 'ECONNREFUSED';
        if (!absent) throw e instanceof ValeError ? e : new ValeError(ErrorCodes.DAEMON, (e as Error).message);
        if (opts.autostart === false) {
          throw new ValeError(ErrorCodes.DAEMON, `no uvale daemon serves ${paths.dir} (start one: uvale daemon)`);
        }
        if (!started) {
          startDaemon(paths);
          started = true;
        }
        if (Date.now() > deadline) {
          throw new ValeError(ErrorCodes.DAEMON, `the uvale daemon did not come up in ${paths.dir}; see ${paths.log}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** Sends a request and resolves with its result (or rejects with the daemon's error); see requests.ts. */
  request<K extends RequestName>(op: K, ...args: ArgsTuple<K>): Promise<Replies[K]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(encodeJson({ ...(args[0] ?? {}), id, op }));
    });
  }

  /**
   * Sends any request, unchecked here: for tests of the daemon's own checks
   * (malformed arguments, unknown requests). Programs use request().
   */
  requestUntyped(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return (this.request as (op: string, a: Record<string, unknown>) => Promise<unknown>)(op, args);
  }

  /** Sends a pre-encoded signal (a KICK); dropped if the daemon is gone. */
  signal(msg: Buffer): void {
    if (this.dead === null) this.socket.write(msg);
  }

  onWake(handle: number, fn: (() => void) | null): void {
    if (fn === null) this.wakeHandlers.delete(handle);
    else this.wakeHandlers.set(handle, fn);
  }

  onClose(fn: (e: ValeError) => void): () => void {
    this.closeHandlers.add(fn);
    return () => this.closeHandlers.delete(fn);
  }

  /** The reason the connection ended, or null while it is up. */
  get error(): ValeError | null {
    return this.dead;
  }

  /** Keeps the process alive while the connection is open (the default), or not. */
  ref(on: boolean): void {
    if (on) this.socket.ref();
    else this.socket.unref();
  }

  close(): void {
    this.socket.end();
    this.die(new ValeError(ErrorCodes.CLOSED, 'connection closed'));
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m.event === 'string') {
      if (m.event === 'shutdown') {
        this.die(new ValeError(ErrorCodes.DAEMON, `the uvale daemon shut down (${String(m.reason)})`));
      }
      return;
    }
    const id = m.id;
    if (typeof id !== 'number') {
      if (m.ok === false) this.die(errorFromJSON(m.error));
      return;
    }
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    if (m.ok === true) p.resolve(m.result);
    else p.reject(errorFromJSON(m.error));
  }

  private die(e: ValeError): void {
    if (this.dead) return;
    this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const fn of this.closeHandlers) fn(e);
    for (const fn of this.wakeHandlers.values()) fn();
  }
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Starts a detached daemon that exits when idle; its output goes to the run directory's log. */
function startDaemon(paths: RunPaths): void {
  ensureRunDir(paths.dir);
  const bin = fileURLToPath(new URL('../../../bin/uvale', import.meta.url));
  // never through a planted link; the daemon's own --log FILE is opened the same way (src/daemon/log.ts)
  const log = openSync(
    paths.log,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o600,
  );
  const child = spawn(process.execPath, [bin, 'daemon', '--auto', '--dir', paths.dir, '--log', paths.log], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  closeSync(log);
}
