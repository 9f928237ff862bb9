/*
 * The daemon's log: one line per event, with a time, a level and the
 * message, as text (`2026-12-05T16:00:00.000Z uvale daemon[42]: warn: ...`)
 * or as one JSON object per line (`--log-format json`: time, level, pid,
 * msg). It goes to stderr, or to a file (`--log FILE`, which an auto-started
 * daemon uses for $UVALE_RUN_DIR/uvale.log) that SIGHUP reopens, so
 * logrotate can move it away. The file is opened append-only and never
 * through a symbolic link.
 */

import { closeSync, constants, openSync, writeSync } from 'node:fs';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'error' | 'warn' | 'info';

export class DaemonLog {
  private fd = -1;

  constructor(
    private readonly file: string | undefined,
    private readonly format: LogFormat,
  ) {
    if (file !== undefined) this.fd = openLog(file);
  }

  write(level: LogLevel, msg: string): void {
    const time = new Date().toISOString();
    const line =
      this.format === 'json'
        ? `${JSON.stringify({ time, level, pid: process.pid, msg })}\n`
        : `${time} uvale daemon[${process.pid}]: ${level === 'info' ? '' : `${level}: `}${msg}\n`;
    if (this.fd < 0) {
      process.stderr.write(line);
      return;
    }
    try {
      writeSync(this.fd, line);
    } catch {
      process.stderr.write(line); // a full disk: the line still goes somewhere
    }
  }

  /** Opens the file anew (after logrotate moved it); a failure keeps the old one. */
  reopen(): void {
    if (this.file === undefined) return;
    const fd = openLog(this.file);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = fd;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function openLog(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
}
