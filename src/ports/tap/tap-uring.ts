/*
 * The TAP adapter's io_uring path (uvale.tap_io = 1; docs/io-uring.md): the
 * same frames as read()/write() per frame, moved in batches.
 *
 * In: one multishot read (IORING_OP_READ_MULTISHOT) on the tap fd, with
 * buffer selection from a provided-buffer ring of BUFS staging buffers of
 * READ_MAX bytes each (the port's own anonymous memory: a 64 KB TSO frame
 * must fit one buffer, so they cannot be 2048-byte slot buffers, and a read
 * that lands across slots would overlap the next buffer). While the port
 * sleeps, the kernel reads every frame the tap queues into the next free
 * buffer and posts one CQE each; the ring's registered eventfd wakes libuv
 * once for the lot (deferred: the tap's own readability, below). read()
 * hands the port the next CQE's frame, copied into its TX slots' span
 * (bit-exact, the virtio-net header included), and gives the buffer straight
 * back to the kernel. The multishot read ends when the
 * kernel runs out of buffers (ENOBUFS: the frame stays queued in the tap) or
 * on an error; read() arms it again before it reports -EAGAIN.
 *
 * Deferred completions (the default where the kernel has DEFER_TASKRUN,
 * 6.1+): the kernel does the multishot read's work only when read() asks
 * (io_uring_enter GETEVENTS, once per read() that finds the CQ empty), and
 * libuv watches the tap fd itself: it stays readable, level-triggered, while
 * a frame waits that no read has taken, so no wake-up is lost and none is
 * extra. Without it, a frame arriving while the loop sleeps interrupts libuv's
 * epoll_wait (EINTR: the kernel runs the read as task work on the way out),
 * libuv enters it again, and only then sees the eventfd: one more kernel
 * round trip per wake-up (docs/performance-notes.md, tap-rtt).
 *
 * Lone frames take the plain system call: with deferred completions, the
 * first read() of a burst (the one after the port slept) is a read(2) on the
 * tap, and only the rest of the burst goes through the ring (one
 * io_uring_enter for all that waits); the CQ is empty then and the kernel
 * reads for the ring only inside our own enter, so the order of frames
 * holds. A drain of one slot (queueWrite's `alone`) is a write(2). For one
 * frame the system call is the same count and a shorter path through the
 * kernel: a ping's round trip is 10-15% shorter (docs/performance-notes.md).
 *
 * Otherwise the eventfd is level-triggered for libuv: read() clears it only
 * once the CQ is empty, and checks the CQ again after clearing it; CQEs that
 * arrived in between ring it again (one write), so a burst that stops early
 * never leaves completions behind a silent eventfd.
 *
 * Out: queueWrite() puts one IORING_OP_WRITE per frame on a second ring,
 * pointing at the frame where it lies (the switch's memory: a wasm memory that
 * never moves); flush() submits them all with one io_uring_enter and waits for
 * their completions (a tap write completes inline), so the RX slots are only
 * released once the kernel has copied every frame. A frame gathered into a
 * buffer the port reuses is flushed at once.
 *
 * Validation: a CQE's user_data must be one of ours, a buffer id below BUFS,
 * a length at most READ_MAX; anything else is counted (`bad`) and skipped.
 */

import { copyBytes, WordViews } from '../../ring/word-copy.js';
import {
  type AnonMapping,
  addressOf,
  BufRing,
  closeFd,
  createEventfd,
  EAGAIN,
  eventfdDrain,
  eventfdSignal,
  fdRead,
  fdWrite,
  IORING_CQE_F_BUFFER,
  IORING_CQE_F_MORE,
  IORING_OP_ASYNC_CANCEL,
  IORING_OP_READ_MULTISHOT,
  IORING_OP_WRITE,
  IoUring,
  mapAnonymous,
  uringRetry,
} from '../../sys/index.js';
import { READ_MAX } from '../frame-io.js';

/** Staging buffers (a power of two): frames the kernel may read ahead of the port. */
const BUFS = 64;
/** Write SQEs per io_uring_enter at most (the SQ's size). */
const WRITE_SQ = 256;
const GROUP = 1;
const UD_READ = 1;
const UD_CANCEL = 2;
/** Writes carry UD_WRITE + their index in the batch. */
const UD_WRITE = 0x100;
const ENOBUFS = 105;

/** Settings of a TapUring (tests use `sqEntries` to make io_uring_setup refuse). */
export interface TapUringOptions {
  sqEntries?: number;
  /** Defer the read ring's completions to read() (IoUring's deferTaskrun; default: when the kernel has it). */
  deferTaskrun?: boolean;
}

export class TapUring {
  /** The fd libuv watches: rung by the kernel when the read ring posts CQEs. */
  readonly eventfd: number;
  /** CQEs refused (foreign user_data, a bad buffer id or length). */
  bad = 0;
  /** Write failures since the last flush(): count and the first errno. */
  writeFails = 0;
  writeFailBytes = 0;
  writeErr = 0;
  private readonly fd: number;
  private readonly rd: IoUring;
  private readonly wr: IoUring;
  private readonly mem: AnonMapping;
  private readonly ring: BufRing;
  private readonly views: Uint8Array[] = [];
  private armed = false;
  /** Write SQEs queued and their lengths; the memory frames are queued from (it never moves) and its address. */
  private readonly writeLens = new Int32Array(WRITE_SQ);
  private writes = 0;
  private readonly stable: ArrayBufferLike;
  private readonly stableBase: number;
  private closed = false;
  /** Views for copyBytes over the staging memory and over the caller's buffer. */
  private readonly srcWords = new WordViews();
  private readonly dstWords = new WordViews();
  /** The read ring defers its completions (DEFER_TASKRUN): read() runs them (io_uring_enter GETEVENTS). */
  readonly deferred: boolean;
  /** The next read() starts a burst (the last one ended with -EAGAIN; deferred only): read(2) first. */
  private direct = true;
  /** Frames moved with read(2) / write(2) instead of the rings (the first of a burst, a lone write). */
  directReads = 0;
  directWrites = 0;

  /**
   * Sets up both rings, the staging buffers and the eventfd, and arms the
   * multishot read once to check the kernel has it.
   * @throws ValeError (NOT_SUPPORTED, SYSTEM) when any of it fails; nothing is left open then.
   */
  constructor(fd: number, stable: ArrayBufferLike, opts: TapUringOptions = {}) {
    this.fd = fd;
    this.stable = stable;
    this.stableBase = addressOf(new Uint8Array(stable, 0, 64));
    const undo: Array<() => void> = [];
    try {
      const sqEntries = opts.sqEntries ?? 4;
      let rd: IoUring | null = null;
      if (opts.deferTaskrun ?? true) {
        try {
          rd = IoUring.setup({ sqEntries, cqEntries: BUFS * 2, deferTaskrun: true });
        } catch {
          rd = null; // a kernel before 6.1: completions interrupt the loop's epoll_wait instead
        }
      }
      this.deferred = rd !== null;
      this.rd = rd ?? IoUring.setup({ sqEntries, cqEntries: BUFS * 2 });
      undo.push(() => this.rd.close());
      this.wr = IoUring.setup({ sqEntries: WRITE_SQ, cqEntries: WRITE_SQ * 2 });
      undo.push(() => this.wr.close());
      this.eventfd = createEventfd();
      undo.push(() => closeFd(this.eventfd));
      this.mem = mapAnonymous(BUFS * READ_MAX);
      undo.push(() => this.mem.unmap());
      this.ring = new BufRing(BUFS, GROUP);
      undo.push(() => this.ring.unmap());
      this.rd.registerBufRing(this.ring);
      if (!this.deferred) this.rd.registerEventfd(this.eventfd);
      for (let b = 0; b < BUFS; b++) {
        this.views.push(this.mem.bytes.subarray(b * READ_MAX, (b + 1) * READ_MAX));
        this.ring.add(this.mem.addr + b * READ_MAX, READ_MAX, b, b);
      }
      this.ring.publish(BUFS);
      const r = this.arm();
      if (r < 0) throw new Error(`io_uring_enter: errno ${-r}`);
      // A kernel without READ_MULTISHOT (< 6.7) answers EINVAL at once.
      if (this.rd.peek() && this.rd.cqeData === UD_READ && (this.rd.cqeFlags & IORING_CQE_F_MORE) === 0) {
        const res = this.rd.cqeRes;
        if (res === -22 || res === -95 || res === -77) {
          throw new Error(`multishot read refused (errno ${-res}): kernel 6.7 or later is needed`);
        }
      }
    } catch (e) {
      for (let k = undo.length - 1; k >= 0; k--) (undo[k] as () => void)();
      throw e;
    }
  }

  /** The fd whose readability says frames wait: the tap's own (deferred), else the eventfd. */
  get watchFd(): number {
    return this.deferred ? this.fd : this.eventfd;
  }

  /** CQEs posted and not taken yet (tests: a deferred ring posts none until read()). */
  get completions(): number {
    return this.rd.ready();
  }

  /** CQEs refused so far, by this object and by both rings (a user_data, buffer id or length not ours). */
  get badCqes(): number {
    return this.bad + this.rd.bad + this.wr.bad;
  }

  /** Submits a multishot read of the tap into buffer group GROUP. @returns >= 0, or -errno. */
  private arm(): number {
    const rd = this.rd;
    const i = rd.getSqe();
    if (i < 0) return -EAGAIN;
    rd.prep(i, IORING_OP_READ_MULTISHOT, this.fd, 0, 0, 0, UD_READ);
    rd.selectBuffer(i, GROUP);
    let r = rd.submit(0);
    for (let k = 0; k < 4 && r < 0 && uringRetry(-r); k++) r = rd.submit(0);
    if (r >= 0) this.armed = true;
    return r;
  }

  /**
   * The next frame the kernel read, copied into `buf` (READ_MAX bytes): its
   * length; -EAGAIN when there is none now; -errno for a failed read (the
   * multishot read is armed again unless the fd is gone: the port decides).
   */
  read(buf: Uint8Array): number {
    const rd = this.rd;
    let ranWork = false;
    if (this.direct && this.deferred && rd.ready() === 0) {
      // the first frame after the port slept: one read(2), as the syscall path; the rest of the burst through the ring
      this.direct = false;
      const len = fdRead(this.fd, buf, READ_MAX);
      if (len > 0) {
        this.directReads++;
        return len;
      }
      if (len !== -EAGAIN) return len;
    }
    for (let pass = 0; pass < 8; pass++) {
      while (rd.peek()) {
        const data = rd.cqeData;
        const res = rd.cqeRes;
        const flags = rd.cqeFlags;
        rd.advance();
        if (data !== UD_READ) {
          if (data !== UD_CANCEL) this.bad++;
          continue;
        }
        if ((flags & IORING_CQE_F_MORE) === 0) this.armed = false;
        if (res > 0) {
          const bid = flags >>> 16;
          if ((flags & IORING_CQE_F_BUFFER) === 0 || bid >= BUFS || res > READ_MAX) {
            this.bad++;
            continue;
          }
          // word copies, no view per frame (../../ring/word-copy.ts)
          const sw = this.srcWords.of(this.views[bid] as Uint8Array);
          const dw = this.dstWords.of(buf);
          copyBytes(dw.u8, dw.i32, dw.offset, sw.u8, sw.i32, sw.offset, res);
          this.recycle(bid);
          return res;
        }
        if (res === 0 || res === -ENOBUFS) continue; // armed again below, once the CQ is empty
        return res; // armed again on the next call, if the port goes on
      }
      if (rd.overflowed) {
        rd.flushOverflow();
        continue;
      }
      if (!this.armed) {
        const r = this.arm();
        if (r < 0 && !uringRetry(-r)) return r;
        continue;
      }
      if (this.deferred) {
        // libuv watches the tap itself: readable while frames wait that no read has taken (level-triggered)
        if (ranWork) {
          this.direct = true;
          return -EAGAIN;
        }
        ranWork = true;
        rd.flushOverflow(); // runs the reads the kernel queued for this thread: their CQEs
        continue;
      }
      eventfdDrain(this.eventfd);
      if (rd.ready() === 0) return -EAGAIN;
      eventfdSignal(this.eventfd); // CQEs came between the check and the drain: keep the eventfd readable
    }
    return -EAGAIN;
  }

  /** Gives buffer `bid` back to the kernel. */
  private recycle(bid: number): void {
    this.ring.add(this.mem.addr + bid * READ_MAX, READ_MAX, bid, 0);
    this.ring.publish(1);
  }

  /**
   * Queues one write of buf[0, len). A frame in the stable memory (the
   * switch's) is queued; one anywhere else (a buffer the port reuses), or
   * one `alone` in its drain with nothing queued, is written at once with
   * write(2), after the frames queued before it.
   * @returns len once queued, or what write(2) gives (-errno).
   */
  queueWrite(buf: Uint8Array, len: number, alone = false): number {
    if (alone && this.writes === 0) {
      this.directWrites++;
      return fdWrite(this.fd, buf, len);
    }
    if (buf.buffer !== this.stable) {
      if (this.writes !== 0) this.flush();
      return fdWrite(this.fd, buf, len);
    }
    if (this.writes === WRITE_SQ) this.flush();
    const wr = this.wr;
    const i = wr.getSqe();
    if (i < 0) return fdWrite(this.fd, buf, len); // not expected: flush() empties the SQ
    const k = this.writes++;
    wr.prep(i, IORING_OP_WRITE, this.fd, this.stableBase + buf.byteOffset, len, 0, UD_WRITE + k);
    this.writeLens[k] = len;
    return len;
  }

  /**
   * Submits the queued writes with one io_uring_enter, waits for all of them
   * and reaps their results: failures add to writeFails/writeFailBytes (the
   * first errno in writeErr). @returns the number of writes completed.
   */
  flush(): number {
    const wr = this.wr;
    const want = this.writes;
    if (want === 0) return 0;
    let done = 0;
    for (let spins = 0; done < want && spins < 1000; spins++) {
      const r = wr.submit(want - done);
      if (r < 0 && !uringRetry(-r)) {
        // the ring itself failed (not expected): the frames not completed are lost
        this.writeFails += want - done;
        if (this.writeErr === 0) this.writeErr = -r;
        break;
      }
      while (wr.peek()) {
        const data = wr.cqeData;
        const res = wr.cqeRes;
        wr.advance();
        if (data < UD_WRITE || data >= UD_WRITE + want) {
          this.bad++;
          continue;
        }
        const len = this.writeLens[data - UD_WRITE] as number;
        done++;
        if (res > len) this.bad++; // the kernel wrote more than asked: impossible, counted
        if (res < 0) {
          this.writeFails++;
          this.writeFailBytes += len;
          if (this.writeErr === 0) this.writeErr = -res;
        }
      }
      if (wr.overflowed) wr.flushOverflow();
    }
    this.writes = 0;
    return done;
  }

  /**
   * Cancels the multishot read and waits (briefly) for its last CQE, so that
   * the kernel writes into no staging buffer any more, then closes the rings
   * and the eventfd and frees the memory. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    const rd = this.rd;
    let quiet = !this.armed;
    if (!quiet) {
      const i = rd.getSqe();
      if (i >= 0) {
        rd.prep(i, IORING_OP_ASYNC_CANCEL, -1, 0, 0, 0, UD_CANCEL);
        rd.sqes[i * 16 + 4] = UD_READ; // addr: the user_data to cancel
        for (let k = 0; k < 20 && !quiet; k++) {
          if (k === 0) rd.submit(1);
          else rd.flushOverflow();
          while (rd.peek()) {
            if (rd.cqeData === UD_READ && (rd.cqeFlags & IORING_CQE_F_MORE) === 0) quiet = true;
            rd.advance();
          }
        }
      }
    }
    rd.close();
    this.wr.close();
    closeFd(this.eventfd);
    this.ring.unmap();
    // A read still in flight could land in the staging buffers: keep them mapped (leaked) rather than risk it.
    if (quiet) this.mem.unmap();
  }
}
