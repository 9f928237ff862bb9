/*
 * Open vSwitch for tests, without systemd: ovsdb-server and ovs-vswitchd of
 * Debian's openvswitch-switch, started by the test inside a network
 * namespace, with their database, sockets, pid files and logs in a private
 * temporary directory (OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR), so that several
 * can run at once and nothing of the machine's is touched. Bridges use the
 * userspace datapath (`datapath_type=netdev`): this kernel has no OVS module.
 *
 *   const o = await startOvs('vyo', NS);        // or a skip reason (string)
 *   o.vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev');
 *   o.appctl('ovs/route/show');
 *   await o.stop();                             // by pid, then the directory goes
 *
 * Only the processes this helper started are stopped, by their pid files.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

export interface OvsResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Ovs {
  dir: string;
  netns: string;
  /** ovs-vsctl against this instance; throws with stderr on failure unless `ok` is passed first. */
  vsctl(...args: string[]): string;
  /** ovs-appctl to this instance's ovs-vswitchd. */
  appctl(...args: string[]): OvsResult;
  /** ovs-ofctl to a bridge of this instance. */
  ofctl(...args: string[]): OvsResult;
  /** The end of ovs-vswitchd's log. */
  log(): string;
  stop(): Promise<void>;
}

function run(cmd: string[], env: NodeJS.ProcessEnv): OvsResult {
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', env, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

/** Why OVS cannot run here (not root, not installed), or null. */
export function ovsSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const b of ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-appctl']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return `${b} is not installed (openvswitch-switch)`;
  }
  if (!existsSync(SCHEMA)) return `no ${SCHEMA}`;
  return null;
}

function pidOf(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

async function killPid(pid: number | null): Promise<void> {
  if (pid === null) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/**
 * Starts ovsdb-server and ovs-vswitchd inside namespace `netns` (which must exist), each detached
 * with its pid file in a new temporary directory; returns the instance, or why it could not start.
 */
export async function startOvs(tag: string, netns: string): Promise<Ovs | string> {
  const skip = ovsSkipReason();
  if (skip !== null) return skip;
  const dir = mkdtempSync(join(tmpdir(), `${tag}-ovs-`));
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
  const db = join(dir, 'conf.db');
  const sock = join(dir, 'db.sock');
  const inNs = ['ip', 'netns', 'exec', netns];
  const dbPid = join(dir, 'ovsdb-server.pid');
  const swPid = join(dir, 'ovs-vswitchd.pid');
  const stop = async (): Promise<void> => {
    await killPid(pidOf(swPid));
    await killPid(pidOf(dbPid));
    rmSync(dir, { recursive: true, force: true });
  };
  const fail = async (what: string, r: OvsResult): Promise<string> => {
    const log = existsSync(join(dir, 'ovs-vswitchd.log')) ? readFileSync(join(dir, 'ovs-vswitchd.log'), 'utf8') : '';
    await stop();
    return `${what} failed (${r.code}): ${r.stderr.trim().slice(0, 300)} ${log.slice(-300)}`;
  };
  let r = run(['ovsdb-tool', 'create', db, SCHEMA], env);
  if (r.code !== 0) return fail('ovsdb-tool create', r);
  r = run(
    [
      ...inNs,
      'ovsdb-server',
      db,
      `--remote=punix:${sock}`,
      `--pidfile=${dbPid}`,
      `--unixctl=${join(dir, 'ovsdb-server.ctl')}`,
      `--log-file=${join(dir, 'ovsdb-server.log')}`,
      '--detach',
    ],
    env,
  );
  if (r.code !== 0) return fail('ovsdb-server', r);
  r = run(['ovs-vsctl', `--db=unix:${sock}`, '--no-wait', 'init'], env);
  if (r.code !== 0) return fail('ovs-vsctl init', r);
  const swCtl = join(dir, 'ovs-vswitchd.ctl');
  r = run(
    [
      ...inNs,
      'ovs-vswitchd',
      `unix:${sock}`,
      `--pidfile=${swPid}`,
      `--unixctl=${swCtl}`,
      `--log-file=${join(dir, 'ovs-vswitchd.log')}`,
      '--detach',
    ],
    env,
  );
  if (r.code !== 0) return fail('ovs-vswitchd', r);
  const o: Ovs = {
    dir,
    netns,
    vsctl: (...args: string[]): string => {
      const x = run(['ovs-vsctl', `--db=unix:${sock}`, '--timeout=20', ...args], env);
      if (x.code !== 0) throw new Error(`ovs-vsctl ${args.join(' ')}: ${x.stderr.trim()}`);
      return x.stdout;
    },
    appctl: (...args: string[]): OvsResult => run(['ovs-appctl', '-t', swCtl, ...args], env),
    ofctl: (...args: string[]): OvsResult => run([...inNs, 'ovs-ofctl', ...args], env),
    log: (): string => {
      try {
        return readFileSync(join(dir, 'ovs-vswitchd.log'), 'utf8').slice(-2000);
      } catch {
        return '';
      }
    },
    stop,
  };
  return o;
}
