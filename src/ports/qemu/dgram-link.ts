/*
 * A QEMU port's datagram link (-netdev dgram, -netdev socket,udp=): one bare
 * frame per UDP datagram, bound at the local address and sent to QEMU's.
 *
 * Datagrams of one loop turn go into TX slots as they come and are published
 * with one txsync from setImmediate. An empty datagram or one longer than
 * MAX_FRAME is dropped and counted (errors). While more than
 * UDP_QUEUE_LIMIT bytes wait in the socket's send queue the owner drains
 * nothing; a 1 ms timer wakes it to look again.
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { MAX_FRAME } from '../../ring/layout.js';
import type { LinkOwner, QemuLink } from './link.js';
import type { QemuSpec } from './spec.js';

/** Bytes queued on a UDP socket above which the RX ring is left to fill. */
const UDP_QUEUE_LIMIT = 1 << 20;

export type DgramSpec = Extract<QemuSpec, { kind: 'dgram' }>;

export class DgramLink implements QemuLink {
  readonly mode = 'dgram';
  readonly prefix = 0;
  private readonly owner: LinkOwner;
  private readonly spec: DgramSpec;
  private udp: UdpSocket | null = null;
  private flushScheduled = false;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(owner: LinkOwner, spec: DgramSpec) {
    this.owner = owner;
    this.spec = spec;
  }

  get connected(): boolean {
    return this.udp !== null;
  }

  get localPort(): number | null {
    return this.udp !== null ? this.udp.address().port : null;
  }

  start(): Promise<void> {
    const spec = this.spec;
    const owner = this.owner;
    const ipv6 = spec.localHost.includes(':');
    const u = createSocket({ type: ipv6 ? 'udp6' : 'udp4' });
    return new Promise<void>((resolve, reject) => {
      u.once('error', (e) => {
        const why = `cannot bind ${spec.localHost}:${spec.localPort}: ${e.message}`;
        owner.log(`${owner.name}: ${why}; detaching`);
        const err = new ValeError(ErrorCodes.SYSTEM, why, { cause: e });
        owner.fail(err);
        reject(err);
      });
      u.bind(spec.localPort, spec.localHost, () => {
        u.removeAllListeners('error');
        if (this.closed) {
          u.close();
          return;
        }
        u.on('error', (e) => {
          owner.counters.lastError = e.message;
        });
        u.on('message', (msg: Buffer) => this.onDatagram(msg));
        this.udp = u;
        owner.counters.connects++;
        owner.log(
          `${owner.name}: bound ${spec.localHost}:${spec.localPort}, sending to ${spec.remoteHost}:${spec.remotePort}`,
        );
        resolve();
      });
    });
  }

  writable(): boolean {
    const u = this.udp;
    if (u === null) return false;
    if (u.getSendQueueSize() <= UDP_QUEUE_LIMIT) return true;
    if (this.retry === null) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.owner.wake();
      }, 1);
    }
    return false;
  }

  frame(out: Buffer, head: number, len: number): void {
    this.udp?.send(out, head, len, this.spec.remotePort, this.spec.remoteHost);
  }

  flush(_out: Buffer): void {}

  /** Never: each send() holds its datagram's bytes until it is sent. */
  released(): boolean {
    return false;
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    try {
      this.udp?.close();
    } catch {
      // not bound yet
    }
    this.udp = null;
  }

  private onDatagram(msg: Buffer): void {
    const owner = this.owner;
    if (!owner.attached) return;
    const len = msg.length;
    if (len === 0 || len > MAX_FRAME) {
      owner.counters.errors++;
      return;
    }
    const sink = owner.sink;
    if (sink.begin(len)) {
      sink.data(msg, 0, len);
      sink.end();
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.flushScheduled = false;
    this.owner.flushTx();
  };
}
