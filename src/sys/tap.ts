/*
 * Linux TAP devices: an Ethernet interface whose other end is a file
 * descriptor. A frame the kernel sends out of the interface is one read() on
 * the fd; one write() of a frame makes the interface receive it.
 *
 * openTap opens /dev/net/tun and attaches it with TUNSETIFF (IFF_TAP |
 * IFF_NO_PI: bare Ethernet frames, no 4-byte packet-info prefix). With
 * `vnetHdr`, every frame on the fd carries a 12-byte virtio-net header in front
 * (struct virtio_net_hdr_mrg_rxbuf), and `offloads` (TUN_F_*) lets the kernel
 * hand over frames with checksums left to do and TCP segments of up to 64 KiB.
 * The tap disappears when its last fd closes. The fd keeps working after the
 * interface moves to another network namespace.
 *
 * Needs CAP_NET_ADMIN (root). libuv cannot poll a tap fd (net.Socket refuses a
 * character device), so reads and writes are synchronous: use a blocking fd in
 * a worker thread, or a non-blocking fd and readFrame's -EAGAIN.
 */

import { ErrorCodes, ValeError } from '../core/errors.js';
import { EAGAIN, EINTR, errno, libc, O_CLOEXEC, O_NONBLOCK, O_RDWR, sysError, throwErrno } from './libc.js';
import { closeFd } from './shm.js';

/** ifr_flags of TUNSETIFF. */
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;

/** Offload flags of TUNSETOFFLOAD (linux/if_tun.h); all but TUN_F_CSUM need TUN_F_CSUM. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
const TUN_F_ALL = 0x7f;

/** ioctl numbers (_IOW('T', n, int)). */
export const TUNSETIFF = 0x400454ca;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;

/** Bytes of the virtio-net header in front of every frame in vnetHdr mode. */
export const VNET_HDR_LEN = 12;
/** Interface names have at most IFNAMSIZ - 1 = 15 bytes. */
export const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;

/** Options of openTap. */
export interface TapOptions {
  /** Put a 12-byte virtio-net header in front of every frame (IFF_VNET_HDR). Default false. */
  vnetHdr?: boolean;
  /** TUN_F_* offloads to enable; needs vnetHdr. Default 0: the kernel finishes every frame. */
  offloads?: number;
  /** Open the fd O_NONBLOCK: readFrame/writeFrame return -EAGAIN instead of blocking. Default false. */
  nonBlocking?: boolean;
}

/** An open TAP device. Close it with closeFd(fd); the interface vanishes with its last fd. */
export interface TapDevice {
  readonly fd: number;
  /** The interface name the kernel gave (the one asked for, or tapN when asked for ''). */
  readonly name: string;
  /** 12 with vnetHdr, else 0: bytes in front of the Ethernet frame in every read and write. */
  readonly vnetHdrLen: number;
}

/** Throw INVALID_ARG unless `name` is a valid interface name: 1–15 bytes, no '/', ':', white space, not '.'/'..'. */
function checkIfName(name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    throw new ValeError(ErrorCodes.INVALID_ARG, `tap name must be a string, got ${typeof name}`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes >= IFNAMSIZ) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `tap name ${JSON.stringify(name)} is too long: ${bytes} bytes, at most ${IFNAMSIZ - 1}`,
    );
  }
  if (name === '.' || name === '..' || /[/:\s\0]/.test(name)) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `tap name ${JSON.stringify(name)} is not a valid interface name (no '/', ':', white space; not '.' or '..')`,
    );
  }
}

function checkOffloads(offloads: number, vnetHdr: boolean): void {
  if (!Number.isInteger(offloads) || (offloads & ~TUN_F_ALL) !== 0 || offloads < 0) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `offloads must combine TUN_F_* flags (0 to 0x7f), got ${offloads}`);
  }
  if (offloads !== 0 && !vnetHdr) {
    throw new ValeError(ErrorCodes.INVALID_ARG, 'offloads need vnetHdr: true (the frames carry their state in it)');
  }
  if (offloads !== 0 && (offloads & TUN_F_CSUM) === 0) {
    throw new ValeError(ErrorCodes.INVALID_ARG, `offloads ${offloads} need TUN_F_CSUM`);
  }
}

/**
 * Open /dev/net/tun and attach it to the TAP interface `name`, created if it
 * does not exist (and removed when the fd closes, unless made persistent
 * elsewhere). The interface starts down; bring it up with `ip link set`.
 *
 * @param name - 1 to 15 bytes; '' lets the kernel pick tapN; "%d" in it is replaced by a number.
 * @throws ValeError INVALID_ARG for a bad name or options; SYSTEM when open or an ioctl fails (EPERM without
 *   CAP_NET_ADMIN, EBUSY when the interface is already attached, EINVAL when `name` is a tun or other device).
 *   No fd leaks on failure.
 */
export function openTap(name: string, options: TapOptions = {}): TapDevice {
  if (name !== '') checkIfName(name);
  const vnetHdr = options.vnetHdr === true;
  const offloads = options.offloads ?? 0;
  checkOffloads(offloads, vnetHdr);

  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_CLOEXEC | (options.nonBlocking === true ? O_NONBLOCK : 0));
  if (fd < 0) throwErrno('open', '/dev/net/tun');
  try {
    // struct ifreq: ifr_name[16], then ifr_flags (short) at offset 16.
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write(name, 0, IFNAMSIZ - 1, 'utf8');
    ifr.writeUInt16LE(IFF_TAP | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0), IFNAMSIZ);
    if (c.ioctlPtr(fd, TUNSETIFF, ifr) < 0) throwErrno('ioctl', `TUNSETIFF ${JSON.stringify(name)}`);
    const end = ifr.indexOf(0);
    const actual = ifr.toString('utf8', 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
    if (vnetHdr) {
      const sz = Buffer.alloc(4);
      sz.writeInt32LE(VNET_HDR_LEN, 0);
      if (c.ioctlPtr(fd, TUNSETVNETHDRSZ, sz) < 0) throwErrno('ioctl', `TUNSETVNETHDRSZ ${actual}`);
      if (offloads !== 0 && c.ioctlVal(fd, TUNSETOFFLOAD, offloads) < 0) {
        throwErrno('ioctl', `TUNSETOFFLOAD ${offloads} ${actual}`);
      }
    }
    return { fd, name: actual, vnetHdrLen: vnetHdr ? VNET_HDR_LEN : 0 };
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

function checkRange(op: string, fd: number, buf: Uint8Array, off: number, len: number): void {
  if (
    !(buf instanceof Uint8Array) ||
    !Number.isInteger(fd) ||
    fd < 0 ||
    !Number.isInteger(off) ||
    !Number.isInteger(len) ||
    off < 0 ||
    len < 1 ||
    off + len > buf.length
  ) {
    throw new ValeError(
      ErrorCodes.INVALID_ARG,
      `${op}: need fd >= 0, a Uint8Array and 0 <= off, 1 <= len, off + len <= ${(buf as Uint8Array)?.length}; ` +
        `got fd ${fd}, off ${off}, len ${len}`,
    );
  }
}

/**
 * Read one frame into `buf[off .. off+len)`: one read(2).
 *
 * A frame longer than `len` is cut short (the rest is lost), so give room for
 * the largest frame: MTU + 14 (+ VNET_HDR_LEN), or 65550 + VNET_HDR_LEN with TSO.
 *
 * @returns the frame's length; -EAGAIN when a non-blocking fd has nothing; -EINTR when a signal interrupted a
 *   blocking read (retry).
 * @throws ValeError INVALID_ARG for a bad range; SYSTEM for any other error (EBADF, EIO, EFAULT).
 */
export function readFrame(fd: number, buf: Uint8Array, off: number, len: number): number {
  checkRange('readFrame', fd, buf, off, len);
  const n = libc().read(fd, off === 0 && len === buf.length ? buf : buf.subarray(off, off + len), len);
  if (n >= 0) return n;
  const err = errno();
  if (err === EAGAIN || err === EINTR) return -err;
  throw sysError('read', err, `fd ${fd}`);
}

/**
 * Write one frame from `buf[off .. off+len)`: one write(2). In vnetHdr mode the
 * range starts with the 12-byte header (all zero for a plain frame).
 *
 * @returns the bytes written (the whole frame); -EAGAIN when a non-blocking fd's queue is full; -EINTR (retry).
 * @throws ValeError INVALID_ARG for a bad range; SYSTEM for any other error (EBADF; EINVAL for a malformed
 *   frame or vnet header; EIO).
 */
export function writeFrame(fd: number, buf: Uint8Array, off: number, len: number): number {
  checkRange('writeFrame', fd, buf, off, len);
  const n = libc().write(fd, off === 0 && len === buf.length ? buf : buf.subarray(off, off + len), len);
  if (n >= 0) return n;
  const err = errno();
  if (err === EAGAIN || err === EINTR) return -err;
  throw sysError('write', err, `fd ${fd}`);
}
