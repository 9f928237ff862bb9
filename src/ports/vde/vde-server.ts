/*
 * A uvale switch that VDE clients can join as if it were vde_switch:
 * `vde_plug vde:///DIR`, `qemu -netdev vde,id=n0,sock=DIR`, anything on
 * libvdeplug. The server listens on DIR/ctl (a SOCK_STREAM unix socket, a
 * node:net server) and speaks vde_switch's join protocol (./protocol.ts):
 *
 *   1. a client connects and sends one request: magic, version 3, type, the
 *      path of its SOCK_DGRAM data socket, a description;
 *   2. the server makes port SWITCH:vdeN (N = the port the client asked for,
 *      else the lowest free number from 1) with a VdePort adapter, whose
 *      datagram socket connects to the client's path and binds DIR/NNN.SEQ;
 *   3. it replies with that path as a raw 110-byte sockaddr_un;
 *   4. the stream then stays open, silent, for the life of the port: its EOF
 *      (or any error on it) closes the port. Bytes after the request are
 *      ignored.
 *
 * Ports appear and vanish as clients come and go, as VALE ports do; the
 * switch itself is created by the first port and destroyed with the last
 * (host.acquire/release). A bad request (short, bad magic, another version,
 * the management port, a bad or unreachable data path, no port free) closes
 * only that client, with the reason logged; nothing else is disturbed.
 */

import { chmodSync, existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { unlinkQuiet } from '../../core/fs.js';
import type { ValeHost } from '../../switch/host.js';
import { parsePortName } from '../../switch/name.js';
import { encodeSockaddrUn, SUN_PATH_LEN } from '../../sys/index.js';
import type { Adapter } from '../adapter.js';
import { parseRequest, REQUEST_FIXED_LEN, REQUEST_MAX_LEN, VDE_MAGIC } from './protocol.js';
import { VdePort } from './vde-port.js';

/** How long a client may take to send its request. */
const HANDSHAKE_MS = 5000;
/** Port numbers a client may ask for (vde_switch's default has 32 ports). */
const MAX_PORT_NUMBER = 999;

export interface VdeServerOptions {
  /** The VDE directory: DIR/ctl and the data sockets live there (created if absent). */
  dir: string;
  /** The uvale switch the clients join, e.g. "vale0" (ports "vale0:vde1", ...). */
  switchName: string;
  /** Mode of the ctl and data sockets (default 0o600: the daemon's user only; 0o660 adds its group). */
  mode?: number;
  /** Datagrams read per wake-up per port (default 256). */
  burst?: number;
  /** Called when a client's port appears (up) or goes (the daemon's adapter registry hangs here). */
  onAdapter?: (port: Adapter, up: boolean) => void;
  log?: (line: string) => void;
}

interface Client {
  sock: Socket;
  port: VdePort | null;
  number: number;
  description: string;
}

/** Parses the daemon's `--vde DIR[:SWITCH]`; the switch defaults to "vale0". */
export function parseVdeSpec(spec: string): { dir: string; switchName: string } {
  const colon = spec.lastIndexOf(':');
  let dir = spec;
  let switchName = 'vale0';
  if (colon >= 0 && spec.slice(colon + 1).startsWith('vale')) {
    dir = spec.slice(0, colon);
    switchName = spec.slice(colon + 1);
  }
  if (dir === '') throw new ValeError(ErrorCodes.INVALID_ARG, `--vde ${spec}: no directory (DIR[:SWITCH])`);
  checkSwitchName(switchName);
  return { dir, switchName };
}

function checkSwitchName(sw: string): void {
  const pn = parsePortName(`${sw}:vde1`);
  if (pn.bridge !== sw) {
    throw new ValeError(ErrorCodes.INVALID_NAME, `'${sw}' is not a switch name (vale[bdg], e.g. vale0)`);
  }
}

export class VdeServer {
  readonly dir: string;
  readonly switchName: string;
  readonly ctlPath: string;
  private readonly host: ValeHost;
  private readonly opts: VdeServerOptions;
  private readonly log: (line: string) => void;
  private server: Server | null = null;
  private readonly clients = new Set<Client>();
  private madeDir = false;
  private seq = 0;

  private constructor(host: ValeHost, opts: VdeServerOptions) {
    this.host = host;
    this.opts = opts;
    this.dir = opts.dir;
    this.switchName = opts.switchName;
    this.ctlPath = join(opts.dir, 'ctl');
    this.log = opts.log ?? (() => {});
  }

  /**
   * Listens on DIR/ctl. A ctl socket left by a dead switch is replaced; one
   * that answers is another switch's.
   *
   * @throws ValeError BUSY when another switch serves DIR; INVALID_NAME for a bad switch name; INVALID_ARG
   *   when DIR is too long for socket paths; SYSTEM when DIR cannot be made or listened on.
   */
  static async listen(host: ValeHost, opts: VdeServerOptions): Promise<VdeServer> {
    checkSwitchName(opts.switchName);
    const s = new VdeServer(host, opts);
    // the longest data socket path, DIR/NNN.SEQ, must fit sun_path
    if (Buffer.byteLength(join(opts.dir, '999.4294967295')) >= SUN_PATH_LEN) {
      throw new ValeError(ErrorCodes.INVALID_ARG, `VDE directory ${opts.dir} is too long for unix socket paths`);
    }
    await s.start();
    return s;
  }

  private async start(): Promise<void> {
    const mode = this.opts.mode ?? 0o600;
    if (!existsSync(this.dir)) {
      const dirMode = 0o700 | ((mode & 0o060) !== 0 ? 0o070 : 0) | ((mode & 0o006) !== 0 ? 0o007 : 0);
      try {
        mkdirSync(this.dir, { recursive: true, mode: dirMode });
        chmodSync(this.dir, dirMode);
      } catch (e) {
        throw new ValeError(ErrorCodes.SYSTEM, `cannot make VDE directory ${this.dir}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      this.madeDir = true;
    }
    if (existsSync(this.ctlPath)) {
      if (await answers(this.ctlPath)) {
        throw new ValeError(ErrorCodes.BUSY, `a switch already serves ${this.ctlPath}`);
      }
      unlinkQuiet(this.ctlPath);
    }
    const server = createServer({ allowHalfOpen: false }, (sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.ctlPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log(`vde ${this.ctlPath}: ${e.message}`));
    chmodSync(this.ctlPath, mode);
    this.server = server;
    this.log(`vde: serving ${this.ctlPath} as switch ${this.switchName}`);
  }

  /** Closes every client's port and the ctl socket; removes DIR if the server made it. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    for (const c of [...this.clients]) this.drop(c, null);
    await new Promise<void>((r) => server.close(() => r()));
    unlinkQuiet(this.ctlPath);
    if (this.madeDir) {
      try {
        rmdirSync(this.dir);
      } catch {
        // not empty (a client's socket still there) or gone
      }
    }
  }

  /** Ports with a client. */
  get size(): number {
    let n = 0;
    for (const c of this.clients) if (c.port !== null) n++;
    return n;
  }

  /** Every client's port, by port name. */
  ports(): VdePort[] {
    const out: VdePort[] = [];
    for (const c of this.clients) if (c.port?.attached) out.push(c.port);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  private accept(sock: Socket): void {
    if (this.server === null) {
      sock.destroy();
      return;
    }
    const c: Client = { sock, port: null, number: 0, description: '' };
    this.clients.add(c);
    const chunks: Buffer[] = [];
    let have = 0;
    const timer = setTimeout(() => {
      this.refuse(c, have === 0 ? 'no request within 5 s' : `short request: ${have} bytes within 5 s`);
    }, HANDSHAKE_MS);
    timer.unref();
    sock.on('data', (d: Buffer) => {
      if (c.port !== null) return; // the stream carries nothing after the request
      if (!this.clients.has(c)) return;
      chunks.push(d);
      have += d.length;
      const buf = Buffer.concat(chunks, Math.min(have, REQUEST_MAX_LEN));
      if (buf.length >= 4 && buf.readUInt32LE(0) !== VDE_MAGIC) {
        clearTimeout(timer);
        const r = parseRequest(Buffer.concat([buf, Buffer.alloc(REQUEST_FIXED_LEN)]));
        this.refuse(c, 'error' in r ? r.error : 'bad magic');
        return;
      }
      if (buf.length < REQUEST_FIXED_LEN) return;
      clearTimeout(timer);
      chunks.length = 0;
      this.join(c, buf);
    });
    sock.on('error', (e) => {
      if (c.port === null) this.log(`vde ${this.ctlPath}: client: ${e.message}`);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (!this.clients.has(c)) return;
      if (c.port === null && have > 0) this.log(`vde: refused a client: short request: ${have} bytes, then EOF`);
      this.drop(c, 'the client closed its control connection');
    });
  }

  /** The request is complete: make the port and reply, or refuse. */
  private join(c: Client, buf: Buffer): void {
    const req = parseRequest(buf);
    if ('error' in req) {
      this.refuse(c, req.error);
      return;
    }
    c.description = req.description;
    const who = `${JSON.stringify(req.description)} (${req.path})`;
    let n: number;
    if (req.port !== 0) {
      n = req.port;
      if (n > MAX_PORT_NUMBER || this.numberUsed(n)) {
        this.refuse(c, `${who} asked for port ${n}, which is ${n > MAX_PORT_NUMBER ? 'out of range' : 'in use'}`);
        return;
      }
    } else {
      n = 1;
      while (this.numberUsed(n)) n++;
    }
    const name = `${this.switchName}:vde${n}`;
    const bindPath = join(this.dir, `${String(n).padStart(3, '0')}.${++this.seq}`);
    let port: VdePort;
    try {
      parsePortName(name);
      port = VdePort.open(this.host, name, {
        clientPath: req.path,
        bindPath,
        mode: this.opts.mode ?? 0o600,
        ...(this.opts.burst !== undefined ? { burst: this.opts.burst } : {}),
        log: this.log,
        onGone: () => this.drop(c, null),
      });
    } catch (e) {
      this.refuse(c, `${who}: ${(e as Error).message}`);
      return;
    }
    port.description = req.description;
    c.port = port;
    c.number = n;
    c.sock.write(encodeSockaddrUn(bindPath));
    this.log(`vde: ${who} joined as ${name} (port ${port.vport.index})`);
    this.opts.onAdapter?.(port, true);
  }

  /** A number is used by one of our clients, or its name by any port of the switch. */
  private numberUsed(n: number): boolean {
    for (const c of this.clients) if (c.port !== null && c.number === n) return true;
    return this.host.getSwitch(this.switchName)?.find(`vde${n}`) !== undefined;
  }

  private refuse(c: Client, reason: string): void {
    if (!this.clients.has(c)) return;
    this.log(`vde: refused a client of ${this.ctlPath}: ${reason}`);
    this.clients.delete(c);
    c.sock.destroy();
  }

  /** Ends a client: its port goes, its stream is closed. */
  private drop(c: Client, why: string | null): void {
    if (!this.clients.delete(c)) return;
    c.sock.destroy();
    const port = c.port;
    c.port = null;
    if (port !== null) {
      const was = port.attached;
      try {
        port.close();
      } catch (e) {
        this.log(`vde: closing ${port.name}: ${(e as Error).message}`);
      }
      if (was && why !== null) this.log(`vde: ${port.name} left: ${why}`);
      this.opts.onAdapter?.(port, false);
    }
  }
}

/** True when something accepts connections on the unix socket `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
