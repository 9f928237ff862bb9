/*
 * `uvale tcpdump`: capture on a switch port, as netmap's tcpdump does on a
 * VALE port: the port receives what the switch floods or forwards to it, and
 * every frame is printed in tcpdump's style or written to a pcap file that
 * tcpdump, tshark and Wireshark read. `-r` prints a pcap file instead.
 *
 * Lines are built per batch and written with one write, so printing keeps up
 * as well as a terminal allows; frames the port could not take while we
 * printed are counted as dropped, as tcpdump reports kernel drops.
 */

import { parseArgs } from 'node:util';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { connectPort } from '../../index.js';
import { Decoder, formatTimestamp, hexDump } from '../../pkt/decode.js';
import { nowTimestamp, PcapReader, PcapWriter } from '../../pkt/pcap.js';
import type { NetmapPort } from '../../ports/port.js';
import { ChainReader } from '../../ring/chain.js';
import { MAX_FRAGS, NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';

export const USAGE = `usage: uvale tcpdump [options] -i PORT | -r FILE

Captures the frames a switch port receives (the switch floods broadcast and
unknown destinations to every port, so a capture port sees those).

  -i PORT        port to capture on, vale[bdg:][port] (e.g. vale-a:1)
  -r FILE        read frames from a pcap file instead
  -w FILE        write frames to a pcap file (- for stdout) instead of printing
  -c COUNT       exit after COUNT frames
  -n             do not resolve addresses (uvale never does; accepted for tcpdump's -n)
  -e             print the link-level header (MAC addresses, ethertype)
  -x             print each frame in hex, without its link header (-xx: with it)
  -X             like -x with an ASCII column
  -s SNAPLEN     bytes kept per frame in -w files (default 262144)
  -q             print less protocol detail
  --dir DIR      run directory of the daemon
  -h, --help     this text`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      i: { type: 'string', short: 'i' },
      r: { type: 'string', short: 'r' },
      w: { type: 'string', short: 'w' },
      c: { type: 'string', short: 'c' },
      n: { type: 'boolean', short: 'n', multiple: true },
      e: { type: 'boolean', short: 'e' },
      x: { type: 'boolean', short: 'x', multiple: true },
      X: { type: 'boolean', short: 'X', multiple: true },
      s: { type: 'string', short: 's' },
      q: { type: 'boolean', short: 'q' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const count = values.c === undefined ? 0 : Number(values.c);
  if (!Number.isInteger(count) || count < 0)
    throw new ValeError(ErrorCodes.INVALID_ARG, `-c must be a positive integer`);
  const snaplen = values.s === undefined ? 262144 : Number(values.s);
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 262144) {
    throw new ValeError(ErrorCodes.INVALID_ARG, '-s must be from 1 to 262144');
  }
  const hex = (values.x?.length ?? 0) + (values.X?.length ?? 0);
  const ascii = (values.X?.length ?? 0) > 0;
  const decoder = new Decoder({ link: values.e === true, suppressDefaultPrint: hex > 0 });
  const format = (sec: number, frac: number, buf: Uint8Array, off: number, caplen: number, len: number): string => {
    const r = decoder.decodeFull(buf, off, caplen, len);
    let line = `${formatTimestamp(sec, frac)} ${r.text}`;
    if (hex > 0) {
      const skip = hex >= 2 ? 0 : r.linkHeaderLength;
      if (caplen - skip > 0) line += `\n${hexDump(buf, off + skip, caplen - skip, { ascii })}`;
    }
    return line;
  };

  if (values.r !== undefined) {
    if (values.i !== undefined) throw new ValeError(ErrorCodes.INVALID_ARG, 'give -i or -r, not both');
    const reader = PcapReader.fromFile(values.r);
    const out: string[] = [];
    let n = 0;
    for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
      out.push(format(rec.tsSec, rec.tsFrac, rec.data, 0, rec.caplen, rec.origLen));
      if (++n === count) break;
      if (out.length >= 256) process.stdout.write(`${out.splice(0).join('\n')}\n`);
    }
    if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  if (values.i === undefined) {
    process.stderr.write(`uvale tcpdump: -i PORT or -r FILE is required\n\n${USAGE}\n`);
    return 2;
  }

  const port: NetmapPort = await connectPort(values.i, values.dir !== undefined ? { dir: values.dir } : {});
  const writer =
    values.w === undefined
      ? null
      : values.w === '-'
        ? PcapWriter.toStream(process.stdout, { snaplen })
        : PcapWriter.open(values.w, { snaplen });
  process.stderr.write(
    `tcpdump: ${writer === null ? 'verbose output suppressed, use -v[v]... for full protocol decode\n' : ''}` +
      `listening on ${port.name}, link-type EN10MB (Ethernet), snapshot length ${snaplen} bytes\n`,
  );
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const dropsAtStart = port.counters().dropRxFull;
  let captured = 0;
  // a frame spread over several slots (NS_MOREFRAG) is gathered here
  const chain = new ChainReader();
  const gathered = new Uint8Array(MAX_FRAGS * NM_BUF_SIZE);
  try {
    while (!stop && (count === 0 || captured < count)) {
      const r = await port.poll({ events: 'in', timeout: 200 });
      if (!r.in) continue;
      const ts = nowTimestamp();
      const out: string[] = [];
      for (const ring of port.rxRings) {
        const tail = ring.tail;
        let s = ring.head;
        let wait = false;
        while (s !== tail && (count === 0 || captured < count)) {
          let buf = ring.u8;
          let start = ring.buf(s);
          let total = ring.len(s);
          let next = ring.next(s);
          if ((ring.flags(s) & NS_MOREFRAG) !== 0) {
            if (!chain.walk(ring, s, tail)) {
              wait = true; // the rest of the chain is not here yet
              break;
            }
            const slots = Math.min(chain.slots, MAX_FRAGS);
            total = chain.gather(ring, s, slots, gathered, 0);
            buf = gathered;
            start = 0;
            next = chain.next;
          }
          const cap = Math.min(total, snaplen);
          if (writer !== null) writer.write(buf, start, cap, ts, total);
          else out.push(format(ts.sec, ts.frac, buf, start, cap, total));
          captured++;
          s = next;
        }
        ring.head = s;
        ring.cur = wait ? tail : s; // cur = tail: wake up when more arrives
      }
      if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
      writer?.flush();
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const dropped = port.counters().dropRxFull - dropsAtStart;
    port.close();
    await writer?.close();
    process.stderr.write(
      `${captured} packets captured\n${captured} packets received by filter\n${dropped} packets dropped by kernel\n`,
    );
  }
  return 0;
}
