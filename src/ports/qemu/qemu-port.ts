/*
 * A QEMU socket back-end as a port of a switch: `uvale ctl -a
 * vale0:vm1=stream:unix:/run/vm1.sock` (grammar in ./spec.ts). Like the TAP
 * adapter, it is an in-process port (kind 'qemu') on the daemon's host driven
 * from the event loop; the far side is a socket speaking QEMU's framing.
 *
 *   socket → switch  each read (a 'data' chunk, or the datagrams of one loop
 *                    turn) is cut into frames by StreamDeframer and copied
 *                    straight into TX slots (chains for frames > 2048 B; a
 *                    frame split across reads is completed in its slots before
 *                    it is published), then one txsync for the batch. If the
 *                    ring has no room even after a txsync, the frame is
 *                    skipped and counted (txDrops).
 *   switch → socket  the port's onRx schedules one drain (a microtask): every
 *                    frame waiting in the RX ring is framed into one buffer
 *                    and written with one write (UDP: one send per frame from
 *                    that buffer). While the socket's buffer is full (write
 *                    returned false, or UDP's send queue is long) nothing is
 *                    drained: the RX ring fills, and the switch counts what it
 *                    then drops as dropRxFull on this port; 'drain' resumes.
 *
 * Connections. Listen mode serves one QEMU at a time (QEMU's stream client
 * is one connection); a second one is refused with a log line. Connect mode
 * dials and redials (backoff 50 ms doubling to 1 s) whenever the connection
 * drops or cannot be made, so QEMU (server=on) can restart. A bad length
 * prefix closes only that connection, with the reason logged and counted;
 * frames from the switch while no peer is connected are dropped and counted
 * (noPeerDrops). Nothing on the data path throws; other ports never notice.
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import type { ValeHost } from '../../switch/host.js';
import type { VPort } from '../../switch/vport.js';
import { LocalPort } from '../local/local-port.js';
import { RxDrain } from '../rx-drain.js';
import { type FrameSink, MAX_STREAM_FRAME, StreamDeframer } from './framing.js';
import { parseQemuSpec, type QemuSpec, splitAttachSpec } from './spec.js';

/** Slots one maximal frame needs; the TX ring must hold more. */
const MAX_FRAME_SLOTS = Math.ceil(MAX_STREAM_FRAME / NM_BUF_SIZE);
const REDIAL_MIN_MS = 50;
const REDIAL_MAX_MS = 1000;
/** Bytes queued on a UDP socket above which the RX ring is left to fill. */
const UDP_QUEUE_LIMIT = 1 << 20;

export interface QemuAttachOptions {
  txSlots?: number;
  rxSlots?: number;
  /** Diagnostics: connections made and lost, with reasons. */
  log?: (line: string) => void;
}

export interface QemuStats {
  name: string;
  spec: string;
  /** 'listen', 'connect' or 'dgram'. */
  mode: string;
  connected: boolean;
  /** Connections accepted or made. */
  connects: number;
  /** Connections lost (peer closed, error, bad framing). */
  disconnects: number;
  /** Connections refused because one was already up (listen mode). */
  refused: number;
  /** Frames and bytes from the socket into the switch. */
  readFrames: number;
  readBytes: number;
  /** Frames and bytes from the switch written to the socket. */
  writeFrames: number;
  writeBytes: number;
  /** Frames from the socket skipped for want of TX room. */
  txDrops: number;
  /** Frames from the switch dropped because no peer was connected. */
  noPeerDrops: number;
  /** Connections closed for bad framing; datagrams dropped as empty or too long. */
  protocolErrors: number;
  /** The last reason a connection ended, or ''. */
  lastError: string;
}

export class QemuPort {
  /** The switch port, e.g. "vale0:vm1". */
  readonly name: string;
  readonly spec: QemuSpec;
  /** Resolves once listening, bound, or (connect mode) dialing; rejects (and detaches) if that fails, or with CLOSED if detached first. */
  readonly ready: Promise<void>;
  private lp: LocalPort | null;
  private settleReady: ((e?: Error) => void) | null = null;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private readonly log: (line: string) => void;
  /** The whole arena as a Buffer (copies without per-frame views). */
  private readonly arena: Buffer;
  private readonly deframer = new StreamDeframer();
  private server: Server | null = null;
  private sock: Socket | null = null;
  /** A dial in progress (connect mode). */
  private dialing: Socket | null = null;
  private udp: UdpSocket | null = null;
  private unlinkPath: string | null = null;
  private redialTimer: NodeJS.Timeout | null = null;
  private redialMs = REDIAL_MIN_MS;
  /** switch → socket: the port's onRx queues one writeAll after the forwarding pass (../rx-drain.ts). */
  private readonly drainer = new RxDrain(
    () => this.writeAll(),
    (e) => this.log(`${this.name}: internal error while writing: ${(e as Error).message}`),
  );
  private readonly onRx = this.drainer.request;
  private flushScheduled = false;
  private udpRetry: NodeJS.Timeout | null = null;
  // TX writer state: `pub` is the slot after the last complete frame; w/off the write position in the current one
  private pub: number;
  private w = 0;
  private off = 0;
  private frameLen = 0;
  private frameLeft = 0;
  private readonly st = {
    connects: 0,
    disconnects: 0,
    refused: 0,
    readFrames: 0,
    readBytes: 0,
    writeFrames: 0,
    writeBytes: 0,
    txDrops: 0,
    noPeerDrops: 0,
    protocolErrors: 0,
    lastError: '',
  };

  private constructor(lp: LocalPort, spec: QemuSpec, opts: QemuAttachOptions) {
    this.lp = lp;
    this.vp = lp.vport;
    this.name = lp.name;
    this.spec = spec;
    this.log = opts.log ?? (() => {});
    this.tx = lp.txRings[0] as NetmapRing;
    this.rx = lp.rxRings[0] as NetmapRing;
    const u8 = this.tx.u8;
    this.arena = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    this.pub = this.tx.cur;
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (e) => {
        this.settleReady = null;
        if (e === undefined) resolve();
        else reject(e);
      };
    });
    this.ready.catch(() => {}); // the caller may not wait; a failure is also logged and detaches
    this.start().then(
      () => this.settleReady?.(),
      (e: Error) => this.settleReady?.(e),
    );
  }

  /**
   * Attaches "SWITCH:PORT=SPEC" (or `name` plus `spec`): creates the port
   * (and the switch) and starts listening, binding or dialing. Synchronous
   * errors (bad spec, name taken, limits) throw ValeError; a failure to
   * listen or bind rejects `ready` and detaches the port.
   */
  static attach(host: ValeHost, nameSpec: string, opts: QemuAttachOptions = {}): QemuPort {
    const parts = splitAttachSpec(nameSpec);
    if (parts === null) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `'${nameSpec}' has no '=SPEC': attach QEMU as SWITCH:PORT=SPEC`);
    }
    if (!parts.name.includes(':')) {
      throw new ValeError(ErrorCodes.INVALID_NAME, `'${parts.name}' names no switch: use SWITCH:PORT=SPEC`);
    }
    const spec = parseQemuSpec(parts.spec);
    const txSlots = opts.txSlots ?? Math.min(1024, host.settings.maxBuffers);
    if (txSlots <= MAX_FRAME_SLOTS) {
      throw new ValeError(
        ErrorCodes.LIMIT,
        `a QEMU port needs more than ${MAX_FRAME_SLOTS} TX slots (one 64 KB frame), it would get ${txSlots}; raise dev.netmap.max_buffers`,
      );
    }
    const vp = host.acquire(parts.name, {
      kind: 'qemu',
      txRings: 1,
      rxRings: 1,
      txSlots,
      ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}),
      share: (p) => {
        throw new ValeError(ErrorCodes.BUSY, `port ${p.name} already exists (kind ${p.kind}); detach it first`);
      },
    });
    const lp = new LocalPort(host, vp);
    let q: QemuPort;
    try {
      q = new QemuPort(lp, spec, opts);
    } catch (e) {
      lp.close();
      throw e;
    }
    vp.onRx = q.onRx;
    return q;
  }

  get attached(): boolean {
    return this.lp !== null;
  }

  get connected(): boolean {
    return this.sock !== null || this.udp !== null;
  }

  get vport(): VPort {
    return this.vp;
  }

  /** The TCP port listened on or bound (useful after asking for port 0), or null. */
  get localPort(): number | null {
    const a = this.server?.address() ?? (this.udp !== null ? this.udp.address() : null);
    return a !== null && typeof a === 'object' ? a.port : null;
  }

  get mode(): string {
    return this.spec.kind === 'dgram' ? 'dgram' : this.spec.connect ? 'connect' : 'listen';
  }

  stats(): QemuStats {
    return { name: this.name, spec: this.spec.text, mode: this.mode, connected: this.connected, ...this.st };
  }

  /** Detaches: closes the connection, the listener and the port. Safe to call twice. */
  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.vp.onRx = null;
    this.settleReady?.(new ValeError(ErrorCodes.CLOSED, `${this.name} was detached before it was ready`));
    if (this.redialTimer !== null) clearTimeout(this.redialTimer);
    if (this.udpRetry !== null) clearTimeout(this.udpRetry);
    this.redialTimer = null;
    this.sock?.destroy();
    this.dialing?.destroy();
    this.dialing = null;
    this.sock = null;
    this.server?.close();
    this.server = null;
    try {
      this.udp?.close();
    } catch {
      // not bound yet
    }
    this.udp = null;
    if (this.unlinkPath !== null) unlinkQuietly(this.unlinkPath);
    this.unlinkPath = null;
    lp.close();
  }

  private start(): Promise<void> {
    const spec = this.spec;
    if (spec.kind === 'dgram') return this.bindUdp(spec);
    if (spec.connect) {
      this.dial();
      return Promise.resolve();
    }
    return this.listen();
  }

  // ---- connections -------------------------------------------------------------------------

  private listen(): Promise<void> {
    const spec = this.spec;
    if (spec.kind !== 'stream') return Promise.resolve();
    const server = createServer({ noDelay: true }, (s) => this.accepted(s));
    this.server = server;
    if ('path' in spec) {
      // a socket file left by an earlier run would make listen() fail: remove it, but never another kind of file
      try {
        if (lstatSync(spec.path).isSocket()) unlinkSync(spec.path);
      } catch {
        // absent
      }
    }
    return new Promise<void>((resolve, reject) => {
      server.once('error', (e) => {
        const why = `cannot listen on ${where(spec)}: ${(e as Error).message}`;
        this.log(`${this.name}: ${why}; detaching`);
        const err = new ValeError(ErrorCodes.SYSTEM, why, { cause: e });
        this.settleReady?.(err); // before close(), which would report CLOSED
        this.close();
        reject(err);
      });
      const onListening = (): void => {
        if (this.lp === null) {
          // detached while listen() was under way
          if ('path' in spec) unlinkQuietly(spec.path);
          resolve();
          return;
        }
        server.removeAllListeners('error');
        server.on('error', (e) => this.log(`${this.name}: listener: ${(e as Error).message}`));
        if ('path' in spec) this.unlinkPath = spec.path;
        this.log(`${this.name}: listening on ${where(spec)}`);
        resolve();
      };
      if ('path' in spec) server.listen(spec.path, onListening);
      else server.listen(spec.port, spec.host, onListening);
    });
  }

  private accepted(s: Socket): void {
    if (this.lp === null) {
      s.destroy();
      return;
    }
    if (this.sock !== null) {
      this.st.refused++;
      this.log(`${this.name}: refused a second connection (one QEMU at a time)`);
      s.destroy();
      return;
    }
    this.adopt(s);
  }

  private dial(): void {
    const spec = this.spec;
    if (this.lp === null || spec.kind !== 'stream') return;
    const s = 'path' in spec ? netConnect(spec.path) : netConnect({ host: spec.host, port: spec.port, noDelay: true });
    this.dialing = s;
    s.once('connect', () => {
      if (this.dialing !== s) return; // closed meanwhile
      this.dialing = null;
      s.removeAllListeners('error');
      this.redialMs = REDIAL_MIN_MS;
      this.adopt(s);
    });
    s.once('error', (e) => {
      if (this.dialing !== s) return;
      this.dialing = null;
      this.st.lastError = `connect to ${where(spec)}: ${(e as Error).message}`;
      s.destroy();
      this.redial();
    });
  }

  private redial(): void {
    if (this.lp === null || this.redialTimer !== null) return;
    const ms = this.redialMs;
    this.redialMs = Math.min(REDIAL_MAX_MS, ms * 2);
    this.redialTimer = setTimeout(() => {
      this.redialTimer = null;
      this.dial();
    }, ms);
    this.redialTimer.unref?.();
  }

  private adopt(s: Socket): void {
    this.sock = s;
    this.st.connects++;
    this.deframer.reset();
    this.w = this.pub;
    this.off = 0;
    const peer = s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort}` : where(this.spec);
    this.log(`${this.name}: connected (${peer})`);
    let reason = 'closed by the peer';
    s.on('data', (chunk: Buffer) => {
      if (this.sock !== s) return;
      const err = this.deframer.feed(chunk, this.sink);
      this.flushTx();
      if (err !== null) {
        this.st.protocolErrors++;
        reason = err;
        s.destroy();
      }
    });
    s.on('drain', () => this.onRx());
    s.on('error', (e) => {
      reason = e.message;
    });
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = null;
      this.st.disconnects++;
      this.st.lastError = reason;
      if (this.lp === null) return;
      this.log(
        `${this.name}: connection closed: ${reason}${this.spec.kind === 'stream' && this.spec.connect ? '; redialing' : ''}`,
      );
      if (this.spec.kind === 'stream' && this.spec.connect) this.redial();
    });
    this.onRx(); // frames waiting since before the connection
  }

  private bindUdp(spec: Extract<QemuSpec, { kind: 'dgram' }>): Promise<void> {
    const ipv6 = spec.localHost.includes(':');
    const u = createSocket({ type: ipv6 ? 'udp6' : 'udp4' });
    return new Promise<void>((resolve, reject) => {
      u.once('error', (e) => {
        const why = `cannot bind ${spec.localHost}:${spec.localPort}: ${e.message}`;
        this.log(`${this.name}: ${why}; detaching`);
        const err = new ValeError(ErrorCodes.SYSTEM, why, { cause: e });
        this.settleReady?.(err); // before close(), which would report CLOSED
        this.close();
        reject(err);
      });
      u.bind(spec.localPort, spec.localHost, () => {
        u.removeAllListeners('error');
        if (this.lp === null) {
          u.close();
          return;
        }
        u.on('error', (e) => {
          this.st.lastError = e.message;
        });
        u.on('message', (msg: Buffer) => this.onDatagram(msg));
        this.udp = u;
        this.st.connects++;
        this.log(
          `${this.name}: bound ${spec.localHost}:${spec.localPort}, sending to ${spec.remoteHost}:${spec.remotePort}`,
        );
        resolve();
      });
    });
  }

  private onDatagram(msg: Buffer): void {
    if (this.lp === null) return;
    const len = msg.length;
    if (len === 0 || len > MAX_STREAM_FRAME) {
      this.st.protocolErrors++;
      return;
    }
    if (this.sink.begin(len)) {
      this.sink.data(msg, 0, len);
      this.sink.end();
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.flushScheduled = false;
    this.flushTx();
  };

  // ---- socket → switch ---------------------------------------------------------------------

  /** Free TX slots from `pub` to tail. */
  private room(): number {
    const n = this.tx.numSlots;
    let s = this.tx.tail - this.pub;
    if (s < 0) s += n;
    return s;
  }

  private readonly sink: FrameSink = {
    begin: (len: number): boolean => {
      const need = Math.ceil(len / NM_BUF_SIZE);
      if (this.room() < need) this.flushTx();
      if (this.lp === null || this.room() < need) {
        this.st.txDrops++;
        return false;
      }
      this.w = this.pub;
      this.off = 0;
      this.frameLen = len;
      this.frameLeft = len;
      return true;
    },
    data: (src: Buffer, start: number, end: number): void => {
      const tx = this.tx;
      while (start < end) {
        if (this.off === NM_BUF_SIZE) {
          tx.setLen(this.w, NM_BUF_SIZE);
          tx.setFlags(this.w, NS_MOREFRAG);
          this.w = tx.next(this.w);
          this.off = 0;
        }
        const k = Math.min(NM_BUF_SIZE - this.off, end - start);
        src.copy(this.arena, tx.buf(this.w) + this.off, start, start + k);
        this.off += k;
        start += k;
        this.frameLeft -= k;
      }
    },
    end: (): void => {
      const tx = this.tx;
      tx.setLen(this.w, this.off);
      tx.setFlags(this.w, 0);
      this.pub = tx.next(this.w);
      this.st.readFrames++;
      this.st.readBytes += this.frameLen;
    },
  };

  /** Publishes the complete frames written so far with one txsync. */
  private flushTx(): void {
    const lp = this.lp;
    if (lp === null || this.pub === this.tx.head) return;
    this.tx.head = this.tx.cur = this.pub;
    try {
      lp.txsync();
    } catch (e) {
      this.log(`${this.name}: txsync: ${(e as Error).message}`);
      this.pub = this.tx.cur;
    }
  }

  // ---- switch → socket ---------------------------------------------------------------------

  /** Frames every waiting RX frame into one buffer and writes it once; stops while the socket is full. */
  private writeAll(): void {
    const lp = this.lp;
    if (lp === null) return;
    lp.rxsync();
    const rx = this.rx;
    const tail = rx.tail;
    const start = rx.cur;
    if (start === tail) return;
    const s = this.sock;
    const u = this.udp;
    const stream = this.spec.kind === 'stream';
    if ((stream && s === null) || (!stream && u === null)) {
      // nobody to send to: release the frames, counted
      let frames = 0;
      for (let i = start; i !== tail; i = rx.next(i)) if ((rx.flags(i) & NS_MOREFRAG) === 0) frames++;
      this.st.noPeerDrops += frames;
      rx.head = rx.cur = tail;
      lp.rxsync();
      return;
    }
    if (s?.writableNeedDrain) return; // 'drain' comes back here
    if (u !== null && u.getSendQueueSize() > UDP_QUEUE_LIMIT) {
      if (this.udpRetry === null) {
        this.udpRetry = setTimeout(() => {
          this.udpRetry = null;
          this.onRx();
        }, 1);
      }
      return;
    }
    // pass 1: the bytes of every whole frame
    let total = 0;
    let end = start;
    for (let i = start; i !== tail; ) {
      let len = 0;
      let j = i;
      let whole = false;
      while (j !== tail) {
        len += rx.len(j);
        const more = (rx.flags(j) & NS_MOREFRAG) !== 0;
        j = rx.next(j);
        if (!more) {
          whole = true;
          break;
        }
      }
      if (!whole) break;
      total += (stream ? 4 : 0) + len;
      i = end = j;
    }
    if (end === start) return;
    // pass 2: copy them out behind their length prefixes
    const out = Buffer.allocUnsafe(total);
    const arena = this.arena;
    let pos = 0;
    let frames = 0;
    let bytes = 0;
    const spec = this.spec;
    for (let i = start; i !== end; ) {
      const head = pos;
      if (stream) pos += 4;
      for (;;) {
        const o = rx.buf(i);
        const l = rx.len(i);
        arena.copy(out, pos, o, o + l);
        pos += l;
        const more = (rx.flags(i) & NS_MOREFRAG) !== 0;
        i = rx.next(i);
        if (!more) break;
      }
      const len = pos - head - (stream ? 4 : 0);
      if (stream) out.writeUInt32BE(len, head);
      else if (u !== null && spec.kind === 'dgram') u.send(out, head, len, spec.remotePort, spec.remoteHost);
      frames++;
      bytes += len;
    }
    if (s !== null) s.write(out);
    this.st.writeFrames += frames;
    this.st.writeBytes += bytes;
    rx.head = rx.cur = end;
    lp.rxsync();
  }
}

function where(spec: QemuSpec): string {
  if (spec.kind === 'dgram') return `udp ${spec.localHost}:${spec.localPort}`;
  return 'path' in spec ? `unix ${spec.path}` : `tcp ${spec.host}:${spec.port}`;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
