/*
 * A QEMU port's stream link (-netdev stream, -netdev socket over TCP): every
 * frame travels after a 4-byte big-endian length (./framing.ts).
 *
 * Listen mode serves one QEMU at a time (QEMU's stream client is one
 * connection); a second one is refused with a log line. Connect mode dials
 * and redials (backoff 50 ms doubling to 1 s) whenever the connection drops
 * or cannot be made, so QEMU (server=on) can restart. A bad length prefix
 * closes only that connection, with the reason logged and counted. While the
 * socket's buffer is full (write returned false) the owner drains nothing;
 * 'drain' wakes it.
 */

import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { unlinkQuiet } from '../../core/fs.js';
import type { SocketAccess } from '../adapter.js';
import { Redial } from '../redial.js';
import { clearSocketPath, grantSocket } from '../socket-file.js';
import { StreamDeframer } from './framing.js';
import { type LinkOwner, type QemuLink, where } from './link.js';
import type { QemuSpec } from './spec.js';

export type StreamSpec = Extract<QemuSpec, { kind: 'stream' }>;

export class StreamLink implements QemuLink {
  readonly prefix = 4;
  private readonly owner: LinkOwner;
  private readonly spec: StreamSpec;
  private readonly deframer = new StreamDeframer();
  private server: Server | null = null;
  private sock: Socket | null = null;
  /** A dial in progress (connect mode). */
  private dialing: Socket | null = null;
  private unlinkPath: string | null = null;
  private readonly redialer = new Redial(() => this.dial());
  private closed = false;

  private readonly access: SocketAccess | undefined;

  constructor(owner: LinkOwner, spec: StreamSpec, access?: SocketAccess) {
    this.owner = owner;
    this.spec = spec;
    this.access = access;
  }

  get mode(): string {
    return this.spec.connect ? 'connect' : 'listen';
  }

  get connected(): boolean {
    return this.sock !== null;
  }

  get localPort(): number | null {
    const a = this.server?.address() ?? null;
    return a !== null && typeof a === 'object' ? a.port : null;
  }

  start(): Promise<void> {
    if (this.spec.connect) {
      this.dial();
      return Promise.resolve();
    }
    return this.listen();
  }

  writable(): boolean {
    return this.sock !== null && !this.sock.writableNeedDrain; // 'drain' wakes the owner
  }

  frame(out: Buffer, head: number, len: number): void {
    out[head] = len >>> 24;
    out[head + 1] = len >>> 16;
    out[head + 2] = len >>> 8;
    out[head + 3] = len;
  }

  flush(out: Buffer): void {
    this.sock?.write(out);
  }

  /** The last write went to the kernel whole, synchronously (nothing queued in the socket). */
  released(): boolean {
    const s = this.sock;
    return s !== null && s.writableLength === 0;
  }

  close(): void {
    this.closed = true;
    this.redialer.cancel();
    this.sock?.destroy();
    this.dialing?.destroy();
    this.dialing = null;
    this.sock = null;
    this.server?.close();
    this.server = null;
    if (this.unlinkPath !== null) unlinkQuiet(this.unlinkPath);
    this.unlinkPath = null;
  }

  private async listen(): Promise<void> {
    const spec = this.spec;
    if ('path' in spec) {
      try {
        await clearSocketPath(spec.path);
      } catch (e) {
        this.owner.log(`${this.owner.name}: ${(e as Error).message}; detaching`);
        this.owner.fail(e as Error);
        throw e;
      }
      if (this.closed) return; // detached meanwhile
    }
    return this.listenNow();
  }

  private listenNow(): Promise<void> {
    const spec = this.spec;
    const owner = this.owner;
    const server = createServer({ noDelay: true }, (s) => this.accepted(s));
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      server.once('error', (e) => {
        const why = `cannot listen on ${where(spec)}: ${(e as Error).message}`;
        owner.log(`${owner.name}: ${why}; detaching`);
        const err = new ValeError(ErrorCodes.SYSTEM, why, { cause: e });
        owner.fail(err);
        reject(err);
      });
      const onListening = (): void => {
        if (this.closed) {
          // detached while listen() was under way
          if ('path' in spec) unlinkQuiet(spec.path);
          resolve();
          return;
        }
        server.removeAllListeners('error');
        server.on('error', (e) => owner.log(`${owner.name}: listener: ${(e as Error).message}`));
        if ('path' in spec) {
          this.unlinkPath = spec.path;
          try {
            grantSocket(spec.path, this.access);
          } catch (e) {
            owner.fail(e as Error);
            reject(e);
            return;
          }
        }
        owner.log(`${owner.name}: listening on ${where(spec)}`);
        resolve();
      };
      if ('path' in spec) server.listen(spec.path, onListening);
      else server.listen(spec.port, spec.host, onListening);
    });
  }

  private accepted(s: Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    if (this.sock !== null) {
      this.owner.counters.refused++;
      this.owner.log(`${this.owner.name}: refused a second connection (one QEMU at a time)`);
      s.destroy();
      return;
    }
    this.adopt(s);
  }

  private dial(): void {
    const spec = this.spec;
    if (this.closed) return;
    const s = 'path' in spec ? netConnect(spec.path) : netConnect({ host: spec.host, port: spec.port, noDelay: true });
    this.dialing = s;
    s.once('connect', () => {
      if (this.dialing !== s) return; // closed meanwhile
      this.dialing = null;
      s.removeAllListeners('error');
      this.redialer.connected();
      this.adopt(s);
    });
    s.once('error', (e) => {
      if (this.dialing !== s) return;
      this.dialing = null;
      this.owner.counters.lastError = `connect to ${where(spec)}: ${(e as Error).message}`;
      s.destroy();
      this.redial();
    });
  }

  private redial(): void {
    if (!this.closed) this.redialer.schedule();
  }

  private adopt(s: Socket): void {
    const owner = this.owner;
    const st = owner.counters;
    this.sock = s;
    st.connects++;
    this.deframer.reset();
    const peer = s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort}` : where(this.spec);
    owner.log(`${owner.name}: connected (${peer})`);
    let reason = 'closed by the peer';
    s.on('data', (chunk: Buffer) => {
      if (this.sock !== s) return;
      const err = this.deframer.feed(chunk, owner.sink);
      owner.flushTx();
      if (err !== null) {
        st.errors++;
        reason = err;
        s.destroy();
      }
    });
    s.on('drain', () => owner.wake());
    s.on('error', (e) => {
      reason = e.message;
    });
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = null;
      st.disconnects++;
      st.lastError = reason;
      if (this.closed) return;
      owner.log(`${owner.name}: connection closed: ${reason}${this.spec.connect ? '; redialing' : ''}`);
      if (this.spec.connect) this.redial();
    });
    owner.wake(); // frames waiting since before the connection
  }
}
