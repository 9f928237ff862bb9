/*
 * Booted Linux guests on vhost-user ports (issue 11), on one switch of the
 * daemon with a guest on a QEMU stream port and a host in a network
 * namespace on a TAP:
 *
 *   VM1 (10.199.11.11) ═ vu1 (vhost-user, uvale listens) ─┐
 *   VM2 (10.199.11.12) ═ vu2 (vhost-user, uvale dials)   ─┤
 *   VM3 (10.199.11.13) ═ st3 (QEMU stream socket)        ─┼─ vale-vu
 *   host (10.199.11.1) ─ TAP                              ─┘
 *
 * VM1's QEMU dials its port's socket; VM2's QEMU listens (`server=on,wait=off`)
 * and its port dials it (`vhost-user:PATH,connect`). At most two guests run
 * at once (TCG on a shared 2-core machine): VM1 and VM2 ping each other and
 * the host, the host pings both with full-size frames; then VM2 is stopped
 * and VM3 boots on the stream port and pings VM1 (vhost-user ↔ stream) and
 * the host, which pings it back. Linux's virtio-net takes every offload
 * offered, so both vhost-user ports carry the virtio-net header.
 *
 * The guests are the image of test/qemu/guest/build.sh, booted by
 * ../../qemu/boot-guest.ts, under TCG unless UVALE_QEMU_ACCEL says otherwise;
 * their vhost-user devices have no MSI-X (`vectors=0`): without KVM, QEMU 7.2
 * crashes (SIGSEGV in virtio-pci's irqfd set-up, from vhost_net_start) when a
 * guest starts a vhost-user device with MSI-X, which is what looked like
 * "QEMU never starts the rings" (docs/vhost-user.md has the evidence).
 * Needs root, qemu-system-x86_64, ping and the guest image; skipped with the
 * reason otherwise. QEMU, the namespace and the daemon are removed in after().
 * There is no iperf3 in the guest image (busybox only), so no throughput run.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exited, spawnDaemon, tempRunDir, uvale } from '../../helpers/daemon.js';
import { bootGuest, guestSkipReason, killVm, pings, tail, type Vm, waitConsole } from '../../qemu/boot-guest.js';
import { Cleanup, ip, nsRun, PID_TAG, type RunResult } from '../../tap/net.js';

const SW = 'vale-vu';
const SUBNET = '10.199.11';
const BOOT_MS = 150_000; // TCG on a loaded 2-core machine: guests are done in 10-50 s

interface Adapter {
  name: string;
  kind: string;
  state: string;
  counters: Record<string, number>;
  extra?: Record<string, unknown>;
}

const skip = guestSkipReason();

if (skip !== null) {
  test('Linux guests on vhost-user ports', { skip }, () => {});
} else {
  describe('Linux guests on vhost-user ports, a stream-port guest and a namespace host on one switch', {
    timeout: 2 * BOOT_MS + 60_000,
  }, () => {
    const { dir, cleanup: rmDir } = tempRunDir('vu-guests');
    const cleanup = new Cleanup();
    cleanup.add(rmDir); // first in, last out: the daemon is gone by then
    const ctl = (...args: string[]): Promise<RunResult> => uvale(['ctl', '--dir', dir, ...args], { timeoutMs: 15_000 });
    const tap = `m${PID_TAG}vu`;
    const ns = `uvt-${process.pid}-vu`;
    const hostAddr = `${SUBNET}.1`;
    const hostMac = '52:54:00:c7:0b:01';
    const sock = (n: string) => join(dir, `${n}.sock`);
    const vms = new Map<string, Vm>();

    const boot = (n: number, net: Parameters<typeof bootGuest>[0]['net'], ping: string[]): Vm => {
      const vm = bootGuest({
        name: `vm${n}`,
        addr: `${SUBNET}.${10 + n}`,
        mac: `52:54:00:c7:0b:${10 + n}`, // ends like its address
        ping,
        net,
        wait: 100, // per address: the two guests of a pair may finish booting far apart on a loaded machine
        hold: 300, // answers pings until killed; powers itself off if this test dies
      });
      cleanup.add(() => killVm(vm));
      vms.set(vm.name, vm);
      return vm;
    };

    const adapters = async (): Promise<Adapter[]> => {
      const r = await ctl('--adapters', '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Adapter[];
    };

    /** Each VM's reports: every target answered. */
    const assertPinged = (vm: Vm, targets: string[]): void => {
      const got = pings(vm);
      for (const a of targets) assert.match(got.get(a) ?? 'no report', /^ok/, `${vm.name} pinging ${a}${tail(vm)}`);
    };

    /** The host pings `vm` three times with `size`-byte payloads. */
    const hostPings = async (vm: Vm, size: number): Promise<void> => {
      const r = await nsRun(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '3', '-s', String(size), vm.addr], 30_000);
      assert.equal(r.code, 0, `ping -s ${size} ${vm.addr} from the host: ${r.stdout}${r.stderr}${tail(vm)}`);
      assert.match(r.stdout, / 3 received/);
    };

    before(async () => {
      const daemon = await spawnDaemon(dir);
      cleanup.add(async () => {
        await ctl('--shutdown');
        await exited(daemon, 10_000).catch(() => daemon.kill('SIGKILL'));
      });
      for (const spec of [
        `${SW}:vu1=vhost-user:${sock('vu1')}`,
        `${SW}:vu2=vhost-user:${sock('vu2')},connect`,
        `${SW}:st3=stream:unix:${sock('st3')}`,
        `${SW}:${tap}`,
      ]) {
        const r = await ctl('-a', spec);
        assert.equal(r.code, 0, `ctl -a ${spec}: ${r.stderr}`);
      }
      // the host: the daemon's TAP, moved into its own namespace
      cleanup.link(tap); // if it never reaches the namespace
      cleanup.netns(ns);
      ip('netns', 'add', ns);
      ip('link', 'set', tap, 'netns', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', tap, 'address', hostMac);
      ip('-n', ns, 'addr', 'add', `${hostAddr}/24`, 'dev', tap);
      ip('-n', ns, 'link', 'set', tap, 'up');
    });

    after(async () => {
      await cleanup.run();
    });

    test('two guests on vhost-user ports (one listening, one dialing) ping each other and the host', async (t) => {
      const t0 = Date.now();
      const vm1 = boot(1, { kind: 'vhost-user', path: sock('vu1'), server: false }, [`${SUBNET}.12`, hostAddr]);
      const vm2 = boot(2, { kind: 'vhost-user', path: sock('vu2'), server: true }, [`${SUBNET}.11`, hostAddr]);
      await waitConsole([vm1, vm2], 'UVALE-DONE', BOOT_MS);
      t.diagnostic(`both guests booted and done pinging ${((Date.now() - t0) / 1000).toFixed(1)} s after QEMU started`);
      assertPinged(vm1, [vm2.addr, hostAddr]);
      assertPinged(vm2, [vm1.addr, hostAddr]);
      // full-size frames into the guests' mergeable receive buffers and back
      for (const vm of [vm1, vm2]) await hostPings(vm, 1472);

      const list = await adapters();
      for (const [port, vm] of [
        ['vu1', vm1],
        ['vu2', vm2],
      ] as const) {
        const a = list.find((x) => x.name === `${SW}:${port}`);
        assert.ok(a !== undefined, `${SW}:${port} in ctl --adapters: ${JSON.stringify(list)}`);
        assert.equal(a.kind, 'vhost-user');
        assert.equal(a.state, 'up', `${port}: ${JSON.stringify(a)}${tail(vm)}`);
        assert.equal(a.extra?.vnetHdrLen, 12, `Linux takes the offloads: ${JSON.stringify(a.extra)}`);
        assert.equal(a.extra?.connects, 1, JSON.stringify(a));
        assert.ok(a.counters.inFrames! >= 6 && a.counters.outFrames! >= 6, JSON.stringify(a.counters));
        assert.equal(a.counters.errors, 0, JSON.stringify(a));
        t.diagnostic(
          `${port}: ${a.counters.inFrames} frames in, ${a.counters.outFrames} out, features ${a.extra?.features}`,
        );
      }
    });

    test('a guest on a stream port pings the vhost-user guest and the host', async (t) => {
      const vm1 = vms.get('vm1');
      assert.ok(
        vm1 !== undefined && vm1.child.exitCode === null && vm1.child.signalCode === null,
        `VM1 still runs${vm1 === undefined ? '' : tail(vm1)}`,
      );
      const vm2 = vms.get('vm2');
      if (vm2 !== undefined) await killVm(vm2); // two guests at a time
      const t0 = Date.now();
      const vm3 = boot(3, { kind: 'stream', path: sock('st3') }, [vm1.addr, hostAddr]);
      await waitConsole([vm3], 'UVALE-DONE', BOOT_MS);
      t.diagnostic(`VM3 booted and done pinging ${((Date.now() - t0) / 1000).toFixed(1)} s after QEMU started`);
      assertPinged(vm3, [vm1.addr, hostAddr]);
      await hostPings(vm3, 1472);
      await hostPings(vm1, 56); // VM1's port still serves after its peer port lost its guest
    });

    test('uvale counted it: the ports, the learning table', async () => {
      const list = await adapters();
      const st3 = list.find((x) => x.name === `${SW}:st3`);
      assert.equal(st3?.state, 'up', JSON.stringify(st3));
      assert.ok(st3.counters.inFrames! >= 4 && st3.counters.outFrames! >= 4, JSON.stringify(st3));
      assert.equal(st3.counters.errors, 0);
      for (const port of ['vu1', 'vu2']) {
        const a = list.find((x) => x.name === `${SW}:${port}`);
        assert.equal(a?.counters.errors, 0, JSON.stringify(a));
        assert.equal(a?.counters.inDrops, 0, JSON.stringify(a));
      }
      // every MAC on the switch is fixed, so the table is too
      const m = await ctl('--mac', SW, '--json');
      assert.equal(m.code, 0, m.stderr);
      const table = new Map((JSON.parse(m.stdout) as Array<{ mac: string; portName: string }>).map((e) => [e.mac, e]));
      for (const [mac, port] of [
        ['52:54:00:c7:0b:11', 'vu1'],
        ['52:54:00:c7:0b:12', 'vu2'],
        ['52:54:00:c7:0b:13', 'st3'],
        [hostMac, tap],
      ] as const) {
        assert.equal(table.get(mac)?.portName, `${SW}:${port}`, `${mac} learnt on ${port}: ${m.stdout}`);
      }
    });
  });
}
