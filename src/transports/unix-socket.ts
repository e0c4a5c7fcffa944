/**
 * Length-prefixed frames over a Unix socket, for runs with no primary of ours (PM2 cluster mode).
 *
 * A frame is a 4-byte big-endian length, then that many bytes of UTF-8 JSON: one envelope of
 * protocol/messages.ts. Payloads (`d`) are already strings made by the codec, binary included, so
 * JSON is all a frame needs, as on PM2's own (JSON) IPC channel.
 *
 * A bad frame (oversized, garbage, another protocol version, or cut short by the end of the stream)
 * closes that one connection, with a debug line and a count in {@link unixSocketStats}: the process
 * goes on. A slow reader cannot make the writer's memory grow without limit: see
 * {@link MAX_QUEUED_BYTES}.
 */
import type { Socket } from "node:net";
import debugModule from "debug";
import {
  type Envelope,
  isOwnMessage,
  Kind,
  MESSAGE_SOURCE,
  PROTOCOL_VERSION,
  reportVersionSkew,
} from "../protocol/messages";
import { type Link, type LinkKind, LinkListeners } from "./link";

const debug = debugModule("socket.io-ipc-adapter:unix-socket");

/** The length of a frame's header: a 32-bit big-endian byte count. */
export const FRAME_HEADER_SIZE = 4;

/**
 * The largest frame body accepted or sent, in bytes (64 MiB). A header announcing more closes the
 * connection at once, before anything is buffered; an envelope that would encode to more is not
 * sent (dropped and counted).
 */
export const MAX_FRAME_SIZE = 64 * 1024 * 1024;

/**
 * The per-connection cap on bytes written and not yet taken by the peer (16 MiB, some 60,000
 * broadcasts of 250 bytes). Once a connection holds this much, data envelopes (PUBLISH, RESPONSE)
 * to it are dropped and counted until it drains, and the process gets one warning
 * (SIO_IPC_QUEUE_OVERFLOW); control envelopes (HELLO, WELCOME, NAMESPACE, LEFT: a few bytes each,
 * and membership depends on them) always go. The memory a slow peer can hold is thus this cap plus
 * one frame.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** How long (ms) a closing connection may take to flush what was sent before it is destroyed. */
export const CLOSE_FLUSH_TIMEOUT = 1_000;

/** Counters of the Unix-socket transport in this process, for all its connections. */
export interface UnixSocketStats {
  /** Frames read and handed on. */
  framesReceived: number;
  /** Frames written (or queued for writing). */
  framesSent: number;
  /** Connections closed because of a bad frame: oversized, garbage, other version, truncated. */
  framesRejected: number;
  /** Envelopes not sent: the connection was over MAX_QUEUED_BYTES, or the frame over MAX_FRAME_SIZE, or closed. */
  framesDropped: number;
}

const stats: UnixSocketStats = { framesReceived: 0, framesSent: 0, framesRejected: 0, framesDropped: 0 };

/** A snapshot of the transport's counters in this process. */
export function unixSocketStats(): UnixSocketStats {
  return { ...stats };
}

/** A frame that breaks the protocol: the connection it came on is closed. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

let warnedOverflow = false;

/** One process warning for the first overflow: a count in a debug log is easy to miss. */
function warnOverflow(cap: number): void {
  if (warnedOverflow) return;
  warnedOverflow = true;
  process.emitWarning(
    `socket.io-ipc-adapter: a peer reads more slowly than messages arrive; over ${cap} unsent bytes on its Unix socket, broadcasts and responses to it are dropped (see DEBUG=socket.io-ipc-adapter:unix-socket). Emit less at once, or check that no process is stuck.`,
    { code: "SIO_IPC_QUEUE_OVERFLOW" },
  );
}

/**
 * The frame of each envelope object sent lately: the hub hands one envelope to every server's
 * link for a broadcast, and it is encoded once. Frames are never written to, so sharing is safe.
 */
const frames = new WeakMap<Envelope, Buffer>();

/** Encodes one envelope as a frame. Returns null if it would exceed MAX_FRAME_SIZE. */
export function encodeFrame(message: Envelope, maxFrameSize = MAX_FRAME_SIZE): Buffer | null {
  let frame = frames.get(message);
  if (frame === undefined) {
    const json = JSON.stringify(message);
    frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + Buffer.byteLength(json));
    frame.writeUInt32BE(frame.length - FRAME_HEADER_SIZE, 0);
    frame.write(json, FRAME_HEADER_SIZE, "utf8");
    frames.set(message, frame);
  }
  return frame.length - FRAME_HEADER_SIZE > maxFrameSize ? null : frame;
}

/** Parses a frame body: our envelope, of our protocol version, or a FrameError. */
function parseBody(body: Buffer): unknown {
  let message: unknown;
  try {
    message = JSON.parse(body.toString("utf8"));
  } catch {
    throw new FrameError(`garbage: a frame of ${body.length} bytes that is not JSON`);
  }
  if (!isOwnMessage(message)) throw new FrameError("garbage: a frame that is not an envelope of ours");
  const version = message[MESSAGE_SOURCE];
  if (version !== PROTOCOL_VERSION) {
    reportVersionSkew(version, "a Unix socket peer", debug);
    throw new FrameError(`a frame of protocol version ${JSON.stringify(version)} (ours: ${PROTOCOL_VERSION})`);
  }
  return message;
}

/**
 * Cuts a byte stream into frames. Chunks are kept in a list and joined once per frame, so a large
 * frame that arrives in many chunks is copied once.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The body length of the frame being read, or -1 while its header is not complete. */
  #bodyLength = -1;
  readonly #maxFrameSize: number;

  constructor(maxFrameSize = MAX_FRAME_SIZE) {
    this.#maxFrameSize = maxFrameSize;
  }

  /** Bytes received that do not yet make a whole frame. Non-zero at the end of a stream: truncated. */
  get pending(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and calls `onFrame` with each envelope it completes, in order. Throws a FrameError
   * at the first bad frame (after the good frames before it were handed on); the decoder must not
   * be used after that.
   */
  push(chunk: Buffer, onFrame: (message: unknown) => void): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#bodyLength < 0) {
        if (this.#buffered < FRAME_HEADER_SIZE) return;
        const length = this.#take(FRAME_HEADER_SIZE).readUInt32BE(0);
        if (length > this.#maxFrameSize) {
          throw new FrameError(`oversized: a frame of ${length} bytes (at most ${this.#maxFrameSize})`);
        }
        if (length === 0) throw new FrameError("garbage: an empty frame");
        this.#bodyLength = length;
      }
      if (this.#buffered < this.#bodyLength) return;
      const body = this.#take(this.#bodyLength);
      this.#bodyLength = -1;
      onFrame(parseBody(body));
    }
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  #take(n: number): Buffer {
    const first = this.#chunks[0];
    this.#buffered -= n;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0];
      const used = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, used);
      offset += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

/** Limits of one connection; the defaults are the documented constants. Tests lower them. */
export interface UnixSocketLimits {
  maxFrameSize?: number;
  maxQueuedBytes?: number;
}

/** A link over one connected Unix socket: the hub's view of a worker, or a worker's view of the hub. */
export class UnixSocketLink implements Link {
  readonly name: string;
  readonly kind: LinkKind;
  /** Envelopes this link did not send (over the queue cap, oversized, or closed). */
  dropped = 0;
  #socket: Socket;
  #decoder: FrameDecoder;
  #maxFrameSize: number;
  #maxQueuedBytes: number;
  #queued = 0;
  #closed = false;
  #corked = false;
  #listeners = new LinkListeners();
  #onWritten = (error?: Error | null) => {
    this.#queued--;
    if (error) debug("write error on %s: %s", this.name, error.message);
  };
  #uncork = () => {
    if (!this.#corked) return; // close() uncorked already
    this.#corked = false;
    this.#socket.uncork();
  };
  #onFrame = (message: unknown) => {
    stats.framesReceived++;
    try {
      this.#listeners.message(message);
    } catch (error) {
      // A listener's bug is not the peer's fault: the stream stays in step, the next frames go on.
      debug("error while handling a frame from %s: %O", this.name, error);
    }
  };

  constructor(socket: Socket, kind: LinkKind, name: string, limits: UnixSocketLimits = {}) {
    this.#socket = socket;
    this.kind = kind;
    this.name = name;
    this.#maxFrameSize = limits.maxFrameSize ?? MAX_FRAME_SIZE;
    this.#maxQueuedBytes = limits.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    this.#decoder = new FrameDecoder(this.#maxFrameSize);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("end", () => {
      if (this.#decoder.pending > 0)
        this.#reject(new FrameError(`truncated: ${this.#decoder.pending} bytes of an unfinished frame`));
    });
    socket.on("error", (error) => debug("%s: %s", this.name, error.message));
    socket.on("close", () => this.close());
    if (socket.destroyed) queueMicrotask(() => this.close());
  }

  get queued(): number {
    return this.#queued;
  }

  send(message: Envelope): void {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) {
      return this.#drop(message, `${this.name} is closed`);
    }
    const control = message.k !== Kind.PUBLISH && message.k !== Kind.RESPONSE;
    if (!control && this.#socket.writableLength >= this.#maxQueuedBytes) {
      warnOverflow(this.#maxQueuedBytes);
      return this.#drop(message, `${this.name} holds ${this.#socket.writableLength} unsent bytes`);
    }
    const frame = encodeFrame(message, this.#maxFrameSize);
    if (frame === null) return this.#drop(message, `the envelope is larger than ${this.#maxFrameSize} bytes`);
    // Envelopes sent in the same tick leave in one write: a broadcast burst costs one syscall.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#queued++;
    stats.framesSent++;
    this.#socket.write(frame, this.#onWritten);
    // A ROOMS leaves at once, with what is corked before it: the hub then knows of a join before
    // anything the worker does next (acknowledging it to the client, for one) can be seen.
    if (message.k === Kind.ROOMS) this.#uncork();
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#listeners.onMessage(listener);
  }

  onClose(listener: () => void): void {
    this.#listeners.onClose(listener);
  }

  onDropped(listener: (error: Error, count: number) => void): void {
    this.#listeners.onDropped(listener);
  }

  /**
   * Closes the connection (the peer sees it close) and calls the close listeners once. What was
   * sent before is flushed first (e.g. a worker's last NAMESPACE and BYE), for at most
   * CLOSE_FLUSH_TIMEOUT ms.
   */
  close(): void {
    this.#shutdown(false);
  }

  #shutdown(abort: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.#socket;
    if (this.#corked) {
      this.#corked = false;
      socket.uncork();
    }
    if (abort || socket.destroyed || socket.writableLength === 0) socket.destroy();
    else {
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_FLUSH_TIMEOUT).unref();
    }
    debug("%s closed", this.name);
    this.#listeners.closed();
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (error) {
      this.#reject(error as FrameError);
    }
  }

  #reject(error: FrameError): void {
    stats.framesRejected++;
    debug("close %s: bad frame (%s)", this.name, error.message);
    this.#shutdown(true);
  }

  #drop(message: Envelope, why: string): void {
    this.dropped++;
    stats.framesDropped++;
    debug("drop an envelope of kind %d to %s: %s", message.k, this.name, why);
    const error = new Error(why);
    this.#listeners.dropped(error);
  }
}
