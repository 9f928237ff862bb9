/*
 * QEMU's stream framing (-netdev stream, -netdev socket over TCP): every
 * Ethernet frame travels after a 4-byte big-endian length. StreamDeframer
 * cuts a byte stream into frames without allocating: it hands each frame's
 * bytes to a sink as ranges of the chunk it was fed (the sink copies them
 * straight into TX slots), so a frame split across reads (even inside its
 * length prefix) is reassembled in place. A length of 0 or above the limit
 * is an unrecoverable framing error (the stream has no way to resync): feed()
 * returns the reason and the caller closes that connection.
 */

import { MAX_FRAME } from '../../ring/layout.js';

/** The largest frame accepted from a stream: MAX_FRAME (a 64 KB IP datagram plus its Ethernet header fits). */
export const MAX_STREAM_FRAME = MAX_FRAME;

/** Where a deframer puts frames. No method may throw. */
export interface FrameSink {
  /** A frame of `len` bytes starts; return false to skip its bytes (it is dropped, and counted by the sink). */
  begin(len: number): boolean;
  /** The next `end - start` bytes of the current frame, in `src`. */
  data(src: Buffer, start: number, end: number): void;
  /** The current frame is complete. */
  end(): void;
}

export class StreamDeframer {
  readonly maxFrame: number;
  private hdr = 0;
  private hdrGot = 0;
  /** Bytes of the current frame still to come (0: reading a length prefix). */
  private left = 0;
  private skipping = false;
  private err: string | null = null;

  constructor(maxFrame = MAX_STREAM_FRAME) {
    this.maxFrame = maxFrame;
  }

  /** Part of a frame (or of its length) has been read but not the rest. */
  get midFrame(): boolean {
    return this.left !== 0 || this.hdrGot !== 0;
  }

  /** The error that stopped this stream, if any. */
  get error(): string | null {
    return this.err;
  }

  /** Forgets any partial frame and error (a new connection). */
  reset(): void {
    this.hdr = 0;
    this.hdrGot = 0;
    this.left = 0;
    this.skipping = false;
    this.err = null;
  }

  /**
   * Consumes `src` (bytes start..end): calls the sink for every frame in it.
   * Returns null, or why the stream is broken (then nothing more is parsed
   * until reset(); frames before the bad prefix were delivered).
   */
  feed(src: Buffer, sink: FrameSink, start = 0, end = src.length): string | null {
    if (this.err !== null) return this.err;
    let i = start;
    while (i < end) {
      if (this.left === 0) {
        if (this.hdrGot === 0 && end - i >= 4) {
          // the whole prefix is here (nearly always): read it at once
          this.hdr = ((src[i] << 24) | (src[i + 1] << 16) | (src[i + 2] << 8) | src[i + 3]) >>> 0;
          this.hdrGot = 4;
          i += 4;
        }
        while (this.hdrGot < 4 && i < end) {
          this.hdr = ((this.hdr << 8) | src[i]) >>> 0;
          this.hdrGot++;
          i++;
        }
        if (this.hdrGot < 4) break;
        const len = this.hdr;
        this.hdr = 0;
        this.hdrGot = 0;
        if (len === 0 || len > this.maxFrame) {
          this.err =
            len === 0
              ? 'bad length prefix 0 (an empty frame)'
              : `bad length prefix ${len} (more than ${this.maxFrame}; not QEMU's framing?)`;
          return this.err;
        }
        this.left = len;
        this.skipping = !sink.begin(len);
        continue;
      }
      const take = Math.min(this.left, end - i);
      if (!this.skipping) sink.data(src, i, i + take);
      i += take;
      this.left -= take;
      if (this.left === 0 && !this.skipping) sink.end();
    }
    return null;
  }
}
