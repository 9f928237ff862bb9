/*
 * Booting the test guest (Debian's kernel and the busybox initramfs of
 * test/qemu/guest/build.sh) in QEMU, for the tests that put guests on a
 * switch (test/qemu/vm.test.ts, test/ports/vhost-user/qemu-guests.test.ts).
 *
 * The guest's /init (test/qemu/guest/init) takes its address and the
 * addresses to ping from the kernel command line and reports on the serial
 * console (QEMU's stdout here) in UVALE-* lines; `waitConsole` and `pings`
 * read them. A guest's NIC is virtio-net-pci on one of two back-ends:
 *
 *   stream       QEMU's `-netdev stream` dials a uvale QEMU port's unix socket
 *   vhost-user   QEMU's `-netdev vhost-user`, dialing a uvale vhost-user port
 *                (server false) or listening for one in connect mode (true);
 *                guest memory is a shared memfd, and the device has no MSI-X
 *                (`vectors=0`): without KVM, QEMU 7.2 crashes in virtio-pci's
 *                irqfd set-up when a guest starts a vhost-user device with
 *                MSI-X (docs/vhost-user.md, "QEMU 7.2 under TCG")
 *
 * TCG by default: a /dev/kvm that exists need not work (on the machine this
 * was written on, KVM guests hang); UVALE_QEMU_ACCEL=kvm (or kvm:tcg) where
 * it does.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited } from '../helpers/daemon.js';
import { netSkipReason } from '../tap/net.js';

export const QEMU = 'qemu-system-x86_64';
export const GUEST_DIR = process.env.UVALE_GUEST_DIR ?? '/var/cache/uvale-test/guest';
export const ACCEL = process.env.UVALE_QEMU_ACCEL ?? 'tcg';
const INIT = fileURLToPath(new URL('../../../test/qemu/guest/init', import.meta.url));
const BUILD = 'test/qemu/guest/build.sh';

/** Why guests cannot boot here (no root, QEMU, ping, or an image built from this ./init), or null. */
export function guestSkipReason(): string | null {
  const net = netSkipReason(['ping', QEMU]);
  if (net !== null) return net;
  if (!existsSync(join(GUEST_DIR, 'vmlinuz')) || !existsSync(join(GUEST_DIR, 'initrd.img'))) {
    return `no guest image in ${GUEST_DIR} (build it with ${BUILD}; .ci/run does)`;
  }
  const want = createHash('sha256').update(readFileSync(INIT)).digest('hex');
  let have = '';
  try {
    have = readFileSync(join(GUEST_DIR, 'stamp'), 'utf8').trim();
  } catch {}
  return have === want
    ? null
    : `the guest image in ${GUEST_DIR} was built from another test/qemu/guest/init (rebuild it: ${BUILD})`;
}

export type GuestNet = { kind: 'stream'; path: string } | { kind: 'vhost-user'; path: string; server: boolean };

export interface GuestOptions {
  name: string;
  /** Its address (a /24) and MAC. */
  addr: string;
  mac: string;
  /** Addresses to ping, in order, each retried for `wait` seconds. */
  ping: string[];
  net: GuestNet;
  wait?: number;
  /** Seconds it answers pings after reporting, before it powers itself off (if the test dies). */
  hold?: number;
}

export interface Vm {
  name: string;
  addr: string;
  mac: string;
  child: ChildProcess;
  console: () => string;
  stderr: () => string;
}

/** QEMU's arguments for the guest's NIC (and, for vhost-user, its shared memory). */
function netArgs(net: GuestNet, mac: string): string[] {
  if (net.kind === 'stream') {
    return [
      ...['-netdev', `stream,id=n0,server=off,addr.type=unix,addr.path=${net.path}`],
      ...['-device', `virtio-net-pci,netdev=n0,mac=${mac}`],
    ];
  }
  return [
    ...['-object', 'memory-backend-memfd,id=m,size=128M,share=on', '-numa', 'node,memdev=m'],
    ...['-chardev', `socket,id=c0,path=${net.path}${net.server ? ',server=on,wait=off' : ''}`],
    ...['-netdev', 'vhost-user,id=n0,chardev=c0'],
    // vectors=0: no MSI-X (see the header)
    ...['-device', `virtio-net-pci,netdev=n0,mac=${mac},vectors=0`],
  ];
}

/** Starts QEMU on the guest; its console and stderr are collected. Stop it with `killVm`. */
export function bootGuest(o: GuestOptions): Vm {
  const append = [
    'console=ttyS0 quiet panic=-1',
    `uvale.ip=${o.addr}/24 uvale.ping=${o.ping.join(',')} uvale.wait=${o.wait ?? 60}`,
    `uvale.hold=${o.hold ?? 300}`,
  ].join(' ');
  const args = [
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-monitor', 'none'],
    ...['-machine', `q35,accel=${ACCEL}`, '-m', '128', '-no-reboot'],
    ...['-kernel', join(GUEST_DIR, 'vmlinuz'), '-initrd', join(GUEST_DIR, 'initrd.img'), '-append', append],
    ...netArgs(o.net, o.mac),
  ];
  const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  child.on('error', (e) => (err += String(e)));
  return { name: o.name, addr: o.addr, mac: o.mac, child, console: () => out, stderr: () => err };
}

/** Kills a guest's QEMU (if it still runs) and waits for it to be gone. */
export async function killVm(vm: Vm): Promise<void> {
  if (vm.child.exitCode === null && vm.child.signalCode === null) vm.child.kill('SIGKILL');
  await exited(vm.child, 5000);
}

/** The last lines of a VM's console and QEMU's stderr (and how QEMU ended), for failure messages. */
export function tail(vm: Vm, lines = 25): string {
  const c = vm.console().replaceAll('\r', '').trimEnd().split('\n').slice(-lines).join('\n');
  const e = vm.stderr().trim();
  const end =
    vm.child.signalCode !== null
      ? ` (QEMU killed by ${vm.child.signalCode})`
      : vm.child.exitCode !== null
        ? ` (QEMU exited ${vm.child.exitCode})`
        : '';
  return `\n--- ${vm.name} console (last ${lines} lines)${end} ---\n${c}\n---${e === '' ? '' : `\nQEMU: ${e}`}`;
}

/** Waits for `line` on the console of every VM; fails early if one exits, with its console's tail. */
export async function waitConsole(vms: Vm[], line: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const pending = vms.filter((v) => !v.console().includes(line));
    if (pending.length === 0) return;
    const dead = pending.find((v) => v.child.exitCode !== null || v.child.signalCode !== null);
    if (dead !== undefined) assert.fail(`${dead.name} exited before printing ${line}${tail(dead)}`);
    if (Date.now() > end)
      assert.fail(`timed out after ${ms} ms waiting for ${line}${pending.map((v) => tail(v)).join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `UVALE-PING ADDR ok RTT` / `UVALE-PING ADDR fail` lines of a console, by address. */
export function pings(vm: Vm): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of vm.console().matchAll(/^UVALE-PING (\S+) (ok [\d.]*|fail)\r?$/gm))
    m.set(r[1] as string, r[2] as string);
  return m;
}
