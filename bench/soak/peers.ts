/*
 * The soak's QEMU-side peers: a small stand-in for QEMU on a stream port
 * (unix socket, each frame after a 4-byte big-endian length, as
 * docs/wire-formats.md describes) and on a dgram port (one bare frame per UDP
 * datagram). Each peer sends soak frames (bench/soak/client.ts) to its
 * partner's MAC on a timer, checks every frame it receives, and reconnects
 * when the port is detached and attached again.
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { parseMac } from '../../src/index.js';
import { checkFrame, frameBytes, KIND_ANNOUNCE, KIND_PROBE, KIND_TRAFFIC, SIZES } from './client.js';

export interface PeerCounts {
  sent: number;
  recv: number;
  bad: number;
  probes: number;
}

export abstract class Peer {
  readonly mac: Uint8Array;
  peerMac: Uint8Array = new Uint8Array(6);
  readonly counts: PeerCounts = { sent: 0, recv: 0, bad: 0, probes: 0 };
  sending = true;
  private seq = 0;
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  protected closed = false;

  constructor(mac: string) {
    this.mac = parseMac(mac);
  }

  /** Sends `burst` frames every `periodMs` while `sending`. */
  start(burst: number, periodMs: number): void {
    this.timer = setInterval(() => {
      if (!this.sending || !this.up()) return;
      for (let k = 0; k < burst; k++) {
        this.emit(SIZES[this.size] as number, KIND_TRAFFIC, this.peerMac);
        this.size = (this.size + 1) % SIZES.length;
      }
    }, periodMs);
  }

  announce(): void {
    if (this.up()) this.emit(60, KIND_ANNOUNCE, this.mac);
  }

  probe(n: number): void {
    for (let k = 0; k < n; k++) this.emit(SIZES[k % SIZES.length] as number, KIND_PROBE, this.peerMac);
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.shut();
  }

  protected emit(len: number, kind: number, dst: Uint8Array): void {
    const f = Buffer.allocUnsafe(len);
    frameBytes(f, dst, this.mac, this.seq++, kind, len);
    if (this.write(f) && kind !== KIND_ANNOUNCE) this.counts.sent++;
  }

  protected received(f: Uint8Array): void {
    this.counts.recv++;
    if (!checkFrame(f)) this.counts.bad++;
    else if (f[18] === KIND_PROBE) this.counts.probes++;
  }

  abstract up(): boolean;
  protected abstract write(f: Buffer): boolean;
  protected abstract shut(): void;
}

/** QEMU -netdev stream,server=off on a unix socket uvale listens on. */
export class StreamPeer extends Peer {
  private sock: Socket | null = null;
  private connected = false;
  private buf: Buffer = Buffer.alloc(0);
  /** Connections made (1 + reconnections after a detach). */
  connects = 0;

  constructor(
    mac: string,
    readonly path: string,
  ) {
    super(mac);
  }

  /** Connects, and again whenever the connection drops, until stop(). */
  dial(): void {
    if (this.closed || this.sock !== null) return;
    const s = connect(this.path);
    this.sock = s;
    s.on('connect', () => {
      this.connected = true;
      this.connects++;
    });
    s.on('data', (d: Buffer) => this.feed(d));
    s.on('error', () => {});
    s.on('close', () => {
      this.sock = null;
      this.connected = false;
      this.buf = Buffer.alloc(0);
      if (!this.closed) setTimeout(() => this.dial(), 100);
    });
  }

  up(): boolean {
    return this.connected;
  }

  private feed(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) break;
      this.received(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
  }

  protected write(f: Buffer): boolean {
    if (this.sock === null || !this.connected) return false;
    const hdr = Buffer.allocUnsafe(4);
    hdr.writeUInt32BE(f.length, 0);
    this.sock.write(Buffer.concat([hdr, f]));
    return true;
  }

  protected shut(): void {
    this.sock?.destroy();
  }
}

/** QEMU -netdev dgram over UDP on 127.0.0.1. */
export class DgramPeer extends Peer {
  private readonly sock: UdpSocket;
  private bound = false;
  /** False while its port is detached (datagrams would be refused or lost). */
  attached = true;

  constructor(
    mac: string,
    readonly localPort: number,
    readonly uvalePort: number,
  ) {
    super(mac);
    this.sock = createSocket('udp4');
    this.sock.on('message', (m) => this.received(m));
    this.sock.on('error', () => {});
    this.sock.bind(localPort, '127.0.0.1', () => (this.bound = true));
  }

  up(): boolean {
    return this.bound && this.attached && !this.closed;
  }

  protected write(f: Buffer): boolean {
    if (!this.up()) return false;
    this.sock.send(f, this.uvalePort, '127.0.0.1');
    return true;
  }

  protected shut(): void {
    this.sock.close();
  }
}

/** A UDP port number that was free a moment ago on 127.0.0.1. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}
