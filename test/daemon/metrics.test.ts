/*
 * `uvale daemon --http`: the metrics as a real Prometheus server scrapes and
 * queries them, and the plain HTTP rules of the door (GET only, 404, the cap
 * on event streams, a page with no outside assets).
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MAX_EVENT_CLIENTS, parseListen } from '../../src/daemon/http.js';
import { Daemon } from '../../src/daemon/server.js';
import { BIN, tempRunDir, until } from '../helpers/daemon.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function daemonWithHttp(tag: string): Promise<{ d: Daemon; port: number; dir: string }> {
  const t = tempRunDir(tag);
  cleanups.push(t.cleanup);
  const d = new Daemon({ dir: t.dir, log: () => {}, http: '0' });
  await d.start();
  cleanups.push(() => void d.stop());
  return { d, port: d.http?.address.port ?? 0, dir: t.dir };
}

test('--http takes [ADDR:]PORT, 127.0.0.1 by default', () => {
  assert.deepEqual(parseListen('9110'), { host: '127.0.0.1', port: 9110 });
  assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  assert.deepEqual(parseListen('[::1]:9110'), { host: '::1', port: 9110 });
  for (const bad of ['', 'x', '70000', ':80', 'a:b']) assert.throws(() => parseListen(bad), /--http takes/, bad);
});

test('the door: valid exposition text, GET only, 404 elsewhere, a self-contained page, capped event streams', async () => {
  const { port, dir } = await daemonWithHttp('http');
  const gen = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-h:0', '-f', 'tx', '-n', '1000', '--dir', dir], {
    stdio: 'ignore',
  });
  await new Promise((r) => gen.on('close', r));
  const m = await get(port, '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.type, /^text\/plain; version=0\.0\.4/);
  for (const line of m.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/, line);
  }
  assert.match(m.body, /^process_cpu_seconds_total \d/m, 'the process CPU');
  assert.match(m.body, /^process_resident_memory_bytes \d/m, 'the process memory');
  assert.equal((await get(port, '/metrics', 'POST')).status, 405);
  assert.equal((await get(port, '/nope')).status, 404);
  const page = await get(port, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /new EventSource\('\/events'\)/);
  assert.doesNotMatch(page.body, /(src|href)="https?:/, 'nothing fetched from elsewhere');
  const streams: Array<() => void> = [];
  const open = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/events' }, (res) => {
        streams.push(() => req.destroy());
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < MAX_EVENT_CLIENTS; i++) assert.equal(await open(), 200);
  assert.equal(await open(), 503, 'one stream too many');
  for (const s of streams) s();
});

test('a real Prometheus server scrapes uvale: rate() of a port equals the generator rate within 10%', async (t) => {
  let prom: string;
  try {
    prom = execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim();
  } catch {
    t.skip('prometheus is not installed (.ci/run installs it)');
    return;
  }
  const { port, dir } = await daemonWithHttp('prom');
  const rate = 20000;
  const gen = spawn(
    process.execPath,
    [BIN, 'pkt-gen', '-i', 'vale-m:0', '-f', 'tx', '-R', String(rate), '-n', String(rate * 40), '--dir', dir],
    { stdio: 'ignore' },
  );
  cleanups.push(() => gen.kill('SIGKILL'));
  const promPort = await freePort();
  const tmp = tempRunDir('promdata');
  cleanups.push(tmp.cleanup);
  const cfg = join(tmp.dir, 'prometheus.yml');
  writeFileSync(
    cfg,
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: uvale\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
  );
  const p: ChildProcess = spawn(
    prom,
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${join(tmp.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: 'ignore' },
  );
  cleanups.push(() => p.kill('SIGKILL'));
  const query = async (q: string): Promise<number | null> => {
    const r = await get(promPort, `/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => null);
    if (r === null || r.status !== 200) return null;
    const v = (JSON.parse(r.body) as { data: { result: Array<{ value: [number, string] }> } }).data.result[0];
    return v === undefined ? null : Number(v.value[1]);
  };
  const q = 'rate(uvale_port_tx_packets_total{port="vale-m:0",switch="vale-m",kind="shm"}[8s])';
  await until(async () => ((await query(q)) ?? 0) > 0, 30000, 'Prometheus to have a rate');
  await new Promise((r) => setTimeout(r, 9000)); // a full window of steady traffic
  const measured = (await query(q)) as number;
  assert.ok(
    Math.abs(measured - rate) <= rate * 0.1,
    `Prometheus says ${measured} frames/s, the generator sends ${rate}`,
  );
  const up = await query('up{job="uvale"}');
  assert.equal(up, 1);
});
