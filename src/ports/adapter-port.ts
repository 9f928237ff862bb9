/*
 * The switch port an adapter drives: one TX and one RX ring, exclusive (an
 * existing port of that name is BUSY), held through a LocalPort. Built here
 * once for the adapters that are not fd-based (QEMU, vhost-user); the adapter
 * is made by `make`, and the port is released again if that throws.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import type { ValeHost } from '../switch/host.js';
import { LocalPort } from './local/local-port.js';

export interface AdapterPortOptions {
  kind: string;
  txSlots: number;
  rxSlots?: number;
}

export function startAdapterPort<A>(
  host: ValeHost,
  name: string,
  o: AdapterPortOptions,
  make: (lp: LocalPort) => A,
  onRx: (a: A) => () => void,
): A {
  const vp = host.acquire(name, {
    kind: o.kind,
    txRings: 1,
    rxRings: 1,
    txSlots: o.txSlots,
    ...(o.rxSlots !== undefined ? { rxSlots: o.rxSlots } : {}),
    share: (p) => {
      throw new ValeError(ErrorCodes.BUSY, `port ${p.name} already exists (kind ${p.kind}); detach it first`);
    },
  });
  const lp = new LocalPort(host, vp);
  let a: A;
  try {
    a = make(lp);
  } catch (e) {
    lp.close();
    throw e;
  }
  vp.onRx = onRx(a);
  return a;
}
