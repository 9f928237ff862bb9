/*
 * The vhost-user back-end's state machine for one connection of a net
 * device (two rings: 0 = the guest's RX, switch → guest; 1 = its TX).
 *
 * handle(msg) applies one decoded request and returns the bytes to send back
 * (a reply, a REPLY_ACK, or nothing). It owns every fd a message brings:
 * kept (memory is mapped and the fd closed; kick/call/err fds are held) or
 * closed at once. A request that breaks the rules throws ValeError PROTOCOL
 * (the connection ends, see `close`); a request it refuses politely (a
 * feature not offered under REPLY_ACK, SET_LOG_BASE) gets a failure ack when
 * one was asked for, else ends the connection too, since the front-end would
 * otherwise proceed believing it worked.
 *
 * Rings follow the spec's three states: stopped until a kick fd arrives
 * (SET_VRING_KICK) for a ring whose size, addresses and memory are set, when
 * its SplitQueue is built over the mapped memory (addresses checked there);
 * stopped again by GET_VRING_BASE, which reports where it stopped. Enabled
 * from the start unless VHOST_USER_F_PROTOCOL_FEATURES was negotiated, then
 * by SET_VRING_ENABLE. A new memory table rebuilds the started rings over the
 * new mappings, keeping their indexes, and unmaps the old ones.
 *
 * Nothing here moves frames: the port adapter watches kick fds, walks the
 * queues (`ring(i).queue`) and rings call fds.
 */

import { ErrorCodes, ValeError } from '../../core/errors.js';
import { closeFd, type FdRangeMapping, mapFdRange } from '../../sys/index.js';
import { GuestMemory, type MemRegion, SplitQueue } from '../../virtio/index.js';
import {
  bit,
  Feature,
  type Message,
  ProtocolFeature,
  Req,
  replyState,
  replyU64,
  requestName,
  VRING_IDX_MASK,
  VRING_NOFD_MASK,
} from './protocol.js';

/** Virtio features this back-end offers. */
export const OFFERED_FEATURES: bigint =
  bit(Feature.F_VERSION_1) |
  bit(Feature.NET_F_MRG_RXBUF) |
  bit(Feature.NET_F_CSUM) |
  bit(Feature.NET_F_GUEST_CSUM) |
  bit(Feature.NET_F_HOST_TSO4) |
  bit(Feature.NET_F_HOST_TSO6) |
  bit(Feature.NET_F_GUEST_TSO4) |
  bit(Feature.NET_F_GUEST_TSO6) |
  bit(Feature.RING_F_EVENT_IDX) |
  bit(Feature.RING_F_INDIRECT_DESC) |
  bit(Feature.USER_F_PROTOCOL_FEATURES);

/** Protocol features offered. */
export const OFFERED_PROTOCOL: bigint = bit(ProtocolFeature.MQ) | bit(ProtocolFeature.REPLY_ACK);

/** Rings of a single-queue-pair net device. */
export const NUM_RINGS = 2;

/** How one region's fd is mapped; tests and the adapter use mapFdRange. */
export type RegionMapper = (fd: number, size: number, offset: number) => FdRangeMapping;

/** One ring's state as the front-end set it. */
export class RingState {
  num = 0;
  desc = -1;
  used = -1;
  avail = -1;
  base = 0;
  kickFd = -1;
  callFd = -1;
  errFd = -1;
  /** Kick by polling (SET_VRING_KICK with the no-fd bit). */
  polling = false;
  enabled = false;
  /** Built when the ring starts; null while stopped. */
  queue: SplitQueue | null = null;

  get started(): boolean {
    return this.queue !== null;
  }
}

function proto(msg: string): ValeError {
  return new ValeError(ErrorCodes.PROTOCOL, `vhost-user: ${msg}`);
}

/** The back-end of one vhost-user connection. */
export class VhostUserBackend {
  features = 0n;
  protocolFeatures = 0n;
  /** Whether SET_FEATURES ran (rings may not start before). */
  featuresSet = false;
  owner = false;
  memory: GuestMemory | null = null;
  private mappings: FdRangeMapping[] = [];
  readonly rings: RingState[] = Array.from({ length: NUM_RINGS }, () => new RingState());
  /** Called when a ring starts or stops or is enabled (the adapter (un)watches its kick fd). */
  onRingChange: (index: number) => void = () => {};
  /**
   * Called right before a ring's kick fd is closed: the adapter drops its watch on it first (libuv may not
   * watch a closed fd, and the number is reused by the next fd opened).
   */
  onKickClosing: (index: number) => void = () => {};
  /** Called after SET_FEATURES (the adapter sets its port's header from the offloads). */
  onFeatures: () => void = () => {};

  constructor(private readonly map: RegionMapper = mapFdRange) {}

  /** Ring `i` (0 RX, 1 TX). */
  ring(i: number): RingState {
    return this.rings[i]!;
  }

  /** Bytes of the virtio-net header the negotiated features give: 12 with VERSION_1 or MRG_RXBUF, else 10. */
  get vnetHdrLen(): number {
    return (this.features & (bit(Feature.F_VERSION_1) | bit(Feature.NET_F_MRG_RXBUF))) !== 0n ? 12 : 10;
  }

  has(feature: number): boolean {
    return (this.features & bit(feature)) !== 0n;
  }

  private replyAck(): boolean {
    return (this.protocolFeatures & bit(ProtocolFeature.REPLY_ACK)) !== 0n;
  }

  /**
   * Applies one request. @returns the reply bytes to send, or null.
   * @throws ValeError PROTOCOL: the connection must end (close() it).
   */
  handle(msg: Message): Uint8Array | null {
    try {
      const reply = this.apply(msg);
      if (reply !== null) return reply;
      return msg.needReply && this.replyAck() ? replyU64(msg.request, 0n) : null;
    } catch (e) {
      for (const f of msg.fds) closeFd(f);
      msg.fds.length = 0;
      if (e instanceof ValeError && e.code === ErrorCodes.NOT_SUPPORTED && msg.needReply && this.replyAck()) {
        return replyU64(msg.request, 1n);
      }
      throw e;
    }
  }

  private noFds(msg: Message): void {
    if (msg.fds.length !== 0) throw proto(`${requestName(msg.request)} carried ${msg.fds.length} unexpected fds`);
  }

  private ringIndex(i: number, req: number): RingState {
    if (i >= NUM_RINGS) throw proto(`${requestName(req)} for ring ${i} (this port has ${NUM_RINGS})`);
    return this.rings[i]!;
  }

  private apply(msg: Message): Uint8Array | null {
    const r = msg.request;
    switch (msg.kind) {
      case 'none':
        this.noFds(msg);
        switch (r) {
          case Req.GET_FEATURES:
            return replyU64(r, OFFERED_FEATURES);
          case Req.GET_PROTOCOL_FEATURES:
            return replyU64(r, OFFERED_PROTOCOL);
          case Req.GET_QUEUE_NUM:
            return replyU64(r, 1n);
          case Req.SET_OWNER:
            this.owner = true;
            return null;
          case Req.RESET_OWNER:
            this.reset();
            return null;
          case Req.GET_MAX_MEM_SLOTS:
            return replyU64(r, 8n);
          default:
            throw new ValeError(ErrorCodes.NOT_SUPPORTED, `vhost-user: ${requestName(r)} is not supported`);
        }
      case 'u64':
        return this.applyU64(msg);
      case 'state':
        return this.applyState(msg);
      case 'addr': {
        this.noFds(msg);
        const ring = this.ringIndex(msg.index, r);
        if (msg.flags !== 0)
          throw new ValeError(ErrorCodes.NOT_SUPPORTED, 'vhost-user: vring logging is not supported');
        ring.desc = msg.desc;
        ring.used = msg.used;
        ring.avail = msg.avail;
        if (ring.started) this.startRing(msg.index);
        return null;
      }
      case 'mem':
        this.setMemTable(msg.regions, msg.fds);
        return null;
      case 'raw':
        this.noFds(msg);
        throw new ValeError(ErrorCodes.NOT_SUPPORTED, `vhost-user: ${requestName(r)} is not supported`);
    }
  }

  private applyU64(msg: Extract<Message, { kind: 'u64' }>): Uint8Array | null {
    const r = msg.request;
    const v = msg.value;
    switch (r) {
      case Req.SET_FEATURES: {
        this.noFds(msg);
        if ((v & ~OFFERED_FEATURES) !== 0n) {
          throw proto(
            `SET_FEATURES 0x${v.toString(16)} has bits not offered (0x${(v & ~OFFERED_FEATURES).toString(16)})`,
          );
        }
        this.features = v;
        this.featuresSet = true;
        // Without protocol features every ring is enabled from the start.
        if (!this.has(Feature.USER_F_PROTOCOL_FEATURES)) for (const ring of this.rings) ring.enabled = true;
        this.onFeatures();
        return null;
      }
      case Req.SET_PROTOCOL_FEATURES:
        this.noFds(msg);
        if ((v & ~OFFERED_PROTOCOL) !== 0n)
          throw proto(`SET_PROTOCOL_FEATURES 0x${v.toString(16)} has bits not offered`);
        this.protocolFeatures = v;
        return null;
      case Req.SET_LOG_BASE:
        throw new ValeError(ErrorCodes.NOT_SUPPORTED, 'vhost-user: migration logging (SET_LOG_BASE) is not supported');
      case Req.SET_VRING_KICK:
      case Req.SET_VRING_CALL:
      case Req.SET_VRING_ERR: {
        if ((v & ~BigInt(VRING_IDX_MASK | VRING_NOFD_MASK)) !== 0n)
          throw proto(`${requestName(r)} with value 0x${v.toString(16)}`);
        const index = Number(v & BigInt(VRING_IDX_MASK));
        const noFd = (v & BigInt(VRING_NOFD_MASK)) !== 0n;
        if (msg.fds.length !== (noFd ? 0 : 1)) throw proto(`${requestName(r)} with ${msg.fds.length} fds`);
        const ring = this.ringIndex(index, r);
        const fd = noFd ? -1 : msg.fds[0]!;
        msg.fds.length = 0;
        if (r === Req.SET_VRING_KICK) {
          if (ring.kickFd >= 0) this.onKickClosing(index);
          closeFd(ring.kickFd);
          ring.kickFd = fd;
          ring.polling = noFd;
          this.startRing(index);
        } else if (r === Req.SET_VRING_CALL) {
          closeFd(ring.callFd);
          ring.callFd = fd;
        } else {
          closeFd(ring.errFd);
          ring.errFd = fd;
        }
        return null;
      }
      case Req.NET_SET_MTU:
      case Req.SEND_RARP:
        this.noFds(msg);
        throw new ValeError(ErrorCodes.NOT_SUPPORTED, `vhost-user: ${requestName(r)} is not supported`);
      default:
        throw new ValeError(ErrorCodes.NOT_SUPPORTED, `vhost-user: ${requestName(r)} is not supported`);
    }
  }

  private applyState(msg: Extract<Message, { kind: 'state' }>): Uint8Array | null {
    this.noFds(msg);
    const r = msg.request;
    const ring = this.ringIndex(msg.index, r);
    switch (r) {
      case Req.SET_VRING_NUM:
        if (msg.num < 1 || msg.num > 32768 || (msg.num & (msg.num - 1)) !== 0) {
          throw proto(`SET_VRING_NUM ${msg.num}: not a power of two from 1 to 32768`);
        }
        if (ring.started) throw proto('SET_VRING_NUM on a started ring');
        ring.num = msg.num;
        return null;
      case Req.SET_VRING_BASE:
        if (msg.num > 0xffff) throw proto(`SET_VRING_BASE ${msg.num} beyond 16 bits (packed rings are not offered)`);
        if (ring.started) throw proto('SET_VRING_BASE on a started ring');
        ring.base = msg.num;
        return null;
      case Req.GET_VRING_BASE: {
        const base = ring.queue !== null ? ring.queue.lastAvail : ring.base;
        this.stopRing(msg.index);
        ring.base = base;
        return replyState(r, msg.index, base);
      }
      case Req.SET_VRING_ENABLE:
        if (msg.num > 1) throw proto(`SET_VRING_ENABLE ${msg.num}`);
        ring.enabled = msg.num === 1;
        this.onRingChange(msg.index);
        return null;
      default:
        throw new ValeError(ErrorCodes.NOT_SUPPORTED, `vhost-user: ${requestName(r)} is not supported`);
    }
  }

  private setMemTable(
    regions: { guestAddr: number; size: number; userAddr: number; mmapOffset: number }[],
    fds: number[],
  ): void {
    if (fds.length !== regions.length)
      throw proto(`SET_MEM_TABLE with ${regions.length} regions and ${fds.length} fds`);
    if (regions.length === 0) throw proto('SET_MEM_TABLE with no region');
    const maps: FdRangeMapping[] = [];
    let mem: GuestMemory;
    try {
      const table: MemRegion[] = [];
      regions.forEach((r, i) => {
        const m = this.map(fds[i]!, r.size, r.mmapOffset);
        maps.push(m);
        table.push({ ...r, bytes: m.bytes });
      });
      mem = new GuestMemory(table);
    } catch (e) {
      for (const m of maps) m.unmap();
      throw proto(`SET_MEM_TABLE refused: ${(e as Error).message}`);
    } finally {
      for (const f of fds) closeFd(f);
      fds.length = 0;
    }
    const old = this.mappings;
    this.memory = mem;
    this.mappings = maps;
    for (let i = 0; i < NUM_RINGS; i++) {
      const ring = this.rings[i]!;
      if (ring.queue !== null) {
        ring.base = ring.queue.lastAvail;
        ring.queue = null;
        this.startRing(i);
      }
    }
    for (const m of old) m.unmap();
  }

  /** Builds ring i's queue when everything it needs is there; a bad address ends the connection. */
  private startRing(i: number): void {
    const ring = this.rings[i]!;
    if (ring.kickFd < 0 && !ring.polling) return;
    if (this.memory === null || ring.num === 0 || ring.desc < 0) return;
    try {
      const q = SplitQueue.create(
        this.memory,
        { num: ring.num, desc: ring.desc, avail: ring.avail, used: ring.used },
        {
          space: 'user',
          eventIdx: this.has(Feature.RING_F_EVENT_IDX),
          indirect: this.has(Feature.RING_F_INDIRECT_DESC),
        },
      );
      q.setBase(ring.queue?.lastAvail ?? ring.base);
      ring.queue = q;
    } catch (e) {
      throw proto(`ring ${i}: ${(e as Error).message}`);
    }
    this.onRingChange(i);
  }

  private stopRing(i: number): void {
    const ring = this.rings[i]!;
    ring.queue = null;
    if (ring.kickFd >= 0) this.onKickClosing(i);
    ring.kickFd = closeFd(ring.kickFd);
    ring.polling = false;
    this.onRingChange(i);
  }

  /** RESET_OWNER: back to the state of a new connection (fds closed, memory unmapped). */
  reset(): void {
    for (let i = 0; i < NUM_RINGS; i++) {
      const ring = this.rings[i]!;
      ring.queue = null;
      if (ring.kickFd >= 0) this.onKickClosing(i);
      ring.kickFd = closeFd(ring.kickFd);
      ring.callFd = closeFd(ring.callFd);
      ring.errFd = closeFd(ring.errFd);
      this.rings[i] = new RingState();
      this.onRingChange(i);
    }
    this.memory = null;
    for (const m of this.mappings) m.unmap();
    this.mappings = [];
    this.features = 0n;
    this.protocolFeatures = 0n;
    this.featuresSet = false;
    this.owner = false;
  }

  /** The connection ended: release everything (idempotent). */
  close(): void {
    this.reset();
  }
}
