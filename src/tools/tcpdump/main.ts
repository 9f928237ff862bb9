/*
 * `uvale tcpdump`: capture on a switch port, as netmap's tcpdump does on a
 * VALE port: the port receives what the switch floods or forwards to it, and
 * every frame is printed in tcpdump's style or written to a pcap file that
 * tcpdump, tshark and Wireshark read. `-r` prints a pcap file instead.
 *
 * Lines are built per batch and written with one write, so printing keeps up
 * as well as a terminal allows; frames the switch could not put in the capture
 * port's RX ring while we printed are counted and reported as drops at that
 * port. A filter expression is compiled by libpcap (filter.ts) and run as
 * classic BPF on every frame. The output file is opened before the port, and
 * the port is closed on every way out.
 *
 * A port another program holds is captured through a netmap monitor
 * (PORT/r, /t, /rt: ports.ts, docs/monitors.md); when that port closes, the
 * monitor ends and so does the capture, with its summary.
 */

import { ErrorCodes, ValeError } from '../../core/errors.js';
import type { BpfProgram } from '../../pkt/bpf.js';
import { Decoder, hexDump } from '../../pkt/decode.js';
import { nowTimestamp, PcapReader, PcapWriter } from '../../pkt/pcap.js';
import type { NetmapPort } from '../../ports/port.js';
import { ChainReader } from '../../ring/chain.js';
import { MAX_FRAGS, NM_BUF_SIZE, NS_MOREFRAG } from '../../ring/layout.js';
import { intArg, onEarlyExit, parseToolArgs, runTool, UsageError } from '../common/cli.js';
import { compileFilter } from './filter.js';
import { listPorts, openCapture } from './ports.js';
import { stampFormatter, verboseIp } from './print.js';

export const USAGE = `usage: uvale tcpdump [options] -i PORT | -r FILE | -D  [EXPRESSION]

Captures the frames a switch port receives (the switch floods broadcast and
unknown destinations to every port, so a capture port sees those). When
another program holds PORT, captures a copy of its traffic through a netmap
monitor (PORT/rt, or /r, /t with -Q), and says so on stderr.

  -i PORT        port to capture on, vale[bdg:][port] (e.g. vale-a:1), or a
                 monitor of it: PORT/r (what PORT receives), PORT/t (what it
                 sends), PORT/rt (both)
  -r FILE        read frames from a pcap file instead
  -w FILE        write frames to a pcap file (- for stdout) instead of printing
  -D             list the ports of the daemon that -i accepts
  -c COUNT       exit after COUNT frames (counted after the filter)
  -n             do not resolve addresses (uvale never does; accepted for tcpdump's -n)
  -e             print the link-level header (MAC addresses, ethertype)
  -v             print the IP header's fields too (tos, ttl, id, offset, flags,
                 proto, length; IPv6: class, flowlabel, hlim, next-header,
                 payload length); -vv is the same
  -t             no time stamp; -tt seconds since 1970; -tttt date and time
  -x             print each frame in hex, without its link header (-xx: with it)
  -X             like -x with an ASCII column
  -s SNAPLEN     bytes kept per frame in -w files (default 262144)
  -q             print less protocol detail
  -Q DIR         in, out or inout (the default), as tcpdump's direction: PORT is
                 the interface as its program sees it, so in = what the switch
                 delivers to PORT (PORT/r), out = what PORT's program sends
                 (PORT/t); out needs a port another program holds
  --dir DIR      run directory of the daemon
  -h, --help     this text

EXPRESSION is a pcap-filter(7) expression (e.g. 'udp port 53'); it is compiled
by libpcap through the installed tcpdump ('tcpdump -ddd') and run here as
classic BPF. For anything uvale tcpdump does not print (other -v details, -A,
protocol options), pipe the capture to the real tcpdump:
  uvale tcpdump -i vale-a:1 -w - | tcpdump -r - -vv

Drops at the end are frames the switch could not put in the capture port's
RX ring while the capture was busy (the port's dropRxFull counter, or a
monitor's dropMonitor); the monitored port loses nothing to them.`;

export function run(argv: string[]): Promise<number> {
  return runTool('tcpdump', () => tcpdump(argv));
}

async function tcpdump(argv: string[]): Promise<number> {
  const { values, positionals } = parseToolArgs({
    args: argv,
    allowPositionals: true,
    options: {
      i: { type: 'string', short: 'i' },
      r: { type: 'string', short: 'r' },
      w: { type: 'string', short: 'w' },
      c: { type: 'string', short: 'c' },
      D: { type: 'boolean', short: 'D' },
      n: { type: 'boolean', short: 'n', multiple: true },
      e: { type: 'boolean', short: 'e' },
      v: { type: 'boolean', short: 'v', multiple: true },
      t: { type: 'boolean', short: 't', multiple: true },
      x: { type: 'boolean', short: 'x', multiple: true },
      X: { type: 'boolean', short: 'X', multiple: true },
      s: { type: 'string', short: 's' },
      q: { type: 'boolean', short: 'q' },
      Q: { type: 'string', short: 'Q' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dirOpt = values.dir !== undefined ? { dir: values.dir } : {};
  if (values.D) {
    process.stdout.write(await listPorts(dirOpt));
    return 0;
  }
  const count = intArg(values.c, '-c', 0, 0);
  const snaplen = intArg(values.s, '-s', 262144, 1, 262144);
  const q = values.Q;
  if (q !== undefined && q !== 'in' && q !== 'out' && q !== 'inout') {
    throw new UsageError(`-Q takes in, out or inout, not '${q}'`);
  }
  if (q !== undefined && values.i === undefined) throw new UsageError('-Q is for a live capture (-i PORT)');
  const tflag = values.t?.length ?? 0;
  if (tflag === 3 || tflag > 4)
    throw new UsageError('-t, -tt and -tttt are supported (no time stamp, epoch seconds, date and time)');
  const stampOf = stampFormatter(tflag);
  const verbose = (values.v?.length ?? 0) > 0;
  const filter: BpfProgram | null = positionals.length > 0 ? compileFilter(positionals.join(' ')) : null;
  const hex = (values.x?.length ?? 0) + (values.X?.length ?? 0);
  const ascii = (values.X?.length ?? 0) > 0;
  const decoder = new Decoder({ link: values.e === true, suppressDefaultPrint: hex > 0 });
  const format = (sec: number, frac: number, buf: Uint8Array, off: number, caplen: number, len: number): string => {
    const r = decoder.decodeFull(buf, off, caplen, len);
    const text = verbose ? verboseIp(r.text, buf, off, caplen, values.e === true) : r.text;
    let line = `${stampOf(sec, frac)}${text}`;
    if (hex > 0) {
      const skip = hex >= 2 ? 0 : r.linkHeaderLength;
      if (caplen - skip > 0) line += `\n${hexDump(buf, off + skip, caplen - skip, { ascii })}`;
    }
    return line;
  };

  if (values.r !== undefined) {
    if (values.i !== undefined) throw new UsageError('give -i or -r, not both');
    const reader = PcapReader.fromFile(values.r);
    const out: string[] = [];
    let n = 0;
    for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
      if (filter !== null && filter.run(rec.data, 0, rec.caplen, rec.origLen) === 0) continue;
      out.push(format(rec.tsSec, rec.tsFrac, rec.data, 0, rec.caplen, rec.origLen));
      if (++n === count) break;
      if (out.length >= 256) process.stdout.write(`${out.splice(0).join('\n')}\n`);
    }
    if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  if (values.i === undefined) throw new UsageError('-i PORT, -r FILE or -D is required');

  // the file first: a path that cannot be written fails before any port exists
  const writer =
    values.w === undefined
      ? null
      : values.w === '-'
        ? PcapWriter.toStream(process.stdout, { snaplen })
        : PcapWriter.open(values.w, { snaplen });
  let port: NetmapPort;
  try {
    writer?.flush(); // the file header now: a file that cannot be written (EIO, ENOSPC) fails here
    const cap = await openCapture(values.i, q, dirOpt);
    port = cap.port;
    if (cap.note !== null) process.stderr.write(`${cap.note}\n`);
  } catch (e) {
    await writer?.close();
    throw e;
  }
  const forget = onEarlyExit(() => port.close());
  process.stderr.write(
    `tcpdump: ${writer === null && !verbose ? 'verbose output suppressed, use -v[v]... for full protocol decode\n' : ''}` +
      `listening on ${port.name}, link-type EN10MB (Ethernet), snapshot length ${snaplen} bytes\n`,
  );
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const dropsOf = (c: { dropRxFull: number; dropMonitor: number }): number => c.dropRxFull + c.dropMonitor;
  const dropsAtStart = dropsOf(port.counters());
  let ended = '';
  let captured = 0;
  let received = 0;
  let dropped = 0;
  // a frame spread over several slots (NS_MOREFRAG) is gathered here
  const chain = new ChainReader();
  const gathered = new Uint8Array(MAX_FRAGS * NM_BUF_SIZE);
  try {
    while (!stop && (count === 0 || captured < count)) {
      let r: { in: boolean };
      try {
        r = await port.poll({ events: 'in', timeout: 200 });
      } catch (e) {
        // a monitor whose port closed: everything copied was read, the capture ends
        if (!(e instanceof ValeError && e.code === ErrorCodes.CLOSED && port.name.includes('/'))) throw e;
        ended = e.message;
        break;
      }
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
          received++;
          if (filter === null || filter.run(buf, start, cap, total) !== 0) {
            if (writer !== null) writer.write(buf, start, cap, ts, total);
            else out.push(format(ts.sec, ts.frac, buf, start, cap, total));
            captured++;
          }
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
    dropped = dropsOf(port.counters()) - dropsAtStart;
    port.close();
    forget();
    await writer?.close();
  }
  if (ended !== '') process.stderr.write(`tcpdump: ${ended}\n`);
  process.stderr.write(
    `${captured} packets captured\n${received} packets received by filter\n` +
      `${dropped} packets dropped at ${port.name} (its RX ring was full)\n`,
  );
  return 0;
}
