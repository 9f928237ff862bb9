/*
 * Two booted Linux guests (the test guest image of test/qemu/guest) on
 * vhost-user ports of one switch ping each other. VM1's port listens (QEMU
 * dials it); VM2's QEMU listens (`server=on,wait=off`) and its port dials it
 * (`,connect`). Linux's virtio-net takes every offload offered, so both ports
 * carry the virtio-net header. Runs under TCG (UVALE_QEMU_ACCEL=kvm to
 * change) with `vectors=0` on the device: QEMU 7.2 without KVM crashes
 * (SIGSEGV in virtio-pci's irqfd set-up, reached from vhost_net_start) when a
 * guest starts a vhost-user device with MSI-X; docs/vhost-user.md has the
 * evidence. Needs qemu-system-x86_64 and the guest image ($UVALE_GUEST_DIR,
 * else /var/cache/uvale-test/guest).
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ValeHost } from '../../../src/index.js';
import { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const GUEST_DIR = process.env.UVALE_GUEST_DIR ?? '/var/cache/uvale-test/guest';
const ACCEL = process.env.UVALE_QEMU_ACCEL ?? 'tcg';
const BOOT_MS = 240_000;
const SUBNET = '10.199.11';
const skip = !existsSync(QEMU)
  ? 'qemu-system-x86_64 is not installed'
  : !existsSync(join(GUEST_DIR, 'vmlinuz')) || !existsSync(join(GUEST_DIR, 'initrd.img'))
    ? `no guest image in ${GUEST_DIR} (test/qemu/guest/build.sh)`
    : false;

interface Vm {
  name: string;
  child: ChildProcess;
  out: () => string;
}

function boot(n: number, chardev: string, peer: string): Vm {
  const name = `vm${n}`;
  const append = `console=ttyS0 quiet panic=-1 uvale.ip=${SUBNET}.${10 + n}/24 uvale.ping=${peer} uvale.wait=120 uvale.hold=60`;
  const child = spawn(
    QEMU,
    [
      ...['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-monitor', 'none'],
      ...['-machine', `q35,accel=${ACCEL}`, '-m', '128', '-no-reboot'],
      ...['-object', 'memory-backend-memfd,id=m,size=128M,share=on', '-numa', 'node,memdev=m'],
      ...['-kernel', join(GUEST_DIR, 'vmlinuz'), '-initrd', join(GUEST_DIR, 'initrd.img'), '-append', append],
      ...['-chardev', chardev, '-netdev', 'vhost-user,id=n0,chardev=c0'],
      // vectors=0: no MSI-X, see the header
      ...['-device', `virtio-net-pci,netdev=n0,mac=52:54:00:c7:0b:${10 + n},vectors=0`],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  return { name, child, out: () => out };
}

async function kill(vm: Vm): Promise<void> {
  if (vm.child.exitCode !== null || vm.child.signalCode !== null) return;
  const gone = new Promise((r) => vm.child.once('exit', r));
  vm.child.kill('SIGKILL');
  await gone;
}

test('two Linux guests on vhost-user ports (one listening, one dialing) ping each other', {
  skip,
  timeout: BOOT_MS + 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-g-'));
  const host = new ValeHost();
  const logs: string[] = [];
  const log = (l: string) => logs.push(l);
  const s1 = join(dir, 'vm1.sock');
  const s2 = join(dir, 'vm2.sock');
  const p1 = VhostUserPort.attach(host, 'vale-vg:vm1', s1, { log });
  const vms: Vm[] = [];
  let p2: VhostUserPort | null = null;
  try {
    vms.push(boot(1, `socket,id=c0,path=${s1}`, `${SUBNET}.12`));
    vms.push(boot(2, `socket,id=c0,path=${s2},server=on,wait=off`, `${SUBNET}.11`));
    p2 = VhostUserPort.attach(host, 'vale-vg:vm2', s2, { log, connect: true });
    const end = Date.now() + BOOT_MS;
    while (!vms.every((v) => v.out().includes('UVALE-DONE'))) {
      const dead = vms.find((v) => v.child.exitCode !== null);
      if (dead !== undefined) assert.fail(`${dead.name} exited: ${dead.out().slice(-1500)}`);
      if (Date.now() > end) assert.fail(`timed out: ${vms.map((v) => v.out().slice(-800)).join('\n---\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const [vm, peer] of [
      [vms[0]!, `${SUBNET}.12`],
      [vms[1]!, `${SUBNET}.11`],
    ] as const) {
      assert.match(
        vm.out(),
        new RegExp(`UVALE-PING ${peer.replaceAll('.', '\\.')} ok`),
        `${vm.name}: ${vm.out().slice(-800)}`,
      );
    }
    for (const p of [p1, p2]) {
      const i = p.info();
      assert.equal(i.state, 'up');
      assert.equal(i.extra?.vnetHdrLen, 12, `Linux takes the offloads: features ${String(i.extra?.features)}`);
      assert.ok(i.counters.inFrames >= 2 && i.counters.outFrames >= 2, JSON.stringify(i.counters));
      assert.equal(i.counters.errors, 0, logs.join(' | '));
    }
  } finally {
    for (const v of vms) await kill(v);
    p2?.close();
    p1.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
