import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ErrorCodes, isValeError } from '../../src/core/errors.js';
import {
  closeFd,
  openTap,
  readFrame,
  type TapDevice,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  VNET_HDR_LEN,
  writeFrame,
} from '../../src/sys/index.js';

const run = promisify(execFile);
const NS = `uvale-test-sys-${process.pid}`;
const CAN_RUN = process.getuid?.() === 0 && existsSync('/dev/net/tun') && existsSync('/usr/sbin/ip');
const SKIP = CAN_RUN ? false : 'needs root and /dev/net/tun';

const OUR_MAC = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x02];
let nsCreated = false;
const taps: TapDevice[] = [];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
}

/** Attach a tap, move it into NS and give it `addr` (a /24) there. */
function tapInNs(name: string, addr: string, opts: Parameters<typeof openTap>[1]): TapDevice {
  const tap = openTap(name, { ...opts, nonBlocking: true });
  taps.push(tap);
  assert.equal(tap.name, name);
  ip('link', 'set', name, 'netns', NS);
  ip('-n', NS, 'addr', 'add', `${addr}/24`, 'dev', name);
  ip('-n', NS, 'link', 'set', name, 'up');
  return tap;
}

/** Make NS's stack send an IPv4 packet to `dst` (so it first ARPs for it). */
async function sendUdpFromNs(dst: string): Promise<void> {
  const js = `require('node:dgram').createSocket('udp4').send('x', 9, ${JSON.stringify(dst)}, () => process.exit(0))`;
  await run('ip', ['netns', 'exec', NS, process.execPath, '-e', js], { timeout: 5000 });
}

/** Read frames from a non-blocking tap until `match` accepts one or `ms` pass. */
async function readUntil(tap: TapDevice, match: (f: Uint8Array) => boolean, ms = 3000): Promise<Uint8Array | null> {
  const buf = new Uint8Array(65536 + VNET_HDR_LEN);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const n = readFrame(tap.fd, buf, 0, buf.length);
    if (n > 0) {
      const f = buf.slice(0, n);
      if (match(f)) return f;
    } else {
      await sleep(5);
    }
  }
  return null;
}

function ipv4(s: string): number[] {
  return s.split('.').map(Number);
}

function u16(f: Uint8Array, o: number): number {
  return (f[o]! << 8) | f[o + 1]!;
}

function eq(f: Uint8Array, o: number, bytes: number[]): boolean {
  return bytes.every((b, i) => f[o + i] === b);
}

/** An ARP request from OUR_MAC / `spa` for `tpa`, broadcast. */
function arpRequest(spa: string, tpa: string): Uint8Array {
  return Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ...OUR_MAC,
    0x08,
    0x06,
    ...[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], // Ethernet/IPv4, request
    ...OUR_MAC,
    ...ipv4(spa),
    ...[0, 0, 0, 0, 0, 0],
    ...ipv4(tpa),
    ...new Array(18).fill(0), // pad to 60 bytes
  ]);
}

/** Whether Ethernet frame `f` (starting at `o`) is an ARP of opcode `op` from sender IP `spa`. */
function isArp(f: Uint8Array, o: number, op: number, spa: string): boolean {
  return f.length >= o + 42 && u16(f, o + 12) === 0x0806 && u16(f, o + 20) === op && eq(f, o + 28, ipv4(spa));
}

before(() => {
  if (!CAN_RUN) return;
  ip('netns', 'add', NS);
  nsCreated = true;
  // No IPv6 in the namespace: no router solicitations or DAD among the frames.
  ip('netns', 'exec', NS, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
  ip('netns', 'exec', NS, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
});

after(() => {
  for (const t of taps) closeFd(t.fd);
  if (nsCreated) {
    try {
      ip('netns', 'del', NS);
    } catch {
      // already gone
    }
  }
});

test('tap: frames the namespace sends are read from the fd; a written ARP request gets a reply', {
  skip: SKIP,
}, async () => {
  const name = `uvt${process.pid}`;
  const tap = tapInNs(name, '10.211.0.1', {});
  assert.equal(tap.vnetHdrLen, 0);

  // NS's stack ARPs for 10.211.0.2 before it can send the datagram.
  await sendUdpFromNs('10.211.0.2');
  const req = await readUntil(tap, (f) => isArp(f, 0, 1, '10.211.0.1'));
  assert.ok(req, 'an ARP request from 10.211.0.1 came out of the tap');
  assert.ok(eq(req, 38, ipv4('10.211.0.2')), 'asking for 10.211.0.2');
  assert.ok(eq(req, 0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'broadcast');

  // We ask NS who has 10.211.0.1; its stack answers to OUR_MAC.
  const frame = arpRequest('10.211.0.2', '10.211.0.1');
  const padded = new Uint8Array(100);
  padded.set(frame, 20);
  assert.equal(writeFrame(tap.fd, padded, 20, frame.length), frame.length);
  const reply = await readUntil(tap, (f) => isArp(f, 0, 2, '10.211.0.1') && eq(f, 0, OUR_MAC));
  assert.ok(reply, 'an ARP reply came back');
  assert.ok(eq(reply, 32, OUR_MAC), 'target hardware address is ours');
  assert.ok(eq(reply, 22, Array.from(req.subarray(6, 12))), 'sender hardware address is the tap interface');
});

test('tap: vnetHdr mode puts a 12-byte header in front of each frame; offloads reach the stack', {
  skip: SKIP,
}, async () => {
  const name = `uvv${process.pid}`;
  const tap = tapInNs(name, '10.212.0.1', { vnetHdr: true, offloads: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 });
  assert.equal(tap.vnetHdrLen, VNET_HDR_LEN);

  await sendUdpFromNs('10.212.0.2');
  const req = await readUntil(tap, (f) => isArp(f, VNET_HDR_LEN, 1, '10.212.0.1'));
  assert.ok(req, 'an ARP request, 12 bytes in');
  assert.deepEqual(
    Array.from(req.subarray(0, VNET_HDR_LEN)),
    new Array(VNET_HDR_LEN).fill(0),
    'plain frame: zero header',
  );

  const frame = arpRequest('10.212.0.2', '10.212.0.1');
  const out = new Uint8Array(VNET_HDR_LEN + frame.length); // zero header: nothing to offload
  out.set(frame, VNET_HDR_LEN);
  assert.equal(writeFrame(tap.fd, out, 0, out.length), out.length);
  const reply = await readUntil(tap, (f) => isArp(f, VNET_HDR_LEN, 2, '10.212.0.1'));
  assert.ok(reply, 'an ARP reply, 12 bytes in');

  // With TUN_F_CSUM the stack leaves the UDP checksum to us: flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
  // csum_start = 14 + 20 (the UDP header), csum_offset = 6 (its checksum field).
  ip('-n', NS, 'neigh', 'replace', '10.212.0.2', 'lladdr', '02:00:5e:00:00:02', 'dev', name);
  await sendUdpFromNs('10.212.0.2');
  const udp = await readUntil(tap, (f) => u16(f, VNET_HDR_LEN + 12) === 0x0800 && f[VNET_HDR_LEN + 23] === 17);
  assert.ok(udp, 'the UDP datagram');
  const hdr = Buffer.from(udp.subarray(0, VNET_HDR_LEN));
  assert.equal(hdr[0]! & 1, 1, 'VIRTIO_NET_HDR_F_NEEDS_CSUM');
  assert.equal(hdr.readUInt16LE(6), 34, 'csum_start');
  assert.equal(hdr.readUInt16LE(8), 6, 'csum_offset');
});

test('tap: the interface goes away when its fd closes', { skip: SKIP }, async () => {
  const name = `uvc${process.pid}`;
  const tap = openTap(name);
  ip('link', 'show', name);
  closeFd(tap.fd);
  await sleep(10);
  assert.throws(() => ip('link', 'show', name));
});

test('tap: a failed attach closes its fd', { skip: SKIP }, () => {
  const name = `uvb${process.pid}`;
  const tap = openTap(name);
  taps.push(tap);
  const before = readdirSync('/proc/self/fd').length;
  // Already attached: EBUSY. Not a tap: EINVAL or EPERM, depending on the device.
  assert.throws(
    () => openTap(name),
    (e: unknown) => {
      assert.ok(isValeError(e, ErrorCodes.SYSTEM));
      assert.match(e.message, new RegExp(`^ioctl TUNSETIFF "${name}": EBUSY \\(16\\)$`));
      return true;
    },
  );
  assert.throws(
    () => openTap('lo'),
    (e: unknown) => isValeError(e, ErrorCodes.SYSTEM) && /TUNSETIFF "lo"/.test(e.message),
  );
  assert.equal(readdirSync('/proc/self/fd').length, before, 'no fd leaked');
});

test('tap: refused without CAP_NET_ADMIN', { skip: process.getuid?.() === 0 ? 'runs as root' : false }, () => {
  assert.throws(
    () => openTap('uvale-noperm'),
    (e: unknown) => isValeError(e, ErrorCodes.SYSTEM) && /(EACCES|EPERM) \(\d+\)$/.test(e.message),
  );
});
