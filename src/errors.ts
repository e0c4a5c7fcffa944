/** The stable codes of the errors this library gives. Users branch on `code`, never on message text. */
export const ErrorCode = {
  /** An option has a wrong type or value. */
  INVALID_OPTION: "SIO_IPC_ERR_INVALID_OPTION",
  /** A broadcast or serverSideEmit argument cannot cross the IPC channel (BigInt, circular, too deep). */
  UNSERIALIZABLE: "SIO_IPC_ERR_UNSERIALIZABLE",
  /** An encoded message is larger than `maxMessageSize`. */
  MESSAGE_TOO_LARGE: "SIO_IPC_ERR_MESSAGE_TOO_LARGE",
  /** An API was called in a process where it cannot work (setupPrimary() in a worker, an Emitter outside the primary or an attached helper). */
  WRONG_PROCESS: "SIO_IPC_ERR_WRONG_PROCESS",
  /** An Emitter lost its hub: hub.close() was called, or the parent process of a helper disconnected. */
  HUB_GONE: "SIO_IPC_ERR_HUB_GONE",
  /** PM2 mode: the private directory of the Unix sockets is unsafe (not ours, a symlink, open to others) or unusable. */
  SOCKET_DIRECTORY: "SIO_IPC_ERR_SOCKET_DIRECTORY",
  /** An Emitter's emit() got an acknowledgement callback without timeout(ms). */
  ACK_WITHOUT_TIMEOUT: "SIO_IPC_ERR_ACK_WITHOUT_TIMEOUT",
  /** An event name that Socket.IO reserves was emitted. */
  RESERVED_EVENT: "SIO_IPC_ERR_RESERVED_EVENT",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The base class of every error of socket.io-ipc-adapter. */
export class IpcAdapterError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IpcAdapterError";
    this.code = code;
  }
}

/**
 * A message was larger than `maxMessageSize` once encoded: it was sent to nobody. `size` and
 * `limit` are in bytes.
 */
export class MessageTooLargeError extends IpcAdapterError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(
      ErrorCode.MESSAGE_TOO_LARGE,
      `cannot send a message of ${size} bytes between processes: maxMessageSize is ${limit} bytes. Send a reference (an id, a URL) instead, or raise maxMessageSize in createAdapter(), new Emitter() and setupPrimary() alike`,
    );
    this.name = "MessageTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/** An option of createAdapter(), setupPrimary() or new Emitter() has a wrong type. */
export class InvalidOptionTypeError extends TypeError {
  readonly code = ErrorCode.INVALID_OPTION;
  constructor(message: string) {
    super(message);
    this.name = "InvalidOptionTypeError";
  }
}

/** An option of createAdapter(), setupPrimary() or new Emitter() is out of range. */
export class InvalidOptionRangeError extends RangeError {
  readonly code = ErrorCode.INVALID_OPTION;
  constructor(message: string) {
    super(message);
    this.name = "InvalidOptionRangeError";
  }
}

/**
 * Internal: passed to a link's dropped listeners for an envelope left out because the link's queue
 * toward a slow peer was full (or, for a volatile broadcast, backlogged). The hub counts these apart.
 */
export class QueueOverflowError extends Error {
  readonly volatile: boolean;
  constructor(link: string, volatile: boolean) {
    super(
      volatile
        ? `${link} is backlogged: a volatile broadcast to it was dropped`
        : `${link} is too far behind: a message to it was dropped`,
    );
    this.name = "QueueOverflowError";
    this.volatile = volatile;
  }
}
