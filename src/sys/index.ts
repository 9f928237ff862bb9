/*
 * src/sys: everything uvale asks of the kernel through FFI (koffi), and the
 * only place that does. See README.md in this folder.
 */

export { createEventfd, eventfdDrain, eventfdSignal } from './eventfd.js';
export { describeErrno, type FdWatch, fdRead, fdWrite, isFatalErrno, watchReadable } from './fdio.js';
export { type FutexTarget, type FutexWaitResult, futexWait, futexWake } from './futex.js';
export { EAGAIN, EINTR, ENOBUFS, errnoName } from './libc.js';
export {
  type FdRangeMapping,
  type GuestRegionMapping,
  mapFdRange,
  mapGuestRegion,
  type ShrinkSeal,
  sealShrink,
} from './map-fd.js';
export { peerPidfd, takeFd } from './pidfd.js';
export {
  type FileLock,
  lockFile,
  type PeerCred,
  peerCred,
  peerCredFd,
  peerGroups,
  peerPid,
  releaseMapping,
} from './process.js';
export {
  checkSealed,
  closeFd,
  createMemfd,
  DEFAULT_SEALS,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  getSeals,
  MAX_MAPPING_SIZE,
  type Mapping,
  type MemfdOptions,
  mapShared,
  openProcFd,
  type SharedMapping,
} from './shm.js';
export {
  IFF_NO_PI,
  IFF_TAP,
  IFF_VNET_HDR,
  IFNAMSIZ,
  openTap,
  readFrame,
  type TapDevice,
  type TapOptions,
  TUN_F_CSUM,
  TUN_F_TSO_ECN,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_UFO,
  TUN_F_USO4,
  TUN_F_USO6,
  VNET_HDR_LEN,
  writeFrame,
} from './tap.js';
export {
  decodeSockaddrIn,
  describeEndpoint,
  encodeSockaddrIn,
  GRO_RX_SIZE,
  GSO_SEGS,
  MAX_DESTS,
  UdpBatch,
  type UdpBatchOptions,
  type UdpEndpoint,
} from './udp-batch.js';
export {
  decodeSockaddrUn,
  dgramBufferSizes,
  dgramConnect,
  dgramRecv,
  dgramSend,
  dgramSendTo,
  encodeSockaddrUn,
  openUnixDgram,
  SOCKADDR_UN_LEN,
  SUN_PATH_LEN,
  type UnixDgramOptions,
} from './unix-dgram.js';
export {
  MAX_FDS,
  MAX_IO,
  streamAccept,
  streamConnect,
  streamListen,
  streamRecv,
  streamSend,
  streamSendFds,
} from './unix-stream.js';
export {
  type AnonMapping,
  addressOf,
  BufRing,
  IORING_CQE_F_BUFFER,
  IORING_CQE_F_MORE,
  IORING_OP_ASYNC_CANCEL,
  IORING_OP_NOP,
  IORING_OP_READ,
  IORING_OP_READ_MULTISHOT,
  IORING_OP_WRITE,
  IoUring,
  mapAnonymous,
  type UringOptions,
  uringRetry,
} from './uring.js';
