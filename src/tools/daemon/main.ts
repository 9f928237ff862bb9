/*
 * `uvale daemon`: runs the switch daemon in the foreground (for systemd,
 * containers, or to watch its log). Clients start one on their own when none
 * runs; that one is started with --auto and exits when idle.
 */

import { parseArgs } from 'node:util';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { parseAssignment, type SettingsInit } from '../../core/settings.js';
import { Daemon } from '../../daemon/server.js';
import { parseVdeSpec } from '../../ports/vde/vde-server.js';
import { groupId } from '../common/groups.js';

export const USAGE = `usage: uvale daemon [options]

Runs the uvale switch daemon in the foreground. It hosts every switch of its
run directory; programs that open a port (vale[bdg:][port]) talk to it.

options:
  --dir DIR            run directory (default: $UVALE_RUN_DIR, $XDG_RUNTIME_DIR/uvale,
                       /run/uvale for root, else a private folder in the temp dir)
  --sysctl NAME=VALUE  initial setting, e.g. dev.netmap.max_ports=32 (repeatable)
  --group GROUP        let this group use the switch (socket mode 0660)
  --auto               exit after 2 s with no port and no client (as when auto-started)
  --idle-ms MS         idle time before --auto exits (default 2000)
  --vde DIR[:SWITCH]   also act as a vde_switch on DIR (DIR/ctl): each VDE client
                       (vde_plug vde:///DIR, qemu -netdev vde,sock=DIR) becomes port
                       SWITCH:vdeN (SWITCH default vale0) while it is connected (repeatable)
  --log FILE           write the log to FILE (default stderr); SIGHUP reopens it (logrotate)
  --log-format FORMAT  text (default) or json (one object per line: time, level, pid, msg)
  --http [ADDR:]PORT   serve Prometheus metrics at /metrics and a live view of the switches
                       at / (ADDR default 127.0.0.1; read-only, GET only)
  -h, --help           this text

Stop it with SIGINT or SIGTERM.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      sysctl: { type: 'string', multiple: true },
      group: { type: 'string' },
      auto: { type: 'boolean' },
      'idle-ms': { type: 'string' },
      vde: { type: 'string', multiple: true },
      http: { type: 'string' },
      log: { type: 'string' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const settings: SettingsInit = {};
  for (const a of values.sysctl ?? []) {
    const { name, value } = parseAssignment(a);
    settings[name] = value;
  }
  const idleMs = values['idle-ms'] === undefined ? 2000 : Number(values['idle-ms']);
  if (!Number.isInteger(idleMs) || idleMs < 0) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `--idle-ms must be a non-negative integer`);
  }
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new ValeError(ErrorCodes.INVALID_ARG, `--log-format is text or json, not '${logFormat}'`);
  }
  const d = new Daemon({
    logFormat,
    ...(values.log !== undefined ? { logFile: values.log } : {}),
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    settings,
    autoExit: values.auto === true,
    idleMs,
    ...(values.group !== undefined ? { group: groupId(values.group) } : {}),
    ...(values.vde !== undefined ? { vde: values.vde.map(parseVdeSpec) } : {}),
    ...(values.http !== undefined ? { http: values.http } : {}),
  });
  await d.start();
  const stop = (sig: string) => () => void d.stop(`signal ${sig}`);
  process.once('SIGINT', stop('SIGINT'));
  process.once('SIGTERM', stop('SIGTERM'));
  process.on('SIGHUP', () => d.reopenLog()); // logrotate's postrotate
  await d.stopped;
  return 0;
}
