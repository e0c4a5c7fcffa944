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
import type { QueueOverflowError } from "../errors";
import { type Batch, batchItem, type Envelope, envelope, Kind } from "../protocol/messages";
import {
  DrainingLink,
  type Link,
  type LinkKind,
  MAX_QUEUED_BYTES,
  PAUSE_BYTES,
  QueuePolicy,
  VOLATILE_HIGH_WATER,
} from "./link";

export { MAX_QUEUED_BYTES, VOLATILE_HIGH_WATER };

const debug = debugModule("socket.io-ipc-adapter:ipc");

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

export class IpcLink extends DrainingLink implements Link {
  readonly name: string;
  readonly kind: LinkKind;
  #peer: IpcPeer;
  #policy: QueuePolicy;
  /** Envelopes of this tick, not yet handed to Node. */
  #batch: Envelope[] = [];
  #batchBytes = 0;
  /** Envelopes (and their bytes) in #batch or handed to Node and not yet written. */
  #queued = 0;
  #queuedBytes = 0;
  #overflowing = false;
  /** PAUSE_BYTES waited since the queue was last empty: say when it empties. */
  #backlogged = false;
  #closed = false;
  #onMessage = (message: unknown) => {
    this.listeners.message(message);
  };
  #onGone = () => this.close();
  #flush = () => this.#send();

  constructor(peer: IpcPeer, kind: LinkKind, name: string, options: IpcLinkOptions = {}) {
    super();
    this.#peer = peer;
    this.kind = kind;
    this.name = name;
    this.#policy = new QueuePolicy(options.maxQueuedBytes);
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
    const refused = this.#policy.refuse(message, this.#queuedBytes, size, this.name);
    if (refused !== null) return this.#overflow(refused);
    if (this.#overflowing && this.#queuedBytes < this.#policy.cap / 2) {
      this.#overflowing = false;
      debug("%s caught up: %d bytes wait for it", this.name, this.#queuedBytes);
    }
    this.#batch.push(message);
    this.#batchBytes += size;
    this.#queued++;
    this.#queuedBytes += size;
    if (this.#queuedBytes >= PAUSE_BYTES) this.#backlogged = true;
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

  /** Sends what this tick queued (a worker's last NAMESPACE, for one), then removes the listeners. */
  close(): void {
    if (this.#closed) return;
    this.#send();
    this.#closed = true;
    this.#peer.off("message", this.#onMessage);
    this.#peer.off("disconnect", this.#onGone);
    this.#peer.off("exit", this.#onGone);
    debug("%s closed", this.name);
    this.listeners.closed();
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
      if (this.#queuedBytes === 0 && this.#backlogged) {
        this.#backlogged = false;
        this.listeners.drain();
      }
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

  #overflow(error: QueueOverflowError): void {
    if (!this.#overflowing) {
      this.#overflowing = true;
      debug("%s is slow: %d bytes wait for it; drop what does not fit", this.name, this.#queuedBytes);
    }
    this.listeners.dropped(error, 1);
  }

  #drop(error: Error, count: number): void {
    debug("could not send %d envelopes to %s: %s", count, this.name, error.message);
    this.listeners.dropped(error, count);
  }
}
