/*
 * What every tool does the same way at its edges:
 *
 * - parseToolArgs: node:util's parseArgs with the tool's own words for a
 *   mistake (no parser text such as `'-- "-x"`), and `--f` refused where only
 *   `-f` exists, so a long spelling never silently means a short option.
 * - UsageError: a mistake in the command line; runTool prints it as
 *   `uvale <tool>: ...` with a pointer to --help and exits 2, as getopt tools do.
 * - runTool: runs a tool's body so that every failure ends with the tool's
 *   prefix and a code (a system error's errno, e.g. [ENOENT]), and a reader
 *   that closes the pipe (`| head`) ends the tool quietly after its cleanups.
 */

import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** parseArgs (strict) with usage errors a user can read; throws UsageError. */
export function parseToolArgs<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T & { tokens: true }>> {
  let parsed: ReturnType<typeof parseArgs<T & { tokens: true }>>;
  try {
    parsed = parseArgs({ ...config, tokens: true as const });
  } catch (e) {
    throw new UsageError(parserMessage(e as Error & { code?: string }));
  }
  for (const t of parsed.tokens ?? []) {
    if (t.kind === 'option' && t.rawName.startsWith('--') && t.name.length === 1) {
      throw new UsageError(`unknown option '${t.rawName}' (did you mean -${t.name}?)`);
    }
  }
  return parsed;
}

function parserMessage(e: Error & { code?: string }): string {
  const m = e.message;
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const o = /Unknown option '([^']*)'/.exec(m)?.[1] ?? '?';
      return `unknown option '${o}'`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const names = /Option '(?:(-\S), )?(--\S+)/.exec(m);
      const short = names?.[1];
      const long = names?.[2] ?? '?';
      const name = short ?? (long.length === 3 ? long.slice(1) : long);
      if (m.includes('argument missing')) return `option ${name} needs a value`;
      return `option ${name} takes no value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const a = /Unexpected argument '([^']*)'/.exec(m)?.[1] ?? '?';
      return `unexpected argument '${a}'`;
    }
    default:
      return m;
  }
}

/** A value checked after parsing: an integer in [min, max] or a UsageError. */
export function intArg(
  v: string | undefined,
  name: string,
  dflt: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return dflt;
  const n = /^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

const cleanups = new Set<() => void>();

/** Registers work to do if the tool must end early (closed pipe); returns the unregister function. */
export function onEarlyExit(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

let pipeGuarded = false;

/** A closed stdout (EPIPE: the reader went away) ends the tool quietly, status 0, after its cleanups. */
export function exitQuietlyOnClosedPipe(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    for (const fn of cleanups) {
      try {
        fn();
      } catch {
        // ending anyway
      }
    }
    process.exit(0);
  });
}

/** Runs a tool: usage errors exit 2, system errors exit 1 with the tool's prefix and errno code. */
export async function runTool(tool: string, body: () => Promise<number>): Promise<number> {
  exitQuietlyOnClosedPipe();
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`uvale ${tool}: ${e.message}\nSee 'uvale ${tool} --help'.\n`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    if (typeof err.syscall === 'string' && typeof err.code === 'string') {
      const what = err.path !== undefined ? `${err.path}: ` : '';
      const text = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
      process.stderr.write(`uvale ${tool}: ${what}${text} [${err.code}]\n`);
      return 1;
    }
    throw e;
  }
}
