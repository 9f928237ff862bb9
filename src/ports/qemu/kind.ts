/*
 * QEMU's socket back-ends as attach kinds: `stream:...`, `socket:...` and
 * `dgram:...` (grammar in spec.ts), all built by QemuPort.
 */

import { resolve } from 'node:path';
import type { Adapter, AdapterKind, AttachContext } from '../adapter.js';
import { QemuPort } from './qemu-port.js';
import { parseQemuSpec, SPEC_FORMS } from './spec.js';

async function attach(ctx: AttachContext, name: string, spec: string): Promise<Adapter> {
  const q = QemuPort.attach(ctx.host, `${name}=${spec}`, { log: ctx.log, socketAccess: ctx.socketAccess });
  await q.ready;
  return q;
}

function absolutize(spec: string, cwd: string): string {
  const prefix = 'stream:unix:';
  if (!spec.startsWith(prefix)) return spec;
  const path = spec.slice(prefix.length);
  return path === '' || path.startsWith('/') ? spec : `${prefix}${resolve(cwd, path)}`;
}

/** A stream back-end uvale listens for at a unix path names nothing else on the host. */
function listenPath(spec: string): string | null {
  const q = parseQemuSpec(spec);
  return q.kind === 'stream' && 'path' in q && !q.connect ? q.path : null;
}

function qemuKind(kind: string): AdapterKind {
  return {
    kind,
    forms: SPEC_FORMS.filter((f) => f.startsWith(`${kind}:`)),
    validate: (spec) => void parseQemuSpec(spec),
    absolutize,
    listenPath,
    attach,
  };
}

export const QEMU_KINDS: readonly AdapterKind[] = [qemuKind('stream'), qemuKind('socket'), qemuKind('dgram')];
