/*
 * A soak client: a child process (forked by bench/soak/harness.ts, so the
 * harness can SIGKILL or SIGSTOP it) holding a pair of daemon ports A and B on
 * one switch. It sends mixed-size frames A -> B and B -> A, unicast to the
 * partner's MAC: 60 B to 9000 B, frames above one buffer as NS_MOREFRAG
 * chains. Every frame received is checked byte for byte against the pattern
 * its header names (frameBytes() below), so a corrupt or misdelivered frame
 * is counted as bad, never missed.
 *
 * Commands arrive over the IPC channel (one JSON object each), answers go
 * back the same way:
 *   {op:'pause'}    stop sending; answer when both TX rings are empty
 *   {op:'drain'}    read both RX rings until nothing arrives for a while;
 *                   answer with the counts (sent/received per port, bad)
 *   {op:'announce'} each port sends one frame to itself (the switch learns
 *                   its MAC and drops the frame as dropNoDest)
 *   {op:'probe', n} n frames each way; answer with how many arrived
 *   {op:'resume'}   send again
 *   {op:'close'}    close both ports and exit 0
 * The process runs only with UVALE_SOAK_CLIENT=1 in its environment.
 */

import { connectPort, type DaemonPort, layout, type NetmapRing, parseMac } from '../../src/index.js';

export const SOAK_ETHERTYPE = 0x88b5;
/** Frame sizes the clients cycle through (bytes, no CRC); above 2048 a frame is a chain. */
export const SIZES = [60, 60, 128, 590, 1514, 2048, 4000, 9000] as const;
/** Byte 18 of a frame: traffic or probe. */
export const KIND_TRAFFIC = 1;
export const KIND_PROBE = 2;
export const KIND_ANNOUNCE = 3;

/** Writes the soak frame (dst, src, ethertype, seq at 14, kind at 18, len at 19, pattern) into `out`. */
export function frameBytes(
  out: Uint8Array,
  dst: Uint8Array,
  src: Uint8Array,
  seq: number,
  kind: number,
  len: number,
): void {
  out.set(dst, 0);
  out.set(src, 6);
  out[12] = SOAK_ETHERTYPE >>> 8;
  out[13] = SOAK_ETHERTYPE & 0xff;
  out[14] = seq >>> 24;
  out[15] = (seq >>> 16) & 0xff;
  out[16] = (seq >>> 8) & 0xff;
  out[17] = seq & 0xff;
  out[18] = kind;
  out[19] = len >>> 8;
  out[20] = len & 0xff;
  for (let i = 21; i < len; i++) out[i] = (seq * 31 + i * 7) & 0xff;
}

/** True if `f` is a well-formed soak frame of its stated length and pattern. */
export function checkFrame(f: Uint8Array): boolean {
  if (f.length < 21) return false;
  if (f[12] !== SOAK_ETHERTYPE >>> 8 || f[13] !== (SOAK_ETHERTYPE & 0xff)) return false;
  const len = ((f[19] as number) << 8) | (f[20] as number);
  if (len !== f.length) return false;
  const seq =
    (((f[14] as number) << 24) | ((f[15] as number) << 16) | ((f[16] as number) << 8) | (f[17] as number)) >>> 0;
  for (let i = 21; i < len; i++) if (f[i] !== ((seq * 31 + i * 7) & 0xff)) return false;
  return true;
}

interface End {
  port: DaemonPort;
  mac: Uint8Array;
  peer: Uint8Array;
  seq: number;
  sent: number;
  recv: number;
  probes: number;
  bad: number;
  /** Reassembly of the chain being received. */
  chain: Uint8Array;
  chainLen: number;
}

const scratch = new Uint8Array(9216);

/** Queues one frame of `len` bytes on `e`'s TX ring as one slot or a chain; false if the ring lacks room. */
function sendFrame(e: End, len: number, kind: number, dst: Uint8Array): boolean {
  const ring = e.port.txRings[0] as NetmapRing;
  const nslots = Math.ceil(len / ring.bufSize);
  if (ring.space() < nslots) return false;
  frameBytes(scratch, dst, e.mac, e.seq++, kind, len);
  for (let k = 0, off = 0; k < nslots; k++) {
    const n = Math.min(ring.bufSize, len - off);
    const s = ring.cur;
    ring.bufView(s).set(scratch.subarray(off, off + n));
    ring.setLen(s, n);
    ring.setFlags(s, k < nslots - 1 ? layout.NS_MOREFRAG : 0);
    ring.head = ring.cur = ring.next(s);
    off += n;
  }
  e.sent++;
  return true;
}

/** Reads everything on `e`'s RX ring; returns the number of frames completed. */
function receive(e: End): number {
  e.port.rxsync();
  const ring = e.port.rxRings[0] as NetmapRing;
  let n = 0;
  while (!ring.empty()) {
    const s = ring.cur;
    const len = ring.len(s);
    if (e.chainLen + len <= e.chain.length) e.chain.set(ring.frame(s), e.chainLen);
    e.chainLen += len;
    if ((ring.flags(s) & layout.NS_MOREFRAG) === 0) {
      const f = e.chain.subarray(0, Math.min(e.chainLen, e.chain.length));
      if (e.chainLen > e.chain.length || !checkFrame(f)) e.bad++;
      else if (f[18] === KIND_PROBE) e.probes++;
      e.recv++;
      n++;
      e.chainLen = 0;
    }
    ring.head = ring.cur = ring.next(s);
  }
  e.port.rxsync();
  return n;
}

function txEmpty(e: End): boolean {
  e.port.txsync();
  const ring = e.port.txRings[0] as NetmapRing;
  return ring.space() === ring.numSlots - 1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dir = process.env.UVALE_SOAK_DIR as string;
  const names = (process.env.UVALE_SOAK_PORTS as string).split(',');
  const macs = (process.env.UVALE_SOAK_MACS as string).split(',').map((m) => parseMac(m));
  const burst = Number(process.env.UVALE_SOAK_BURST ?? 8);
  const periodMs = Number(process.env.UVALE_SOAK_PERIOD_MS ?? 5);
  const ends: End[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await connectPort(names[i] as string, { dir, autostart: false });
    ends.push({
      port,
      mac: macs[i] as Uint8Array,
      peer: macs[1 - i] as Uint8Array,
      seq: 0,
      sent: 0,
      recv: 0,
      probes: 0,
      bad: 0,
      chain: new Uint8Array(9216),
      chainLen: 0,
    });
  }
  let sending = true;
  let size = 0;
  const tick = (): void => {
    for (const e of ends) {
      receive(e);
      if (!sending) continue;
      for (let k = 0; k < burst; k++) {
        if (!sendFrame(e, SIZES[size] as number, KIND_TRAFFIC, e.peer)) break;
        size = (size + 1) % SIZES.length;
      }
      e.port.txsync();
    }
  };
  const timer = setInterval(tick, periodMs);
  const counts = () => ({
    sent: ends.map((e) => e.sent),
    recv: ends.map((e) => e.recv),
    bad: ends.reduce((s, e) => s + e.bad, 0),
    probes: ends.map((e) => e.probes),
  });
  const reply = (m: object) => process.send?.(m);

  process.on('message', (m: { op: string; n?: number }) => {
    void (async () => {
      switch (m.op) {
        case 'pause': {
          sending = false;
          const end = Date.now() + 5000;
          while (!ends.every(txEmpty) && Date.now() < end) await sleep(5);
          reply({ op: 'paused', ok: ends.every(txEmpty) });
          break;
        }
        case 'drain': {
          let quiet = 0;
          while (quiet < 10) {
            let n = 0;
            for (const e of ends) n += receive(e);
            quiet = n === 0 ? quiet + 1 : 0;
            await sleep(5);
          }
          reply({ op: 'drained', ...counts() });
          break;
        }
        case 'announce':
          for (const e of ends) {
            sendFrame(e, 60, KIND_ANNOUNCE, e.mac);
            e.port.txsync();
          }
          reply({ op: 'announced' });
          break;
        case 'probe': {
          const n = m.n ?? 4;
          const before = ends.map((e) => e.probes);
          for (const e of ends) {
            for (let k = 0; k < n; k++) sendFrame(e, SIZES[k % SIZES.length] as number, KIND_PROBE, e.peer);
            e.port.txsync();
          }
          const end = Date.now() + 3000;
          const got = () => ends.map((e, i) => e.probes - (before[i] as number));
          while (got().some((g) => g < n) && Date.now() < end) {
            for (const e of ends) receive(e);
            await sleep(2);
          }
          reply({ op: 'probed', got: got() });
          break;
        }
        case 'resume':
          sending = true;
          reply({ op: 'resumed' });
          break;
        case 'close':
          clearInterval(timer);
          for (const e of ends) e.port.close();
          reply({ op: 'closed' });
          process.disconnect?.();
          break;
      }
    })().catch((err) => {
      process.stderr.write(`soak client: ${(err as Error).stack}\n`);
      process.exit(3);
    });
  });
  reply({ op: 'ready', index: ends.map((e) => e.port.portIndex) });
}

if (process.env.UVALE_SOAK_CLIENT === '1') {
  main().catch((err) => {
    process.stderr.write(`soak client: ${(err as Error).stack}\n`);
    process.exit(3);
  });
}
