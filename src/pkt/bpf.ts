/*
 * Classic BPF (the filter language of pcap-filter(7) once libpcap compiled
 * it): a validator and a small, bounded interpreter.
 *
 * The program is checked once, as the kernel's bpf_validate does: at most
 * BPF_MAXINSNS instructions, known opcodes only, jumps forward and inside the
 * program, scratch memory indexes below 16, no division by a constant zero,
 * and a return as the last instruction. So every run ends after at most one
 * pass over the program. A run reads only the captured bytes: a load outside
 * them, or a division by X = 0, rejects the frame (returns 0), as the kernel
 * does. Registers are unsigned 32 bits. The program lives in one Uint32Array
 * (code, jt, jf, k per instruction) and the scratch memory is allocated once,
 * so filtering a frame allocates nothing.
 */

export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;

// instruction classes, sizes, modes, operations (bpf.h)
const LD = 0x00;
const LDX = 0x01;
const ST = 0x02;
const STX = 0x03;
const ALU = 0x04;
const JMP = 0x05;
const RET = 0x06;
const MISC = 0x07;
const W = 0x00;
const H = 0x08;
const B = 0x10;
const IMM = 0x00;
const ABS = 0x20;
const IND = 0x40;
const MEM = 0x60;
const LEN = 0x80;
const MSH = 0xa0;
const X_SRC = 0x08;

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export class BpfError extends Error {
  override name = 'BpfError';
}

/** Parses `tcpdump -ddd` output: a count line, then `code jt jf k` in decimal per line. */
export function parseBpfDecimal(text: string): BpfInsn[] {
  const lines = text
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const n = Number(lines[0]);
  if (!Number.isInteger(n) || n < 1 || n !== lines.length - 1) throw new BpfError('not a BPF program listing');
  const out: BpfInsn[] = [];
  for (const l of lines.slice(1)) {
    const f = l.split(/\s+/).map(Number);
    if (f.length !== 4 || f.some((x) => !Number.isInteger(x) || x < 0)) throw new BpfError(`bad BPF line '${l}'`);
    out.push({ code: f[0] as number, jt: f[1] as number, jf: f[2] as number, k: (f[3] as number) >>> 0 });
  }
  return out;
}

function validOpcode(code: number): boolean {
  if (code > 0xff) return false; // every opcode is one byte: higher bits would be ignored by run()
  switch (code & 0x07) {
    case LD: {
      const mode = code & 0xe0;
      if (mode === IMM || mode === LEN) return (code & 0x18) === W && (code & ~0xf8) === 0;
      if (mode === ABS || mode === IND) return (code & 0x18) !== 0x18;
      if (mode === MEM) return (code & 0x18) === W;
      return false;
    }
    case LDX: {
      const mode = code & 0xe0;
      if (mode === MSH) return (code & 0x18) === B;
      return (mode === IMM || mode === MEM || mode === LEN) && (code & 0x18) === W;
    }
    case ST:
    case STX:
      return (code & 0xf8) === 0;
    case ALU: {
      const op = code & 0xf0;
      if ((code & 0x07) !== ALU || (code & ~0xff) !== 0) return false;
      if (op === 0x80) return (code & X_SRC) === 0;
      return op <= 0xa0;
    }
    case JMP: {
      const op = code & 0xf0;
      if (op === 0x00) return (code & X_SRC) === 0;
      return op <= 0x40;
    }
    case RET: {
      const r = code & 0x18;
      return (code & 0xe0) === 0 && (r === 0x00 || r === 0x08 || r === 0x10);
    }
    case MISC:
      return code === 0x07 || code === 0x87;
  }
  return false;
}

/** A validated classic BPF program and its interpreter. */
export class BpfProgram {
  readonly length: number;
  private readonly insns: Uint32Array;
  private readonly mem = new Uint32Array(BPF_MEMWORDS);

  constructor(program: readonly BpfInsn[]) {
    const n = program.length;
    if (n < 1 || n > BPF_MAXINSNS) throw new BpfError(`a BPF program has 1 to ${BPF_MAXINSNS} instructions, not ${n}`);
    this.insns = new Uint32Array(n * 4);
    for (let pc = 0; pc < n; pc++) {
      const { code, jt, jf, k } = program[pc] as BpfInsn;
      if (!Number.isInteger(code) || code < 0 || code > 0xffff || !validOpcode(code)) {
        throw new BpfError(`instruction ${pc}: unknown opcode 0x${code.toString(16)}`);
      }
      const cls = code & 0x07;
      if (cls === JMP) {
        const ja = (code & 0xf0) === 0;
        // forward only, and inside the program
        if (ja ? k >= n - pc - 1 : jt >= n - pc - 1 || jf >= n - pc - 1 || jt > 255 || jf > 255) {
          throw new BpfError(`instruction ${pc}: jump out of the program`);
        }
      }
      if ((cls === ST || cls === STX || ((cls === LD || cls === LDX) && (code & 0xe0) === MEM)) && k >= BPF_MEMWORDS) {
        throw new BpfError(`instruction ${pc}: scratch memory index ${k} out of range`);
      }
      if (cls === ALU && (code & X_SRC) === 0 && ((code & 0xf0) === 0x30 || (code & 0xf0) === 0x90) && k === 0) {
        throw new BpfError(`instruction ${pc}: division by zero`);
      }
      this.insns[pc * 4] = code;
      this.insns[pc * 4 + 1] = jt;
      this.insns[pc * 4 + 2] = jf;
      this.insns[pc * 4 + 3] = k >>> 0;
    }
    if ((program[n - 1]?.code ?? 0) % 8 !== RET) throw new BpfError('the last instruction must be a return');
    this.length = n;
  }

  /**
   * Runs the program over buf[off, off + caplen) of a frame `wirelen` bytes long;
   * returns the bytes to keep (0 = reject).
   */
  run(buf: Uint8Array, off: number, caplen: number, wirelen: number): number {
    const p = this.insns;
    const mem = this.mem;
    mem.fill(0);
    let a = 0;
    let x = 0;
    let pc = 0;
    for (;;) {
      const i = pc * 4;
      const code = p[i] as number;
      const k = p[i + 3] as number;
      pc++;
      switch (code & 0x07) {
        case LD:
        case LDX: {
          const mode = code & 0xe0;
          let v: number;
          if (mode === IMM) v = k;
          else if (mode === LEN) v = wirelen >>> 0;
          else if (mode === MEM) v = mem[k] as number;
          else {
            let at: number;
            let size: number;
            if (mode === MSH) {
              at = k;
              size = 1;
            } else {
              at = mode === IND ? x + k : k;
              const s = code & 0x18;
              size = s === W ? 4 : s === H ? 2 : 1;
            }
            if (at > 0xffffffff || at + size > caplen) return 0;
            const o = off + at;
            if (size === 4)
              v =
                ((buf[o] as number) * 0x1000000 +
                  ((buf[o + 1] as number) << 16) +
                  ((buf[o + 2] as number) << 8) +
                  (buf[o + 3] as number)) >>>
                0;
            else if (size === 2) v = ((buf[o] as number) << 8) | (buf[o + 1] as number);
            else v = buf[o] as number;
            if (mode === MSH) v = (v & 0x0f) << 2;
          }
          if ((code & 0x07) === LD) a = v;
          else x = v;
          break;
        }
        case ST:
          mem[k] = a;
          break;
        case STX:
          mem[k] = x;
          break;
        case ALU: {
          const v = (code & X_SRC) !== 0 ? x : k;
          switch (code & 0xf0) {
            case 0x00:
              a = (a + v) >>> 0;
              break;
            case 0x10:
              a = (a - v) >>> 0;
              break;
            case 0x20:
              a = Math.imul(a, v) >>> 0;
              break;
            case 0x30:
              if (v === 0) return 0;
              a = Math.floor(a / v) >>> 0;
              break;
            case 0x40:
              a = (a | v) >>> 0;
              break;
            case 0x50:
              a = (a & v) >>> 0;
              break;
            case 0x60:
              a = v >= 32 ? 0 : (a << v) >>> 0;
              break;
            case 0x70:
              a = v >= 32 ? 0 : a >>> v;
              break;
            case 0x80:
              a = -a >>> 0;
              break;
            case 0x90:
              if (v === 0) return 0;
              a = a % v;
              break;
            default:
              a = (a ^ v) >>> 0;
          }
          break;
        }
        case JMP: {
          const op = code & 0xf0;
          if (op === 0x00) {
            pc += k;
            break;
          }
          const v = (code & X_SRC) !== 0 ? x : k;
          const t = op === 0x10 ? a === v : op === 0x20 ? a > v : op === 0x30 ? a >= v : (a & v) !== 0;
          pc += t ? (p[i + 1] as number) : (p[i + 2] as number);
          break;
        }
        case RET: {
          const r = code & 0x18;
          return r === 0x00 ? k : r === 0x08 ? x : a;
        }
        default:
          if (code === 0x07) x = a;
          else a = x;
      }
    }
  }
}
