/*
 * The client side of vde_switch's join protocol (./protocol.ts): a uvale port
 * whose far side is a VDE switch, vde_switch itself or a uvale VdeServer, as
 * libvdeplug_vde.c joins one:
 *
 *   1. bind a SOCK_DGRAM socket to DIR/.uvale-PID-SEQ;
 *   2. connect to DIR/ctl and send the request (magic, version 3, port, our
 *      path, a description);
 *   3. read the switch's 110-byte sockaddr_un, connect the datagram socket to
 *      it, and unlink our own path (the switch has connected to it already);
 *   4. hand the socket to a VdePort: from then on one frame per datagram.
 *
 * The control stream stays open: its EOF (the switch went away) closes the
 * port, and closing the join closes the stream, which ends the switch's port.
 */

import { connect, type Socket } from 'node:net';
import { join as joinPath } from 'node:path';
import { ErrorCodes, ValeError } from '../../core/errors.js';
import { unlinkQuiet } from '../../core/fs.js';
import type { ValeHost } from '../../switch/host.js';
import { closeFd, decodeSockaddrUn, dgramConnect, openUnixDgram, SOCKADDR_UN_LEN } from '../../sys/index.js';
import type { AdapterInfo } from '../adapter.js';
import { encodeRequest } from './protocol.js';
import { VdePort } from './vde-port.js';

export interface VdeJoinOptions {
  /** Port number to ask the switch for (0 = any). */
  port?: number;
  /** The request's description (default "uvale: pid=PID"). */
  description?: string;
  /** How long the switch may take to answer (default 5000 ms). */
  timeoutMs?: number;
  /** Ring sizes of the uvale port. */
  txSlots?: number;
  rxSlots?: number;
  /** Called once if the switch closes the link. */
  onGone?: (reason: string) => void;
  log?: (line: string) => void;
}

let seq = 0;

/** A uvale port joined to a VDE switch. */
export class VdeJoin {
  readonly port: VdePort;
  /** The switch's data socket path (from its reply). */
  readonly switchPath: string;
  private readonly ctl: Socket;

  private constructor(port: VdePort, ctl: Socket, switchPath: string) {
    this.port = port;
    this.ctl = ctl;
    this.switchPath = switchPath;
  }

  get name(): string {
    return this.port.name;
  }

  info(): AdapterInfo {
    return this.port.info();
  }

  /** Leaves the switch: closes the port and the control stream. Safe to call twice. */
  close(): void {
    this.port.close();
    this.ctl.destroy();
  }

  /**
   * Joins the VDE switch of directory `dir` as the uvale port `name` of `host` (created; kind 'vde').
   * @throws ValeError NOT_FOUND when nothing listens on DIR/ctl; PROTOCOL when the switch does not
   *   answer as vde_switch does; BUSY, LIMIT from the port's creation; SYSTEM from the sockets.
   */
  static async join(host: ValeHost, name: string, dir: string, opts: VdeJoinOptions = {}): Promise<VdeJoin> {
    const own = joinPath(dir, `.uvale-${process.pid}-${++seq}`);
    unlinkQuiet(own);
    let fd = openUnixDgram({ bind: own, sndbuf: 4 << 20, rcvbuf: 4 << 20 });
    let ctl: Socket | null = null;
    try {
      const ctlPath = joinPath(dir, 'ctl');
      const c = connect(ctlPath);
      ctl = c;
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let have = 0;
        const fail = (e: Error): void => {
          clearTimeout(t);
          reject(e);
        };
        const t = setTimeout(
          () => fail(new ValeError(ErrorCodes.PROTOCOL, `VDE switch ${ctlPath} did not answer in time`)),
          opts.timeoutMs ?? 5000,
        );
        c.once('connect', () => {
          c.write(
            encodeRequest(own, { port: opts.port ?? 0, description: opts.description ?? `uvale: pid=${process.pid}` }),
          );
        });
        c.on('data', (d: Buffer) => {
          chunks.push(d);
          have += d.length;
          if (have >= SOCKADDR_UN_LEN) {
            clearTimeout(t);
            c.removeAllListeners('data');
            c.removeAllListeners('close');
            resolve(Buffer.concat(chunks));
          }
        });
        c.once('error', (e: NodeJS.ErrnoException) =>
          fail(
            new ValeError(
              e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? ErrorCodes.NOT_FOUND : ErrorCodes.SYSTEM,
              `no VDE switch on ${ctlPath}: ${e.message}`,
              { cause: e },
            ),
          ),
        );
        c.once('close', () =>
          fail(new ValeError(ErrorCodes.PROTOCOL, `VDE switch ${ctlPath} refused the request (closed the stream)`)),
        );
      });
      const addr = decodeSockaddrUn(reply, 0);
      if ('error' in addr) throw new ValeError(ErrorCodes.PROTOCOL, `VDE switch replied a bad address: ${addr.error}`);
      dgramConnect(fd, addr.path);
      unlinkQuiet(own);
      const port = VdePort.open(host, name, {
        clientPath: addr.path,
        bindPath: own,
        fd,
        ...(opts.txSlots !== undefined ? { txSlots: opts.txSlots } : {}),
        ...(opts.rxSlots !== undefined ? { rxSlots: opts.rxSlots } : {}),
        ...(opts.log !== undefined ? { log: opts.log } : {}),
        onGone: (_p, reason) => {
          c.destroy();
          opts.onGone?.(reason);
        },
      });
      fd = -1; // the port owns it
      const j = new VdeJoin(port, c, addr.path);
      c.on('data', () => {}); // the switch sends nothing more; keep the stream flowing
      c.on('error', () => {});
      c.once('close', () => {
        if (!port.attached) return;
        port.close();
        opts.onGone?.('the switch closed the control stream');
      });
      return j;
    } catch (e) {
      ctl?.destroy();
      closeFd(fd);
      unlinkQuiet(own);
      throw e;
    }
  }
}
