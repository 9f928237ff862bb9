/*
 * `vxlan:...` and `geneve:...` as attach kinds (grammar in ./spec.ts), both
 * built by TunnelPort. Attaching is owner-only, as every attach is
 * (src/control/requests.ts): the spec names host addresses and ports.
 */

import type { Adapter, AdapterKind, AttachContext } from '../adapter.js';
import { parseTunnelSpec, SPEC_FORMS } from './spec.js';
import { TunnelPort } from './tunnel-port.js';

async function attach(ctx: AttachContext, name: string, spec: string): Promise<Adapter> {
  return TunnelPort.attach(ctx, name, parseTunnelSpec(spec));
}

function tunnelKind(kind: 'vxlan' | 'geneve'): AdapterKind {
  return {
    kind,
    forms: SPEC_FORMS.filter((f) => f.startsWith(`${kind}:`)),
    validate: (spec) => void parseTunnelSpec(spec),
    attach,
  };
}

export const TUNNEL_KINDS: readonly AdapterKind[] = [tunnelKind('vxlan'), tunnelKind('geneve')];
