/*
 * Booted VMs on a uvale switch (issue 4): two QEMU guests and a host in a
 * network namespace share switch vale-vm through the daemon:
 *
 *   VM1 (10.199.9.11) ═ vm1 ─┐
 *   VM2 (10.199.9.12) ═ vm2 ─┼─ vale-vm ─ cap (uvale tcpdump)
 *   host (10.199.9.1) ─ TAP ─┘
 *
 * The guest is Debian's kernel and a busybox initramfs built by
 * test/qemu/guest/build.sh; its /init (test/qemu/guest/init) takes its address
 * and the addresses to ping from the kernel command line and reports on the
 * serial console (QEMU's stdout here) in UVALE-* lines. VM1 pings VM2 and the
 * host, VM2 pings VM1 and the host, then the host pings both VMs; uvale's side
 * is checked through `uvale ctl` (QEMU port counters, port counters, the
 * learning table) and a capture port that must see the VMs' ARP requests.
 *
 * Needs root (TAP, namespaces), qemu-system-x86_64, ping and the guest image
 * ($UVALE_GUEST_DIR, else /var/cache/uvale-test/guest); skipped with the
 * reason otherwise. Runs under TCG (UVALE_QEMU_ACCEL=kvm to change): both
 * guests are up and done pinging 6-25 s after QEMU starts (they boot
 * through ./boot-guest.ts). QEMU, the namespace, the capture and the daemon
 * are removed in after(), whatever happened.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, exited, spawnDaemon, tempRunDir, uvale, waitPort } from '../helpers/daemon.js';
import { Cleanup, ip, nsRun, PID_TAG, type RunResult, stopChild } from '../tap/net.js';
import { bootGuest, guestSkipReason, killVm, pings, tail, type Vm, waitConsole } from './boot-guest.js';

const SW = 'vale-vm';
const SUBNET = '10.199.9';
const BOOT_MS = 120_000; // TCG on a shared 2-vCPU machine: generous

const skip = guestSkipReason();

if (skip !== null) {
  test('booted QEMU guests on a switch', { skip }, () => {});
} else {
  describe('two booted QEMU guests and a namespace host on one switch, through the daemon', {
    timeout: 3 * BOOT_MS,
  }, () => {
    const { dir, cleanup: rmDir } = tempRunDir('vm');
    const cleanup = new Cleanup();
    cleanup.add(rmDir); // first in, last out: the daemon is gone by then
    const ctl = (...args: string[]): Promise<RunResult> => uvale(['ctl', '--dir', dir, ...args], { timeoutMs: 15_000 });
    const tap = `m${PID_TAG}vm`;
    const ns = `uvt-${process.pid}-vm`;
    const hostAddr = `${SUBNET}.1`;
    const hostMac = '52:54:00:c7:09:01';
    const vms: Vm[] = [];
    let bootMs = 0;
    let cap: { child: ChildProcess; out: () => string } | null = null;

    const bootVm = (n: number, pingList: string[]): Vm => {
      const name = `vm${n}`;
      const vm = bootGuest({
        name,
        addr: `${SUBNET}.${10 + n}`,
        mac: `52:54:00:c7:09:${10 + n}`, // ends like its address: :11 for .11
        ping: pingList,
        net: { kind: 'stream', path: join(dir, `${name}.sock`) },
        hold: 300, // answers pings until killed; powers itself off if this test dies
      });
      cleanup.add(() => killVm(vm));
      vms.push(vm);
      return vm;
    };

    before(async () => {
      const daemon = await spawnDaemon(dir);
      cleanup.add(async () => {
        await ctl('--shutdown');
        await exited(daemon, 10_000).catch(() => daemon.kill('SIGKILL'));
      });
      for (const n of [1, 2]) {
        const r = await ctl('-a', `${SW}:vm${n}=stream:unix:${join(dir, `vm${n}.sock`)}`);
        assert.equal(r.code, 0, r.stderr);
      }
      // the host: a TAP made by the daemon, moved into its own namespace
      const r = await ctl('-a', `${SW}:${tap}`);
      assert.equal(r.code, 0, `ctl -a ${SW}:${tap}: ${r.stderr}`);
      cleanup.link(tap); // if it never reaches the namespace
      cleanup.netns(ns);
      ip('netns', 'add', ns);
      ip('link', 'set', tap, 'netns', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', tap, 'address', hostMac);
      ip('-n', ns, 'addr', 'add', `${hostAddr}/24`, 'dev', tap);
      ip('-n', ns, 'link', 'set', tap, 'up');
      // a capture port, open before the guests send anything
      const child = spawn(process.execPath, [BIN, 'tcpdump', '-n', '-i', `${SW}:cap`, '--dir', dir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      cap = { child, out: () => out };
      cleanup.add(() => stopChild(child));
      await waitPort(dir, `${SW}:cap`);

      const t0 = Date.now();
      const vm1 = bootVm(1, [`${SUBNET}.12`, hostAddr]);
      const vm2 = bootVm(2, [`${SUBNET}.11`, hostAddr]);
      await waitConsole([vm1, vm2], 'UVALE-DONE', BOOT_MS);
      bootMs = Date.now() - t0;
    });

    after(async () => {
      await cleanup.run();
    });

    test('VM1 pings VM2 and the namespace host; VM2 pings VM1 and the host', (t) => {
      const [vm1, vm2] = vms as [Vm, Vm];
      t.diagnostic(`both guests booted and done pinging ${(bootMs / 1000).toFixed(1)} s after QEMU started`);
      for (const [vm, targets] of [
        [vm1, [vm2.addr, hostAddr]],
        [vm2, [vm1.addr, hostAddr]],
      ] as const) {
        const got = pings(vm);
        for (const a of targets) {
          assert.match(got.get(a) ?? 'no report', /^ok/, `${vm.name} pinging ${a}${tail(vm)}`);
        }
        t.diagnostic(`${vm.name}: ${[...got].map(([a, r]) => `${a} ${r.replace('ok ', '')} ms`).join(', ')}`);
      }
    });

    test('the namespace host pings both VMs', async () => {
      for (const vm of vms) {
        const r = await nsRun(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', vm.addr], 20_000);
        assert.equal(r.code, 0, `ping ${vm.addr} from the host: ${r.stdout}${r.stderr}${tail(vm)}`);
        assert.match(r.stdout, / 3 received/);
      }
    });

    test('uvale counted it: QEMU ports up with frames both ways, the learning table, the capture', async () => {
      const q = await ctl('--qemu', '--json');
      assert.equal(q.code, 0, q.stderr);
      const qemus = JSON.parse(q.stdout) as Array<Record<string, unknown>>;
      for (const vm of vms) {
        const s = qemus.find((x) => x.name === `${SW}:${vm.name}`);
        assert.ok(s !== undefined, `${SW}:${vm.name} in ctl --qemu: ${q.stdout}`);
        const c = s.counters as Record<string, number>;
        assert.equal(s.state, 'up');
        assert.equal((s.extra as Record<string, unknown>).connects, 1);
        assert.ok((c.inFrames as number) >= 6 && (c.outFrames as number) >= 6, JSON.stringify(s));
        assert.equal(c.errors, 0);
        assert.equal(c.inDrops, 0);
      }
      const st = await ctl('--stats', '--json');
      const ports = (
        JSON.parse(st.stdout) as {
          switches: Array<{ ports: Array<{ name: string; counters: Record<string, number> }> }>;
        }
      ).switches.flatMap((s) => s.ports);
      for (const name of ['vm1', 'vm2', tap].map((p) => `${SW}:${p}`)) {
        const c = ports.find((p) => p.name === name)?.counters;
        assert.ok(
          c !== undefined && (c.txPackets as number) > 0 && (c.rxPackets as number) > 0,
          `${name}: ${st.stdout}`,
        );
      }
      // every MAC on the switch is fixed, so the table is too
      const m = await ctl('--mac', SW, '--json');
      const table = new Map((JSON.parse(m.stdout) as Array<{ mac: string; portName: string }>).map((e) => [e.mac, e]));
      for (const [mac, port] of [...vms.map((v) => [v.mac, v.name]), [hostMac, tap]] as const) {
        assert.equal(table.get(mac)?.portName, `${SW}:${port}`, `${mac} learnt on ${port}: ${m.stdout}`);
      }
      const out = cap?.out() ?? '';
      for (const vm of vms) {
        const re = new RegExp(
          `ARP, Request who-has ${hostAddr.replaceAll('.', '\\.')} tell ${vm.addr.replaceAll('.', '\\.')}`,
        );
        assert.match(out, re, `the capture saw ${vm.name}'s ARP request:\n${out}`);
      }
    });
  });
}
