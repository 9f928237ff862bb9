/*
 * Text renderings tcpdump puts around a packet: the hex dumps of -x/-xx
 * (hex_print) and -X/-XX (hex_and_ascii_print), and the default time stamp.
 *
 * A dump line is `<indent>0x0010:  4500 003c ...`: the offset, then 16 bytes
 * in groups of two (an odd last byte stands alone); the ASCII form pads the hex
 * part to 40 columns and adds two spaces and the bytes 0x21..0x7e as
 * themselves, anything else as '.'. tcpdump writes "\n\t" before each line, so
 * that is the internal default; hexDump() returns plain "\t"-indented lines.
 */

export interface HexLineOptions {
  /** Written before each line; tcpdump uses "\n\t". */
  indent?: string;
  /** Offset printed on the first line (tcpdump: 0). */
  startOffset?: number;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function offsetText(o: number): string {
  return `0x${o.toString(16).padStart(4, '0')}:`;
}

/** tcpdump's hex_print(): lines of `0xOOOO:  hhhh hhhh ...`. */
export function hexLines(buf: Uint8Array, off: number, len: number, opts: HexLineOptions = {}): string {
  const indent = opts.indent ?? '\n\t';
  let o = opts.startOffset ?? 0;
  let s = '';
  for (let i = 0; i < len; i += 16, o += 16) {
    s += `${indent}${offsetText(o)} `;
    const n = Math.min(16, len - i);
    for (let j = 0; j + 1 < n; j += 2) s += ` ${HEX[buf[off + i + j]]}${HEX[buf[off + i + j + 1]]}`;
    if (n % 2 === 1) s += ` ${HEX[buf[off + i + n - 1]]}`;
  }
  return s;
}

/** tcpdump's hex_and_ascii_print(): hex padded to 40 columns, two spaces, printable ASCII. */
export function hexAsciiLines(buf: Uint8Array, off: number, len: number, opts: HexLineOptions = {}): string {
  const indent = opts.indent ?? '\n\t';
  let o = opts.startOffset ?? 0;
  let s = '';
  for (let i = 0; i < len; i += 16, o += 16) {
    const n = Math.min(16, len - i);
    let hex = '';
    let asc = '';
    for (let j = 0; j < n; j++) {
      const c = buf[off + i + j];
      hex += j % 2 === 0 ? ` ${HEX[c]}` : HEX[c];
      asc += c > 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
    }
    s += `${indent}${offsetText(o)} ${hex.padEnd(40)}  ${asc}`;
  }
  return s;
}

export interface HexDumpOptions {
  /** Add the ASCII column (tcpdump -X instead of -x). */
  ascii?: boolean;
  /** Prefix of each line; default "\t" as tcpdump indents it. */
  indent?: string;
  startOffset?: number;
}

/**
 * A tcpdump -x style dump of buf[off, off+len): lines joined by "\n", each
 * "\t0x0000:  ffff ffff ...". Use linkHeaderLength (decode.ts) as `off` for -x,
 * the frame start for -xx.
 */
export function hexDump(buf: Uint8Array, off: number, len: number, opts: HexDumpOptions = {}): string {
  const n = Math.max(0, Math.min(len, buf.length - off));
  const lineOpts = { indent: `\n${opts.indent ?? '\t'}`, startOffset: opts.startOffset ?? 0 };
  const s = opts.ascii === true ? hexAsciiLines(buf, off, n, lineOpts) : hexLines(buf, off, n, lineOpts);
  return s.slice(1);
}

export interface TimestampOptions {
  /** Print in UTC instead of local time (tcpdump follows TZ). */
  utc?: boolean;
  /** `frac` is nanoseconds; print 9 digits (tcpdump --nano). Default microseconds, 6 digits. */
  nano?: boolean;
}

/** tcpdump's default time stamp `HH:MM:SS.uuuuuu` (local time) of seconds + fraction. */
export function formatTimestamp(sec: number, frac: number, opts: TimestampOptions = {}): string {
  const d = new Date(sec * 1000);
  const h = opts.utc === true ? d.getUTCHours() : d.getHours();
  const m = opts.utc === true ? d.getUTCMinutes() : d.getMinutes();
  const s = opts.utc === true ? d.getUTCSeconds() : d.getSeconds();
  const two = (v: number) => String(v).padStart(2, '0');
  const f = String(Math.max(0, Math.trunc(frac))).padStart(opts.nano === true ? 9 : 6, '0');
  return `${two(h)}:${two(m)}:${two(s)}.${f}`;
}
