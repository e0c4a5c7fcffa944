/**
 * A link over a Node IPC channel: a `node:cluster` Worker or a ChildProcess started with
 * `child_process.fork()` (seen from the primary), or `process` itself (seen from a worker). All
 * have `send(message, callback)` and the `message`, `disconnect` and `exit` events.
 *
 * An envelope sent on an idle link leaves at once; while earlier ones are being written, the
 * envelopes of one tick leave together as one IPC message (a BATCH), so that a burst of broadcasts
 * costs one write and one parse per destination instead of one per envelope (issue 5: the write
 * syscall was 55 % of the primary's time). Order is kept: a batch holds the envelopes in the order
 * they were sent, and batches leave in order.
 *
 * Memory toward a slow peer is bounded: see {@link MAX_QUEUED_BYTES}.
 */
import type { EventEmitter } from "node:events";
import debugModule from "debug";
import { QueueOverflowError } from "../errors";
import { type Batch, batchItem, type Envelope, envelope, Kind } from "../protocol/messages";
import { type Link, type LinkKind, LinkListeners, warnQueueOverflow } from "./link";

const debug = debugModule("socket.io-ipc-adapter:ipc");

/**
 * The per-link cap on bytes waiting for a peer (16 MiB, some 60,000 broadcasts of 250 bytes): the
 * envelopes of the current tick plus those handed to Node and not yet written to the channel.
 * Once a link holds this much, broadcasts and responses to it are dropped (counted in
 * `hub.stats().messagesOverflowed` and `messagesDropped`, logged, and one process warning
 * SIO_IPC_QUEUE_OVERFLOW) until the peer catches up; what does arrive keeps its order. Membership
 * and recovery envelopes (HELLO, WELCOME, NAMESPACE, LEFT, SESSION, RESTORE, RESTORED) always go.
 * The same cap holds in a worker, toward the primary: a worker that emits faster than the primary
 * relays cannot grow its own memory without limit either.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * Volatile broadcasts (`io.volatile.emit`) go first: they are dropped as soon as a link holds this
 * many bytes (1 MiB), long before the others, as Socket.IO drops them toward a client that is not
 * ready.
 */
export const VOLATILE_HIGH_WATER = 1024 * 1024;

/** A batch is sent early once it holds this many envelopes or bytes, to bound one message's size. */
export const MAX_BATCH_ENVELOPES = 1_000;
export const MAX_BATCH_BYTES = 64 * 1024;

/** What an envelope adds to its payload on the channel, about (the tag, the kind, the quotes). */
const ENVELOPE_OVERHEAD = 32;

/** The approximate size of an envelope on the channel: its payload's length plus the envelope. */
function sizeOf(message: Envelope): number {
  return "d" in message && typeof message.d === "string" ? message.d.length + ENVELOPE_OVERHEAD : ENVELOPE_OVERHEAD;
}

/** What a Worker and a ChildProcess have in common. */
export interface IpcPeer extends EventEmitter {
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  isConnected?(): boolean;
  connected?: boolean;
}

export interface IpcLinkOptions {
  /** @default MAX_QUEUED_BYTES */
  maxQueuedBytes?: number;
}

function isPeerConnected(peer: IpcPeer): boolean {
  return typeof peer.isConnected === "function" ? peer.isConnected() : peer.connected !== false;
}

/** The process warning for the first overflow (see warnQueueOverflow). */
function warnOverflow(name: string, cap: number): void {
  warnQueueOverflow(
    `socket.io-ipc-adapter: ${name} reads more slowly than messages arrive; over ${cap} bytes wait for it, so broadcasts and responses to it are dropped until it catches up (see DEBUG=socket.io-ipc-adapter:ipc and hub.stats()). Emit less at once, or check that no process is stuck.`,
  );
}

export class IpcLink implements Link {
  readonly name: string;
  readonly kind: LinkKind;
  #peer: IpcPeer;
  #maxQueuedBytes: number;
  /** Envelopes of this tick, not yet handed to Node. */
  #batch: Envelope[] = [];
  #batchBytes = 0;
  /** Envelopes (and their bytes) in #batch or handed to Node and not yet written. */
  #queued = 0;
  #queuedBytes = 0;
  #overflowing = false;
  /** Made once per link: an Error per dropped message would cost a stack trace each. */
  #overflowErrors: [nonVolatile: QueueOverflowError | null, volatile: QueueOverflowError | null] = [null, null];
  #closed = false;
  #listeners = new LinkListeners();
  #onMessage = (message: unknown) => {
    this.#listeners.message(message);
  };
  #onGone = () => this.close();
  #flush = () => this.#send();

  constructor(peer: IpcPeer, kind: LinkKind, name: string, options: IpcLinkOptions = {}) {
    this.#peer = peer;
    this.kind = kind;
    this.name = name;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    peer.on("message", this.#onMessage);
    peer.on("disconnect", this.#onGone);
    peer.on("exit", this.#onGone);
    if (!isPeerConnected(peer)) queueMicrotask(this.#onGone);
  }

  get queued(): number {
    return this.#queued;
  }

  /** Bytes waiting for the peer, about (see MAX_QUEUED_BYTES). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  send(message: Envelope): void {
    if (this.#closed) return this.#drop(new Error(`${this.name} is closed`), 1);
    const size = sizeOf(message);
    if (message.k === Kind.PUBLISH || message.k === Kind.RESPONSE) {
      const volatile = message.k === Kind.PUBLISH && message.v === 1;
      if (volatile ? this.#queuedBytes >= VOLATILE_HIGH_WATER : this.#queuedBytes + size > this.#maxQueuedBytes) {
        return this.#overflow(volatile);
      }
    }
    if (this.#overflowing && this.#queuedBytes < this.#maxQueuedBytes / 2) {
      this.#overflowing = false;
      debug("%s caught up: %d bytes wait for it", this.name, this.#queuedBytes);
    }
    this.#batch.push(message);
    this.#batchBytes += size;
    this.#queued++;
    this.#queuedBytes += size;
    // An envelope on an idle link leaves at once: a lone request or answer waits for nothing. While
    // earlier ones are still being written, envelopes wait for the end of the tick (a microtask runs
    // after every message event of the chunk being read: Node emits them with process.nextTick).
    // A ROOMS leaves at once, with what is queued before it: the hub then knows of a join before
    // anything the worker does next (acknowledging it to the client, for one) can be seen.
    if (message.k === Kind.ROOMS || this.#queued === 1) this.#send();
    else if (this.#batch.length === 1) queueMicrotask(this.#flush);
    else if (this.#batch.length >= MAX_BATCH_ENVELOPES || this.#batchBytes >= MAX_BATCH_BYTES) this.#send();
  }

  /**
   * Sends `message` as an IPC message of its own, never in a BATCH, after everything sent before
   * it: a marker that the receiving link reads before anything is unbatched (an UPGRADE).
   */
  sendAlone(message: Envelope): void {
    if (this.#closed) return this.#drop(new Error(`${this.name} is closed`), 1);
    this.#send();
    const size = sizeOf(message);
    this.#batch.push(message);
    this.#batchBytes += size;
    this.#queued++;
    this.#queuedBytes += size;
    this.#send();
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

  /** Sends what this tick queued (a worker's last NAMESPACE, for one), then removes the listeners. */
  close(): void {
    if (this.#closed) return;
    this.#send();
    this.#closed = true;
    this.#peer.off("message", this.#onMessage);
    this.#peer.off("disconnect", this.#onGone);
    this.#peer.off("exit", this.#onGone);
    debug("%s closed", this.name);
    this.#listeners.closed();
  }

  /** Hands this tick's envelopes to Node: the envelope itself if alone, else one BATCH. */
  #send(): void {
    const messages = this.#batch;
    const count = messages.length;
    if (count === 0) return;
    const bytes = this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    const sent = (error: Error | null) => {
      this.#queued -= count;
      this.#queuedBytes -= bytes;
      if (error) this.#drop(error, count);
    };
    if (this.#closed || !isPeerConnected(this.#peer)) return sent(new Error(`${this.name} is not connected`));
    const message =
      count === 1
        ? messages[0]
        : envelope<Batch>({ k: Kind.BATCH, b: messages.map((m) => batchItem(m as Exclude<Envelope, Batch>)) });
    try {
      this.#peer.send(message, sent);
    } catch (error) {
      // A synchronous throw (e.g. the channel closed between the check and the send).
      sent(error as Error);
    }
  }

  #overflow(volatile: boolean): void {
    if (!this.#overflowing) {
      this.#overflowing = true;
      debug("%s is slow: %d bytes wait for it; drop what does not fit", this.name, this.#queuedBytes);
      if (!volatile) warnOverflow(this.name, this.#maxQueuedBytes);
    }
    const index = volatile ? 1 : 0;
    this.#overflowErrors[index] ??= new QueueOverflowError(this.name, volatile);
    const error = this.#overflowErrors[index];
    this.#listeners.dropped(error, 1);
  }

  #drop(error: Error, count: number): void {
    debug("could not send %d envelopes to %s: %s", count, this.name, error.message);
    this.#listeners.dropped(error, count);
  }
}
