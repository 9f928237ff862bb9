/*
 * `uvale <command> [args]`: dispatches to one tool per folder in src/tools.
 * Each tool module exports `run(argv): Promise<number>` (the exit code) and
 * prints its own `--help`. Tools are imported lazily so `uvale pkt-gen` does
 * not load the daemon and the other way round.
 */

import { isValeError } from '../core/errors.js';
import { exitQuietlyOnClosedPipe } from '../tools/common/cli.js';
import { TOOLS, type Tool } from '../tools/index.js';

const COMMANDS = new Map<string, Tool>(TOOLS.map((t) => [t.name, t]));

export function usage(): string {
  const tools = [...TOOLS].sort((a, b) => a.name.localeCompare(b.name));
  const w = Math.max(8, ...tools.map((t) => t.name.length));
  const lines = tools.map((t) => `  ${t.name.padEnd(w)}  ${t.summary}`);
  return [
    'usage: uvale <command> [options]',
    '',
    'VALE in userspace: a software Ethernet switch. Ports are named vale[bdg:][port],',
    'e.g. vale-a:1; the first program that opens one creates the switch and the port.',
    '',
    'commands:',
    ...lines,
    '',
    "Run 'uvale <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnClosedPipe(); // `uvale --help | head -1`, `uvale ctl | head`: a closed pipe ends quietly, status 0
  const [cmd, ...rest] = argv;
  if (cmd === 'help' && rest[0] !== undefined && COMMANDS.has(rest[0])) {
    return main([rest[0], '--help']); // `uvale help pkt-gen` is `uvale pkt-gen --help`
  }
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(`${usage()}\n`);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === 'version') {
    const { VERSION } = await import('../core/version.js');
    process.stdout.write(`uvale ${VERSION}\n`);
    return 0;
  }
  const c = COMMANDS.get(cmd);
  if (c === undefined) {
    process.stderr.write(`uvale: unknown command '${cmd}'\n\n${usage()}\n`);
    return 2;
  }
  const mod = await c.load();
  try {
    return await mod.run(rest);
  } catch (e) {
    if (isValeError(e)) {
      process.stderr.write(`uvale ${cmd}: ${e.message} [${e.code}]\n`);
      return 1;
    }
    // daemon and apply still call node's parseArgs directly; the other tools throw UsageError (runTool)
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      // a usage mistake: say what and where to look, exit 2 as getopt-based tools do
      process.stderr.write(`uvale ${cmd}: ${(e as Error).message}\nSee 'uvale ${cmd} --help'.\n`);
      return 2;
    }
    throw e;
  }
}
