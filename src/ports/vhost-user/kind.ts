/*
 * `vhost-user:/path/sock` as an attach kind: uvale listens at the path and a
 * front-end connects. `vhost-user:/path/sock,connect`: uvale dials the
 * front-end's server socket there (QEMU's `server=on`, virtio-user's
 * `server=1`) and redials when it is lost; dialing is for the daemon's owner
 * only (listenPath is null), since the path names someone else's socket.
 */

import { resolve } from 'node:path';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import type { Adapter, AdapterKind, AttachContext } from '../adapter.js';
import { clearSocketPath } from '../socket-file.js';
import { VhostUserPort } from './vhost-port.js';

const PREFIX = 'vhost-user:';

const CONNECT = ',connect';

export interface VhostSpec {
  path: string;
  /** Dial the front-end's server socket instead of listening. */
  connect: boolean;
}

/** The socket path and mode of a spec, checked. */
export function parseVhostSpec(spec: string): VhostSpec {
  if (!spec.startsWith(PREFIX)) throw new ValeError(ErrorCodes.INVALID_ARG, `'${spec}' is not vhost-user:PATH`);
  let path = spec.slice(PREFIX.length);
  const connect = path.endsWith(CONNECT);
  if (connect) path = path.slice(0, -CONNECT.length);
  if (path === '' || path.includes(','))
    throw new ValeError(ErrorCodes.INVALID_ARG, `'${spec}': expected vhost-user:PATH or vhost-user:PATH,connect`);
  return { path, connect };
}

async function attach(ctx: AttachContext, name: string, spec: string): Promise<Adapter> {
  const { path, connect } = parseVhostSpec(spec);
  // Listening: a stale socket goes; a live one or another file is refused. Dialing touches no file.
  if (!connect) await clearSocketPath(path);
  return VhostUserPort.attach(ctx.host, name, path, {
    log: ctx.log,
    onTraffic: ctx.onTraffic,
    socketAccess: ctx.socketAccess,
    connect,
  });
}

/** The socket uvale would create: none when it dials. */
function listenPath(spec: string): string | null {
  const v = parseVhostSpec(spec);
  return v.connect ? null : v.path;
}

export const VHOST_USER_KIND: AdapterKind = {
  kind: 'vhost-user',
  forms: ['vhost-user:PATH', 'vhost-user:PATH,connect'],
  validate: (spec) => void parseVhostSpec(spec),
  absolutize: (spec, cwd) => {
    const p = spec.slice(PREFIX.length);
    return spec.startsWith(PREFIX) && p !== '' && !p.startsWith('/') ? `${PREFIX}${resolve(cwd, p)}` : spec;
  },
  listenPath,
  attach,
};
