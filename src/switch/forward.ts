/*
 * The forwarding path: netmap's nm_vale_preflush + nm_vale_flush, in the
 * sender's txsync.
 *
 *   collect   walk the TX slots [hwcur, head) into the scratch table `ft`
 *             (buffer offset, length, MOREFRAG), a fragment chain counted on
 *             its first entry; every `dev.netmap.bridge` frames, at a frame
 *             boundary, run the two passes below and start over.
 *   classify  per frame (first fragment): look up its destination (learning
 *             bridge by default: learn the unicast source, find the
 *             destination, flood group and unknown addresses), then append it
 *             to the list of (destination port, ring); lists keep source order.
 *   deliver   per destination: take free RX slots, walk its unicast list
 *             merged with the broadcast list by source position, copy each
 *             frame (whole chain or nothing; the first chain that does not fit
 *             drops itself and everything after it for that destination),
 *             publish hwtail once, wake the receiver once.
 *
 * Afterwards the TX ring is fully reclaimed: hwcur = head, hwtail = head - 1.
 * A port with VPort.onTxChunk (a daemon client in another process) is also
 * flushed every VPort.txChunk slots, and the slots flushed so far are
 * reclaimed and handed back at once (onTxChunk), so its client refills the
 * ring while the pass goes on: the two processes overlap instead of taking
 * turns a ring at a time.
 * A full destination ring never slows the sender; its excess is counted in
 * that port's dropRxFull.
 *
 * Hot-path rules (docs/performance-notes.md): typed arrays only,
 * every loop bound read once, no allocation, closure, try or await per frame.
 * Frames up to COPY_WORDS_MAX bytes are copied as aligned Float64 words in
 * 64-byte chunks, as netmap's pkt_copy (rounded up inside the 2048-byte
 * buffers; Float64 loads and stores keep every bit pattern, NaNs included,
 * which test/switch/forward.test.ts checks); longer ones with the arena's wasm memmove
 * when both ports share an arena, else with one set() of a subarray.
 * Consecutive frames to the same destination MAC reuse the previous lookup
 * until the table changes (a learning step), which gives the same decisions
 * as looking each one up.
 *
 * A port may carry a virtio-net header in front of its frames (VPort.hdrLen):
 * classify looks past it; deliver copies frames as they are between ports
 * with equal lengths, and hands the others to offload.ts one by one.
 *
 * Copies (monitor.ts): while the switch has copy links (monitors, mirrors),
 * after the deliver pass the batch's frames go to the sender's TX copies, and
 * the frames each destination got to its RX copies; otherwise that costs one
 * check per batch.
 *
 * Differences from netmap, on purpose: broadcast frames are merged only into
 * ring-0 lists (netmap also merges them into a sender ring k != 0 list, which
 * can deliver them twice); lookups returning an index outside the switch drop.
 */

import type { Arena } from '../ring/arena.js';
import type { KRing } from '../ring/kring.js';
import {
  MAX_FRAGS,
  MAX_FRAME,
  MIN_FRAME,
  NM_BUF_SIZE,
  NM_RESERVED_BUFS,
  NS_MOREFRAG,
  NS_RFRAGS_SHIFT,
  RING_HWTAIL,
  SLOT_FLAGS_H,
  SLOT_LEN_FLAGS_W,
  SLOT_LEN_H,
  SLOT_SHIFT_W,
} from '../ring/layout.js';
import { copyFrame } from './copy.js';
import {
  C_BAD_SLOTS,
  C_DROP_FRAGS,
  C_DROP_NO_DEST,
  C_DROP_OFFLOAD,
  C_DROP_OVERSIZE,
  C_DROP_RUNT,
  C_DROP_RX_FULL,
  C_RX_BYTES,
  C_RX_PACKETS,
  C_TRUNCATED,
  C_TX_BYTES,
  C_TX_PACKETS,
} from './counters.js';
import { formatMac, rthash } from './hash.js';
import type { MacTable } from './mac-table.js';
import { VALID_B } from './mac-table.js';
import { type CopyLinks, CopyPath } from './monitor.js';
import { OffloadPath, PUT_BAD, PUT_NO_ROOM } from './offload.js';
import { VlanPath, type VlanTable } from './vlan.js';
import type { VPort } from './vport.js';

/** Lookup result: flood to every other port (netmap's NM_BDG_BROADCAST). */
export const NM_BDG_BROADCAST = 254;
/** Lookup result: drop the frame (netmap's NM_BDG_NOPORT). */
export const NM_BDG_NOPORT = 255;
/** Largest batch (NM_BDG_BATCH) and the scratch size with room for one more chain. */
export const NM_BDG_BATCH = 1024;
const BATCH_MAX = NM_BDG_BATCH + MAX_FRAGS;
/** Terminates lists; larger than every scratch index so the merge needs no special case. */
const FT_NULL = BATCH_MAX;
/** Rings per port as list slots (NM_BDG_MAXRINGS). */
const RINGS_SHIFT = 4;
const RINGS_MASK = 15;
const NUM_QUEUES = (NM_BDG_BROADCAST + 1) << RINGS_SHIFT;
const BCAST_Q = NM_BDG_BROADCAST << RINGS_SHIFT;
/*
 * The scratch table lives in one Int32Array, `ft`, in regions: per frame slot
 * its buffer offset at [FT_OFF + i], length at [FT_LEN + i], chain length (on
 * a chain's first slot) at [FT_FRAGS + i] and list link at [FT_NEXT + i];
 * per queue its list head at [Q_HEAD + q] and tail at [Q_TAIL + q]. One array
 * instead of six keeps one base and one length live in the hot loops (fewer
 * registers spilled, one kind of bounds check); the other modules get
 * subarray views of the regions.
 */
const FT_OFF = 0;
const FT_LEN = BATCH_MAX;
const FT_FRAGS = 2 * BATCH_MAX;
const FT_NEXT = 3 * BATCH_MAX;
const Q_HEAD = 4 * BATCH_MAX;
const Q_TAIL = Q_HEAD + NUM_QUEUES;
const FT_SIZE = Q_TAIL + NUM_QUEUES;

export const LOOKUP_LEARNING = 0;
export const LOOKUP_HUB = 1;
export const LOOKUP_CUSTOM = 2;

/*
 * The constants the hot loops use, as this module's own unexported consts:
 * TurboFan folds those into the code, while an imported or exported binding
 * is a cell it loads, keeps tagged (spilled, then Smi-checked at every use in
 * a loop).
 */
const K_SHIFT_W = SLOT_SHIFT_W;
const K_LEN_FLAGS_W = SLOT_LEN_FLAGS_W;
const K_MOREFRAG = NS_MOREFRAG;
const K_RESERVED = NM_RESERVED_BUFS;
const K_BUF_SIZE = NM_BUF_SIZE;
const K_MAX_FRAGS = MAX_FRAGS;
const K_MAX_FRAME = MAX_FRAME;
const K_MIN_FRAME = MIN_FRAME;
const K_BCAST = NM_BDG_BROADCAST;
const K_VALID_B = VALID_B;
const K_LEARNING = LOOKUP_LEARNING;
const K_CUSTOM = LOOKUP_CUSTOM;
const K_ONE_FRAG_HI = (1 << NS_RFRAGS_SHIFT) << 16;

/**
 * A user lookup (mSwitch-style module). Called once per frame with the arena's
 * bytes, the frame's offset and length there (first fragment only) and the
 * sender's port number; returns a port number, NM_BDG_BROADCAST or NM_BDG_NOPORT.
 * It must not keep `bytes` or call back into the switch.
 */
export type LookupFn = (bytes: Uint8Array, offset: number, len: number, srcPort: number) => number;

/** What the forwarder needs from its switch (kept narrow so the loop's shapes stay fixed). */
export interface ForwardTarget extends CopyLinks {
  readonly ports: Array<VPort | null>;
  readonly portIndex: Int32Array;
  activePorts: number;
  readonly macTable: MacTable;
  lookupMode: number;
  lookupFn: LookupFn | null;
  /** `dev.netmap.bridge`, read once per txsync; `dev.netmap.verbose` once per batch. */
  readonly settings: { readonly bridge: number; readonly verbose: number; readonly macAgeing: number };
  /** Diagnostics (learned MACs at verbose >= 2). */
  readonly log: (line: string) => void;
  /** VLAN settings (vlan.ts); while `vlans.on`, batches go through VlanPath instead. */
  readonly vlans: VlanTable;
}

/** Per-switch scratch space and the forwarding passes. One pass runs at a time. */
export class Forwarder {
  private readonly ft = new Int32Array(FT_SIZE).fill(FT_NULL, Q_HEAD);
  private readonly ftOff = this.ft.subarray(FT_OFF, FT_OFF + BATCH_MAX);
  private readonly ftLen = this.ft.subarray(FT_LEN, FT_LEN + BATCH_MAX);
  private readonly ftFrags = this.ft.subarray(FT_FRAGS, FT_FRAGS + BATCH_MAX);
  private readonly ftNext = this.ft.subarray(FT_NEXT, FT_NEXT + BATCH_MAX);
  private readonly qHead = this.ft.subarray(Q_HEAD, Q_HEAD + NUM_QUEUES);
  private readonly qTail = this.ft.subarray(Q_TAIL, Q_TAIL + NUM_QUEUES);
  private readonly dsts = new Int32Array(NUM_QUEUES);
  /** Source MACs learnt during a classify pass, logged after it (dev.netmap.verbose >= 2). */
  private readonly learnA = new Int32Array(BATCH_MAX);
  private readonly learnB = new Int32Array(BATCH_MAX);
  private readonly sw: ForwardTarget;
  /** Scratch for frames between ports with different header lengths. */
  private readonly offload = new OffloadPath();
  /** Copies to monitors and mirrors, and the destinations of a batch that have RX copies (queue, first frame not delivered). */
  private readonly copies = new CopyPath(this.ftOff, this.ftLen, this.ftFrags, this.offload);
  private readonly copyQ = new Int32Array(NUM_QUEUES);
  private readonly copyStop = new Int32Array(NUM_QUEUES);
  private readonly copyCount = new Int32Array(NUM_QUEUES);
  /** Frames the last deliver() put in its ring (source frames, before any segmentation). */
  private delivered = 0;
  /** The VLAN-aware switch's path, made on first use. */
  private vlanPath: VlanPath | null = null;
  /** True while a pass runs: a lookup that re-enters the switch is refused. */
  busy = false;

  constructor(sw: ForwardTarget) {
    this.sw = sw;
  }

  /**
   * Forwards the TX slots [hwcur, head) of `kr`, a TX ring of `src`, then
   * reclaims them all. `head` comes from a successful prologue.
   */
  txsync(src: VPort, kr: KRing, head: number): void {
    // constants as locals of this module's folded consts (K_*, above)
    const shiftW = K_SHIFT_W;
    const lenFlagsW = K_LEN_FLAGS_W;
    const moreFrag = K_MOREFRAG;
    const reserved = K_RESERVED;
    const bufSize = K_BUF_SIZE;
    const maxFrags = K_MAX_FRAGS;
    const u32 = kr.u32;
    const ft = this.ft;
    const lenR = FT_LEN;
    const fragsR = FT_FRAGS;
    const slotsW = kr.slotsW | 0;
    const bufsBase = kr.bufsBase | 0;
    const numBufs = kr.numBufs | 0;
    const lim = kr.lim | 0;
    const onChunk = src.onTxChunk;
    const bridgeBatch = this.sw.settings.bridge | 0;
    const batch = onChunk !== null && src.txChunk < bridgeBatch ? src.txChunk | 0 : bridgeBatch;
    const ringNr = kr.ringId | 0;
    let n = 0;
    let frags = 1;
    let skipping = false;
    let badSlots = 0;
    let dropFrags = 0;
    let dropOversize = 0;
    // a frame may not exceed MAX_FRAME bytes past the port's virtio-net header; only a chain of
    // more slots than maxChain / NM_BUF_SIZE can, so only those are added up
    const maxChain = (K_MAX_FRAME + src.hdrLen) | 0;
    const sureSlots = (maxChain / bufSize) | 0;
    let j = kr.hwcur | 0;
    const end = head | 0;
    while (j !== end) {
      // collect up to one batch; the loop makes no call (values stay in registers), the
      // batch is flushed outside it
      let full = false;
      for (; j !== end && !full; j = j === lim ? 0 : j + 1) {
        const w = slotsW + (j << shiftW);
        const bi = u32[w] as number;
        // len and flags in one load
        const lf = u32[w + lenFlagsW] as number;
        let len = lf & 0xffff;
        const fl = (lf >>> 16) & moreFrag;
        if (skipping) {
          // inside a chain longer than MAX_FRAGS: consume it, forward nothing
          if (fl === 0) skipping = false;
          continue;
        }
        if (bi < reserved || bi >= numBufs || len > bufSize) {
          len = 0;
          badSlots++;
        }
        ft[n] = bufsBase + bi * bufSize;
        ft[lenR + n] = len;
        n++;
        if (fl !== 0) {
          if (frags === maxFrags) {
            n -= maxFrags;
            frags = 1;
            skipping = true;
            dropFrags++;
          } else {
            frags++;
          }
          continue;
        }
        if (frags > sureSlots) {
          // longer than any port may be handed (a QEMU stream peer would cut its link): dropped whole
          let t = 0;
          for (let k = n - frags; k < n; k++) t += ft[lenR + k] as number;
          if (t > maxChain) {
            n -= frags;
            frags = 1;
            dropOversize++;
            continue;
          }
        }
        ft[fragsR + n - frags] = frags;
        frags = 1;
        full = n >= batch;
      }
      if (full) {
        this.flush(src, n, ringNr);
        n = 0;
        if (onChunk !== null && j !== end) {
          // [hwcur, j) is copied out: those slots go back to the client now
          kr.reclaim(j);
          onChunk(src);
        }
      }
    }
    if (frags > 1) {
      // the sync ended inside a chain: forward what there is, cut short (or drop it, if too long)
      src.counters[C_TRUNCATED] += 1;
      if (frags - 1 > sureSlots && oversize(this.ftLen, n - frags + 1, n, maxChain)) {
        n -= frags - 1;
        dropOversize++;
      } else {
        this.ftFrags[n - frags + 1] = frags - 1;
      }
    }
    if (n > 0) this.flush(src, n, ringNr);
    if (badSlots !== 0) src.counters[C_BAD_SLOTS] += badSlots;
    if (dropFrags !== 0) src.counters[C_DROP_FRAGS] += dropFrags;
    if (dropOversize !== 0) src.counters[C_DROP_OVERSIZE] += dropOversize;
    kr.reclaim(head);
  }

  /**
   * After a lookup function threw in the middle of a pass: forget the half-built
   * destination lists (they would corrupt the next pass) and give the TX ring
   * back as if sent, so no frame is sent twice; the unfinished batch is lost.
   */
  abort(kr: KRing, head: number): void {
    this.qHead.fill(FT_NULL);
    this.qTail.fill(FT_NULL);
    kr.reclaim(head);
  }

  /** Classifies and delivers ft[0..n), the frames of one batch from `src`'s TX ring `ringNr`. */
  private flush(src: VPort, n: number, ringNr: number): void {
    const sw = this.sw;
    if (sw.vlans.on) {
      // a VLAN-aware switch: the only check VALE's path pays (vlan.ts)
      this.vlanPath ??= new VlanPath(NM_BDG_BROADCAST);
      this.vlanPath.flush(sw, src, n, ringNr, this.ftOff, this.ftLen, this.ftFrags);
      // monitors and mirrors: the sender's TX copies, then what each monitored destination got
      if (sw.copyLinks !== 0) {
        this.copy(src, n, this.vlanPath.frames, ringNr, 0);
        if (this.vlanPath.rxRecN !== 0) this.copyVlanRx(src, ringNr);
      }
      return;
    }
    const ft = this.ft;
    const lenR = FT_LEN;
    const fragsR = FT_FRAGS;
    const nextR = FT_NEXT;
    const qHeadR = Q_HEAD;
    const qTailR = Q_TAIL;
    const dsts = this.dsts;
    const learnA = this.learnA;
    const learnB = this.learnB;
    // constants as locals (K_* and this module's own consts fold; imported ones would not)
    const ftNull = FT_NULL;
    const bcast = K_BCAST;
    const bcastQ = BCAST_Q;
    const ringsShift = RINGS_SHIFT;
    const validB = K_VALID_B;
    const ports = sw.ports;
    const me = src.index | 0;
    const arena = src.region.arena;
    const i32 = arena.i32;
    const u16 = arena.u16;
    const mode = sw.lookupMode | 0;
    const learning = K_LEARNING;
    const custom = K_CUSTOM;
    const verbose = sw.settings.verbose | 0;
    // MAC ageing (uvale.mac_ageing, 0 = never, VALE's way): entries carry the second they were
    // last learnt; a steady source is re-learnt once per batch (lastSB = -1 never matches)
    const ageing = sw.settings.macAgeing | 0;
    const now = ageing > 0 ? (performance.now() / 1000) | 0 : 0;
    let lastSA = src.lastSA | 0;
    let lastSB = ageing > 0 ? -1 : src.lastSB | 0;
    const table = sw.macTable;
    const tabA = table.a;
    const tabB = table.b;
    const tabPort = table.port;
    const tabStamp = table.stamp;
    let numDsts = 0;
    // the last unicast destination looked up and its queue (-1: no destination),
    // valid until the table changes
    let lastDA = 0;
    let lastDB = -1;
    let lastQ = -1;
    // the list the previous frame went to and that frame (its tail, not yet stored)
    let runQ = -1;
    let runTail = 0;
    let pkts = 0;
    let bytes = 0;
    let runts = 0;
    let noDest = 0;
    let numLearnt = 0;
    // a virtio-net header in front of each frame (see offload.ts): addresses start past it
    const hl = src.hdrLen | 0;
    const hl4 = (hl & 3) === 0;
    const minLen = (K_MIN_FRAME + hl) | 0;

    // ---- pass 1: classify ----
    for (let i = 0; i < n; ) {
      const nf = ft[fragsR + i] as number;
      const off = ft[i] as number;
      const len = ft[lenR + i] as number;
      const cur = i;
      i += nf;
      pkts++;
      bytes += len;
      for (let k = cur + 1; k < i; k++) bytes += ft[lenR + k] as number;
      if (len < minLen) {
        runts++;
        continue;
      }
      let dst = bcast;
      let q = -1;
      if (mode === learning) {
        const m = off + hl;
        // the destination MAC (bytes 0..5) as (da, db), the source (6..11) as (sa, sb), as
        // hash.ts takes them: three aligned u32 loads when the addresses start 4-aligned
        let da: number;
        let db: number;
        let sa: number;
        let sb: number;
        if (hl4) {
          const x = m >>> 2;
          da = i32[x] as number;
          const x4 = i32[x + 1] as number;
          const x8 = i32[x + 2] as number;
          db = x4 & 0xffff;
          sa = (x4 >>> 16) | (x8 << 16);
          sb = x8 >>> 16;
        } else {
          const w = m >>> 1;
          da = (u16[w] as number) | ((u16[w + 1] as number) << 16);
          db = u16[w + 2] as number;
          sa = (u16[w + 3] as number) | ((u16[w + 4] as number) << 16);
          sb = u16[w + 5] as number;
        }
        // the source, learnt if unicast and new for this port
        if ((sa & 1) === 0 && (sa !== lastSA || sb !== lastSB)) {
          const h = rthash(sa, sb);
          tabA[h] = sa;
          tabB[h] = sb | validB;
          tabPort[h] = me;
          tabStamp[h] = now;
          lastSA = sa;
          lastSB = sb;
          lastDB = -1;
          if (verbose >= 2) {
            // logged after the pass (no call in this loop)
            learnA[numLearnt] = sa;
            learnB[numLearnt++] = sb;
          }
        }
        if ((da & 1) === 0) {
          if (da === lastDA && db === lastDB) {
            // same destination as the previous frame: same queue, nothing to look up
            if (lastQ < 0) {
              noDest++;
              continue;
            }
            q = lastQ;
          } else {
            const h = rthash(da, db);
            if (tabA[h] === da && tabB[h] === (db | validB) && (ageing === 0 || now - tabStamp[h] <= ageing)) {
              dst = tabPort[h];
            }
            lastDA = da;
            lastDB = db;
          }
        } else {
          lastDB = -1; // a group address: the cached queue is not for the next unicast
        }
      } else if (mode === custom) {
        dst = (sw.lookupFn as LookupFn)(arena.u8, off + hl, len - hl, me) | 0;
      }
      if (q < 0) {
        if (dst === bcast) {
          q = bcastQ;
        } else if (dst === me || dst < 0 || dst >= bcast || ports[dst] == null) {
          noDest++;
          lastQ = -1;
          continue;
        } else {
          // pick the RX ring (sender ring mod the destination's RX rings) here, not at
          // delivery, so a unicast list that lands on RX ring 0 is the ring-0 list and is
          // merged with the broadcast list in source order
          const nrx = (ports[dst] as VPort).rx.length;
          q = (dst << ringsShift) | (ringNr < nrx ? ringNr : ringNr % nrx);
        }
        lastQ = q;
      }
      // append to list q; a run of frames to one list keeps its tail in runTail (lists are
      // terminated after the pass)
      if (q === runQ) {
        ft[nextR + runTail] = cur;
      } else {
        if (runQ >= 0) ft[qTailR + runQ] = runTail;
        if (ft[qHeadR + q] === ftNull) {
          ft[qHeadR + q] = cur;
          if (q !== bcastQ) dsts[numDsts++] = q;
        } else {
          ft[nextR + (ft[qTailR + q] as number)] = cur;
        }
        runQ = q;
      }
      runTail = cur;
    }
    if (runQ >= 0) ft[qTailR + runQ] = runTail;
    // terminate the lists (before broadcast adds its empty ones)
    for (let d = 0; d < numDsts; d++) ft[nextR + (ft[qTailR + (dsts[d] as number)] as number)] = ftNull;
    if (ft[qHeadR + bcastQ] !== ftNull) ft[nextR + (ft[qTailR + bcastQ] as number)] = ftNull;
    for (let k = 0; k < numLearnt; k++) {
      sw.log(`learned ${formatMac(learnA[k] as number, learnB[k] as number)} on port ${me} (${src.name})`);
    }
    src.lastSA = lastSA;
    src.lastSB = lastSB;
    const sc = src.counters;
    sc[C_TX_PACKETS] += pkts;
    sc[C_TX_BYTES] += bytes;
    if (runts !== 0) sc[C_DROP_RUNT] += runts;
    if (noDest !== 0) sc[C_DROP_NO_DEST] += noDest;

    // broadcast goes to ring 0 of every other port
    const qHead = this.qHead;
    const qTail = this.qTail;
    if (qHead[BCAST_Q] !== FT_NULL) {
      const idx = sw.portIndex;
      const active = sw.activePorts | 0;
      for (let k = 0; k < active; k++) {
        const p = idx[k];
        if (p === me) continue;
        const q = p << RINGS_SHIFT;
        if (qHead[q] === FT_NULL) dsts[numDsts++] = q;
      }
    }

    // ---- pass 2: deliver ----
    const copying = sw.copyLinks !== 0;
    let numCopyQ = 0;
    for (let d = 0; d < numDsts; d++) {
      const q = dsts[d];
      const dp = ports[q >>> RINGS_SHIFT];
      if (dp != null && dp.users > 0) {
        const stop = this.deliver(src, dp, q);
        if (copying && dp.rxCopies !== null) {
          // its list stays until its copies are made
          this.copyQ[numCopyQ] = q;
          this.copyCount[numCopyQ] = this.delivered;
          this.copyStop[numCopyQ++] = stop;
          continue;
        }
      }
      qHead[q] = FT_NULL;
      qTail[q] = FT_NULL;
    }
    if (copying) this.copy(src, n, pkts, ringNr, numCopyQ);
    qHead[BCAST_Q] = FT_NULL;
    qTail[BCAST_Q] = FT_NULL;
  }

  /**
   * After delivery (monitor.ts): the whole batch to the sender's TX copies,
   * then to each destination's RX copies what that destination got (its list
   * merged with broadcast, up to the first frame it could not take).
   */
  private copy(src: VPort, n: number, frames: number, ringNr: number, numCopyQ: number): void {
    const copies = this.copies;
    const seq = copies.seq;
    const ftFrags = this.ftFrags;
    const ftNext = this.ftNext;
    const qHead = this.qHead;
    const txc = src.txCopies;
    if (txc !== null) {
      if (copies.prepare(txc, ringNr)) {
        let m = 0;
        for (let i = 0; i < n; i += ftFrags[i]) seq[m++] = i;
        copies.copy(src, txc, m);
      } else {
        copies.dropAll(txc, frames); // every target full (a stalled monitor): count, copy nothing
      }
    }
    const ports = this.sw.ports;
    for (let c = 0; c < numCopyQ; c++) {
      const q = this.copyQ[c];
      const stop = this.copyStop[c];
      const count = this.copyCount[c];
      const dp = ports[q >>> RINGS_SHIFT] as VPort;
      const rxc = dp.rxCopies as VPort[];
      if (count !== 0 && copies.prepare(rxc, q & RINGS_MASK)) {
        let next = qHead[q];
        let brd = (q & RINGS_MASK) === 0 ? qHead[BCAST_Q] : FT_NULL;
        let m = 0;
        while (next !== brd) {
          // the same merge as deliver(): the smaller index first (FT_NULL is larger than all)
          let p: number;
          if (next < brd) {
            p = next;
            next = ftNext[p];
          } else {
            p = brd;
            brd = ftNext[p];
          }
          if (p === stop) break;
          seq[m++] = p;
        }
        copies.copy(src, rxc, m);
      } else if (count !== 0) {
        copies.dropAll(rxc, count);
      }
      qHead[q] = FT_NULL;
      this.qTail[q] = FT_NULL;
    }
  }

  /**
   * The RX copies of a VLAN-aware batch: for each destination with RX copies,
   * in the order it was first served, the frames it got (vlan.ts records
   * them), copied as the sender sent them, as on VALE's path.
   */
  private copyVlanRx(src: VPort, ringNr: number): void {
    const vp = this.vlanPath as VlanPath;
    const rec = vp.rxRec;
    const nrec = vp.rxRecN;
    const copies = this.copies;
    const seq = copies.seq;
    const ports = this.sw.ports;
    for (let a = 0; a < nrec; a += 2) {
      const p = rec[a] as number;
      if (p < 0) continue;
      let m = 0;
      for (let b = a; b < nrec; b += 2) {
        if (rec[b] !== p) continue;
        seq[m++] = rec[b + 1] as number;
        rec[b] = -1;
      }
      const dp = ports[p];
      const rxc = dp == null ? null : dp.rxCopies;
      if (rxc === null) continue;
      if (copies.prepare(rxc, ringNr)) copies.copy(src, rxc, m);
      else copies.dropAll(rxc, m);
    }
    vp.rxRecN = 0;
  }

  /**
   * Copies queue `q` (merged with broadcast when q is a ring-0 queue) into
   * `dp`'s RX ring. Returns the first frame that did not fit (FT_NULL: all did).
   */
  private deliver(src: VPort, dp: VPort, q: number): number {
    // constants as locals (K_* and this module's own consts fold; imported ones would not)
    const ftNull = FT_NULL;
    const shiftW = K_SHIFT_W;
    const lenFlagsW = K_LEN_FLAGS_W;
    const bufSize = K_BUF_SIZE;
    // flags of a one-slot frame (fragment count 1), in the high half of the len/flags word
    const oneFragHi = K_ONE_FRAG_HI;
    const ft = this.ft;
    const lenR = FT_LEN;
    const fragsR = FT_FRAGS;
    const nextR = FT_NEXT;
    let ringNr = q & RINGS_MASK;
    const withBcast = ringNr === 0;
    const rx = dp.rx;
    if (ringNr >= rx.length) ringNr %= rx.length;
    const kr = rx[ringNr] as KRing;
    if (dp.remote) {
      // the client releases RX slots by moving head in its own memory: read it, never trust it
      const h = kr.prologue(true);
      if (h >= 0) kr.hwcur = h;
    }
    let next = this.qHead[q] as number;
    let brd = withBcast ? (this.qHead[BCAST_Q] as number) : ftNull;
    if (src.hdrLen !== dp.hdrLen) return this.deliverConverted(src, dp, kr, next, brd);
    let howmany = kr.rxSpace() | 0;

    const sArena = src.region.arena;
    const dArena = kr.arena;
    const sF64 = sArena.f64;
    const dF64 = dArena.f64;
    const sU8 = sArena.u8;
    const dU8 = dArena.u8;
    const copy = sArena === dArena ? sArena.copy : null;
    const du32 = dArena.u32;
    const slotsW = kr.slotsW | 0;
    const dBufs = kr.bufsBase | 0;
    const dNumBufs = kr.numBufs | 0;
    const lim = kr.lim | 0;
    let j = kr.hwtail | 0;
    let pkts = 0;
    let bytes = 0;
    let stop = ftNull;
    for (;;) {
      // the fast loop: frames of one slot up to 64 bytes, copied as one 64-byte chunk of 8
      // Float64 words; it makes no call (TurboFan still re-checks each typed array's map per
      // frame: docs/performance-notes.md). Anything else (a chain, a longer frame, no room)
      // leaves it.
      let p = ftNull;
      for (;;) {
        if (next < brd) {
          p = next;
          if (ft[fragsR + p] !== 1 || (ft[lenR + p] as number) > 64 || howmany === 0) break;
          next = ft[nextR + p] as number;
        } else {
          p = brd;
          if (ft[fragsR + p] !== 1 || (ft[lenR + p] as number) > 64 || howmany === 0) break;
          brd = ft[nextR + p] as number;
        }
        howmany--;
        const len = ft[lenR + p] as number;
        const si = (ft[p] as number) >>> 3;
        const w = slotsW + (j << shiftW);
        let bi = du32[w] as number;
        if (bi >= dNumBufs) bi = 0;
        const di = (dBufs + bi * bufSize) >>> 3;
        dF64[di] = sF64[si] as number;
        dF64[di + 1] = sF64[si + 1] as number;
        dF64[di + 2] = sF64[si + 2] as number;
        dF64[di + 3] = sF64[si + 3] as number;
        dF64[di + 4] = sF64[si + 4] as number;
        dF64[di + 5] = sF64[si + 5] as number;
        dF64[di + 6] = sF64[si + 6] as number;
        dF64[di + 7] = sF64[si + 7] as number;
        du32[w + lenFlagsW] = len | oneFragHi;
        bytes += len;
        pkts++;
        j = j === lim ? 0 : j + 1;
        if (next === brd) {
          // both lists ended (FT_NULL)
          p = ftNull;
          break;
        }
      }
      if (p === ftNull) break;
      // frame p, not taken from its list yet: no room, a chain, or longer than 64 bytes
      const cnt = ft[fragsR + p] as number;
      if (cnt > howmany) {
        // no room: this frame and every later one for this port are dropped
        stop = p;
        break;
      }
      if (p === next) next = ft[nextR + p] as number;
      else brd = ft[nextR + p] as number;
      howmany -= cnt;
      if (cnt === 1) {
        // one slot over 64 bytes: words up to 256 bytes, else the arena's memmove
        const len = ft[lenR + p] as number;
        const w = slotsW + (j << shiftW);
        let bi = du32[w] as number;
        if (bi >= dNumBufs) bi = 0;
        copyFrame(copy, sU8, sF64, ft[p] as number, dU8, dF64, dBufs + bi * bufSize, len);
        du32[w + lenFlagsW] = len | oneFragHi;
        bytes += len;
        j = j === lim ? 0 : j + 1;
      } else {
        j = this.copyChain(sArena, kr, p, cnt, j);
        for (let f = p; f < p + cnt; f++) bytes += ft[lenR + f] as number;
      }
      pkts++;
      if (next === brd) break;
    }
    this.delivered = pkts;
    const dc = dp.counters;
    if (pkts !== 0) {
      kr.hwtail = j;
      du32[kr.hdrW + (RING_HWTAIL >>> 2)] = j;
      dc[C_RX_PACKETS] += pkts;
      dc[C_RX_BYTES] += bytes;
      dp.wakeRx();
    }
    if (stop !== ftNull) dc[C_DROP_RX_FULL] += 1 + this.listLength(next, stop) + this.listLength(brd, stop);
    return stop;
  }

  /**
   * Copies frame `p` of `cnt` slots (a chain) into
   * `kr` from RX slot `j` on; returns the slot after it.
   */
  private copyChain(sArena: Arena, kr: KRing, p: number, cnt: number, j: number): number {
    const ftOff = this.ftOff;
    const ftLen = this.ftLen;
    const dArena = kr.arena;
    const du32 = dArena.u32;
    const du16 = dArena.u16;
    const slotsW = kr.slotsW | 0;
    const dBufs = kr.bufsBase | 0;
    const dNumBufs = kr.numBufs | 0;
    const lim = kr.lim | 0;
    const copy = sArena === dArena ? sArena.copy : null;
    const end = p + cnt;
    const fl = cnt === 1 ? 1 << NS_RFRAGS_SHIFT : (cnt << NS_RFRAGS_SHIFT) | NS_MOREFRAG;
    let w = 0;
    for (let f = p; f < end; f++) {
      const len = ftLen[f] as number;
      w = slotsW + (j << SLOT_SHIFT_W);
      let bi = du32[w] as number;
      if (bi >= dNumBufs) bi = 0;
      copyFrame(copy, sArena.u8, sArena.f64, ftOff[f] as number, dArena.u8, dArena.f64, dBufs + bi * NM_BUF_SIZE, len);
      du16[(w << 1) + SLOT_LEN_H] = len;
      du16[(w << 1) + SLOT_FLAGS_H] = fl;
      j = j === lim ? 0 : j + 1;
    }
    du16[(w << 1) + SLOT_FLAGS_H] = cnt << NS_RFRAGS_SHIFT;
    return j;
  }

  /** Frames in the list that starts at ft index `p`, up to `stop` (not counted; ft index, or FT_NULL). */
  private listLength(p: number, stop = FT_NULL): number {
    const ftNext = this.ftNext;
    let n = 0;
    for (; p !== FT_NULL; p = ftNext[p] as number) if (p !== stop) n++;
    return n;
  }

  /**
   * deliver() between ports with different virtio-net header lengths: frame
   * by frame through offload.ts (segmentation, checksums, header conversion).
   */
  private deliverConverted(src: VPort, dp: VPort, kr: KRing, next: number, brd: number): number {
    const ftNext = this.ftNext;
    const ftFrags = this.ftFrags;
    const path = this.offload;
    const sU8 = src.region.arena.u8;
    const sHl = src.hdrLen | 0;
    const dHl = dp.hdrLen | 0;
    path.begin(kr, kr.rxSpace());
    let dropped = 0;
    let bad = 0;
    let stop = FT_NULL;
    let frames = 0;
    while (next !== FT_NULL || brd !== FT_NULL) {
      // the next frame in source order from the unicast and broadcast lists
      const p = Math.min(next, brd);
      if (p === next) next = ftNext[p];
      else brd = ftNext[p];
      const r = path.put(sU8, this.ftOff, this.ftLen, p, ftFrags[p], sHl, dHl);
      if (r === PUT_NO_ROOM) {
        dropped = 1 + this.listLength(next) + this.listLength(brd);
        stop = p;
        break;
      }
      if (r === PUT_BAD) bad++;
      frames++;
    }
    this.delivered = frames;
    const dc = dp.counters;
    if (path.pkts !== 0) {
      kr.hwtail = path.j;
      kr.u32[kr.hdrW + (RING_HWTAIL >>> 2)] = path.j;
      dc[C_RX_PACKETS] += path.pkts;
      dc[C_RX_BYTES] += path.bytes;
      dp.wakeRx();
    }
    if (dropped !== 0) dc[C_DROP_RX_FULL] += dropped;
    if (bad !== 0) src.counters[C_DROP_OFFLOAD] += bad;
    return stop;
  }
}

/** The slot lengths ftLen[from, to) of one chain add up to more than `max` bytes. */
function oversize(ftLen: Int32Array, from: number, to: number, max: number): boolean {
  let t = 0;
  for (let k = from; k < to; k++) t += ftLen[k] as number;
  return t > max;
}
