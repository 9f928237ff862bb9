/*
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`) by function: self time
 * and total (inclusive) time as a share of all samples, hottest first. Used to
 * see where the engine child spends its time (BENCHMARKS.md, "Profiling").
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/engine/engine-js.js --secs 3
 *   node dist/bench/profile-summary.js /tmp/prof/*.cpuprofile [--top N]
 */

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const where = f.url === '' ? '' : ` ${basename(f.url)}:${f.lineNumber + 1}`;
  return `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
}

function summarize(file: string, top: number): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    let id: number | undefined = p.samples[i] as number;
    const leaf = label(byId.get(id) as ProfileNode);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    const seen = new Set<string>();
    while (id !== undefined) {
      const l = label(byId.get(id) as ProfileNode);
      if (!seen.has(l)) {
        seen.add(l);
        total.set(l, (total.get(l) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  process.stdout.write(`${file}: ${(all / 1e6).toFixed(2)} s sampled\n  self%  total%  function\n`);
  for (const [name, t] of rows) {
    const pct = (x: number): string => ((100 * x) / all).toFixed(1).padStart(5);
    process.stdout.write(`  ${pct(t)}  ${pct(total.get(name) ?? 0)}   ${name}\n`);
  }
}

const args = process.argv.slice(2);
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args[ti + 1]) : 25;
const files = args.filter((a, i) => a !== '--top' && i !== ti + 1);
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile... [--top N]\n');
  process.exit(2);
}
for (const f of files) summarize(f, top);
