/*
 * A VXLAN or Geneve tunnel endpoint (VTEP) as a port of a switch:
 * `uvale ctl -a vale0:vx0=vxlan:vni=42,local=ADDR,remote=ADDR` (grammar in
 * ./spec.ts, docs/vxlan.md). An in-process port (kind 'vxlan' or 'geneve')
 * driven from the event loop; the far side is one UDP socket
 * (src/sys/udp-batch.ts) and every remote VTEP behind it, forwarded to as
 * Linux's vxlan device does:
 *
 *   switch → remotes  the port's onRx queues one drain (../rx-drain.ts).
 *                     Each frame is copied once into a send buffer and goes
 *                     out behind the shared tunnel header: a broadcast,
 *                     multicast or unknown destination MAC to every
 *                     configured remote (head-end replication: one buffer,
 *                     one message per remote), a MAC in the fdb (./fdb.ts)
 *                     to its one remote. A batch goes with one sendmmsg.
 *                     Frames longer than the underlay MTU allows are dropped
 *                     (dropTooBig). When the socket's queue is full, the
 *                     unsent messages wait and the drain retries on a timer;
 *                     meanwhile the RX ring fills and the switch counts its
 *                     own dropRxFull, as for any slow port.
 *   remotes → switch  libuv reports the socket readable; recvmmsg takes up
 *                     to RX_BATCH datagrams at a time. Each is checked in
 *                     order (tunnel header, VNI, source a known remote unless
 *                     learn-remotes) and counted in its drop reason if bad;
 *                     a good one teaches the fdb its inner source MAC →
 *                     the remote and is copied straight into TX slots. One
 *                     txsync per burst (more only if the ring fills). The
 *                     burst is one RxDrain origin and holds the drains its
 *                     passes request (../rx-drain.ts): a TAP's write, and the
 *                     TAP's read of its host's answer, run before the callback
 *                     returns, not from a microtask (vxlan-rtt).
 *
 * A datagram's remote is the configured one with its address and port, else
 * the first with its address: uvale peers send from the port they listen
 * on, Linux sends from a port hashed per flow. Nothing on the data path
 * allocates (views are made at attach) or throws; an exception from a burst
 * or a drain closes the port through onGone.
 */

import type { FdbInfo } from '../../control/types.js';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { formatIp4At, formatIp6 } from '../../pkt/ether.js';
import { sumBytes } from '../../pkt/sum16-wide.js';
import {
  decodeGeneve,
  decodeVxlan,
  encodeGeneve,
  encodeVxlan,
  GENEVE_HDR_LEN,
  TUN_OK,
  TUN_STATUS_NAMES,
  TunnelHeader,
  VXLAN_HDR_LEN,
} from '../../pkt/tunnel.js';
import { ChainReader, chainSlots, writeChain } from '../../ring/chain.js';
import { MAX_FRAME, NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import { parsePortName } from '../../switch/name.js';
import {
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_TCPV6,
} from '../../switch/offload.js';
import { TcpCoalescer } from '../../switch/tcp-coalesce.js';
import { TsoSegmenter } from '../../switch/tso-segment.js';
import type { VPort } from '../../switch/vport.js';
import {
  describeErrno,
  EAGAIN,
  EINTR,
  ENOBUFS,
  type FdWatch,
  GRO_RX_SIZE,
  UdpBatch,
  type UdpEndpoint,
  watchReadable,
} from '../../sys/index.js';
import { type Adapter, type AdapterInfo, type AttachContext, adapterCounters } from '../adapter.js';
import { startAdapterPort } from '../adapter-port.js';
import type { LocalPort } from '../local/local-port.js';
import { RxDrain } from '../rx-drain.js';
import { keyToMac, macKey, TunnelFdb } from './fdb.js';
import { maxInnerFrame, parseTunnelAddr, type TunnelSpec } from './spec.js';

/** Datagrams per recvmmsg, and rounds of it per wake-up. */
const RX_BATCH = 64;
const RX_ROUNDS = 4;
/** Frames and messages per sendmmsg. */
const TX_FRAMES = 128;
const TX_MSGS = 256;
/** Remotes learned (learn-remotes) or named by static fdb entries, beyond the configured ones. */
const MAX_EXTRA_REMOTES = 128;
/** Fdb entries at most. */
export const FDB_MAX = 16384;
/** Socket buffers asked for (root may exceed rmem_max). */
const SOCK_BUF = 4 << 20;
const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 20;
/** An Ethernet header's bytes (the shortest inner frame). */
const ETH_HLEN = 14;
/** The virtio-net header of a `tso` port (virtio_net_hdr_mrg_rxbuf, as a TAP's). */
const TSO_HDR_LEN = 12;
/** Slots of the largest coalesced frame (header and MAX_FRAME bytes). */
const GRO_SLOTS = chainSlots(TSO_HDR_LEN + MAX_FRAME);

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

interface Remote {
  ep: UdpEndpoint;
  text: string;
  /** The UdpBatch destination number. */
  dest: number;
  /** Configured (a flooding target), learned from a datagram, or named by a static fdb entry. */
  origin: 'config' | 'learned' | 'static';
  /** The address as 32-bit words (IPv4: one), for matching sources without allocating. */
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  port: number;
  datagramsIn: number;
  datagramsOut: number;
}

/** "1.2.3.4:5" or "[fd00::1]:5". */
export function endpointText(ep: UdpEndpoint): string {
  return ep.addr.length === 4 ? `${formatIp4At(ep.addr, 0)}:${ep.port}` : `[${formatIp6(ep.addr)}]:${ep.port}`;
}

/** Bytes a received datagram may have: the underlay MTU, at least a 2048-byte frame and headers. */
function rxSize(spec: TunnelSpec): number {
  return Math.max(spec.mtu, NM_BUF_SIZE + 512);
}

function words(a: Uint8Array, off: number, i: number): number {
  const o = off + i * 4;
  return ((a[o] << 24) | (a[o + 1] << 16) | (a[o + 2] << 8) | a[o + 3]) >>> 0;
}

/**
 * `tso` when the spec leaves it out: on if switch SW of port SW:PORT has, at attach, a port with a
 * virtio-net header (a TAP with offloads, another `tso` tunnel port), whose TSO frames then cross
 * the switch whole both ways; off otherwise (the switch would cut each one for ports without).
 */
function switchTakesTso(ctx: AttachContext, name: string): boolean {
  const sw = ctx.host.getSwitch(parsePortName(name).bridge);
  return sw?.list().some((p) => p.hdrLen >= 10) === true;
}

export class TunnelPort implements Adapter {
  readonly name: string;
  readonly kind: string;
  readonly spec: TunnelSpec;
  readonly fdb = new TunnelFdb(FDB_MAX);
  private lp: LocalPort | null;
  private readonly ctx: AttachContext;
  private readonly vp: VPort;
  private readonly tx: NetmapRing;
  private readonly rx: NetmapRing;
  private readonly udp: UdpBatch;
  private watch: FdWatch | null = null;
  private readonly drainer: RxDrain;
  private readonly chain = new ChainReader();
  private readonly hdr = new TunnelHeader();
  private readonly decode: (b: Uint8Array, off: number, len: number, h: TunnelHeader) => number;
  private readonly fixedHdr: number;
  private readonly vni: number;
  private readonly maxInner: number;
  private readonly v6: boolean;
  private readonly remotes: Remote[] = [];
  /** Destinations of a flood: the configured remotes. */
  private readonly flood: number[] = [];
  /** Per RX slot: a view over its 2048-byte buffer; per rx datagram: a view over 2048 bytes after a fixed header. */
  private readonly rxViews: Uint8Array[] = [];
  private readonly innerViews: Uint8Array[] = [];
  /** rxData as a Buffer (the same memory), for copies at any offset without making a view per frame. */
  private readonly rxBuf: Buffer;
  /** TX slots one received buffer may need at most (without GRO: one datagram's; with it, a few datagrams'). */
  private readonly rxRoom: number;
  /** The longest datagram taken (longer ones: dropOversize), with or without GRO's larger buffers. */
  private readonly rxMax: number;
  /** Messages set up but not sent yet (the socket was full): [pendFirst, pendEnd). */
  private pendFirst = 0;
  private pendEnd = 0;
  private retryMs = RETRY_MIN_MS;
  private lastSendErr = 0;
  private readonly localPortNumber: number;
  /** `tso`: the virtio-net header's length (else 0), the coalescer, the segmenter, and their scratch space. */
  private readonly hl: number;
  private readonly gro: TcpCoalescer | null;
  private readonly seg: TsoSegmenter | null;
  private readonly scratch: Uint8Array;
  /** The RX ring's memory as a Buffer, for copies at any offset. */
  private readonly rxArena: Buffer;
  private readonly st = {
    inFrames: 0,
    inBytes: 0,
    outFrames: 0,
    outBytes: 0,
    inDrops: 0,
    outDrops: 0,
    errors: 0,
    datagramsOut: 0,
    /** Per decode status (index), then the port's own reasons. */
    dropHeader: new Array<number>(TUN_STATUS_NAMES.length).fill(0),
    dropVni: 0,
    dropUnknownRemote: 0,
    dropOversize: 0,
    dropRingFull: 0,
    groDatagrams: 0,
    dropTooBig: 0,
    dropShort: 0,
    dropNoRemote: 0,
    dropOffload: 0,
    dropSend: 0,
    sendStalls: 0,
    fdbFull: 0,
    remotesFull: 0,
    lastError: '',
  };

  private constructor(lp: LocalPort, ctx: AttachContext, spec: TunnelSpec, udp: UdpBatch) {
    this.lp = lp;
    this.ctx = ctx;
    this.vp = lp.vport;
    this.name = lp.name;
    this.kind = spec.kind;
    this.spec = spec;
    this.udp = udp;
    this.tx = lp.txRings[0] as NetmapRing;
    this.rx = lp.rxRings[0] as NetmapRing;
    this.vni = spec.vni;
    this.v6 = spec.local.addr.length === 16;
    this.maxInner = maxInnerFrame(spec);
    this.decode = spec.kind === 'vxlan' ? decodeVxlan : decodeGeneve;
    this.fixedHdr = spec.kind === 'vxlan' ? VXLAN_HDR_LEN : GENEVE_HDR_LEN;
    const h = new Uint8Array(8);
    if (spec.kind === 'vxlan') encodeVxlan(h, 0, spec.vni);
    else encodeGeneve(h, 0, spec.vni);
    udp.setHeader(h);
    this.localPortNumber = udp.localPort();
    for (const r of spec.remotes) this.flood.push(this.addRemote(r.addr, r.port, 'config'));
    if (spec.group !== null) this.flood.push(this.addRemote(spec.group.addr, spec.group.port, 'config'));
    for (let s = 0; s < this.rx.numSlots; s++) this.rxViews.push(this.rx.bufView(s));
    const rxd = udp.rxData;
    this.rxBuf = Buffer.from(rxd.buffer, rxd.byteOffset, rxd.byteLength);
    this.rxMax = rxSize(spec);
    const tso = spec.tso === true; // decided by attach()
    this.hl = tso ? TSO_HDR_LEN : 0;
    if (tso) this.vp.hdrLen = TSO_HDR_LEN; // before the port is on the switch's data path (no frame yet)
    this.gro = tso ? new TcpCoalescer(TSO_HDR_LEN) : null;
    this.seg = tso ? new TsoSegmenter(udp.txFrames) : null;
    // frames are coalesced and cut in the scratch, and their TCP checksums summed there: plain wasm memory,
    // which sum16Wide reads fastest and V8 copies to and from fastest (sum16-wide.ts)
    this.scratch = tso ? sumBytes((GRO_SLOTS + 1) * NM_BUF_SIZE) : new Uint8Array(0);
    const ru8 = this.rx.u8;
    this.rxArena = Buffer.from(ru8.buffer, ru8.byteOffset, ru8.byteLength);
    this.rxRoom = udp.gro ? 16 : chainSlots(Math.min(udp.rxStride, spec.mtu) + this.hl);
    for (let i = 0; i < udp.rxCount; i++) {
      this.innerViews.push(new Uint8Array(rxd.buffer, rxd.byteOffset + i * udp.rxStride + this.fixedHdr, NM_BUF_SIZE));
    }
    this.drainer = new RxDrain(
      () => this.drain(),
      (e) => this.gone(`internal error while sending: ${(e as Error).message}`),
    );
  }

  /**
   * Binds the socket, opens port `name` (exclusive) and starts both directions.
   * @throws ValeError BUSY when the port exists; SYSTEM when the socket cannot be bound; LIMIT from the switch.
   */
  static attach(ctx: AttachContext, name: string, given: TunnelSpec): TunnelPort {
    const spec = given.tso === null ? { ...given, tso: switchTakesTso(ctx, name) } : given;
    const maxInner = maxInnerFrame(spec);
    const offload = ctx.host.settings.vxlanOffload;
    const gro = (offload & 2) !== 0;
    // a multicast underlay binds the wildcard address: group datagrams are addressed to the group
    const bindAddr = spec.group === null ? spec.local.addr : new Uint8Array(spec.local.addr.length);
    const udp = UdpBatch.open({
      bind: { addr: bindAddr, port: spec.local.port },
      rxCount: RX_BATCH,
      rxSize: gro ? GRO_RX_SIZE : rxSize(spec),
      gso: (offload & 1) !== 0,
      gro,
      txFrames: TX_FRAMES,
      txSize: Math.max(maxInner, NM_BUF_SIZE),
      txMsgs: TX_MSGS,
      sockBuf: SOCK_BUF,
    });
    try {
      if (spec.group !== null) udp.joinGroup(spec.group.addr, spec.dev as string);
      const p = startAdapterPort(
        ctx.host,
        name,
        { kind: spec.kind, txSlots: Math.min(1024, ctx.host.settings.maxBuffers) },
        (lp) => new TunnelPort(lp, ctx, spec, udp),
        (a) => a.drainer.request,
      );
      try {
        p.watch = watchReadable(udp.fd, p.onReadable, p.onPollError);
      } catch (e) {
        p.close();
        throw e;
      }
      ctx.log(
        `${name}: ${spec.kind} vni ${spec.vni} on ${endpointText({ addr: spec.local.addr, port: p.localPortNumber })}, ${spec.group === null ? `${spec.remotes.length} remote(s)` : `group ${spec.group.text} on ${spec.dev}`}${spec.learnRemotes ? ', learning remotes' : ''}`,
      );
      return p;
    } catch (e) {
      udp.close();
      throw e;
    }
  }

  get vport(): VPort {
    return this.vp;
  }

  get attached(): boolean {
    return this.lp !== null;
  }

  /** The UDP port the socket is bound to. */
  get localPort(): number {
    return this.localPortNumber;
  }

  info(): AdapterInfo {
    const st = this.st;
    const extra: Record<string, string | number | boolean> = {
      vni: this.vni,
      local: endpointText({ addr: this.spec.local.addr, port: this.localPortNumber }),
      remotes: this.flood.length,
      ...(this.spec.group === null ? {} : { group: this.spec.group.text, dev: this.spec.dev as string }),
      learnedRemotes: this.remotes.filter((r) => r.origin === 'learned').length,
      maxFrame: this.maxInner,
      fdbSize: this.fdb.size,
      datagramsOut: st.datagramsOut,
      dropVni: st.dropVni,
      dropUnknownRemote: st.dropUnknownRemote,
      dropOversize: st.dropOversize,
      dropRingFull: st.dropRingFull,
      gso: this.udp.gso,
      gro: this.udp.gro,
      gsoMessages: this.udp.gsoMsgs,
      gsoDatagrams: this.udp.gsoSegs,
      groBuffers: st.groDatagrams,
      dropTooBig: st.dropTooBig,
      dropShort: st.dropShort,
      dropNoRemote: st.dropNoRemote,
      dropOffload: st.dropOffload,
      dropSend: st.dropSend,
      sendStalls: st.sendStalls,
      fdbFull: st.fdbFull,
      remotesFull: st.remotesFull,
      tso: this.hl !== 0,
      tcpCoalesced: this.gro === null ? 0 : this.gro.frames,
      tcpSegments: this.gro === null ? 0 : this.gro.segments,
      tcpBadCsum: this.gro === null ? 0 : this.gro.badCsum,
    };
    for (let s = 1; s < TUN_STATUS_NAMES.length; s++) extra[TUN_STATUS_NAMES[s] as string] = st.dropHeader[s] as number;
    return {
      name: this.name,
      kind: this.kind,
      spec: this.spec.text,
      state: this.lp !== null ? 'up' : 'down',
      counters: adapterCounters(st),
      extra,
      lastError: st.lastError,
    };
  }

  /** The fdb, for `uvale ctl --fdb` (aged entries are dropped first). */
  fdbList(): FdbInfo[] {
    const now = Date.now();
    this.fdb.sweep(now, this.ageMs());
    return this.fdb
      .entries()
      .map(([k, e]) => ({
        mac: keyToMac(k),
        remote: (this.remotes[e.remote] as Remote).text,
        type: e.isStatic ? ('static' as const) : ('learned' as const),
        age: Math.floor((now - e.seen) / 1000),
      }))
      .sort((a, b) => a.mac.localeCompare(b.mac));
  }

  /**
   * Adds a static entry MAC → ADDR[:PORT] (port: the kind's default). A remote not configured is added as a
   * unicast-only destination, as `bridge fdb append` does.
   * @throws ValeError INVALID_ARG for a bad MAC or address; LIMIT when the fdb or the remote table is full.
   */
  fdbAdd(mac: Uint8Array, remote: string): FdbInfo {
    if ((mac[0] as number) & 1) throw new ValeError(ErrorCodes.INVALID_ARG, 'a static fdb entry needs a unicast MAC');
    const a = parseTunnelAddr(remote, this.defaultPort(), remote);
    if (a.addr.length !== this.spec.local.addr.length) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `${remote} is not of this port's address family`);
    }
    let ri = this.findRemote(a.addr, a.port);
    if (ri < 0) {
      ri = this.addRemote(a.addr, a.port, 'static');
      if (ri < 0) throw new ValeError(ErrorCodes.LIMIT, `no room for another remote on ${this.name}`);
    }
    const key = macKey(mac, 0);
    if (!this.fdb.setStatic(key, ri, Date.now())) {
      throw new ValeError(ErrorCodes.LIMIT, `the fdb of ${this.name} is full (${FDB_MAX} entries)`);
    }
    return this.fdbList().find((e) => e.mac === keyToMac(key)) as FdbInfo;
  }

  /** Removes the entry of `mac`; false if there was none. */
  fdbDelete(mac: Uint8Array): boolean {
    return this.fdb.delete(macKey(mac, 0));
  }

  /** Detaches: stops reading, closes the socket and the port. Safe to call twice. */
  close(): void {
    const lp = this.lp;
    if (lp === null) return;
    this.lp = null;
    this.watch?.close();
    this.watch = null;
    this.drainer.cancel();
    this.vp.onRx = null;
    try {
      lp.close();
    } finally {
      this.udp.close();
    }
  }

  // ---- remotes --------------------------------------------------------------------------------

  private defaultPort(): number {
    return this.spec.kind === 'vxlan' ? 4789 : 6081;
  }

  private ageMs(): number {
    return this.ctx.host.settings.vxlanAgeing * 1000;
  }

  /** Adds a destination; its index, or -1 when the table is full. */
  private addRemote(addr: Uint8Array, port: number, origin: Remote['origin']): number {
    if (origin !== 'config' && this.remotes.length - this.flood.length >= MAX_EXTRA_REMOTES) return -1;
    const ep = { addr: addr.slice(), port };
    const dest = this.udp.addDest(ep);
    const v6 = addr.length === 16;
    this.remotes.push({
      ep,
      text: endpointText(ep),
      dest,
      origin,
      w0: words(addr, 0, 0),
      w1: v6 ? words(addr, 0, 1) : 0,
      w2: v6 ? words(addr, 0, 2) : 0,
      w3: v6 ? words(addr, 0, 3) : 0,
      port,
      datagramsIn: 0,
      datagramsOut: 0,
    });
    return this.remotes.length - 1;
  }

  private findRemote(addr: Uint8Array, port: number): number {
    const v6 = addr.length === 16;
    const w0 = words(addr, 0, 0);
    const w1 = v6 ? words(addr, 0, 1) : 0;
    const w2 = v6 ? words(addr, 0, 2) : 0;
    const w3 = v6 ? words(addr, 0, 3) : 0;
    for (let i = 0; i < this.remotes.length; i++) {
      const r = this.remotes[i] as Remote;
      if (r.w0 === w0 && r.w1 === w1 && r.w2 === w2 && r.w3 === w3 && r.port === port) return i;
    }
    return -1;
  }

  /** The remote a datagram came from (its sockaddr at names[off ..]): same address and port, else same address; -1. */
  private sourceRemote(names: Uint8Array, off: number): number {
    const port = (names[off + 2] << 8) | names[off + 3];
    let w0: number;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    if (this.v6) {
      w0 = words(names, off + 8, 0);
      w1 = words(names, off + 8, 1);
      w2 = words(names, off + 8, 2);
      w3 = words(names, off + 8, 3);
    } else {
      w0 = words(names, off + 4, 0);
    }
    const remotes = this.remotes;
    let byAddr = -1;
    for (let i = 0; i < remotes.length; i++) {
      const r = remotes[i] as Remote;
      if (r.w0 !== w0 || r.w1 !== w1 || r.w2 !== w2 || r.w3 !== w3) continue;
      if (r.port === port) return i;
      if (byAddr < 0) byAddr = i;
    }
    return byAddr;
  }

  /** A datagram from an unknown address, with learn-remotes: a new remote at our own port; -1 when full. */
  private learnRemote(names: Uint8Array, off: number): number {
    const addr = this.v6 ? names.slice(off + 8, off + 24) : names.slice(off + 4, off + 8);
    const port = this.localPortNumber;
    const i = this.addRemote(addr, port, 'learned');
    if (i >= 0) this.ctx.log(`${this.name}: learned remote ${endpointText({ addr, port })}`);
    return i;
  }

  // ---- faults ---------------------------------------------------------------------------------

  private gone(reason: string): void {
    if (this.lp === null) return;
    this.st.lastError = reason;
    try {
      this.close();
    } catch (e) {
      this.ctx.log(`${this.name}: closing: ${(e as Error).message}`);
    }
    this.ctx.onGone(this, reason);
  }

  private readonly onPollError = (status: number): void => {
    this.gone(`the UDP socket reported an error (${status})`);
  };

  private readonly onReadable = (): void => {
    RxDrain.newOrigin();
    RxDrain.hold();
    try {
      this.receive();
    } catch (e) {
      this.gone(`internal error while receiving: ${(e as Error).message}`);
    } finally {
      RxDrain.release(); // the drains this burst's passes requested, now
    }
  };

  // ---- remotes → switch -----------------------------------------------------------------------

  private receive(): void {
    const lp = this.lp;
    if (lp === null) return;
    const udp = this.udp;
    const tx = this.tx;
    const st = this.st;
    const hdr = this.hdr;
    const decode = this.decode;
    const fixedHdr = this.fixedHdr;
    const vni = this.vni;
    const fdb = this.fdb;
    const rxData = udp.rxData;
    const rxBuf = this.rxBuf;
    const names = udp.rxNames;
    const stride = udp.rxStride;
    const learnRemotes = this.spec.learnRemotes;
    const rxMax = this.rxMax;
    const n = tx.numSlots;
    const now = Date.now();
    let cur = tx.cur;
    let frames = 0;
    let bytes = 0;
    let pending = 0;
    let space = tx.tail - cur;
    if (space < 0) space += n;
    const gro = this.gro;
    const hl = this.hl;
    for (let round = 0; round < RX_ROUNDS; round++) {
      if (gro !== null && gro.segs !== 0) {
        // a coalesced frame ends with the burst that made it
        const used = this.groEnd(cur);
        cur = (cur + used) % n;
        space -= used;
        pending++;
      }
      if (space < this.rxRoom && pending !== 0) {
        tx.head = tx.cur = cur;
        lp.txsync();
        pending = 0;
        space = tx.tail - cur;
        if (space < 0) space += n;
      }
      let max = Math.floor(space / this.rxRoom);
      if (max > udp.rxCount) max = udp.rxCount;
      if (max === 0) break; // the ring is full: what is queued stays in the socket
      const got = udp.recv(max);
      if (got < 0) {
        if (got === -EINTR) continue;
        if (got !== -EAGAIN) {
          st.errors++;
          st.lastError = `recvmmsg: ${describeErrno(-got)}`;
        }
        break;
      }
      for (let i = 0; i < got; i++) {
        const off = i * stride;
        if (udp.rxTruncated(i)) {
          st.dropOversize++;
          continue;
        }
        const total = udp.rxLen(i);
        let seg = udp.rxSegSize(i);
        if (seg === 0 || seg >= total) seg = total;
        else st.groDatagrams++;
        let ri = this.sourceRemote(names, i * 32);
        for (let at = off, left = total; left > 0; at += seg, left -= seg) {
          const dlen = Math.min(left, seg);
          if (dlen > rxMax) {
            st.dropOversize++;
            continue;
          }
          const status = decode(rxData, at, dlen, hdr);
          if (status !== TUN_OK) {
            st.dropHeader[status]++;
            continue;
          }
          if (hdr.vni !== vni) {
            st.dropVni++;
            continue;
          }
          if (ri < 0) {
            if (!learnRemotes) {
              st.dropUnknownRemote++;
              continue;
            }
            ri = this.learnRemote(names, i * 32);
            if (ri < 0) {
              st.remotesFull++;
              st.dropUnknownRemote++;
              continue;
            }
          }
          (this.remotes[ri] as Remote).datagramsIn++;
          const inner = at + hdr.offset;
          const len = hdr.len;
          if (gro !== null) {
            if (gro.segs !== 0) {
              if (gro.add(rxData, inner, len)) {
                if ((rxData[inner + 6] & 1) === 0 && !fdb.learn(macKey(rxData, inner + 6), ri, now)) st.fdbFull++;
                frames++;
                bytes += len;
                continue;
              }
              const used = this.groEnd(cur);
              cur = (cur + used) % n;
              space -= used;
              pending++;
            }
            if (space >= 2) {
              this.groBegin(space);
              if (gro.add(rxData, inner, len)) {
                if ((rxData[inner + 6] & 1) === 0 && !fdb.learn(macKey(rxData, inner + 6), ri, now)) st.fdbFull++;
                frames++;
                bytes += len;
                continue;
              }
            }
          }
          const need = len + hl <= NM_BUF_SIZE ? 1 : chainSlots(len + hl);
          if (space < need) {
            if (pending !== 0) {
              tx.head = tx.cur = cur;
              lp.txsync();
              pending = 0;
            }
            space = tx.tail - cur;
            if (space < 0) space += n;
            if (space < need) {
              st.dropRingFull++;
              continue;
            }
          }
          if ((rxData[inner + 6] & 1) === 0 && !fdb.learn(macKey(rxData, inner + 6), ri, now)) st.fdbFull++;
          if (hl !== 0) {
            // a zeroed virtio-net header: a frame with nothing left to do
            if (need === 1) {
              const o = tx.buf(cur);
              tx.u8.fill(0, o, o + hl);
              rxBuf.copy(tx.u8, o + hl, inner, inner + len);
              tx.setLen(cur, len + hl);
              tx.setFlags(cur, 0);
              cur = cur + 1 === n ? 0 : cur + 1;
            } else {
              const sc = this.scratch;
              sc.fill(0, 0, hl);
              rxBuf.copy(sc, hl, inner, inner + len);
              cur = writeChain(tx, cur, sc, 0, hl + len);
            }
          } else if (need === 1) {
            if (at === off && hdr.offset === fixedHdr) tx.u8.set(this.innerViews[i] as Uint8Array, tx.buf(cur));
            else rxBuf.copy(tx.u8, tx.buf(cur), inner, inner + len);
            tx.setLen(cur, len);
            tx.setFlags(cur, 0);
            cur = cur + 1 === n ? 0 : cur + 1;
          } else {
            cur = writeChain(tx, cur, rxData, inner, inner + len);
          }
          space -= need;
          frames++;
          pending++;
          bytes += len;
        }
      }
      if (got < max) break; // the socket is empty
    }
    if (gro !== null && gro.segs !== 0) {
      const used = this.groEnd(cur);
      cur = (cur + used) % n;
      pending++;
    }
    if (frames !== 0) {
      st.inFrames += frames;
      st.inBytes += bytes;
      this.ctx.onTraffic();
    }
    if (pending !== 0) {
      tx.head = tx.cur = cur;
      lp.txsync();
    }
    st.inDrops = this.inDropsNow();
  }

  /**
   * Starts a coalesced frame for TX slot `cur` with `space` slots free. It is built in the scratch (plain
   * wasm memory), not in place in the slots: V8 copies into shared memory (the arena) word by word only
   * when both ends share their alignment, which appended payloads rarely do (byte by byte, ~4x slower,
   * docs/vxlan.md); the frame then goes to the slots in aligned 2048-byte pieces.
   */
  private groBegin(space: number): void {
    (this.gro as TcpCoalescer).begin(this.scratch, 0, Math.min(space, GRO_SLOTS) * NM_BUF_SIZE);
  }

  /** Ends the coalesced frame: lays it out as a chain from TX slot `cur`; returns the slots it takes. */
  private groEnd(cur: number): number {
    const total = (this.gro as TcpCoalescer).finish();
    writeChain(this.tx, cur, this.scratch, 0, total);
    return chainSlots(total);
  }

  private inDropsNow(): number {
    const st = this.st;
    let d = st.dropVni + st.dropUnknownRemote + st.dropOversize + st.dropRingFull;
    for (let s = 1; s < st.dropHeader.length; s++) d += st.dropHeader[s] as number;
    return d;
  }

  // ---- switch → remotes -----------------------------------------------------------------------

  /** Sends what is set up in [pendFirst, pendEnd); false if the socket filled first (the rest stays pending). */
  private flush(): boolean {
    const udp = this.udp;
    const st = this.st;
    while (this.pendFirst < this.pendEnd) {
      const r = udp.send(this.pendFirst, this.pendEnd - this.pendFirst);
      if (r > 0) {
        this.pendFirst += r;
        st.datagramsOut += r;
        this.lastSendErr = 0;
        continue;
      }
      if (r === -EINTR) continue;
      if (r === -EAGAIN || r === -ENOBUFS) return false;
      // this message cannot go (EMSGSIZE, ENETUNREACH, EPERM, ...): drop it and go on
      this.pendFirst++;
      st.dropSend++;
      st.errors++;
      const err = -r;
      if (err !== this.lastSendErr) {
        this.lastSendErr = err;
        st.lastError = `sendmmsg: ${describeErrno(err)}`;
        this.ctx.log(`${this.name}: ${st.lastError}; dropping such datagrams`);
      }
    }
    this.pendFirst = this.pendEnd = 0;
    return true;
  }

  private drain(): void {
    const lp = this.lp;
    if (lp === null) return;
    const st = this.st;
    if (this.pendEnd !== 0 && !this.flush()) {
      this.stall();
      return;
    }
    lp.rxsync();
    const rx = this.rx;
    const udp = this.udp;
    const chain = this.chain;
    const fdb = this.fdb;
    const flood = this.flood;
    const remotes = this.remotes;
    const txData = udp.txData;
    const stride = udp.txStride;
    const maxInner = this.maxInner;
    const ageMs = this.ageMs();
    const now = Date.now();
    const hl = this.hl;
    const tail = rx.tail;
    let cur = rx.cur;
    let buf = 0;
    let msgs = 0;
    let frames = 0;
    let bytes = 0;
    let stalled = false;
    while (cur !== tail) {
      let len: number;
      let next: number;
      let single: boolean;
      if ((rx.flags(cur) & NS_MOREFRAG) === 0) {
        len = rx.len(cur);
        if (len > NM_BUF_SIZE) len = NM_BUF_SIZE;
        next = cur + 1 === rx.numSlots ? 0 : cur + 1;
        single = true;
      } else {
        if (!chain.walk(rx, cur, tail)) break; // the switch publishes whole chains
        len = chain.len;
        next = chain.next;
        single = false;
      }
      if (hl !== 0) {
        if (len < hl + ETH_HLEN) {
          st.dropShort++;
          cur = next;
          continue;
        }
        const o = rx.buf(cur);
        let ri = -1;
        if ((rx.u8[o + hl] & 1) === 0) ri = fdb.lookup(macKey(rx.u8, o + hl), now, ageMs);
        const nd = ri >= 0 ? 1 : flood.length;
        if (nd === 0) {
          st.dropNoRemote++;
          cur = next;
          continue;
        }
        const u8 = rx.u8;
        const gso = u8[o + 1] & ~VNET_HDR_GSO_ECN;
        const mss = le16(u8, o + 4);
        // segments this frame may become (an upper bound when it is cut; 1 when not)
        const est = gso === VNET_HDR_GSO_NONE || mss === 0 ? 1 : Math.ceil((len - hl) / mss);
        if (est > udp.txFrames || est * nd > udp.txMsgs) {
          st.dropOffload++;
          cur = next;
          continue;
        }
        if (buf + est > udp.txFrames || msgs + est * nd > udp.txMsgs) {
          this.pendFirst = 0;
          this.pendEnd = msgs;
          if (!this.flush()) {
            stalled = true;
            break;
          }
          buf = 0;
          msgs = 0;
        }
        const segs = this.putTso(cur, single, len, buf, maxInner);
        if (segs > 0) {
          const lens = (this.seg as TsoSegmenter).lens;
          for (let k = 0; k < nd; k++) {
            const r = remotes[ri >= 0 ? ri : (flood[k] as number)] as Remote;
            for (let j = 0; j < segs; j++) udp.setMsg(msgs++, buf + j, lens[j] as number, r.dest);
            r.datagramsOut += segs;
          }
          buf += segs;
          frames++;
          bytes += len - hl;
        }
        cur = next;
        continue;
      }
      if (len > maxInner) {
        st.dropTooBig++;
        cur = next;
        continue;
      }
      if (len < ETH_HLEN) {
        st.dropShort++;
        cur = next;
        continue;
      }
      const o = rx.buf(cur);
      let ri = -1;
      if ((rx.u8[o] & 1) === 0) ri = fdb.lookup(macKey(rx.u8, o), now, ageMs);
      const nd = ri >= 0 ? 1 : flood.length;
      if (nd === 0) {
        st.dropNoRemote++;
        cur = next;
        continue;
      }
      if (buf === udp.txFrames || msgs + nd > udp.txMsgs) {
        this.pendFirst = 0;
        this.pendEnd = msgs;
        if (!this.flush()) {
          stalled = true;
          break;
        }
        buf = 0;
        msgs = 0;
      }
      const at = buf * stride;
      if (single) txData.set(this.rxViews[cur] as Uint8Array, at);
      else chain.gather(rx, cur, chain.slots, txData, at);
      if (ri >= 0) {
        udp.setMsg(msgs++, buf, len, (remotes[ri] as Remote).dest);
        (remotes[ri] as Remote).datagramsOut++;
      } else {
        for (let k = 0; k < nd; k++) {
          const r = remotes[flood[k] as number] as Remote;
          udp.setMsg(msgs++, buf, len, r.dest);
          r.datagramsOut++;
        }
      }
      buf++;
      frames++;
      bytes += len;
      cur = next;
    }
    rx.head = rx.cur = cur;
    lp.rxsync();
    st.outFrames += frames;
    st.outBytes += bytes;
    if (!stalled && msgs !== 0) {
      this.pendFirst = 0;
      this.pendEnd = msgs;
      stalled = !this.flush();
    }
    st.outDrops = st.dropTooBig + st.dropShort + st.dropNoRemote + st.dropOffload + st.dropSend;
    if (frames !== 0) this.ctx.onTraffic();
    if (stalled) this.stall();
    else this.retryMs = RETRY_MIN_MS;
  }

  /**
   * A `tso` port's frame (RX slot `cur`, `len` bytes with the header) into tx buffers from `buf`: cut into
   * segments (gso_type TCPV4/6), its checksum completed (NEEDS_CSUM), or as it is. Returns the buffers
   * used (their lengths in seg.lens), or 0 when it was dropped (counted).
   */
  private putTso(cur: number, single: boolean, len: number, buf: number, maxInner: number): number {
    const rx = this.rx;
    const st = this.st;
    const hl = this.hl;
    const seg = this.seg as TsoSegmenter;
    const udp = this.udp;
    const stride = udp.txStride;
    const txData = udp.txData;
    const o = rx.buf(cur);
    const u8 = rx.u8;
    const flags = u8[o];
    const gso = u8[o + 1] & ~VNET_HDR_GSO_ECN;
    const mss = le16(u8, o + 4);
    const csumStart = le16(u8, o + 6);
    const csumOffset = le16(u8, o + 8);
    const needsCsum = (flags & VNET_HDR_F_NEEDS_CSUM) !== 0;
    const at = buf * stride;
    if (len > this.scratch.length) {
      st.dropOffload++;
      return 0;
    }
    if (gso === VNET_HDR_GSO_TCPV4 || gso === VNET_HDR_GSO_TCPV6) {
      // the frame whole (header included) in scratch, then cut into the tx buffers
      const sc = this.scratch;
      if (single) this.rxArena.copy(sc, 0, o, o + len);
      else this.chain.gather(rx, cur, this.chain.slots, sc, 0);
      const n = seg.segment(sc, hl, len, gso, mss, needsCsum ? csumStart : -1, txData, at, stride, udp.txFrames - buf);
      if (n < 0) {
        st.dropOffload++;
        return 0;
      }
      if ((seg.lens[0] as number) > maxInner) {
        st.dropTooBig++;
        return 0;
      }
      return n;
    }
    if (gso !== VNET_HDR_GSO_NONE) {
      st.dropOffload++;
      return 0;
    }
    const flen = len - hl;
    if (flen > maxInner) {
      st.dropTooBig++;
      return 0;
    }
    if (single) this.rxArena.copy(txData, at, o + hl, o + len);
    else {
      const sc = this.scratch;
      this.chain.gather(rx, cur, this.chain.slots, sc, 0);
      txData.set(sc.subarray(hl, len), at);
    }
    if (needsCsum && !seg.finishCsum(txData, at, at + flen, csumStart, csumOffset)) {
      st.dropOffload++;
      return 0;
    }
    seg.lens[0] = flen;
    return 1;
  }

  private stall(): void {
    this.st.sendStalls++;
    this.drainer.retryIn(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
