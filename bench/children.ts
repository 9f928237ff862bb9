/*
 * Starting the measurement processes. Every run is a separate child (a fresh
 * V8 for uvale, a fresh process for C) that prints one JSON line; nothing runs
 * in the runner's own process, so one figure's JIT state or heap never
 * affects the next.
 *
 * The C reference (bench/c/engine.c) is compiled here with the system's
 * `cc -O2` into a temporary directory that is removed when the runner exits.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './figures.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
export const REPO = resolve(HERE, '..', '..');
export const C_SOURCE = join(REPO, 'bench', 'c', 'engine.c');
/** The uvale command (bin/uvale), run with this node. */
export const BIN = join(REPO, 'bin', 'uvale');
const JS_CHILD = join(HERE, 'engine', 'engine-js.js');
const DAEMON_CHILD = join(HERE, 'daemon', 'daemon-child.js');

/** What a child prints (see engine-js.ts / engine.c). */
export interface RunResult {
  impl: 'js' | 'c' | 'daemon';
  topo: string;
  size: number;
  batch: number;
  frames_in: number;
  frames_out: number;
  secs: number;
  /** CPU time of the child during the timed window; well below `secs` means the VM took the core away. */
  cpu_secs: number;
  mpps: number;
  gbps: number;
  checked: number;
  mismatches: number;
  drops: number;
  error?: string;
}

export interface Timing {
  warmup: number;
  secs: number;
}

/** Compiles the C engine; returns the binary's path, or an error message. */
export function compileC(): { bin: string; version: string } | { error: string } {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'engine.bin');
  const cc = spawnSync('cc', ['-O2', '-o', bin, C_SOURCE], { encoding: 'utf8' });
  if (cc.error !== undefined) return { error: `cc: ${cc.error.message}` };
  if (cc.status !== 0) return { error: `cc -O2 ${C_SOURCE} failed:\n${cc.stderr}` };
  const v = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  return { bin, version: (v.stdout ?? '').split('\n')[0] ?? 'cc' };
}

function args(c: Config, t: Timing): string[] {
  return [
    '--topo',
    c.topo,
    '--size',
    String(c.size),
    '--batch',
    String(c.batch),
    '--warmup',
    String(t.warmup),
    '--secs',
    String(t.secs),
    ...(c.monitor === undefined ? [] : ['--monitor', c.monitor]),
  ];
}

function run(cmd: string, argv: string[], t: Timing): RunResult | { error: string } {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: (t.warmup + t.secs) * 1000 + 60_000 });
  if (r.error !== undefined) return { error: r.error.message };
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: RunResult | undefined;
  try {
    parsed = JSON.parse(line) as RunResult;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || typeof parsed.mpps !== 'number') {
    const why = r.signal !== null ? `killed by ${r.signal}` : `exit ${r.status}`;
    return { error: `${why}, no result; stderr: ${(r.stderr ?? '').trim().slice(-400)}` };
  }
  return parsed;
}

export function runJs(c: Config, t: Timing): RunResult | { error: string } {
  return run(process.execPath, [JS_CHILD, ...args(c, t)], t);
}

/** A cross-process run (daemon + two pkt-gens); it needs a longer window than the in-process ones to settle. */
export function runDaemon(c: Config, t: Timing): RunResult | { error: string } {
  const warmup = Math.max(1, t.warmup);
  const secs = Math.max(2, t.secs);
  return run(
    process.execPath,
    [
      DAEMON_CHILD,
      '--size',
      String(c.size),
      '--warmup',
      String(warmup),
      '--secs',
      String(secs),
      ...(c.slots === undefined ? [] : ['--slots', String(c.slots)]),
    ],
    { warmup, secs: secs + 10 },
  );
}

/**
 * The in-process figure a daemon or monitor figure is compared with: unicast,
 * same frame size, batch 1024, no monitor.
 */
export function embeddedRef(c: Config): Config {
  return { topo: 'unicast', size: c.size, batch: 1024 };
}

export function runC(bin: string, c: Config, t: Timing): RunResult | { error: string } {
  return run(bin, args(c, t), t);
}
