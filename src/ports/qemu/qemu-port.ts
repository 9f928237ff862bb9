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
 *                    that buffer); a stream write the kernel took whole
 *                    leaves its buffer for the next batch, so a busy link
 *                    allocates nothing per batch. While the socket's buffer is full (write
 *                    returned false, or UDP's send queue is long) nothing is
 *                    drained: the RX ring fills, and the switch counts what it
 *                    then drops as dropRxFull on this port; 'drain' resumes.
 *
 * The sockets are the link's (./link.ts): ./stream-link.ts listens (one
 * QEMU at a time) or dials and redials; ./dgram-link.ts binds a UDP socket.
 * Frames go into TX slots and out of RX slots through ring/chain.ts. Frames
 * from the switch while no peer is connected are dropped and counted
 * (noPeerDrops). Nothing on the data path throws; other ports never notice.
 */

import { ErrorCodes, ValeError } from '../../core/errors.js';
import { ChainReader, ChainWriter, chainSlots } from '../../ring/chain.js';
import { MAX_FRAME, NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import { copyBytes, WordViews } from '../../ring/word-copy.js';
import type { ValeHost } from '../../switch/host.js';
import type { VPort } from '../../switch/vport.js';
import { type Adapter, type AdapterInfo, adapterCounters, type SocketAccess } from '../adapter.js';
import { startAdapterPort } from '../adapter-port.js';
import type { LocalPort } from '../local/local-port.js';
import { RxDrain } from '../rx-drain.js';
import { DgramLink } from './dgram-link.js';
import type { FrameSink } from './framing.js';
import type { LinkCounters, LinkOwner, QemuLink } from './link.js';
import { parseQemuSpec, type QemuSpec, splitAttachSpec } from './spec.js';
import { StreamLink } from './stream-link.js';

/** Slots one maximal frame needs; the TX ring must hold more. */
const MAX_FRAME_SLOTS = chainSlots(MAX_FRAME);

export interface QemuAttachOptions {
  txSlots?: number;
  rxSlots?: number;
  /** Diagnostics: connections made and lost, with reasons. */
  log?: (line: string) => void;
  /** Owner, group and mode of a unix socket uvale listens at (default: the daemon's, 0600). */
  socketAccess?: SocketAccess;
}

export class QemuPort implements LinkOwner, Adapter {
  /** The switch port, e.g. "vale0:vm1". */
  readonly name: string;
  readonly spec: QemuSpec;
  /** Resolves once listening, bound, or (connect mode) dialing; rejects (and detaches) if that fails, or with CLOSED if detached first. */
  readonly ready: Promise<void>;
  readonly log: (line: string) => void;
  private lp: LocalPort | null;
  private settleReady: ((e?: Error) => void) | null = null;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private readonly link: QemuLink;
  private readonly writer: ChainWriter;
  private readonly chain = new ChainReader();
  /** Views over the buffer of the batch being written out. */
  private readonly outViews = new WordViews();
  /** The last batch's buffer, when the link let go of it: the next batch is written into it (no allocation). */
  private spare: Buffer | null = null;
  /** switch → socket: the port's onRx queues one writeAll after the forwarding pass (../rx-drain.ts). */
  private readonly drainer = new RxDrain(
    () => this.writeAll(),
    (e) => this.log(`${this.name}: internal error while writing: ${(e as Error).message}`),
  );
  private readonly onRx = this.drainer.request;
  /** The TX slot after the last complete frame. */
  private pub: number;
  private readonly st = {
    connects: 0,
    disconnects: 0,
    refused: 0,
    inFrames: 0,
    inBytes: 0,
    outFrames: 0,
    outBytes: 0,
    inDrops: 0,
    outDrops: 0,
    errors: 0,
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
    this.writer = new ChainWriter(this.tx);
    this.pub = this.tx.cur;
    this.link = spec.kind === 'dgram' ? new DgramLink(this, spec) : new StreamLink(this, spec, opts.socketAccess);
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (e) => {
        this.settleReady = null;
        if (e === undefined) resolve();
        else reject(e);
      };
    });
    this.ready.catch(() => {}); // the caller may not wait; a failure is also logged and detaches
    this.link.start().then(
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
    return startAdapterPort(
      host,
      parts.name,
      { kind: 'qemu', txSlots, ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}) },
      (lp) => new QemuPort(lp, spec, opts),
      (q) => q.onRx,
    );
  }

  get attached(): boolean {
    return this.lp !== null;
  }

  get connected(): boolean {
    return this.link.connected;
  }

  get vport(): VPort {
    return this.vp;
  }

  /** The TCP port listened on or bound (useful after asking for port 0), or null. */
  get localPort(): number | null {
    return this.link.localPort;
  }

  get mode(): string {
    return this.link.mode;
  }

  get kind(): string {
    return this.spec.qemu;
  }

  info(): AdapterInfo {
    const st = this.st;
    return {
      name: this.name,
      kind: this.spec.qemu,
      spec: this.spec.text,
      state: this.connected ? 'up' : this.mode === 'connect' ? 'connecting' : 'listening',
      counters: adapterCounters(st),
      extra: { mode: this.mode, connects: st.connects, disconnects: st.disconnects, refused: st.refused },
      lastError: st.lastError,
    };
  }

  /** Detaches: closes the connection, the listener and the port. Safe to call twice. */
  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.vp.onRx = null;
    this.settleReady?.(new ValeError(ErrorCodes.CLOSED, `${this.name} was detached before it was ready`));
    this.drainer.cancel();
    this.link.close();
    lp.close();
  }

  // ---- what the link asks (LinkOwner) ------------------------------------------------------

  get counters(): LinkCounters {
    return this.st;
  }

  readonly wake = (): void => this.onRx();

  fail(err: Error): void {
    this.settleReady?.(err); // before close(), which would report CLOSED
    this.close();
  }

  // ---- socket → switch ---------------------------------------------------------------------

  /** Free TX slots from `pub` to tail. */
  private room(): number {
    const n = this.tx.numSlots;
    let s = this.tx.tail - this.pub;
    if (s < 0) s += n;
    return s;
  }

  readonly sink: FrameSink = {
    begin: (len: number): boolean => {
      const need = chainSlots(len);
      if (this.room() < need) this.flushTx();
      if (this.lp === null || this.room() < need) {
        this.st.inDrops++;
        return false;
      }
      this.writer.begin(this.pub);
      return true;
    },
    data: (src: Buffer, start: number, end: number): void => {
      this.writer.append(src, start, end);
    },
    end: (): void => {
      this.pub = this.writer.end();
      this.st.inFrames++;
      this.st.inBytes += this.writer.len;
    },
  };

  /** Publishes the complete frames written so far with one txsync. */
  flushTx(): void {
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

  /** Frames every waiting RX frame into one buffer and hands it to the link; stops while the socket is full. */
  private writeAll(): void {
    const lp = this.lp;
    if (lp === null) return;
    lp.rxsync();
    const rx = this.rx;
    const tail = rx.tail;
    const start = rx.cur;
    if (start === tail) return;
    const link = this.link;
    const chain = this.chain;
    if (!link.connected) {
      // nobody to send to: release the frames, counted
      let frames = 0;
      for (let i = start; chain.walk(rx, i, tail); i = chain.next) frames++;
      this.st.outDrops += frames;
      rx.head = rx.cur = tail;
      lp.rxsync();
      return;
    }
    if (!link.writable()) return; // the link wakes us when it can take more
    // pass 1: the bytes of every whole frame (one slot each, nearly always)
    const prefix = link.prefix;
    const n = rx.numSlots;
    let total = 0;
    let end = start;
    while (end !== tail) {
      if ((rx.flags(end) & NS_MOREFRAG) === 0) {
        total += prefix + Math.min(rx.len(end), NM_BUF_SIZE);
        end = end + 1 === n ? 0 : end + 1;
      } else {
        if (!chain.walk(rx, end, tail)) break;
        total += prefix + chain.len;
        end = chain.next;
      }
    }
    if (end === start) return;
    // pass 2: copy them out behind their prefixes
    let out = this.spare;
    this.spare = null;
    if (out === null || out.length < total) out = Buffer.allocUnsafe(total);
    const v = this.outViews.of(out);
    const base = v.offset;
    const dU8 = v.u8;
    const dI32 = v.i32;
    const u8 = rx.u8;
    const i32 = rx.arena.i32;
    let pos = 0;
    let frames = 0;
    let bytes = 0;
    let i = start;
    while (i !== end) {
      let len: number;
      if ((rx.flags(i) & NS_MOREFRAG) === 0) {
        len = Math.min(rx.len(i), NM_BUF_SIZE);
        if (pos + prefix + len > total) break; // the ring changed under us: never write past `out`
        copyBytes(dU8, dI32, base + pos + prefix, u8, i32, rx.buf(i), len);
        i = i + 1 === n ? 0 : i + 1;
      } else {
        if (!chain.walk(rx, i, tail) || pos + prefix + chain.len > total) break;
        len = chain.gather(rx, i, chain.slots, out, pos + prefix);
        i = chain.next;
      }
      link.frame(out, pos, len);
      pos += prefix + len;
      frames++;
      bytes += len;
    }
    end = i;
    link.flush(out.subarray(0, pos));
    if (link.released()) this.spare = out;
    this.st.outFrames += frames;
    this.st.outBytes += bytes;
    rx.head = rx.cur = end;
    lp.rxsync();
  }
}
