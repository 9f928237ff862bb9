/*
 * What a QEMU port (./qemu-port.ts) and its link to QEMU say to each other.
 * The port owns the switch side (TX writes as chains, the RX drain, the
 * counters); a link owns the sockets of one transport:
 *
 *   ./stream-link.ts  stream and socket:tcp: listen (one peer at a time) or
 *                     dial and redial; frames behind 4-byte length prefixes.
 *   ./dgram-link.ts   dgram and socket:udp: one bare frame per datagram.
 *
 * Socket → switch, a link hands frames to the owner's sink (a FrameSink:
 * begin, data..., end) and then calls flushTx() once per read or loop turn.
 * Switch → socket, the owner builds one buffer of every waiting frame, each
 * `prefix` bytes after the previous one's end, calls frame() for each (the
 * link writes its prefix, or sends the datagram) and then flush() once.
 */

import type { FrameSink } from './framing.js';

/** The counters a link keeps (part of the adapter counters). */
export interface LinkCounters {
  connects: number;
  disconnects: number;
  refused: number;
  errors: number;
  lastError: string;
}

/** What a link needs of its port. */
export interface LinkOwner {
  /** The switch port, for log lines. */
  readonly name: string;
  /** False once the port is detached: the link then only cleans up. */
  readonly attached: boolean;
  readonly counters: LinkCounters;
  readonly sink: FrameSink;
  log(line: string): void;
  /** Publishes the frames the sink completed (one txsync). */
  flushTx(): void;
  /** Drains the RX ring to the link (after a connect, or once the socket can take more). */
  wake(): void;
  /** Starting failed: rejects `ready` with `err` and detaches the port. */
  fail(err: Error): void;
}

export interface QemuLink {
  /** 'listen', 'connect' or 'dgram'. */
  readonly mode: string;
  /** A peer is there to write to. */
  readonly connected: boolean;
  /** The TCP or UDP port listened on or bound, or null. */
  readonly localPort: number | null;
  /** Bytes in front of every frame in a batch (QEMU's length prefix, or 0). */
  readonly prefix: number;
  /** Listens, dials or binds; rejects (after owner.fail) when that fails. */
  start(): Promise<void>;
  /** False while the socket cannot take more; the link wakes the owner when it can. */
  writable(): boolean;
  /** out[head + prefix, + len) is a frame of the batch. */
  frame(out: Buffer, head: number, len: number): void;
  /** The batch is complete. */
  flush(out: Buffer): void;
  /**
   * After flush(): true if the link holds no reference to `out` any more (all
   * of it went to the kernel at once), so the owner may write the next batch
   * into the same buffer.
   */
  released(): boolean;
  /** Closes every socket and timer of the link. Safe to call twice. */
  close(): void;
}

/** "unix PATH", "tcp HOST:PORT" or "udp HOST:PORT", for log lines. */
export function where(
  spec:
    | { kind: 'stream'; path: string }
    | { kind: 'stream'; host: string; port: number }
    | { kind: 'dgram'; localHost: string; localPort: number },
): string {
  if (spec.kind === 'dgram') return `udp ${spec.localHost}:${spec.localPort}`;
  return 'path' in spec ? `unix ${spec.path}` : `tcp ${spec.host}:${spec.port}`;
}
