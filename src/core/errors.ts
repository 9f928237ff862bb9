/*
 * Control-plane errors with stable codes.
 *
 * Every error uvale raises for a bad request (a name, a limit, a ring misuse, a
 * malformed control message) is a ValeError whose `code` never changes between
 * releases; code and tests switch on `code`, never on the message. `errno` gives
 * the errno netmap would return for the same mistake, for users porting C code.
 * The data path never throws: drops are counted on the port (see switch/vport.ts).
 */

export const ErrorCodes = {
  /** A port or switch name does not follow `vale[bdg:][port]`. errno EINVAL. */
  INVALID_NAME: 'VALE_ERR_INVALID_NAME',
  /** An argument (ring count, slot count, setting value, option) is out of range. errno EINVAL. */
  INVALID_ARG: 'VALE_ERR_INVALID_ARG',
  /** A limit setting was reached; the message names the setting to raise. errno ENOMEM. */
  LIMIT: 'VALE_ERR_LIMIT',
  /** The object is in use (exclusive rings, a port still open or attached). errno EBUSY. */
  BUSY: 'VALE_ERR_BUSY',
  /** No such switch, port or interface. errno ENXIO. */
  NOT_FOUND: 'VALE_ERR_NOT_FOUND',
  /** The object exists already. errno EEXIST. */
  EXISTS: 'VALE_ERR_EXISTS',
  /** An illegal head/cur move: the ring was re-initialised, nothing was sent. errno EINVAL. */
  RING_REINIT: 'VALE_ERR_RING_REINIT',
  /** The port handle was closed. errno EBADF. */
  CLOSED: 'VALE_ERR_CLOSED',
  /** A malformed message on a control or data channel. errno EPROTO. */
  PROTOCOL: 'VALE_ERR_PROTOCOL',
  /** The operation is not supported by this port or transport. errno EOPNOTSUPP. */
  NOT_SUPPORTED: 'VALE_ERR_NOT_SUPPORTED',
  /** The daemon could not be reached or went away. errno ECONNREFUSED. */
  DAEMON: 'VALE_ERR_DAEMON',
  /** The requester may not do this (a rule of docs/security.md refused it). errno EACCES. */
  PERMISSION: 'VALE_ERR_PERMISSION',
  /** A system call failed; `cause` holds the OS error. */
  SYSTEM: 'VALE_ERR_SYSTEM',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const ERRNO: Record<ErrorCode, string> = {
  VALE_ERR_INVALID_NAME: 'EINVAL',
  VALE_ERR_INVALID_ARG: 'EINVAL',
  VALE_ERR_LIMIT: 'ENOMEM',
  VALE_ERR_BUSY: 'EBUSY',
  VALE_ERR_NOT_FOUND: 'ENXIO',
  VALE_ERR_EXISTS: 'EEXIST',
  VALE_ERR_RING_REINIT: 'EINVAL',
  VALE_ERR_CLOSED: 'EBADF',
  VALE_ERR_PROTOCOL: 'EPROTO',
  VALE_ERR_NOT_SUPPORTED: 'EOPNOTSUPP',
  VALE_ERR_DAEMON: 'ECONNREFUSED',
  VALE_ERR_PERMISSION: 'EACCES',
  VALE_ERR_SYSTEM: 'EIO',
};

/** The one error class of uvale's control plane. */
export class ValeError extends Error {
  readonly code: ErrorCode;
  readonly errno: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ValeError';
    this.code = code;
    this.errno = ERRNO[code];
  }

  /** A plain object for the wire (control protocol) and for `--json` output. */
  toJSON(): { code: ErrorCode; errno: string; message: string } {
    return { code: this.code, errno: this.errno, message: this.message };
  }
}

/** Rebuild a ValeError received over the wire; unknown codes become PROTOCOL errors. */
export function errorFromJSON(o: unknown): ValeError {
  if (o !== null && typeof o === 'object') {
    const r = o as { code?: unknown; message?: unknown };
    const codes = Object.values(ErrorCodes) as string[];
    if (typeof r.code === 'string' && codes.includes(r.code) && typeof r.message === 'string') {
      return new ValeError(r.code as ErrorCode, r.message);
    }
  }
  return new ValeError(ErrorCodes.PROTOCOL, 'malformed error reply');
}

export function isValeError(e: unknown, code?: ErrorCode): e is ValeError {
  return e instanceof ValeError && (code === undefined || e.code === code);
}
