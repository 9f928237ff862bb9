/*
 * A ping between two TAP hosts crosses the switch in one turn of the event
 * loop: the request's drain writes it into the second TAP, the second host's
 * kernel answers inside that write(), and the adapter reads the answer from
 * the same fd right away (fd-port.ts, read-ahead after a drain) and forwards
 * it, instead of waiting for the loop to poll again (BENCHMARKS.md, tap-rtt).
 *
 * How it is seen: a setImmediate chain samples the first TAP's counters once
 * per loop turn (after the poll phase). Without the read-ahead, the turn that
 * read a request ends with the request in and its reply not yet out, and the
 * reply is written in a later turn; with it, both show in the same sample.
 *
 * Needs root, /dev/net/tun, ip and ping; namespaces and taps are named
 * lt-<pid>-N and lt<tag>sN (this work's prefix) and removed in after().
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ValeHost } from '../../src/index.js';
import { TapPort } from '../../src/ports/tap/tap-port.js';
import { Cleanup, ip, netSkipReason, nsRun, PID_TAG, sh } from './net.js';

const skip = netSkipReason(['ping']);
const SUBNET = '10.199.41';
const cleanup = new Cleanup();
const host = new ValeHost();
const taps: TapPort[] = [];

/** Attaches a new TAP on switch valelt, moves it into a new namespace and gives it SUBNET.i. */
function makeHost(i: number): string {
  const ifname = `lt${PID_TAG}s${i}`;
  const ns = `lt-${process.pid}-${i}`;
  cleanup.link(ifname);
  taps.push(TapPort.attach(host, `valelt:${ifname}`));
  cleanup.netns(ns);
  ip('netns', 'add', ns);
  ip('link', 'set', ifname, 'netns', ns);
  for (const k of ['all', 'default']) {
    sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`], { ok: true });
  }
  ip('-n', ns, 'addr', 'add', `${SUBNET}.${i}/24`, 'dev', ifname);
  ip('-n', ns, 'link', 'set', ifname, 'up');
  return ns;
}

before(() => {
  if (skip !== null) return;
  makeHost(1);
  makeHost(2);
});

after(async () => {
  for (const t of taps) t.close();
  await cleanup.run();
});

test('a ping request and its reply cross the switch in the same event-loop turn', {
  skip: skip ?? false,
}, async (t) => {
  const ns1 = `lt-${process.pid}-1`;
  // ARP first, so the pings below are request/reply pairs only
  const warm = await nsRun(ns1, ['ping', '-c', '2', '-i', '0.2', '-W', '2', `${SUBNET}.2`]);
  assert.equal(warm.code, 0, `hosts reach each other: ${warm.stdout}${warm.stderr}`);

  const tap1 = taps[0] as TapPort;
  let sampling = true;
  let lastIn = tap1.info().counters.inFrames;
  let lastOut = tap1.info().counters.outFrames;
  let together = 0; // turns that read requests and wrote as many replies
  let late = 0; // turns that wrote replies to requests read in an earlier turn
  const sample = (): void => {
    const c = tap1.info().counters;
    const dIn = c.inFrames - lastIn;
    const dOut = c.outFrames - lastOut;
    if (dIn > 0 && dOut === dIn) together++;
    else if (dOut > 0 && dIn === 0) late++;
    lastIn = c.inFrames;
    lastOut = c.outFrames;
    if (sampling) setImmediate(sample);
  };
  setImmediate(sample);
  // a loaded machine may defer a host's answer out of the write() (ksoftirqd): not every one is caught,
  // so up to three rounds of 20 pings until a quarter of one round is; without the read-ahead none is
  const pings = 20;
  let sent = 0;
  for (let round = 0; round < 3 && together < pings / 4; round++) {
    const r = await nsRun(ns1, ['ping', '-c', String(pings), '-i', '0.02', '-W', '2', `${SUBNET}.2`]);
    assert.equal(r.code, 0, `pings answered: ${r.stdout}${r.stderr}`);
    sent += pings;
  }
  sampling = false;
  t.diagnostic(`same turn ${together}, later turn ${late}, of ${sent} pings`);
  assert.ok(
    together >= pings / 4,
    `replies written in the turn that read the request: ${together} of ${sent}; in a later turn: ${late}`,
  );
});
