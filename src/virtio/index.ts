/*
 * src/virtio: virtio rings over guest memory the device does not trust
 * (memory.ts: the region table and bounds-checked translation; virtqueue.ts:
 * split virtqueues, device side). No I/O here: a transport (vhost-user, in
 * src/ports/vhost-user) maps the memory and moves the notifications.
 */

export { GuestMemory, MAX_REGIONS, type MemRegion } from './memory.js';
export {
  BROKEN,
  EMPTY,
  MAX_QUEUE_SIZE,
  needEvent,
  type QueueAddrs,
  type RingAddressSpace,
  ringBytes,
  SplitQueue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
} from './virtqueue.js';
