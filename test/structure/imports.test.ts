/*
 * The folder tree is the architecture (docs/architecture.md): every import
 * between folders of src/ must point down the layers below. A new import
 * against them, or a cycle between folders, fails here with the file and the
 * line that made it.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'src');

/** What each folder of src/ may import, besides itself; '(root)' is the public API, src/index.ts. */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  core: [],
  sys: ['core'],
  ring: ['core'],
  pkt: ['core'],
  virtio: ['core', 'sys', 'ring', 'pkt'],
  switch: ['core', 'sys', 'ring', 'pkt'],
  control: ['core', 'sys', 'ring', 'pkt', 'switch'],
  ports: ['core', 'sys', 'ring', 'pkt', 'virtio', 'switch', 'control'],
  daemon: ['core', 'sys', 'ring', 'pkt', 'switch', 'control', 'ports'],
  tools: ['core', 'sys', 'ring', 'pkt', 'switch', 'control', 'ports', 'daemon', '(root)'],
  cli: ['core', 'tools'],
};

export interface Edge {
  from: string;
  to: string;
  where: string;
}

/** Folder-to-folder imports of every .ts file under `src` (relative imports only; src/index.ts is the API and may import anything). */
export function folderEdges(src: string): Edge[] {
  const edges: Edge[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const rel = relative(src, p);
        const from = rel.split('/')[0] as string;
        if (!rel.includes('/')) continue;
        const lines = readFileSync(p, 'utf8').split('\n');
        lines.forEach((line, i) => {
          const m = /(?:^import|^export)[^'"]*from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/.exec(line);
          const spec = m?.[1] ?? m?.[2];
          if (spec === undefined) return;
          const target = relative(src, resolve(dirname(p), spec));
          const to = target.includes('/') ? (target.split('/')[0] as string) : '(root)';
          if (to !== from) edges.push({ from, to, where: `src/${rel}:${i + 1}` });
        });
      }
    }
  };
  walk(src);
  return edges;
}

/** The edges the layers do not allow (an unknown folder allows nothing and is reported). */
export function violations(edges: readonly Edge[], layers = LAYERS): Edge[] {
  return edges.filter((e) => !(layers[e.from] ?? []).includes(e.to));
}

/** Folder cycles: pairs a→…→a found by a depth-first search over the edges. */
export function folderCycles(edges: readonly Edge[]): string[] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, new Set());
    next.get(e.from)?.add(e.to);
  }
  const cycles: string[] = [];
  const state = new Map<string, number>(); // 1 visiting, 2 done
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 1) cycles.push([...stack.slice(stack.indexOf(m)), m].join(' -> '));
      else if (state.get(m) === undefined) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of next.keys()) if (state.get(n) === undefined) visit(n);
  return cycles;
}

test('every import between folders of src/ points down the layers', () => {
  const edges = folderEdges(SRC);
  assert.ok(edges.length > 50, `the scan found the imports (${edges.length})`);
  const bad = violations(edges).map((e) => `${e.where}: ${e.from} -> ${e.to}`);
  assert.deepEqual(bad, [], `imports against the layers (docs/architecture.md):\n${bad.join('\n')}`);
});

test('no cycle between folders of src/', () => {
  assert.deepEqual(folderCycles(folderEdges(SRC)), []);
});

test('the checks catch an upward import and a cycle', () => {
  const edges: Edge[] = [
    { from: 'ring', to: 'switch', where: 'x' },
    { from: 'switch', to: 'ring', where: 'y' },
  ];
  assert.deepEqual(
    violations(edges).map((e) => e.where),
    ['x'],
  );
  assert.equal(folderCycles(edges).length, 1);
  assert.deepEqual(violations([{ from: 'newfolder', to: 'core', where: 'z' }]).length, 1, 'an unlisted folder');
});
