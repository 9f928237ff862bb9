/*
 * 802.1Q VLANs on a switch (docs/vlans.md): per-port modes, and the
 * forwarding path of a VLAN-aware switch.
 *
 * A switch is VLAN-aware while at least one of its port names has a VLAN
 * setting; otherwise it is VALE's VLAN-unaware bridge and forward.ts never
 * comes here (one check per batch). A port's setting is kept by name, so it
 * holds before the port attaches and after it reopens. Modes:
 *
 *   none       (every port without a setting) frames pass as they are:
 *              tagged frames belong to their VID (any of 1..4094), untagged
 *              ones to VID 0, which no access port can be on (as an OVS port
 *              with neither tag nor trunks)
 *   access V   untagged frames belong to V; frames leave untagged; tagged
 *              frames are dropped (dropVlanTagged)
 *   trunk L    tagged frames with a VID in L are admitted, others dropped
 *              (dropVlanVid); untagged frames belong to the native VID if
 *              there is one, else are dropped (dropVlanUntagged); frames of
 *              the native VID leave untagged, all others tagged
 *
 * A port compiles to `pvid` (the VID of untagged frames, -1 = none) and
 * `allowed` (one byte per VID: tagged frames of it are admitted and sent
 * tagged). Egress to port P of VID v: untagged if v === P.pvid, tagged if
 * P.allowed[v], else P is not a member and gets nothing. Tags with VID 0
 * (priority tags) or 4095 are never admitted. Only 0x8100 is a tag; a frame
 * with an outer 0x88a8 is an untagged frame.
 *
 * Learning and lookup key on (VID, MAC): the table's bucket is
 * rthash(a, b | VID << 16) and its `b` word carries VID << 17 above the valid
 * bit, so VID 0 keys are VALE's own and no entry of one VID matches another.
 *
 * Frames go one by one, off VALE's batched path, without allocation. A
 * one-slot frame between ports with equal header lengths is copied straight
 * into one RX slot, the tag inserted or removed in the copy (4 bytes after the
 * MAC addresses, past a virtio-net header, which stays in front, its
 * csum_start and hdr_len moved with the bytes they point at). Any other
 * frame is gathered into a scratch buffer (as offload.ts does), retagged
 * there, and written into the destination's free slots, full 2048-byte
 * buffers then the rest, with NS_MOREFRAG on all but the last.
 * Between ports whose header lengths differ, offload.ts's put() converts.
 * The sender's buffer is read again by the copy, and a client in another
 * process may rewrite it meanwhile: the copy keeps the VID decided at
 * admission (a tag copied as it is gets that VID again; a frame admitted
 * untagged that comes out tagged is dropped, in dropVlanVid), so a racing
 * client cannot move a frame into another VLAN.
 * A tag that would take a frame past MAX_FRAME (65535 bytes) drops it for
 * that destination, counted in the sender's dropVlanOversize. A destination
 * ring that has no room drops the frame and every later one of the batch for
 * it (dropRxFull), as on the fast path.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { CopyFn } from '../ring/arena.js';
import type { KRing } from '../ring/kring.js';
import {
  MAX_FRAGS,
  MAX_FRAME,
  MIN_FRAME,
  NM_BUF_SIZE,
  NS_MOREFRAG,
  NS_RFRAGS_SHIFT,
  RING_HWTAIL,
  SLOT_FLAGS_H,
  SLOT_LEN_H,
  SLOT_SHIFT_W,
} from '../ring/layout.js';
import {
  C_DROP_NO_DEST,
  C_DROP_OFFLOAD,
  C_DROP_RUNT,
  C_DROP_RX_FULL,
  C_DROP_VLAN_OVERSIZE,
  C_DROP_VLAN_TAGGED,
  C_DROP_VLAN_UNTAGGED,
  C_DROP_VLAN_VID,
  C_RX_BYTES,
  C_RX_PACKETS,
  C_TX_BYTES,
  C_TX_PACKETS,
} from './counters.js';
import { formatMac, rthash } from './hash.js';
import type { MacTable } from './mac-table.js';
import { VALID_B } from './mac-table.js';
import {
  OffloadPath,
  PUT_BAD,
  PUT_NO_ROOM,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_NONE,
} from './offload.js';
import type { VPort } from './vport.js';

export const ETHERTYPE_8021Q = 0x8100;
export const VID_MIN = 1;
export const VID_MAX = 4094;
/** Bytes of an 802.1Q tag (TPID + TCI). */
export const TAG_LEN = 4;
/** Offset of the tag (or the ethertype) past the virtio-net header: after both MAC addresses. */
export const TAG_AT = 12;

/** A port's VLAN setting, as the CLI, the control request and the embedded API take it. */
export type VlanSpec =
  | { mode: 'none' }
  | { mode: 'access'; vid: number }
  | { mode: 'trunk'; vids?: readonly number[]; native?: number };

/** A setting compiled for the data path. */
export interface PortVlan {
  readonly mode: 'none' | 'access' | 'trunk';
  /** VID of untagged frames (and of frames sent untagged); -1: untagged frames are dropped. */
  readonly pvid: number;
  /** allowed[v] = 1: tagged frames of VID v are admitted and sent tagged. */
  readonly allowed: Uint8Array;
}

function vidError(what: string): ValeError {
  return new ValeError(ErrorCodes.INVALID_ARG, `${what}: a VID is an integer from ${VID_MIN} to ${VID_MAX}`);
}

function checkVid(v: number, what: string): number {
  if (!Number.isInteger(v) || v < VID_MIN || v > VID_MAX) throw vidError(`${what} ${String(v)}`);
  return v;
}

/** Parses "1-10,20" into the sorted VIDs (each once). Throws INVALID_ARG. */
export function parseVidList(text: string): number[] {
  const set = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part.trim());
    if (m === null) throw new ValeError(ErrorCodes.INVALID_ARG, `bad VID list item '${part}' (want V or V-W)`);
    const lo = checkVid(Number(m[1]), 'VID');
    const hi = m[2] === undefined ? lo : checkVid(Number(m[2]), 'VID');
    if (hi < lo) throw new ValeError(ErrorCodes.INVALID_ARG, `bad VID range '${part}'`);
    for (let v = lo; v <= hi; v++) set.add(v);
  }
  return [...set].sort((x, y) => x - y);
}

/** "1-10,20" from a VID list (runs of consecutive VIDs as ranges). */
export function formatVidList(vids: readonly number[]): string {
  const s = [...new Set(vids)].sort((x, y) => x - y);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && (s[j + 1] as number) === (s[j] as number) + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/**
 * Parses a setting's text: `none`, `access:V`, `trunk` (every VID),
 * `trunk:LIST`, `trunk:LIST,native=V` or `trunk:native=V`. Throws INVALID_ARG.
 */
export function parseVlanSpec(text: string): VlanSpec {
  const t = text.trim();
  if (t === 'none') return { mode: 'none' };
  const colon = t.indexOf(':');
  const mode = colon < 0 ? t : t.slice(0, colon);
  const rest = colon < 0 ? '' : t.slice(colon + 1);
  if (mode === 'access') {
    if (!/^\d{1,4}$/.test(rest)) throw vidError(`access needs one VID, got '${rest}'`);
    return { mode: 'access', vid: checkVid(Number(rest), 'access VID') };
  }
  if (mode === 'trunk') {
    const items = rest === '' ? [] : rest.split(',');
    let native: number | undefined;
    const list: string[] = [];
    for (const it of items) {
      const m = /^native=(\d{1,4})$/.exec(it.trim());
      if (m !== null) native = checkVid(Number(m[1]), 'native VID');
      else list.push(it);
    }
    const spec: { mode: 'trunk'; vids?: number[]; native?: number } = { mode: 'trunk' };
    if (list.length > 0) spec.vids = parseVidList(list.join(','));
    if (native !== undefined) spec.native = native;
    return spec;
  }
  throw new ValeError(
    ErrorCodes.INVALID_ARG,
    `bad VLAN setting '${text}': none, access:VID or trunk[:VIDS][,native=VID] (VIDS as 1-10,20)`,
  );
}

/** The text parseVlanSpec() reads back. */
export function formatVlanSpec(spec: VlanSpec): string {
  if (spec.mode === 'none') return 'none';
  if (spec.mode === 'access') return `access:${spec.vid}`;
  const parts: string[] = [];
  if (spec.vids !== undefined) parts.push(formatVidList(spec.vids));
  if (spec.native !== undefined) parts.push(`native=${spec.native}`);
  return parts.length === 0 ? 'trunk' : `trunk:${parts.join(',')}`;
}

/** Checks a spec from the embedded API (numbers in range) and compiles it. Throws INVALID_ARG. */
export function compileVlan(spec: VlanSpec): PortVlan {
  const allowed = new Uint8Array(VID_MAX + 2);
  if (spec.mode === 'none') {
    allowed.fill(1, VID_MIN, VID_MAX + 1);
    return { mode: 'none', pvid: 0, allowed };
  }
  if (spec.mode === 'access') return { mode: 'access', pvid: checkVid(spec.vid, 'access VID'), allowed };
  if (spec.mode === 'trunk') {
    if (spec.vids === undefined) allowed.fill(1, VID_MIN, VID_MAX + 1);
    else for (const v of spec.vids) allowed[checkVid(v, 'trunk VID')] = 1;
    const pvid = spec.native === undefined ? -1 : checkVid(spec.native, 'native VID');
    return { mode: 'trunk', pvid, allowed };
  }
  throw new ValeError(ErrorCodes.INVALID_ARG, `bad VLAN mode '${String((spec as { mode: unknown }).mode)}'`);
}

/** The setting of every port without one on a VLAN-aware switch. */
export const VLAN_NONE: PortVlan = compileVlan({ mode: 'none' });

/** Port `c` is a member of VID `vid`: 1 untagged, 2 tagged, 0 not. */
export function egressOf(c: PortVlan, vid: number): number {
  return vid === c.pvid ? 1 : c.allowed[vid] === 1 ? 2 : 0;
}

/** One switch's VLAN settings: by port name, and compiled by port number for the data path. */
export class VlanTable {
  /** At least one port name has a setting: the switch is VLAN-aware. */
  on = false;
  private readonly specs = new Map<string, VlanSpec>();
  private readonly compiled = new Map<string, PortVlan>();
  /** By port number; VLAN_NONE for an attached port without a setting. */
  readonly byIndex: PortVlan[];

  constructor(maxPorts: number) {
    this.byIndex = new Array<PortVlan>(maxPorts).fill(VLAN_NONE);
  }

  /** Sets (or, with `none`/null, removes) the setting of port name `portName`. */
  set(portName: string, spec: VlanSpec | null): void {
    if (spec === null || spec.mode === 'none') {
      this.specs.delete(portName);
      this.compiled.delete(portName);
    } else {
      const c = compileVlan(spec);
      this.specs.set(portName, spec);
      this.compiled.set(portName, c);
    }
    this.on = this.specs.size > 0;
  }

  /** The settings, by port name. */
  list(): Array<{ port: string; spec: VlanSpec }> {
    return [...this.specs].map(([port, spec]) => ({ port, spec }));
  }

  /** Port number `index` is now `portName` (attach, or after a set()). */
  bind(index: number, portName: string): void {
    this.byIndex[index] = this.compiled.get(portName) ?? VLAN_NONE;
  }

  /** Port number `index` is free. */
  unbind(index: number): void {
    this.byIndex[index] = VLAN_NONE;
  }
}

/** What the VLAN path needs of its switch (a subset of forward.ts's ForwardTarget). */
export interface VlanSwitch {
  readonly ports: Array<VPort | null>;
  readonly portIndex: Int32Array;
  readonly activePorts: number;
  readonly macTable: MacTable;
  readonly lookupMode: number;
  readonly lookupFn: ((bytes: Uint8Array, offset: number, len: number, srcPort: number) => number) | null;
  readonly settings: { readonly verbose: number; readonly macAgeing: number };
  readonly log: (line: string) => void;
  readonly vlans: VlanTable;
}

/** forward.ts's lookup modes and results, repeated here so the two modules do not import each other. */
const MODE_LEARNING = 0;
const MODE_CUSTOM = 2;
const BROADCAST = 254;
/** Largest frame with its virtio-net header, gathered (2048 * 64). */
const SCRATCH = MAX_FRAGS * NM_BUF_SIZE;

/** Per-switch scratch space and the VLAN-aware forwarding of one batch. */
export class VlanPath {
  /** The frame as it came (header, chain gathered). */
  private readonly g = new Uint8Array(SCRATCH);
  /** The frame with its tag added or removed. */
  private readonly alt = new Uint8Array(SCRATCH + TAG_LEN);
  private readonly one = new Int32Array(1);
  private readonly oneLen = new Int32Array(1);
  private readonly offload = new OffloadPath();
  /** Per port number: the batch number when its RX ring was first touched, and when it ran out of room. */
  private readonly seen: Int32Array;
  private readonly full: Int32Array;
  private readonly pkts: Float64Array;
  private readonly bytes: Float64Array;
  private readonly touched: Int32Array;
  private epoch = 0;
  /** Frames in the last batch flush() saw. */
  frames = 0;
  /**
   * What the last flush() delivered to ports that have RX copies (monitors,
   * mirrors): pairs (port index, first slot of the frame in the batch), in
   * delivery order, for the forwarder to copy (forward.ts). Grown by
   * doubling when a batch needs more; empty while nothing is monitored.
   */
  rxRec = new Int32Array(0);
  rxRecN = 0;

  /** Notes that port `p` got the frame whose chain starts at `first` (it has RX copies). */
  private recordRx(p: number, first: number): void {
    let rec = this.rxRec;
    if (this.rxRecN + 2 > rec.length) {
      const grown = new Int32Array(Math.max(256, rec.length * 2));
      grown.set(rec);
      rec = this.rxRec = grown;
    }
    rec[this.rxRecN++] = p;
    rec[this.rxRecN++] = first;
  }

  constructor(maxPorts: number) {
    this.seen = new Int32Array(maxPorts);
    this.full = new Int32Array(maxPorts);
    this.pkts = new Float64Array(maxPorts);
    this.bytes = new Float64Array(maxPorts);
    this.touched = new Int32Array(maxPorts);
  }

  /**
   * Classifies and delivers the frames ft[0..n) of one batch from `src`'s TX
   * ring `ringNr` (ftFrags[i] = slots of the chain starting at i).
   */
  flush(
    sw: VlanSwitch,
    src: VPort,
    n: number,
    ringNr: number,
    ftOff: Int32Array,
    ftLen: Int32Array,
    ftFrags: Int32Array,
  ): void {
    if (this.epoch === 0x7fffffff) {
      this.epoch = 0;
      this.seen.fill(0);
      this.full.fill(0);
    }
    const epoch = ++this.epoch;
    this.rxRecN = 0;
    const me = src.index;
    const cfg = sw.vlans.byIndex[me] as PortVlan;
    const u8 = src.region.arena.u8;
    const hl = src.hdrLen;
    const minLen = MIN_FRAME + hl;
    const table = sw.macTable;
    const ageing = sw.settings.macAgeing;
    const verbose = sw.settings.verbose;
    const now = ageing > 0 ? (performance.now() / 1000) | 0 : 0;
    const g = this.g;
    const arena = src.region.arena;
    const copy = arena.copy;
    let numTouched = 0;
    let pkts = 0;
    let bytes = 0;
    let runts = 0;
    let noDest = 0;
    let dTagged = 0;
    let dVid = 0;
    let dUntagged = 0;
    let dOversize = 0;
    let bad = 0;
    for (let i = 0; i < n; ) {
      const nf = ftFrags[i] as number;
      const first = i;
      i += nf;
      pkts++;
      const len0 = ftLen[first] as number;
      let total = 0;
      for (let k = first; k < i; k++) total += ftLen[k] as number;
      bytes += total;
      if (len0 < minLen) {
        runts++;
        continue;
      }
      const off = ftOff[first] as number;
      const m = off + hl;
      // ---- admission: the frame's VID ----
      const tagged = ((u8[m + TAG_AT] as number) << 8) + (u8[m + TAG_AT + 1] as number) === ETHERTYPE_8021Q;
      let vid: number;
      if (tagged) {
        if (len0 < minLen + TAG_LEN) {
          runts++;
          continue;
        }
        if (cfg.mode === 'access') {
          dTagged++;
          continue;
        }
        vid = (((u8[m + TAG_AT + 2] as number) & 0x0f) << 8) | (u8[m + TAG_AT + 3] as number);
        if (cfg.allowed[vid] !== 1) {
          dVid++;
          continue;
        }
      } else {
        vid = cfg.pvid;
        if (vid < 0) {
          dUntagged++;
          continue;
        }
      }
      // ---- learning and lookup on (VID, MAC) ----
      let dst = BROADCAST;
      const mode = sw.lookupMode;
      if (mode === MODE_LEARNING) {
        const vk = vid << 16;
        const vb = VALID_B | (vid << 17);
        const sa =
          (u8[m + 6] as number) |
          ((u8[m + 7] as number) << 8) |
          ((u8[m + 8] as number) << 16) |
          ((u8[m + 9] as number) << 24);
        const sb = (u8[m + 10] as number) | ((u8[m + 11] as number) << 8);
        if ((sa & 1) === 0) {
          const h = rthash(sa, sb | vk);
          if (table.a[h] !== sa || table.b[h] !== (sb | vb) || table.port[h] !== me) {
            if (verbose >= 2) sw.log(`learned ${formatMac(sa, sb)} vlan ${vid} on port ${me} (${src.name})`);
          }
          table.a[h] = sa;
          table.b[h] = sb | vb;
          table.port[h] = me;
          table.stamp[h] = now;
        }
        const da =
          (u8[m] as number) |
          ((u8[m + 1] as number) << 8) |
          ((u8[m + 2] as number) << 16) |
          ((u8[m + 3] as number) << 24);
        if ((da & 1) === 0) {
          const db = (u8[m + 4] as number) | ((u8[m + 5] as number) << 8);
          const h = rthash(da, db | vk);
          if (
            table.a[h] === da &&
            table.b[h] === (db | vb) &&
            (ageing === 0 || now - (table.stamp[h] as number) <= ageing)
          )
            dst = table.port[h] as number;
        }
      } else if (mode === MODE_CUSTOM) {
        dst = (sw.lookupFn as NonNullable<VlanSwitch['lookupFn']>)(u8, m, total - hl, me) | 0;
      }
      // the chain is gathered, and its other tagging made, on first need (not for one-slot frames)
      let gathered = false;
      let altLen = -1;
      // ---- delivery: one destination, or every member of the VID ----
      const active = dst === BROADCAST ? sw.activePorts : 1;
      for (let k = 0; k < active; k++) {
        const p = dst === BROADCAST ? (sw.portIndex[k] as number) : dst;
        if (p === me || p < 0 || p >= sw.ports.length) {
          if (dst !== BROADCAST) noDest++;
          continue;
        }
        const dp = sw.ports[p];
        const how = dp == null ? 0 : egressOf(sw.vlans.byIndex[p] as PortVlan, vid);
        if (how === 0 || dp == null) {
          if (dst !== BROADCAST) noDest++;
          continue;
        }
        if (dp.users <= 0 || this.full[p] === epoch) {
          if (dp.users > 0) dp.counters[C_DROP_RX_FULL] += 1;
          continue;
        }
        const op = (how === 2) === tagged ? OP_COPY : tagged ? OP_UNTAG : OP_TAG;
        if (op === OP_TAG && total - hl + TAG_LEN > MAX_FRAME) {
          dOversize++;
          continue;
        }
        const outLen = op === OP_COPY ? total : op === OP_TAG ? total + TAG_LEN : total - TAG_LEN;
        const nrx = dp.rx.length;
        const r = dst === BROADCAST ? 0 : ringNr < nrx ? ringNr : ringNr % nrx;
        const kr = dp.rx[r] as KRing;
        if (this.seen[p] !== epoch) {
          this.seen[p] = epoch;
          this.pkts[p] = 0;
          this.bytes[p] = 0;
          this.touched[numTouched++] = p;
        }
        if (dp.remote) {
          // the client releases RX slots by moving head in its own memory: read it, never trust it
          const h = kr.prologue(true);
          if (h >= 0) kr.hwcur = h;
        }
        let res: number;
        if (nf === 1 && dp.hdrLen === hl && outLen <= NM_BUF_SIZE) {
          // the common case, one slot in and one out: the tag is moved in the copy itself
          res =
            kr.rxSpace() >= 1
              ? writeOne(
                  kr,
                  u8,
                  off,
                  total,
                  hl + TAG_AT,
                  op,
                  op === OP_COPY && !tagged ? -1 : vid,
                  kr.arena === arena ? copy : null,
                )
              : -1;
          if (res === RACED) {
            dVid++;
            continue;
          }
        } else {
          if (!gathered) {
            let at = 0;
            for (let f = first; f < i; f++) {
              const l = ftLen[f] as number;
              copyBytes(u8, ftOff[f] as number, g, at, l);
              at += l;
            }
            gathered = true;
            // the sender's memory may have changed since it was classified: this copy is checked again
            const at0 = hl + TAG_AT;
            if ((g[at0] === ETHERTYPE_8021Q >>> 8 && g[at0 + 1] === 0) !== tagged) {
              dVid++;
              break;
            }
            if (tagged) {
              g[at0 + 2] = ((g[at0 + 2] as number) & 0xf0) | (vid >>> 8);
              g[at0 + 3] = vid & 0xff;
            }
          }
          let buf = g;
          let blen = total;
          if (op !== OP_COPY) {
            if (altLen < 0) altLen = tagged ? untag(g, total, hl, this.alt) : tag(g, total, hl, vid, this.alt);
            buf = this.alt;
            blen = altLen;
          }
          if (dp.hdrLen === hl) res = writeFrame(kr, buf, blen);
          else {
            this.one[0] = 0;
            this.oneLen[0] = blen;
            const path = this.offload;
            path.begin(kr, kr.rxSpace());
            const pr = path.put(buf, this.one, this.oneLen, 0, 1, hl, dp.hdrLen);
            if (pr === PUT_BAD) {
              bad++;
              continue;
            }
            res = pr === PUT_NO_ROOM ? -1 : path.bytes;
            if (res >= 0) {
              kr.hwtail = path.j;
              kr.u32[kr.hdrW + (RING_HWTAIL >>> 2)] = path.j;
              this.pkts[p] += path.pkts - 1; // segments beyond the first
            }
          }
        }
        if (res < 0) {
          this.full[p] = epoch;
          dp.counters[C_DROP_RX_FULL] += 1;
          continue;
        }
        this.pkts[p] += 1;
        this.bytes[p] += res;
        if (dp.rxCopies !== null) this.recordRx(p, first);
      }
    }
    this.frames = pkts;
    const sc = src.counters;
    sc[C_TX_PACKETS] += pkts;
    sc[C_TX_BYTES] += bytes;
    if (runts !== 0) sc[C_DROP_RUNT] += runts;
    if (noDest !== 0) sc[C_DROP_NO_DEST] += noDest;
    if (dTagged !== 0) sc[C_DROP_VLAN_TAGGED] += dTagged;
    if (dVid !== 0) sc[C_DROP_VLAN_VID] += dVid;
    if (dUntagged !== 0) sc[C_DROP_VLAN_UNTAGGED] += dUntagged;
    if (dOversize !== 0) sc[C_DROP_VLAN_OVERSIZE] += dOversize;
    if (bad !== 0) sc[C_DROP_OFFLOAD] += bad;
    for (let t = 0; t < numTouched; t++) {
      const p = this.touched[t] as number;
      const dp = sw.ports[p] as VPort;
      if (this.pkts[p] !== 0) {
        dp.counters[C_RX_PACKETS] += this.pkts[p] as number;
        dp.counters[C_RX_BYTES] += this.bytes[p] as number;
        dp.wakeRx();
      }
    }
  }
}

/**
 * A tag added or removed moved everything after the MACs by `delta` bytes:
 * the virtio-net header at b[o] follows (csum_start of a NEEDS_CSUM frame,
 * hdr_len of a GSO frame), so the receiver's kernel or offload.ts still finds
 * the checksum and the headers.
 */
export function shiftVnetHdr(b: Uint8Array, o: number, delta: number): void {
  if (((b[o] as number) & VNET_HDR_F_NEEDS_CSUM) !== 0) {
    const v = ((b[o + 6] as number) | ((b[o + 7] as number) << 8)) + delta;
    b[o + 6] = v & 0xff;
    b[o + 7] = (v >>> 8) & 0xff;
  }
  if (((b[o + 1] as number) & ~VNET_HDR_GSO_ECN & 0xff) !== VNET_HDR_GSO_NONE) {
    const h = (b[o + 2] as number) | ((b[o + 3] as number) << 8);
    if (h !== 0) {
      b[o + 2] = (h + delta) & 0xff;
      b[o + 3] = ((h + delta) >>> 8) & 0xff;
    }
  }
}

const RACED = -2;
const OP_COPY = 0;
const OP_TAG = 1;
const OP_UNTAG = 2;

/** Copies n bytes; through the arena's memmove (`copy`, when both sides are its memory) past 64. */
function copyBytes(s: Uint8Array, so: number, d: Uint8Array, dof: number, n: number, copy: CopyFn | null = null): void {
  if (copy !== null && n > 64) {
    copy(dof, so, n);
    return;
  }
  for (let x = 0; x < n; x++) d[dof + x] = s[so + x] as number;
}

/**
 * Writes the one-slot frame sU8[so, so+len) into the next RX slot of `kr`
 * (which has room): as it is (OP_COPY: with the tag's VID set to `vid`, or,
 * with vid -1, untagged), with a tag of `vid` inserted at byte `at` (OP_TAG),
 * or without the tag at `at` (OP_UNTAG). Publishes hwtail; returns the bytes
 * written, or RACED (nothing published) when an untagged frame came out
 * tagged: its sender rewrote it during the copy.
 */
function writeOne(
  kr: KRing,
  sU8: Uint8Array,
  so: number,
  len: number,
  at: number,
  op: number,
  vid: number,
  copy: CopyFn | null,
): number {
  const arena = kr.arena;
  const du8 = arena.u8;
  const du32 = arena.u32;
  const j = kr.hwtail;
  const w = kr.slotsW + (j << SLOT_SHIFT_W);
  let bi = du32[w] as number;
  if (bi >= kr.numBufs) bi = 0;
  const d = kr.bufsBase + bi * NM_BUF_SIZE;
  let out = len;
  if (op === OP_COPY) {
    copyBytes(sU8, so, du8, d, len, copy);
    // the sender's memory may have changed since it was classified: the copy keeps the VID decided
    if (vid < 0) {
      if (du8[d + at] === ETHERTYPE_8021Q >>> 8 && du8[d + at + 1] === 0) return RACED;
    } else {
      du8[d + at] = ETHERTYPE_8021Q >>> 8;
      du8[d + at + 1] = ETHERTYPE_8021Q & 0xff;
      du8[d + at + 2] = ((du8[d + at + 2] as number) & 0xf0) | (vid >>> 8);
      du8[d + at + 3] = vid & 0xff;
    }
  } else if (op === OP_TAG) {
    copyBytes(sU8, so, du8, d, at, null);
    du8[d + at] = ETHERTYPE_8021Q >>> 8;
    du8[d + at + 1] = ETHERTYPE_8021Q & 0xff;
    du8[d + at + 2] = (vid >>> 8) & 0x0f;
    du8[d + at + 3] = vid & 0xff;
    copyBytes(sU8, so + at, du8, d + at + TAG_LEN, len - at, copy);
    if (at !== TAG_AT) shiftVnetHdr(du8, d, TAG_LEN);
    out = len + TAG_LEN;
  } else {
    copyBytes(sU8, so, du8, d, at, null);
    copyBytes(sU8, so + at + TAG_LEN, du8, d + at, len - at - TAG_LEN, copy);
    if (at !== TAG_AT) shiftVnetHdr(du8, d, -TAG_LEN);
    out = len - TAG_LEN;
  }
  arena.u16[(w << 1) + SLOT_LEN_H] = out;
  arena.u16[(w << 1) + SLOT_FLAGS_H] = 1 << NS_RFRAGS_SHIFT;
  const nj = j === kr.lim ? 0 : j + 1;
  kr.hwtail = nj;
  du32[kr.hdrW + (RING_HWTAIL >>> 2)] = nj;
  return out;
}

/**
 * Writes `len` bytes of `buf` into `kr`'s free RX slots from hwtail (full
 * buffers, then the rest; NS_MOREFRAG on all but the last), publishes hwtail.
 * Returns the bytes written, or -1 when the ring has no room (nothing written).
 */
export function writeFrame(kr: KRing, buf: Uint8Array, len: number): number {
  const cnt = len <= NM_BUF_SIZE ? 1 : Math.ceil(len / NM_BUF_SIZE);
  if (cnt > kr.rxSpace()) return -1;
  const arena = kr.arena;
  const du8 = arena.u8;
  const du16 = arena.u16;
  const du32 = arena.u32;
  let j = kr.hwtail;
  let at = 0;
  for (let s = 0; s < cnt; s++) {
    const l = s === cnt - 1 ? len - at : NM_BUF_SIZE;
    const w = kr.slotsW + (j << SLOT_SHIFT_W);
    let bi = du32[w] as number;
    if (bi >= kr.numBufs) bi = 0;
    copyBytes(buf, at, du8, kr.bufsBase + bi * NM_BUF_SIZE, l);
    du16[(w << 1) + SLOT_LEN_H] = l;
    du16[(w << 1) + SLOT_FLAGS_H] = (cnt << NS_RFRAGS_SHIFT) | (s === cnt - 1 ? 0 : NS_MOREFRAG);
    at += l;
    j = j === kr.lim ? 0 : j + 1;
  }
  kr.hwtail = j;
  du32[kr.hdrW + (RING_HWTAIL >>> 2)] = j;
  return len;
}

/**
 * Copies the frame buf[0, len) (with `hl` bytes of virtio-net header in
 * front) into `out` with an 802.1Q tag of `vid` (PCP and DEI 0) after its MAC
 * addresses. Returns the new length, or -1 when it would exceed MAX_FRAME.
 */
export function tag(buf: Uint8Array, len: number, hl: number, vid: number, out: Uint8Array): number {
  if (len - hl + TAG_LEN > MAX_FRAME) return -1;
  const at = hl + TAG_AT;
  copyBytes(buf, 0, out, 0, at);
  out[at] = ETHERTYPE_8021Q >>> 8;
  out[at + 1] = ETHERTYPE_8021Q & 0xff;
  out[at + 2] = (vid >>> 8) & 0x0f;
  out[at + 3] = vid & 0xff;
  copyBytes(buf, at, out, at + TAG_LEN, len - at);
  if (hl !== 0) shiftVnetHdr(out, 0, TAG_LEN);
  return len + TAG_LEN;
}

/** Copies the tagged frame buf[0, len) into `out` without its tag. Returns the new length. */
export function untag(buf: Uint8Array, len: number, hl: number, out: Uint8Array): number {
  const at = hl + TAG_AT;
  copyBytes(buf, 0, out, 0, at);
  copyBytes(buf, at + TAG_LEN, out, at, len - at - TAG_LEN);
  if (hl !== 0) shiftVnetHdr(out, 0, -TAG_LEN);
  return len - TAG_LEN;
}
