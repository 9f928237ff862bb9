/*
 * pkt-gen -P FILE in tx mode: sends the frames of a pcap file in their order
 * (netmap's pkt-gen sends only the first one; uvale sends them all, which is
 * what a replay is for), once through the file, or -n frames going round it.
 * Frames are copied into TX slots, longer ones as NS_MOREFRAG chains; -R
 * paces the bursts. The file is read whole, so it is bounded (MAX_BYTES).
 */

import { PcapReader } from '../../pkt/pcap.js';
import { NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import type { NetmapRing } from '../../ring/netmap-ring.js';
import { UsageError } from '../common/cli.js';
import type { RunState } from './functions.js';

const MAX_BYTES = 256 * 1024 * 1024;

export interface Replay {
  frames: Uint8Array[];
  bytes: number;
}

/** Reads the frames (captured bytes) of a pcap file. */
export function loadPcap(path: string): Replay {
  const reader = PcapReader.fromFile(path);
  const frames: Uint8Array[] = [];
  let bytes = 0;
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
    if (rec.caplen < 14 || rec.caplen > 65535) continue;
    bytes += rec.caplen;
    if (bytes > MAX_BYTES) throw new UsageError(`-P: ${path} holds more than ${MAX_BYTES} bytes of frames`);
    frames.push(rec.data.slice(0, rec.caplen));
  }
  if (frames.length === 0) throw new UsageError(`-P: ${path} has no Ethernet frames of 14 to 65535 bytes`);
  return { frames, bytes };
}

export async function replay(st: RunState, r: Replay): Promise<void> {
  const { port } = st;
  const ring = port.txRings[0] as NetmapRing;
  const total = st.count === 0 ? r.frames.length : st.count;
  const t0 = performance.now();
  let i = 0;
  while (!st.stopped && i < total) {
    let n = 0;
    let bytes = 0;
    let cur = ring.cur;
    let space = ring.space();
    if (space < st.minSpace) st.minSpace = space;
    while (n < st.burst && i < total) {
      const f = r.frames[i % r.frames.length] as Uint8Array;
      const slots = Math.ceil(f.length / NM_BUF_SIZE);
      if (slots > space) break;
      for (let off = 0; off < f.length; off += NM_BUF_SIZE) {
        const len = Math.min(NM_BUF_SIZE, f.length - off);
        ring.u8.set(f.subarray(off, off + len), ring.buf(cur));
        ring.setLen(cur, len);
        ring.setFlags(cur, off + len < f.length ? NS_MOREFRAG : 0);
        cur = ring.next(cur);
      }
      space -= slots;
      bytes += f.length;
      n++;
      i++;
    }
    if (n === 0) {
      ring.cur = ring.tail;
      await port.poll({ events: 'out', timeout: 100 });
      ring.cur = ring.head;
      continue;
    }
    ring.head = ring.cur = cur;
    port.txsync();
    st.totals.pkts += n;
    st.totals.bytes += bytes;
    st.totals.events++;
    const due = st.rate > 0 ? t0 + (i / st.rate) * 1000 : 0;
    const wait = due - performance.now();
    await new Promise((res) => (wait > 0 ? setTimeout(res, wait) : setImmediate(res)));
  }
}
