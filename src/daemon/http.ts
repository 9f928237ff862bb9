/*
 * The daemon's HTTP door (`uvale daemon --http ADDR:PORT`, off by default):
 *
 *   GET /metrics   Prometheus exposition format (metrics.ts)
 *   GET /          a live page: the switches and their ports as a picture,
 *                  rates per port over the last minutes, the MAC tables
 *   GET /events    server-sent events: one snapshot a second, for the page
 *
 * Read-only: it changes nothing, answers GET only (405 otherwise), binds the
 * address given (127.0.0.1 when only a port is), and serves at most
 * MAX_EVENT_CLIENTS event streams so that watchers cannot exhaust the daemon.
 * The page (page.ts) is one document with its script inline: no build,
 * nothing fetched from elsewhere.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AdapterInfo, MacEntry, StatsSnapshot } from '../control/types.js';
import { ErrorCodes, ValeError } from '../core/errors.js';
import { LIVE_PAGE } from './page.js';

export const MAX_EVENT_CLIENTS = 32;
const EVENT_PERIOD_MS = 1000;

/** What the page's snapshots are made of. */
export interface ViewSource {
  stats(): StatsSnapshot;
  adapters(): AdapterInfo[];
  macs(sw: string): MacEntry[];
}

export interface HttpDoor {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Parses `[ADDR:]PORT` (an IPv6 address in brackets); ADDR defaults to 127.0.0.1. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[2]);
  if (m === null || port > 65535) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `--http takes [ADDR:]PORT (e.g. 9110 or 0.0.0.0:9110), got '${text}'`);
  }
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

/** Starts the HTTP door on `listen` ([ADDR:]PORT). */
export async function startHttp(listen: string, metrics: Registry, view: ViewSource): Promise<HttpDoor> {
  const { host, port } = parseListen(listen);
  const streams = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | null = null;
  const snapshot = (): string => {
    const st = view.stats();
    const macs: Record<string, MacEntry[]> = {};
    for (const sw of st.switches) macs[sw.name] = view.macs(sw.name);
    return JSON.stringify({ ...st, adapters: view.adapters(), macs });
  };
  const tick = (): void => {
    const data = `data: ${snapshot()}\n\n`;
    for (const r of streams) r.write(data);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET only\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      const body = await metrics.metrics();
      res.writeHead(200, { 'content-type': metrics.contentType }).end(body);
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(LIVE_PAGE);
    } else if (path === '/events') {
      if (streams.size >= MAX_EVENT_CLIENTS) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' }).end('too many viewers\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(`data: ${snapshot()}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      if (timer === null) {
        timer = setInterval(() => (streams.size === 0 ? undefined : tick()), EVENT_PERIOD_MS);
        timer.unref();
      }
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try / or /metrics\n');
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error: ${(e as Error).message}\n`);
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.maxConnections = MAX_EVENT_CLIENTS * 2;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new ValeError(ErrorCodes.SYSTEM, `--http ${listen}: ${(e as Error).message}`, { cause: e })),
    );
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        if (timer !== null) clearInterval(timer);
        for (const r of streams) r.end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
