/*
 * `uvale pkt-gen`: netmap's packet generator and sink on uvale ports, with
 * pkt-gen's options, defaults and output (see report.ts and functions.ts).
 */

import { parseArgs } from 'node:util';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { connectPort } from '../../index.js';
import { formatMac } from '../../pkt/ether.js';
import {
  formatIpRange,
  PKTGEN_DEFAULT_LEN,
  PKTGEN_MAX_LEN,
  PKTGEN_MIN_LEN,
  PktGenFrame,
} from '../../pkt/pktgen-frame.js';
import type { NetmapPort } from '../../ports/port.js';
import { parseRingConfig } from '../common/ring-config.js';
import { ping, pong, type RunState, rx, tx } from './functions.js';
import { type Counts, reportLine, stamp, summary } from './report.js';

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
  --dir DIR      run directory of the daemon
  -h, --help     this text

Reports go to stderr every -T ms; the final summary to stdout.`;

const BURSTS: Record<string, number> = { tx: 512, rx: 512, txseq: 512, rxseq: 512, ping: 1, pong: 1 };

function int(v: string | undefined, name: string, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `${name} must be an integer from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
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
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.i === undefined) {
    process.stderr.write(`uvale pkt-gen: -i PORT is required\n\n${USAGE}\n`);
    return 2;
  }
  const func = values.f ?? 'rx';
  if (!(func in BURSTS))
    throw new ValeError(ErrorCodes.INVALID_ARG, `unknown function '${func}' (tx rx txseq rxseq ping pong)`);
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
  const count = int(values.n, '-n', 0, 0);
  const burst = int(values.b, '-b', BURSTS[func], 1, 4096);
  const rate = int(values.R, '-R', 0, 0);
  const reportMs = int(values.T, '-T', 1000, 1);
  const waitSec = int(values.w, '-w', 0, 0, 3600);
  const normalize = values.N !== true;
  const hdrLen = int(values.H, '-H', 0, 0, 12);
  if (hdrLen !== 0 && hdrLen !== 10 && hdrLen !== 12) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `-H must be 0, 10 or 12 (a virtio-net header), got '${values.H}'`);
  }
  if (hdrLen !== 0 && (func === 'ping' || func === 'pong')) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `-H is for tx, txseq, rx and rxseq, not ${func}`);
  }
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
  if (sending) {
    log(`${formatIpRange(frame.src)} -> ${formatIpRange(frame.dst)} (${formatMac(b, 6)} -> ${formatMac(b, 0)})`);
  }
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
  };
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
    process.stderr.write(`${reportLine(d, (now - prevT) * 1000, space, normalize)}\n`);
    prev = { ...totals };
    prevT = now;
    st.minSpace = Number.MAX_SAFE_INTEGER;
  }, reportMs);
  try {
    if (func === 'tx') await tx(st, false);
    else if (func === 'txseq') await tx(st, true);
    else if (func === 'rx') await rx(st, false);
    else if (func === 'rxseq') await rx(st, true);
    else if (func === 'ping') await ping(st);
    else await pong(st);
  } finally {
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    port.close();
  }
  const secs = (performance.now() - start) / 1000;
  process.stdout.write(`${summary(sending && func !== 'ping' ? 'Sent' : 'Received', totals, secs, normalize)}\n`);
  return 0;
}
