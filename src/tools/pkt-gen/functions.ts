/*
 * pkt-gen's functions on a uvale port: tx, rx, txseq, rxseq, ping, pong.
 *
 * Every function works on the NetmapPort contract only (an in-process port or
 * a daemon port). Senders pre-fill every TX buffer with the frame once and then
 * only set lengths and advance head, as pkt-gen's fast path does; a frame that
 * changes per packet (address ranges, sequence numbers, random sizes) is copied
 * into its slot. Frames longer than one buffer go out as NS_MOREFRAG chains.
 * The loops yield to the event loop at least every YIELD_MS so reports, signals
 * and the daemon's wake-ups get through. On a port that can block the thread
 * while it waits (a daemon port's pollSync: a futex the daemon wakes, no socket
 * message, no event-loop turn), tx and rx wait that way, BLOCK_MS at most at a
 * time, as netmap's pkt-gen blocks in poll().
 */

import type { PktGenFrame } from '../../pkt/pktgen-frame.js';
import { readPingStamp, readRxSeq, swapForPong, writePingStamp, writeTxSeq } from '../../pkt/pktgen-seq.js';
import type { NetmapPort, PollOptions, PollResult } from '../../ports/port.js';
import { writeChain } from '../../ring/chain.js';
import { MIN_FRAME, NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import type { Counts } from './report.js';

const YIELD_MS = 2;
/** Longest a blocking wait lasts before the event loop runs (reports, signals). */
const BLOCK_MS = 50;

interface SyncPoller {
  pollSync(opts: PollOptions): PollResult;
}

/** The port's blocking wait, if it has one. */
function syncPoller(port: NetmapPort): SyncPoller | null {
  return typeof (port as Partial<SyncPoller>).pollSync === 'function' ? (port as unknown as SyncPoller) : null;
}

export interface RunState {
  port: NetmapPort;
  frame: PktGenFrame;
  /** Frames to send or receive; 0 = no limit. */
  count: number;
  burst: number;
  /** Frames per second; 0 = no limit. */
  rate: number;
  /** [min, max) random lengths when both are set (pkt-gen's -l given twice). */
  lenRange: [number, number] | null;
  /** Bytes of (all-zero) virtio-net header in front of every frame (-H); not counted in bytes. */
  hdrLen: number;
  /** rx: stop after this many ms without traffic (-W); 0 = never. */
  idleExitMs: number;
  totals: Counts;
  /** Smallest free ring space seen in the current report interval. */
  minSpace: number;
  stopped: boolean;
  /** Lines for stderr (sequence errors, ping reports). */
  log: (line: string) => void;
  /** rx: performance.now() of the first and the last batch received (0 = none yet). */
  firstAt: number;
  lastAt: number;
  /** tx: slots per frame (-F); 1 = as many as the length needs. */
  frags: number;
  /** tx: leave the buffers as they are (-r: pkt-gen sends whatever they hold). */
  rubbish: boolean;
  /** rx: called with every complete frame's last slot (-X). */
  dump: ((u8: Uint8Array, off: number, len: number) => void) | null;
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/** tx and txseq: send `count` frames (or forever) as fast as allowed. */
export async function tx(st: RunState, seq: boolean): Promise<void> {
  const { port, frame } = st;
  const ring = port.txRings[0] as NetmapRing;
  const hl = st.hdrLen;
  const fixedLen = frame.length;
  const multi = fixedLen + hl > NM_BUF_SIZE || st.lenRange !== null || st.frags > 1;
  const copyEach = !st.rubbish && (multi || seq || frame.varies);
  // with -H, the slots get header + frame: a zeroed header in front of a copy of the frame
  const wire = hl === 0 ? frame.bytes : new Uint8Array(hl + frame.bytes.length);
  if (!copyEach && !st.rubbish) {
    // pkt-gen's fast path: every buffer holds the frame; per packet only len changes
    const b = frame.bytes;
    for (let s = 0; s < ring.numSlots; s++) {
      ring.u8.fill(0, ring.buf(s), ring.buf(s) + hl);
      ring.u8.set(b, ring.buf(s) + hl);
      ring.setFlags(s, 0);
    }
  }
  const sync = syncPoller(port);
  const slotsPer = Math.max(st.frags, Math.ceil(((st.lenRange ? st.lenRange[1] : fixedLen) + hl) / NM_BUF_SIZE));
  let sent = 0;
  let seqNo = 0;
  let lastYield = performance.now();
  let burst = st.burst;
  let interval = 0;
  let nextAt = 0;
  if (st.rate > 0) {
    burst = Math.max(1, Math.min(burst, Math.floor(st.rate / 300)));
    interval = (burst / st.rate) * 1000;
    nextAt = performance.now();
  }
  while (!st.stopped && (st.count === 0 || sent < st.count)) {
    if (st.rate > 0) {
      const now = performance.now();
      if (now < nextAt) {
        await new Promise((r) => setTimeout(r, Math.max(0, nextAt - now)));
        continue;
      }
      nextAt += interval;
    }
    let space = ring.space();
    if (space < st.minSpace) st.minSpace = space;
    if (space < slotsPer) {
      // netmap's idiom: cur = tail asks poll to wait until the switch frees more slots
      ring.cur = ring.tail;
      if (sync !== null) {
        sync.pollSync({ events: 'out', timeout: BLOCK_MS });
        ring.cur = ring.head;
        const now = performance.now();
        if (now - lastYield > YIELD_MS) {
          lastYield = now;
          await yieldNow();
        }
        continue;
      }
      await port.poll({ events: 'out', timeout: 100 });
      ring.cur = ring.head;
      lastYield = performance.now();
      continue;
    }
    let n = 0;
    let bytes = 0;
    let cur = ring.cur;
    const want = st.count === 0 ? burst : Math.min(burst, st.count - sent);
    if (!copyEach) {
      n = Math.min(want, space);
      for (let k = 0; k < n; k++) {
        ring.setLen(cur, fixedLen + hl);
        cur = ring.next(cur);
      }
      bytes = n * fixedLen;
    } else {
      while (n < want && space >= slotsPer) {
        let len = fixedLen;
        if (st.lenRange !== null) {
          const [lo, hi] = st.lenRange;
          len = lo + Math.floor(Math.random() * (hi - lo));
          frame.setLength(len);
        }
        if (frame.varies) frame.advance();
        if (seq) writeTxSeq(frame.bytes, seqNo++, len);
        if (hl !== 0) wire.set(frame.bytes.subarray(0, len), hl);
        const next = writeChain(ring, cur, wire, 0, len + hl, Math.min(NM_BUF_SIZE, Math.ceil((len + hl) / st.frags)));
        space -= (next - cur + ring.numSlots) % ring.numSlots || ring.numSlots;
        cur = next;
        bytes += len;
        n++;
      }
    }
    ring.head = ring.cur = cur;
    port.txsync();
    sent += n;
    st.totals.pkts += n;
    st.totals.bytes += bytes;
    st.totals.events++;
    const now = performance.now();
    if (now - lastYield > YIELD_MS) {
      lastYield = now;
      await yieldNow();
    }
  }
}

/** rx and rxseq: count complete frames (and check sequence numbers). */
export async function rx(st: RunState, seq: boolean): Promise<void> {
  const { port } = st;
  const hl = st.hdrLen;
  let expect = -1;
  let lastTraffic = performance.now();
  const sync = syncPoller(port);
  let lastYield = lastTraffic;
  while (!st.stopped && (st.count === 0 || st.totals.pkts < st.count)) {
    const wait = st.idleExitMs > 0 ? st.idleExitMs : 250;
    let r: PollResult;
    if (sync !== null) {
      r = sync.pollSync({ events: 'in', timeout: Math.min(wait, BLOCK_MS) });
      const now = performance.now();
      if (now - lastYield > YIELD_MS) {
        lastYield = now;
        await yieldNow();
      }
    } else {
      r = await port.poll({ events: 'in', timeout: wait });
    }
    if (!r.in) {
      if (st.idleExitMs > 0 && st.totals.pkts > 0 && performance.now() - lastTraffic >= st.idleExitMs) break;
      continue;
    }
    lastTraffic = performance.now();
    if (st.firstAt === 0) st.firstAt = lastTraffic;
    st.lastAt = lastTraffic;
    for (const ring of port.rxRings) {
      let cur = ring.cur;
      const tail = ring.tail;
      if (cur === tail) continue;
      let space = tail - cur;
      if (space < 0) space += ring.numSlots;
      if (ring.numSlots - 1 - space < st.minSpace) st.minSpace = ring.numSlots - 1 - space;
      let pkts = 0;
      let bytes = 0;
      while (cur !== tail) {
        const len = ring.len(cur);
        bytes += len;
        if ((ring.flags(cur) & NS_MOREFRAG) === 0) {
          pkts++;
          bytes -= hl;
          if (st.dump !== null) st.dump(ring.u8, ring.buf(cur), len);
          if (seq) {
            const v = readRxSeq(ring.u8, len - hl, ring.buf(cur) + hl);
            if (v !== undefined) {
              if (expect >= 0 && v !== expect) {
                st.log(
                  v > expect
                    ? `Sequence GAP: expected ${expect} got ${v}`
                    : `OUT OF ORDER: expected ${expect} got ${v}`,
                );
              }
              expect = (v + 1) >>> 0;
            }
          }
        }
        cur = ring.next(cur);
        if (st.count !== 0 && st.totals.pkts + pkts >= st.count) break;
      }
      ring.head = ring.cur = cur;
      st.totals.pkts += pkts;
      st.totals.bytes += bytes;
      st.totals.events++;
    }
  }
  port.rxsync();
}

/** ping: one frame at a time with a sequence number and a send time; reports round-trip times. */
export async function ping(st: RunState): Promise<void> {
  const { port, frame } = st;
  const tx0 = port.txRings[0] as NetmapRing;
  const len = Math.max(frame.length, 54);
  if (frame.length < len) frame.setLength(len);
  let seq = 0;
  let min = Number.POSITIVE_INFINITY;
  let sum = 0;
  let n = 0;
  let sent = 0;
  let lastReport = performance.now();
  const origin = process.hrtime.bigint();
  while (!st.stopped && (st.count === 0 || sent < st.count)) {
    const t = process.hrtime.bigint() - origin;
    writePingStamp(frame.bytes, { seq, sec: Number(t / 1_000_000_000n), nsec: Number(t % 1_000_000_000n) }, len);
    const s = tx0.cur;
    tx0.head = tx0.cur = writeChain(tx0, s, frame.bytes, 0, len);
    port.txsync();
    sent++;
    st.totals.pkts++;
    st.totals.bytes += len;
    st.totals.events++;
    const deadline = performance.now() + 1000;
    let got = false;
    while (!got && !st.stopped && performance.now() < deadline) {
      const r = await port.poll({ events: 'in', timeout: Math.max(1, deadline - performance.now()) });
      if (!r.in) break;
      for (const ring of port.rxRings) {
        while (!ring.empty()) {
          const c = ring.cur;
          const stmp = readPingStamp(ring.u8, ring.len(c), ring.buf(c));
          if (stmp !== undefined && stmp.seq === seq) {
            const now = process.hrtime.bigint() - origin;
            const rtt = Number(now - (BigInt(stmp.sec) * 1_000_000_000n + BigInt(stmp.nsec)));
            min = Math.min(min, rtt);
            sum += rtt;
            n++;
            got = true;
          }
          ring.head = ring.cur = ring.next(c);
        }
      }
    }
    seq = (seq + 1) >>> 0;
    const now = performance.now();
    if (now - lastReport >= 1000) {
      st.log(n > 0 ? `ping: count ${n} RTT: min ${min} av ${Math.round(sum / n)} ns` : 'ping: no replies');
      lastReport = now;
    }
    if (st.rate > 0) await new Promise((r) => setTimeout(r, 1000 / st.rate));
    else await yieldNow();
  }
  st.log(
    n > 0
      ? `ping: ${n} replies to ${sent} requests, RTT min ${min} av ${Math.round(sum / n)} ns`
      : `ping: no replies to ${sent} requests`,
  );
}

/** pong: answers every frame with its MAC and IP addresses swapped. */
export async function pong(st: RunState): Promise<void> {
  const { port } = st;
  const txr = port.txRings[0] as NetmapRing;
  while (!st.stopped && (st.count === 0 || st.totals.pkts < st.count)) {
    const r = await port.poll({ events: 'in', timeout: 250 });
    if (!r.in) continue;
    for (const ring of port.rxRings) {
      while (!ring.empty()) {
        const c = ring.cur;
        const len = ring.len(c);
        if ((ring.flags(c) & NS_MOREFRAG) === 0 && txr.space() > 0 && len >= MIN_FRAME) {
          const t = txr.cur;
          txr.u8.copyWithin(txr.buf(t), ring.buf(c), ring.buf(c) + len);
          swapForPong(txr.u8, len, txr.buf(t));
          txr.setLen(t, len);
          txr.setFlags(t, 0);
          txr.head = txr.cur = txr.next(t);
          st.totals.pkts++;
          st.totals.bytes += len;
        }
        ring.head = ring.cur = ring.next(c);
      }
    }
    st.totals.events++;
    port.txsync();
  }
}
