/*
 * The live page of `uvale daemon --http`, opened in a real browser (Debian's
 * Chromium driven by playwright-core): it draws the switch and its ports and
 * shows a non-zero rate while traffic flows.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon } from '../../src/daemon/server.js';
import { BIN, tempRunDir, waitPort } from '../helpers/daemon.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('the live view in Chromium: the switch, its ports with their kinds, a rate while pkt-gen runs', async (t) => {
  if (CHROMIUM === undefined) {
    t.skip('no Chromium (.ci/run installs Debian’s chromium)');
    return;
  }
  const { chromium } = await import('playwright-core');
  const tmp = tempRunDir('view');
  cleanups.push(tmp.cleanup);
  const d = new Daemon({ dir: tmp.dir, log: () => {}, http: '0' });
  await d.start();
  cleanups.push(() => d.stop());
  const gen = spawn(
    process.execPath,
    [BIN, 'pkt-gen', '-i', 'vale-v:gen', '-f', 'tx', '-R', '5000', '--dir', tmp.dir],
    {
      stdio: 'ignore',
    },
  );
  cleanups.push(() => void gen.kill('SIGKILL'));
  const sink = spawn(process.execPath, [BIN, 'pkt-gen', '-i', 'vale-v:sink', '-f', 'rx', '--dir', tmp.dir], {
    stdio: 'ignore',
  });
  cleanups.push(() => void sink.kill('SIGKILL'));
  await waitPort(tmp.dir, 'vale-v:gen');
  await waitPort(tmp.dir, 'vale-v:sink');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${d.http?.address.port}/`);
  await page.waitForSelector('[data-switch="vale-v"]');
  const title = await page.textContent('[data-switch="vale-v"] h2');
  assert.match(title ?? '', /vale-v \(switch 0, 2 ports/);
  assert.equal(await page.locator('[data-switch="vale-v"] svg text').filter({ hasText: 'gen (shm)' }).count(), 1);
  assert.equal(await page.locator('[data-switch="vale-v"] svg text').filter({ hasText: 'sink (shm)' }).count(), 1);
  // rates need two snapshots; the page gets one a second
  await page.waitForFunction(
    `Number.parseFloat(document.querySelector('[data-port="vale-v:gen"] .txpps')?.textContent ?? '0') > 0`,
    undefined,
    { timeout: 10000 },
  );
  const rx = await page.textContent('[data-port="vale-v:sink"] .rxpps');
  assert.ok(Number.parseFloat(rx ?? '0') > 0, `the sink's RX rate shows: ${rx}`);
  const shot = join(tmp.dir, 'view.png');
  await page.screenshot({ path: shot, fullPage: true });
  const png = readFileSync(shot);
  if (process.env.UVALE_KEEP_SCREENSHOT) writeFileSync(process.env.UVALE_KEEP_SCREENSHOT, png);
  assert.ok(png.length > 1000 && png.subarray(1, 4).toString() === 'PNG', 'a screenshot of the page');
});
