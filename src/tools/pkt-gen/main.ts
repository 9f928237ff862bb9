/*
 * `uvale pkt-gen`: netmap's packet generator and sink on uvale ports, with
 * pkt-gen's options, defaults and output (see report.ts and functions.ts).
 * netmap's flags that mean threads and CPUs are accepted and ignored with a
 * note; the others are implemented as far as a port without a NIC allows.
 * Receivers time from the first frame received to the last, as netmap's
 * pkt-gen does; every summary ends with the port's drop counters during the
 * run (read from the port's memory, as `ctl --stats` reads them).
 */

import { connectPort } from '../../index.js';
import { formatMac } from '../../pkt/ether.js';
import { hexDump } from '../../pkt/hexdump.js';
import {
  formatIpRange,
  PKTGEN_DEFAULT_LEN,
  PKTGEN_MAX_LEN,
  PKTGEN_MIN_LEN,
  PktGenFrame,
} from '../../pkt/pktgen-frame.js';
import type { NetmapPort } from '../../ports/port.js';
import { intArg, onEarlyExit, parseToolArgs, runTool, UsageError } from '../common/cli.js';
import { parseRingConfig } from '../common/ring-config.js';
import { ping, pong, type RunState, rx, tx } from './functions.js';
import { loadPcap, type Replay, replay } from './replay.js';
import { type Counts, dropLine, ppsStats, reportLine, stamp, summary } from './report.js';

export const USAGE = `usage: uvale pkt-gen -i PORT [-f FUNCTION] [options]

netmap's pkt-gen on a uvale port: generates, receives or reflects frames.

  -i PORT        port to use, vale[bdg:][port] (e.g. vale-a:0); required
  -f FUNCTION    tx, rx (default), txseq, rxseq, ping, pong
  -l LEN         frame length in bytes without CRC, 16..65535 (default 60);
                 given twice, random lengths between the two
  -n COUNT       frames to send or receive, pings to send (default 0 = no limit)
  -b BURST       frames per sync (default 512; 1 for ping/pong)
  -R RATE        frames per second (default 0 = as fast as possible)
  -D MAC         destination MAC (default ff:ff:ff:ff:ff:ff)
  -S MAC         source MAC (default 00:00:00:00:00:00)
  -s IP[:PORT][-IP[:PORT]]  source address or range (default 10.0.0.1:1234)
  -d IP[:PORT][-IP[:PORT]]  destination address or range (default 10.1.0.1:1234)
  -4, -6         IPv4 (default) or IPv6 frames
  -z, -Z         random source / destination address and port
  -H LEN         virtio-net header in front of every frame: 0 (default), 10 or 12
                 (an all-zero header on tx; netmap's NETMAP_REQ_PORT_HDR_SET);
                 tx, txseq, rx and rxseq
  -C TX[,RX[,TXR[,RXR]]]  slots per TX and RX ring and ring counts of the port
                 (one number: both slot counts; as vale-ctl -C)
  -T MS          report interval in milliseconds (default 1000)
  -w SEC         wait before starting (default 0: vale ports have no link to wait for)
  -W             rx: exit after 1 s without traffic
  -N             print raw numbers, not K/M/G units
  -X             dump frames in hex: tx the frame it sends, rx every frame received
  -P FILE        tx: send the frames of a pcap file in order (once, or -n frames
                 going round the file; netmap's pkt-gen sends only the first)
  -F NUM         tx: send every frame as NUM slots (1..63, NS_MOREFRAG chains)
  -r             tx: do not fill the buffers, send whatever they hold
  -A             add [avg/std pps] over the last 15 reports to each report
  -B             count 24 bytes of framing (preamble, gap, CRC) per frame in the
                 report's bps, as on a wire
  -v             print the settings in use before starting
  --dir DIR      run directory of the daemon
  -h, --help     this text

Accepted for netmap's scripts and ignored (a note on stderr says so):
  -p THREADS, -c CPUS, -a CPU   uvale runs one sender or receiver per process
                 on Node's event loop: no threads to start or pin (run more
                 pkt-gen processes, one per port, for more)
  -e NUM         netmap's extra buffers: a uvale port's buffers are fixed by -C
                 and dev.netmap.max_buffers
  -I             netmap's NS_INDIRECT slots: uvale copies every frame from its
                 buffer, a slot cannot point at user memory
  -t NUM         an old netmap spelling; use -f tx -n NUM

Reports go to stderr every -T ms; the final summary to stdout, then the
port's drops during the run.`;

const BURSTS: Record<string, number> = { tx: 512, rx: 512, txseq: 512, rxseq: 512, ping: 1, pong: 1 };

const int = intArg;

/** Syncs until the switch has consumed every TX slot (tail one behind head), for at most a second. */
async function drainTx(port: NetmapPort): Promise<void> {
  const until = performance.now() + 1000;
  for (;;) {
    port.txsync();
    if (port.txRings.every((r) => r.space() === r.numSlots - 1) || performance.now() > until) return;
    await new Promise((r) => setTimeout(r, 1));
  }
}

export function run(argv: string[]): Promise<number> {
  return runTool('pkt-gen', () => pktgen(argv));
}

async function pktgen(argv: string[]): Promise<number> {
  const { values } = parseToolArgs({
    args: argv,
    options: {
      i: { type: 'string', short: 'i' },
      f: { type: 'string', short: 'f' },
      l: { type: 'string', short: 'l', multiple: true },
      n: { type: 'string', short: 'n' },
      b: { type: 'string', short: 'b' },
      R: { type: 'string', short: 'R' },
      D: { type: 'string', short: 'D' },
      S: { type: 'string', short: 'S' },
      s: { type: 'string', short: 's' },
      d: { type: 'string', short: 'd' },
      '4': { type: 'boolean', short: '4' },
      '6': { type: 'boolean', short: '6' },
      z: { type: 'boolean', short: 'z' },
      Z: { type: 'boolean', short: 'Z' },
      T: { type: 'string', short: 'T' },
      H: { type: 'string', short: 'H' },
      C: { type: 'string', short: 'C' },
      w: { type: 'string', short: 'w' },
      W: { type: 'boolean', short: 'W' },
      N: { type: 'boolean', short: 'N' },
      X: { type: 'boolean', short: 'X' },
      P: { type: 'string', short: 'P' },
      F: { type: 'string', short: 'F' },
      r: { type: 'boolean', short: 'r' },
      A: { type: 'boolean', short: 'A' },
      B: { type: 'boolean', short: 'B' },
      v: { type: 'boolean', short: 'v', multiple: true },
      p: { type: 'string', short: 'p' },
      c: { type: 'string', short: 'c' },
      a: { type: 'string', short: 'a' },
      e: { type: 'string', short: 'e' },
      I: { type: 'boolean', short: 'I' },
      t: { type: 'string', short: 't' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.i === undefined) throw new UsageError('-i PORT is required');
  const func = values.f ?? 'rx';
  if (!(func in BURSTS)) throw new UsageError(`unknown function '${func}' (tx rx txseq rxseq ping pong)`);
  const ignored = [
    ...(['p', 'c', 'a'] as const).filter((k) => values[k] !== undefined).map((k) => `-${k} (one thread per process)`),
    ...(values.e !== undefined ? ['-e (fixed buffers)'] : []),
    ...(values.I ? ['-I (no indirect slots)'] : []),
    ...(values.t !== undefined ? ['-t (use -f tx -n)'] : []),
  ];
  if (ignored.length > 0) process.stderr.write(`uvale pkt-gen: ignored: ${ignored.join(', ')}; see --help\n`);
  const frags = int(values.F, '-F', 1, 1, 63);
  const txOnly = (flag: string): void => {
    if (func !== 'tx') throw new UsageError(`${flag} is for -f tx, not ${func}`);
  };
  if (values.P !== undefined) txOnly('-P');
  if (values.F !== undefined) txOnly('-F');
  if (values.r) txOnly('-r');
  const lens = (values.l ?? []).map((l) => int(l, '-l', PKTGEN_DEFAULT_LEN, PKTGEN_MIN_LEN, PKTGEN_MAX_LEN));
  const lenRange: [number, number] | null =
    lens.length >= 2 ? [Math.min(lens[0], lens[1]), Math.max(lens[0], lens[1])] : null;
  const length = lenRange ? lenRange[1] : (lens[0] ?? 60);
  const family = values['6'] ? 6 : 4;
  const frame = new PktGenFrame({
    length,
    capacity: length,
    family,
    ...(values.D !== undefined ? { dstMac: values.D } : {}),
    ...(values.S !== undefined ? { srcMac: values.S } : {}),
    ...(values.s !== undefined ? { src: values.s } : {}),
    ...(values.d !== undefined ? { dst: values.d } : {}),
    randomSrc: values.z === true,
    randomDst: values.Z === true,
  });
  if (values.r && (frags > 1 || lenRange !== null || length > 2048)) {
    throw new UsageError('-r sends the buffers as they are: one slot per frame, one length up to 2048');
  }
  const count = int(values.n, '-n', 0, 0);
  const burst = int(values.b, '-b', BURSTS[func], 1, 4096);
  const rate = int(values.R, '-R', 0, 0);
  const reportMs = int(values.T, '-T', 1000, 1);
  const waitSec = int(values.w, '-w', 0, 0, 3600);
  const normalize = values.N !== true;
  const hdrLen = int(values.H, '-H', 0, 0, 12);
  if (hdrLen !== 0 && hdrLen !== 10 && hdrLen !== 12) {
    throw new UsageError(`-H must be 0, 10 or 12 (a virtio-net header), got '${values.H}'`);
  }
  if (hdrLen !== 0 && (func === 'ping' || func === 'pong')) {
    throw new UsageError(`-H is for tx, txseq, rx and rxseq, not ${func}`);
  }
  if (hdrLen !== 0 && values.P !== undefined) throw new UsageError('-H and -P together are not supported');
  const pcap: Replay | null = values.P !== undefined ? loadPcap(values.P) : null;
  const ringConfig = parseRingConfig(values.C);
  const log = (line: string): void => void process.stderr.write(`${stamp()} main_thread [0] ${line}\n`);

  const port: NetmapPort = await connectPort(values.i, {
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    ...ringConfig,
    vnetHdrLen: hdrLen,
  });
  const sending = func === 'tx' || func === 'txseq' || func === 'ping';
  const b = frame.bytes;
  log(
    `${sending ? 'Sending on' : 'Receiving from'} ${port.name}: ${port.txRings.length} queues, 1 threads and 1 cpus.`,
  );
  const forget = onEarlyExit(() => port.close());
  if (pcap !== null) log(`replaying ${pcap.frames.length} frames from ${values.P}`);
  else if (sending) {
    log(`${formatIpRange(frame.src)} -> ${formatIpRange(frame.dst)} (${formatMac(b, 6)} -> ${formatMac(b, 0)})`);
  }
  if ((values.v?.length ?? 0) > 0) {
    log(
      `function ${func} burst ${burst} rate ${rate || 'unlimited'} count ${count || 'unlimited'} length ` +
        `${lenRange ? `${lenRange[0]}-${lenRange[1]}` : length} frags ${frags} slots tx ${port.txRings[0]?.numSlots} rx ${port.rxRings[0]?.numSlots}`,
    );
  }
  if (values.X && sending && pcap === null) {
    process.stderr.write(`${hexDump(frame.bytes, 0, frame.length, { ascii: true, indent: '' })}\n`);
  }
  const drops0 = port.counters(); // from the open: frames lost during -w count too
  if (waitSec > 0) await new Promise((r) => setTimeout(r, waitSec * 1000));

  const totals: Counts = { pkts: 0, bytes: 0, events: 0 };
  const st: RunState = {
    port,
    frame,
    count,
    burst,
    rate,
    lenRange,
    hdrLen,
    idleExitMs: values.W ? 1000 : 0,
    totals,
    minSpace: Number.MAX_SAFE_INTEGER,
    stopped: false,
    log,
    firstAt: 0,
    lastAt: 0,
    frags,
    rubbish: values.r === true,
    dump: values.X
      ? (u8, off, len) => void process.stderr.write(`${hexDump(u8, off, len, { ascii: true, indent: '' })}\n`)
      : null,
  };
  if (pcap !== null && rate > 0) st.burst = Math.max(1, Math.min(burst, Math.floor(rate / 300)));
  const framing = values.B ? 24 : 0;
  const history: number[] = [];
  let drops1 = drops0;
  const onSignal = (): void => {
    st.stopped = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let prev: Counts = { ...totals };
  let prevT = performance.now();
  const start = prevT;
  const timer = setInterval(() => {
    const now = performance.now();
    const d = { pkts: totals.pkts - prev.pkts, bytes: totals.bytes - prev.bytes, events: totals.events - prev.events };
    const space = st.minSpace === Number.MAX_SAFE_INTEGER ? 0 : st.minSpace;
    const usec = (now - prevT) * 1000;
    let line = reportLine({ ...d, bytes: d.bytes + framing * d.pkts }, usec, space, normalize);
    if (values.A) line += ` ${ppsStats(history, d.pkts / (usec / 1e6 || 1e-6), normalize)}`;
    process.stderr.write(`${line}\n`);
    prev = { ...totals };
    prevT = now;
    st.minSpace = Number.MAX_SAFE_INTEGER;
  }, reportMs);
  try {
    if (pcap !== null) await replay(st, pcap);
    else if (func === 'tx') await tx(st, false);
    else if (func === 'txseq') await tx(st, true);
    else if (func === 'rx') await rx(st, false);
    else if (func === 'rxseq') await rx(st, true);
    else if (func === 'ping') await ping(st);
    else await pong(st);
    // as netmap's sender does at the end: wait until the switch has taken every slot, so the
    // drop counters read below include the last frames
    if (sending || func === 'pong') await drainTx(port);
  } finally {
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    drops1 = port.counters();
    port.close();
    forget();
  }
  // receivers: from the first frame to the last (netmap's pkt-gen), not from the start or past -W's idle second
  const receiving = func === 'rx' || func === 'rxseq';
  const secs = (receiving ? st.lastAt - st.firstAt : performance.now() - start) / 1000;
  // ping counts the requests it sent; its replies are in its last log line
  process.stdout.write(`${summary(sending ? 'Sent' : 'Received', totals, secs, normalize)}\n`);
  process.stdout.write(`${dropLine(port.name, drops0, drops1)}\n`);
  return 0;
}
