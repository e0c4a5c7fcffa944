/**
 * Length-prefixed frames over a Unix socket: the hub's data socket under node:cluster
 * (transports/data-socket.ts), and the links between the instances and their elected hub in PM2
 * cluster mode.
 *
 * A frame is a 4-byte big-endian length, then that many bytes of body: one envelope of
 * protocol/messages.ts as UTF-8 JSON, except that its payload `d` (a string made by the codec,
 * binary included), when it has one, follows the JSON after a newline byte, unescaped. The hub
 * forwards a PUBLISH or RESPONSE in the very bytes it came in; the frames that one link sends in
 * one tick leave in one write.
 *
 * A bad frame (oversized, garbage, another protocol version, or cut short by the end of the stream)
 * closes that one connection, with a debug line and a count in {@link unixSocketStats}: the process
 * goes on. A slow reader cannot make the writer's memory grow without limit: see
 * MAX_QUEUED_BYTES in ./link.
 */
import { createConnection, type Socket } from "node:net";
import debugModule from "debug";
import type { QueueOverflowError } from "../errors";
import { MAX_MESSAGE_SIZE_LIMIT } from "../options";
import {
  batchItem,
  type Envelope,
  isOwnMessage,
  Kind,
  MESSAGE_SOURCE,
  PROTOCOL_VERSION,
  type Publish,
  reportVersionSkew,
} from "../protocol/messages";
import { BlockWriter } from "./blocks";
import { DrainingLink, type Link, type LinkKind, PAUSE_BYTES, QueuePolicy } from "./link";

const debug = debugModule("socket.io-ipc-adapter:unix-socket");

/** The length of a frame's header: a 32-bit big-endian byte count. */
export const FRAME_HEADER_SIZE = 4;

/**
 * The largest frame body accepted or sent, in bytes: the largest `maxMessageSize` allowed (256 MiB)
 * plus room for the envelope, so that every message a sender may send fits in one frame. A header
 * announcing more closes the connection at once, before anything is buffered; an envelope that
 * would encode to more is not sent (dropped and counted).
 */
export const MAX_FRAME_SIZE = MAX_MESSAGE_SIZE_LIMIT + 64 * 1024;

/** Frames of one tick are written together up to this many bytes (1 MiB), then a write starts. */
const MAX_WRITE_BYTES = 1024 * 1024;

/**
 * Payloads up to this many characters (64 Ki) join a BATCH frame; a larger one gains nothing from
 * it and keeps a frame of its own, checked against the frame size limit. A batch frame thus stays
 * under MAX_WRITE_BYTES plus one item.
 */
const MAX_BATCH_ITEM = 64 * 1024;

/** A flush of more separate slices than this joins them into one buffer rather than a long writev. */
const MAX_SLICES = 16;

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
  /** Envelopes not sent: the connection was over its queue cap (MAX_QUEUED_BYTES), or the frame over MAX_FRAME_SIZE, or closed. */
  framesDropped: number;
  /** Bytes read from every connection. */
  bytesReceived: number;
}

const stats: UnixSocketStats = {
  framesReceived: 0,
  framesSent: 0,
  framesRejected: 0,
  framesDropped: 0,
  bytesReceived: 0,
};

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

/**
 * The frame (length and body) of each envelope object, made once: the hub hands one envelope to
 * every server's link for a broadcast, and a PUBLISH or RESPONSE it forwards keeps the frame it
 * arrived in (a slice of the very buffer it was read into), so the hub never encodes nor copies
 * what it forwards. Frames are never written to, so sharing them is safe. Kept on the envelope
 * under a symbol (JSON, for-in and Object.keys skip it): a WeakMap of fresh keys costs the hub
 * about a microsecond per frame in its write barrier and ephemeron tables.
 */
const FRAME = Symbol("frame");
type Framed = { [FRAME]?: Buffer };

/** The byte that ends a body's JSON header when a payload follows (JSON text never holds a raw one). */
const NEWLINE = 0x0a;

/**
 * The frame of an envelope: a 4-byte length, then the envelope as JSON, except for a string payload
 * `d`, which follows the JSON after a newline, as it is (so that it is neither escaped by the
 * sender nor scanned twice by the receiver). `keep` remembers it for the next link the envelope
 * goes to (the hub's side; a worker sends each envelope once).
 */
function frameOf(message: Envelope, keep: boolean): Buffer {
  let frame = keep ? (message as Framed)[FRAME] : undefined;
  if (frame !== undefined) return frame;
  const record = message as { d?: unknown };
  const payload = record.d;
  if (typeof payload === "string") {
    // The header is the envelope without its payload: JSON leaves out a field set to undefined,
    // which saves copying the envelope but for one field.
    let header: string;
    record.d = undefined;
    try {
      header = JSON.stringify(message);
    } finally {
      record.d = payload;
    }
    const headerLength = Buffer.byteLength(header);
    frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + headerLength + 1 + Buffer.byteLength(payload));
    frame.write(header, FRAME_HEADER_SIZE, "utf8");
    frame[FRAME_HEADER_SIZE + headerLength] = NEWLINE;
    frame.write(payload, FRAME_HEADER_SIZE + headerLength + 1, "utf8");
  } else {
    const json = JSON.stringify(message);
    frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + Buffer.byteLength(json));
    frame.write(json, FRAME_HEADER_SIZE, "utf8");
  }
  frame.writeUInt32BE(frame.length - FRAME_HEADER_SIZE, 0);
  if (keep) (message as Framed)[FRAME] = frame;
  return frame;
}

/** A PUBLISH with a payload and no other field: the item a BATCH carries as a bare string. */
function isPlainPublish(message: Envelope): message is Publish {
  return message.k === Kind.PUBLISH && typeof batchItem(message) === "string";
}

/** The JSON header of a BATCH frame, whose items follow the newline. */
const BATCH_HEADER = Buffer.from(`${JSON.stringify({ [MESSAGE_SOURCE]: PROTOCOL_VERSION, k: Kind.BATCH })}\n`);

/**
 * The frame of plain broadcasts of one tick (PUBLISH envelopes with a payload and no other field):
 * a BATCH whose items follow its JSON header, each a 4-byte length and the payload as it is. The
 * hub forwards it whole, and a receiver reads N broadcasts from one frame.
 */
function batchFrameOf(messages: Publish[]): Buffer {
  let size = FRAME_HEADER_SIZE + BATCH_HEADER.length;
  for (const message of messages) size += FRAME_HEADER_SIZE + Buffer.byteLength(message.d);
  const frame = Buffer.allocUnsafe(size);
  frame.writeUInt32BE(size - FRAME_HEADER_SIZE, 0);
  let offset = FRAME_HEADER_SIZE + BATCH_HEADER.copy(frame, FRAME_HEADER_SIZE);
  for (const message of messages) {
    const length = frame.write(message.d, offset + FRAME_HEADER_SIZE, "utf8");
    frame.writeUInt32BE(length, offset);
    offset += FRAME_HEADER_SIZE + length;
  }
  return frame;
}

/** The items of a BATCH frame, `buffer[from, end)`, or a FrameError if they do not fill it exactly. */
function batchItems(buffer: Buffer, from: number, end: number): string[] {
  const items: string[] = [];
  let offset = from;
  while (offset < end) {
    if (offset + FRAME_HEADER_SIZE > end) throw new FrameError("garbage: a batch item cut short");
    const itemEnd = offset + FRAME_HEADER_SIZE + buffer.readUInt32BE(offset);
    if (itemEnd > end) throw new FrameError("garbage: a batch item longer than its frame");
    items.push(buffer.toString("utf8", offset + FRAME_HEADER_SIZE, itemEnd));
    offset = itemEnd;
  }
  return items;
}

/** The bytes in `buffers`. */
function total(buffers: Buffer[]): number {
  let bytes = 0;
  for (const buffer of buffers) bytes += buffer.length;
  return bytes;
}

/** @internal The frame an envelope keeps on the hub's side (see FRAME), if any: tests. */
export function keptFrame(message: Envelope): Buffer | undefined {
  return (message as Framed)[FRAME];
}

/** Encodes one envelope as a whole frame (length and body). Returns null if it would exceed MAX_FRAME_SIZE. */
export function encodeFrame(message: Envelope, maxFrameSize = MAX_FRAME_SIZE): Buffer | null {
  const frame = frameOf(message, false);
  return frame.length - FRAME_HEADER_SIZE > maxFrameSize ? null : frame;
}

/**
 * Parses the body of a frame, `buffer[start, end)` (the bytes after its length): our envelope, of
 * our protocol version, or a FrameError. With `frame`, the whole frame is remembered as the
 * envelope's (to forward it as is).
 */
function parseFrame(buffer: Buffer, start: number, end: number, frame: Buffer | null): unknown {
  let split = buffer.indexOf(NEWLINE, start);
  if (split >= end) split = -1;
  let message: unknown;
  try {
    message = JSON.parse(buffer.toString("utf8", start, split === -1 ? end : split));
  } catch {
    throw new FrameError(`garbage: a frame of ${end - start} bytes that is not JSON`);
  }
  if (!isOwnMessage(message)) throw new FrameError("garbage: a frame that is not an envelope of ours");
  const version = message[MESSAGE_SOURCE];
  if (version !== PROTOCOL_VERSION) {
    reportVersionSkew(version, "a Unix socket peer", debug);
    throw new FrameError(`a frame of protocol version ${JSON.stringify(version)} (ours: ${PROTOCOL_VERSION})`);
  }
  if (split !== -1) {
    const record = message as Record<string, unknown>;
    if (Object.hasOwn(record, "d") || Object.hasOwn(record, "b")) {
      throw new FrameError("garbage: a frame with two payloads");
    }
    if (record.k === Kind.BATCH) record.b = batchItems(buffer, split + 1, end);
    else record.d = buffer.toString("utf8", split + 1, end);
  }
  if (frame !== null) (message as Framed)[FRAME] = frame;
  return message;
}

/**
 * Cuts a byte stream into frames. A frame within one chunk is a slice of it; one that arrives in
 * several chunks is joined once.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The body length of the frame being read, or -1 while its header is not complete. */
  #bodyLength = -1;
  readonly #maxFrameSize: number;
  readonly #keepFrames: boolean;

  /**
   * @param keepFrames remember each envelope's frame, to forward it as is (the hub's side); a
   * worker, which forwards nothing, saves the bookkeeping
   */
  constructor(maxFrameSize = MAX_FRAME_SIZE, keepFrames = false) {
    this.#maxFrameSize = maxFrameSize;
    this.#keepFrames = keepFrames;
  }

  /** Bytes received that do not yet make a whole frame. Non-zero at the end of a stream: truncated. */
  get pending(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and calls `onFrame` with each envelope it completes, in order. Throws a FrameError
   * at the first bad frame (after the good frames before it were handed on); the decoder must not
   * be used after that. A `reused` chunk is overwritten once this returns (a socket's read buffer):
   * what is left of it is copied.
   */
  push(chunk: Buffer, onFrame: (message: unknown) => void, reused = false): void {
    // Kept frames are slices of what was read: never of a buffer that is read into again.
    if (reused && this.#keepFrames) return this.push(Buffer.from(chunk), onFrame);
    let offset = 0;
    // First the frame begun in earlier chunks: only the bytes it lacks are taken from this one.
    while (this.#buffered > 0 && offset < chunk.length) {
      const size = this.#bodyLength < 0 ? FRAME_HEADER_SIZE : FRAME_HEADER_SIZE + this.#bodyLength;
      const piece = chunk.subarray(offset, offset + size - this.#buffered);
      offset += piece.length;
      this.#chunks.push(reused ? Buffer.from(piece) : piece);
      this.#buffered += piece.length;
      if (this.#buffered < size) return;
      if (this.#bodyLength < 0) {
        this.#bodyLength = this.#checkLength(this.#peekLength());
        continue;
      }
      const frame = this.#take(this.#buffered);
      this.#bodyLength = -1;
      onFrame(parseFrame(frame, FRAME_HEADER_SIZE, frame.length, this.#keepFrames ? frame : null));
    }
    // Then the frames that lie whole in the chunk, parsed where they are.
    while (chunk.length - offset >= FRAME_HEADER_SIZE) {
      const length = this.#checkLength(chunk.readUInt32BE(offset));
      const end = offset + FRAME_HEADER_SIZE + length;
      if (end > chunk.length) {
        this.#bodyLength = length;
        break;
      }
      const frame = this.#keepFrames ? chunk.subarray(offset, end) : null;
      const start = offset + FRAME_HEADER_SIZE;
      offset = end;
      onFrame(parseFrame(chunk, start, end, frame));
    }
    // And what is left of it: the start of the next frame.
    if (offset === chunk.length) return;
    const rest = chunk.subarray(offset);
    this.#chunks.push(reused ? Buffer.from(rest) : rest);
    this.#buffered = rest.length;
  }

  /** A frame's body length, or a FrameError if no frame may have it. */
  #checkLength(length: number): number {
    if (length > this.#maxFrameSize) {
      throw new FrameError(`oversized: a frame of ${length} bytes (at most ${this.#maxFrameSize})`);
    }
    if (length === 0) throw new FrameError("garbage: an empty frame");
    return length;
  }

  /** The length in the header of the next frame (buffered >= FRAME_HEADER_SIZE), left in place. */
  #peekLength(): number {
    const first = this.#chunks[0];
    if (first.length >= FRAME_HEADER_SIZE) return first.readUInt32BE(0);
    const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    let offset = 0;
    for (const chunk of this.#chunks) {
      offset += chunk.copy(header, offset, 0, Math.min(chunk.length, FRAME_HEADER_SIZE - offset));
      if (offset === FRAME_HEADER_SIZE) break;
    }
    return header.readUInt32BE(0);
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

/** What a connection made by connectUnixSocket reads at most at once (64 KiB, as a net.Socket's own reads). */
const READ_BUFFER_SIZE = 64 * 1024;

/** Where a connection made by connectUnixSocket hands what it reads: its link, once it has one. */
interface Reader {
  receive: ((chunk: Buffer) => void) | null;
  /** Read before the link was made: copies, handed to it first. */
  early: Buffer[];
}

const readers = new WeakMap<Socket, Reader>();

/**
 * Connects to a Unix socket and reads it into one buffer, reused from read to read (net's `onread`
 * option): no Buffer is allocated per read, and the stream machinery that emits 'data' is skipped.
 * Each envelope is parsed before the next read, so only what is left of a frame begun is copied.
 * For the side that forwards nothing it reads (a worker, an instance of a PM2 group): hand the
 * socket to a UnixSocketLink.
 */
export function connectUnixSocket(path: string): Socket {
  const reader: Reader = { receive: null, early: [] };
  const socket = createConnection({
    path,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_SIZE),
      callback: (length: number, buffer: Uint8Array) => {
        const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, length);
        if (reader.receive !== null) reader.receive(chunk);
        else reader.early.push(Buffer.from(chunk));
        return true;
      },
    },
  });
  readers.set(socket, reader);
  return socket;
}

/** Limits of one connection; the defaults are the documented constants. Tests lower them. */
export interface UnixSocketLimits {
  maxFrameSize?: number;
  maxQueuedBytes?: number;
  /** The hub's side of a connection: forward each envelope received in the bytes it came in. */
  forwards?: boolean;
  /** Bytes waiting past which the link reports the next drain (PAUSE_BYTES; tests lower it). */
  pauseBytes?: number;
}

/** A link over one connected Unix socket: the hub's view of a worker, or a worker's view of the hub. */
export class UnixSocketLink extends DrainingLink implements Link {
  /** Names the peer in logs; the data socket names a connection once it knows whose it is. */
  name: string;
  readonly kind: LinkKind;
  /** Envelopes this link did not send (over the queue cap, oversized, or closed). */
  dropped = 0;
  readonly acceptsBatches = true;
  #socket: Socket;
  #copier: BlockWriter;
  #decoder: FrameDecoder;
  #maxFrameSize: number;
  /** The hub's side: envelopes keep their frames (see FRAME). */
  readonly #forwards: boolean;
  #policy: QueuePolicy;
  #queued = 0;
  /** PAUSE_BYTES waited since the queue was last empty: say when it empties (see Link.onDrain). */
  #backlogged = false;
  #pauseBytes: number;
  #closed = false;
  #rejected = false;
  /** This tick's frames, not yet handed to the socket, and their size. */
  #pending: Buffer[] = [];
  /** The envelopes in #pending and #run (a batch counts its items), and their size, about. */
  #pendingEnvelopes = 0;
  #pendingBytes = 0;
  /** This tick's plain broadcasts not yet framed: one BATCH frame when the run ends. */
  #run: Publish[] = [];
  #flushTick = () => this.#flush();
  #onFrame = (message: unknown) => {
    stats.framesReceived++;
    try {
      this.listeners.message(message);
    } catch (error) {
      // A listener's bug is not the peer's fault: the stream stays in step, the next frames go on.
      debug("error while handling a frame from %s: %O", this.name, error);
    }
  };

  constructor(socket: Socket, kind: LinkKind, name: string, limits: UnixSocketLimits = {}) {
    super();
    this.#socket = socket;
    this.#copier = new BlockWriter(socket);
    this.kind = kind;
    this.name = name;
    this.#maxFrameSize = limits.maxFrameSize ?? MAX_FRAME_SIZE;
    this.#pauseBytes = Math.min(limits.pauseBytes ?? PAUSE_BYTES, PAUSE_BYTES);
    this.#policy = new QueuePolicy(limits.maxQueuedBytes);
    this.#forwards = limits.forwards === true;
    this.#decoder = new FrameDecoder(this.#maxFrameSize, this.#forwards);
    const reader = readers.get(socket);
    if (reader === undefined) socket.on("data", (chunk: Buffer) => this.#receive(chunk, false));
    else {
      reader.receive = (chunk) => this.#receive(chunk, true);
      // Once the one who made this link has added its listeners (no read can come before).
      const early = reader.early.splice(0);
      if (early.length > 0)
        queueMicrotask(() => {
          for (const chunk of early) this.#receive(chunk, false);
        });
    }
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

  /** Bytes waiting for the peer: this tick's frames and what the socket has not written yet. */
  get queuedBytes(): number {
    return this.#socket.writableLength + this.#pendingBytes;
  }

  /** True once a bad frame from the peer closed this link. */
  get rejected(): boolean {
    return this.#rejected;
  }

  /** The connection (the data socket watches it close). */
  get socket(): Socket {
    return this.#socket;
  }

  send(message: Envelope): void {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) {
      return this.#drop(message, `${this.name} is closed`);
    }
    const unsent = this.#socket.writableLength + this.#pendingBytes;
    const refused = this.#policy.refuse(message, unsent, 0, this.name);
    if (refused !== null) return this.#drop(message, `${this.name} holds ${unsent} unsent bytes`, refused);
    // A plain broadcast made in this process, while earlier frames wait: it joins this tick's batch.
    if (
      this.#queued > 0 &&
      isPlainPublish(message) &&
      message.d.length <= MAX_BATCH_ITEM &&
      (message as Framed)[FRAME] === undefined
    ) {
      this.#run.push(message);
      this.#pendingBytes += FRAME_HEADER_SIZE + message.d.length;
      this.#pendingEnvelopes++;
      this.#queued++;
      this.#noteBacklog();
      if (this.#pending.length === 0 && this.#run.length === 1) process.nextTick(this.#flushTick);
      if (this.#pendingBytes >= MAX_WRITE_BYTES) this.#flush();
      return;
    }
    this.#closeRun();
    const frame = frameOf(message, this.#forwards);
    if (frame.length - FRAME_HEADER_SIZE > this.#maxFrameSize) {
      return this.#drop(message, `the envelope is larger than ${this.#maxFrameSize} bytes`);
    }
    const envelopes = message.k === Kind.BATCH ? message.b.length : 1;
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    this.#pendingEnvelopes += envelopes;
    this.#queued += envelopes;
    this.#noteBacklog();
    stats.framesSent++;
    // The frames of one tick leave in one write: a burst of broadcasts costs one syscall. A ROOMS
    // leaves at once, with what is queued before it: the hub then knows of a join before anything
    // the worker does next (acknowledging it to the client, for one) can be seen.
    if (message.k === Kind.ROOMS || this.#pendingBytes >= MAX_WRITE_BYTES || this.#queued === 1) this.#flush();
    else if (this.#pending.length === 1) process.nextTick(this.#flushTick);
  }

  /** Stops reading: what the peer writes waits in the kernel, then in the peer's own queue. */
  pauseReading(): void {
    this.#socket.pause();
  }

  resumeReading(): void {
    if (!this.#closed) this.#socket.resume();
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
    if (!abort) this.#flush();
    if (abort || socket.destroyed || socket.writableLength === 0) socket.destroy();
    else {
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_FLUSH_TIMEOUT).unref();
    }
    debug("%s closed", this.name);
    this.listeners.closed();
  }

  #noteBacklog(): void {
    if (!this.#backlogged && this.#socket.writableLength + this.#pendingBytes >= this.#pauseBytes)
      this.#backlogged = true;
  }

  /** Frames this tick's run of plain broadcasts: one PUBLISH frame, or a BATCH of them. */
  #closeRun(): void {
    const run = this.#run;
    if (run.length === 0) return;
    this.#run = [];
    this.#pending.push(run.length === 1 ? frameOf(run[0], this.#forwards) : batchFrameOf(run));
    stats.framesSent++;
  }

  /**
   * Writes this tick's frames. Frames that lie one after the other in one buffer (a run of frames
   * the hub read from another socket, forwarded to this one) go as one slice of it: no copy. Few
   * slices leave in one writev; many small ones are joined first.
   */
  #flush(): void {
    this.#closeRun();
    const pending = this.#pending;
    const count = pending.length;
    if (count === 0) return;
    const envelopes = this.#pendingEnvelopes;
    this.#pending = [];
    this.#pendingEnvelopes = 0;
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.destroyed) {
      this.#queued -= envelopes;
      return;
    }
    const written = (error?: Error | null) => {
      this.#queued -= envelopes;
      if (error) debug("write error on %s: %s", this.name, error.message);
      // Whether the write completed at once or later (a socket emits 'drain' only in the latter case).
      if (this.#backlogged && socket.writableLength === 0 && this.#pendingBytes === 0) {
        this.#backlogged = false;
        this.listeners.drain();
      }
    };
    // A quiet link's usual write: one frame, nothing waiting before it.
    if (count === 1 && socket.writableLength === 0) {
      socket.write(pending[0], written);
      return;
    }
    // Runs of frames that lie one after the other in one buffer, each as one slice.
    const slices: Buffer[] = [];
    let first = 0;
    let { buffer, byteOffset: start, length: end } = pending[0];
    end += start;
    for (let i = 1; i <= count; i++) {
      const frame = pending[i];
      if (frame !== undefined && frame.buffer === buffer && frame.byteOffset === end) {
        end += frame.length;
        continue;
      }
      slices.push(i - first === 1 ? pending[first] : Buffer.from(buffer, start, end - start));
      if (frame === undefined) break;
      first = i;
      ({ buffer, byteOffset: start } = frame);
      end = start + frame.length;
    }
    if (socket.writableLength > 0 || slices.length > MAX_SLICES) {
      // Behind a backlog, this write waits in memory: copied into blocks that are reused once
      // written, it neither keeps alive the buffers it was read into nor leaves them to the GC late.
      // Many small slices are joined rather than written as a long writev.
      this.#copier.write(slices, total(slices), written);
    } else if (slices.length === 1) {
      socket.write(slices[0], written);
    } else {
      socket.cork();
      for (let i = 0; i < slices.length - 1; i++) socket.write(slices[i]);
      socket.write(slices[slices.length - 1], written);
      socket.uncork();
    }
  }

  /** `reused`: the chunk lies in a buffer read into again once this returns (connectUnixSocket). */
  #receive(chunk: Buffer, reused: boolean): void {
    if (this.#closed) return;
    stats.bytesReceived += chunk.length;
    try {
      this.#decoder.push(chunk, this.#onFrame, reused);
    } catch (error) {
      this.#reject(error as FrameError);
    }
  }

  #reject(error: FrameError): void {
    this.#rejected = true;
    stats.framesRejected++;
    debug("close %s: bad frame (%s)", this.name, error.message);
    this.#shutdown(true);
  }

  #drop(message: Envelope, why: string, error?: QueueOverflowError): void {
    const count = message.k === Kind.BATCH ? message.b.length : 1;
    this.dropped += count;
    stats.framesDropped++;
    debug("drop %d envelopes of kind %d to %s: %s", count, message.k, this.name, why);
    this.listeners.dropped(error ?? new Error(why), count);
  }
}
