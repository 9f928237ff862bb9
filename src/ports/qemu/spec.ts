/*
 * The port-spec grammar of QEMU socket ports (`uvale ctl -a SWITCH:PORT=SPEC`).
 * One place documents it; parseQemuSpec() enforces it and says what is wrong.
 *
 *   SWITCH:PORT=stream:unix:PATH[,connect]     QEMU -netdev stream,addr.type=unix,addr.path=PATH
 *   SWITCH:PORT=stream:tcp:HOST:PORT[,connect] QEMU -netdev stream,addr.type=inet,addr.host=HOST,addr.port=PORT
 *   SWITCH:PORT=socket:tcp:HOST:PORT[,connect] QEMU -netdev socket,connect=HOST:PORT (or listen=...)
 *   SWITCH:PORT=dgram:udp:LHOST:LPORT:RHOST:RPORT
 *                                              QEMU -netdev dgram,local.type=inet,local.host=RHOST,
 *                                              local.port=RPORT,remote.type=inet,remote.host=LHOST,remote.port=LPORT
 *   SWITCH:PORT=socket:udp:LHOST:LPORT:RHOST:RPORT
 *                                              QEMU -netdev socket,udp=LHOST:LPORT,localaddr=RHOST:RPORT
 *
 * Stream transports (stream, socket:tcp) carry each frame after a 4-byte
 * big-endian length; datagram transports (dgram, socket:udp) carry one bare
 * frame per datagram. Without `,connect` uvale listens (QEMU connects with
 * server=off, or socket,connect=); with `,connect` uvale dials (QEMU listens
 * with server=on, or socket,listen=) and redials whenever the connection drops,
 * so a restarted QEMU gets its network back (QEMU 7.2 cannot reconnect itself).
 * `,listen` may be written for the default. On UDP, L is uvale's local address
 * (bound) and R is QEMU's (where frames are sent). HOST is a name, an IPv4
 * address or a bracketed IPv6 address ([::1]); PATH is the rest of the spec
 * (it may contain ':'), minus a trailing ",connect"/",listen".
 */

import { resolve } from 'node:path';
import { ErrorCodes, ValeError } from '../../core/errors.js';

export type QemuSpec =
  | { kind: 'stream'; qemu: 'stream' | 'socket'; path: string; connect: boolean; text: string }
  | { kind: 'stream'; qemu: 'stream' | 'socket'; host: string; port: number; connect: boolean; text: string }
  | {
      kind: 'dgram';
      qemu: 'dgram' | 'socket';
      localHost: string;
      localPort: number;
      remoteHost: string;
      remotePort: number;
      text: string;
    };

/** The forms, for error messages and --help. */
export const SPEC_FORMS = [
  'stream:unix:PATH[,connect]',
  'stream:tcp:HOST:PORT[,connect]',
  'socket:tcp:HOST:PORT[,connect]',
  'dgram:udp:LHOST:LPORT:RHOST:RPORT',
  'socket:udp:LHOST:LPORT:RHOST:RPORT',
];

function bad(text: string, why: string): ValeError {
  return new ValeError(
    ErrorCodes.INVALID_ARG,
    `bad QEMU port spec '${text}': ${why} (forms: ${SPEC_FORMS.join(' | ')})`,
  );
}

/** Splits "SWITCH:PORT=SPEC" at its first '='; null when there is no '='. */
export function splitAttachSpec(s: string): { name: string; spec: string } | null {
  const i = s.indexOf('=');
  if (i < 0) return null;
  return { name: s.slice(0, i), spec: s.slice(i + 1) };
}

/** Parses HOST:PORT items (HOST may be [v6]); returns the hosts and ports in order. */
function hostPorts(text: string, rest: string, count: number): Array<{ host: string; port: number }> {
  const out: Array<{ host: string; port: number }> = [];
  let s = rest;
  for (let k = 0; k < count; k++) {
    let host: string;
    if (s.startsWith('[')) {
      const e = s.indexOf(']');
      if (e < 0) throw bad(text, `unclosed '[' in '${s}'`);
      host = s.slice(1, e);
      s = s.slice(e + 1);
      if (!s.startsWith(':')) throw bad(text, `expected ':PORT' after [${host}]`);
      s = s.slice(1);
    } else {
      const e = s.indexOf(':');
      if (e < 0) throw bad(text, `expected HOST:PORT, got '${s}'`);
      host = s.slice(0, e);
      s = s.slice(e + 1);
    }
    if (host === '') throw bad(text, 'empty HOST');
    const e = s.indexOf(':');
    const portText = e < 0 ? s : s.slice(0, e);
    s = e < 0 ? '' : s.slice(e + 1);
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw bad(text, `'${portText}' is not a port number (0..65535)`);
    }
    out.push({ host, port: Number(portText) });
    if (k < count - 1 && e < 0) throw bad(text, `expected ${count} HOST:PORT addresses`);
    if (k === count - 1 && e >= 0) throw bad(text, `unexpected ':${s}' at the end`);
  }
  return out;
}

/** Parses SPEC (the part after '='); throws INVALID_ARG saying what is wrong. */
export function parseQemuSpec(text: string): QemuSpec {
  let body = text;
  let connect = false;
  let mode: string | null = null;
  const m = /,(connect|listen)$/.exec(body);
  if (m !== null) {
    mode = m[1] as string;
    connect = mode === 'connect';
    body = body.slice(0, m.index);
  }
  const [qemu, proto] = body.split(':', 2) as [string, string | undefined];
  if (qemu !== 'stream' && qemu !== 'socket' && qemu !== 'dgram') {
    throw bad(text, `unknown transport '${qemu}' (stream, socket or dgram)`);
  }
  if (proto === undefined) throw bad(text, `'${qemu}' needs an address type (unix, tcp or udp)`);
  const rest = body.slice(qemu.length + proto.length + 2);
  if (proto === 'unix') {
    if (qemu !== 'stream') {
      throw bad(
        text,
        qemu === 'dgram'
          ? 'dgram over unix sockets needs AF_UNIX datagrams, which Node cannot serve; use dgram:udp or stream:unix'
          : 'socket has no unix form; use stream:unix',
      );
    }
    if (rest === '') throw bad(text, 'empty unix socket PATH');
    if (rest.includes('\0')) throw bad(text, 'PATH contains a NUL byte');
    return { kind: 'stream', qemu: 'stream', path: rest, connect, text };
  }
  if (proto === 'tcp') {
    if (qemu === 'dgram') throw bad(text, 'dgram takes udp, not tcp');
    const [a] = hostPorts(text, rest, 1) as [{ host: string; port: number }];
    if (connect && a.port === 0) throw bad(text, 'cannot connect to port 0');
    return { kind: 'stream', qemu, host: a.host, port: a.port, connect, text };
  }
  if (proto === 'udp') {
    if (qemu === 'stream') throw bad(text, 'stream takes unix or tcp; for UDP use dgram:udp');
    if (mode !== null) throw bad(text, `',${mode}' applies to stream transports only`);
    const [l, r] = hostPorts(text, rest, 2) as [{ host: string; port: number }, { host: string; port: number }];
    if (r.port === 0) throw bad(text, 'the remote (QEMU) port must not be 0');
    return {
      kind: 'dgram',
      qemu,
      localHost: l.host,
      localPort: l.port,
      remoteHost: r.host,
      remotePort: r.port,
      text,
    };
  }
  throw bad(text, `unknown address type '${proto}' (unix, tcp or udp)`);
}

/**
 * "SWITCH:PORT=stream:unix:PATH..." with PATH made absolute against `cwd`
 * (ctl's directory: the daemon that listens or dials runs elsewhere). Other
 * specs are returned unchanged.
 */
export function absoluteUnixPath(nameSpec: string, cwd: string): string {
  const parts = splitAttachSpec(nameSpec);
  const prefix = 'stream:unix:';
  if (parts === null || !parts.spec.startsWith(prefix)) return nameSpec;
  const path = parts.spec.slice(prefix.length);
  if (path === '' || path.startsWith('/')) return nameSpec;
  return `${parts.name}=${prefix}${resolve(cwd, path)}`;
}
