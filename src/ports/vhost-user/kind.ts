/*
 * `vhost-user:/path/sock` as an attach kind: uvale listens at the path and a
 * front-end connects. (`vhost-user:/path,connect`, dialing a front-end's
 * server socket, is not built yet and is refused with NOT_SUPPORTED.)
 */

import { resolve } from 'node:path';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import type { Adapter, AdapterKind, AttachContext } from '../adapter.js';
import { clearSocketPath } from '../socket-file.js';
import { VhostUserPort } from './vhost-port.js';

const PREFIX = 'vhost-user:';

/** The socket path of a spec, checked. */
export function parseVhostSpec(spec: string): string {
  if (!spec.startsWith(PREFIX)) throw new ValeError(ErrorCodes.INVALID_ARG, `'${spec}' is not vhost-user:PATH`);
  const rest = spec.slice(PREFIX.length);
  if (rest.endsWith(',connect')) {
    throw new ValeError(
      ErrorCodes.NOT_SUPPORTED,
      'vhost-user:PATH,connect is not supported yet; let the front-end connect',
    );
  }
  if (rest === '' || rest.includes(','))
    throw new ValeError(ErrorCodes.INVALID_ARG, `'${spec}': expected vhost-user:PATH`);
  return rest;
}

async function attach(ctx: AttachContext, name: string, spec: string): Promise<Adapter> {
  const path = parseVhostSpec(spec);
  await clearSocketPath(path); // a stale socket goes; a live one or another file is refused
  return VhostUserPort.attach(ctx.host, name, path, {
    log: ctx.log,
    onTraffic: ctx.onTraffic,
    socketAccess: ctx.socketAccess,
  });
}

export const VHOST_USER_KIND: AdapterKind = {
  kind: 'vhost-user',
  forms: ['vhost-user:PATH'],
  validate: (spec) => void parseVhostSpec(spec),
  absolutize: (spec, cwd) => {
    const p = spec.slice(PREFIX.length);
    return spec.startsWith(PREFIX) && p !== '' && !p.startsWith('/') ? `${PREFIX}${resolve(cwd, p)}` : spec;
  },
  listenPath: parseVhostSpec,
  attach,
};
