/**
 * The interface the hub is written against. A link is one peer process (a worker, a forked helper,
 * the primary's own emitter, a Unix socket connection) seen from the hub.
 */
import type { Envelope } from "../protocol/messages";

/**
 * What the peer is. A `bridge` carries many members (the servers and emitters of other machines):
 * the hub sends it every PUBLISH and every namespace event, whether or not a member said HELLO yet.
 */
export type LinkKind = "worker" | "helper" | "local" | "bridge";

export interface Link {
  /** Names the peer in logs, e.g. `worker 3` or `helper 1234`. */
  readonly name: string;
  readonly kind: LinkKind;
  /**
   * Sends an envelope. Never throws: a failure is reported to `onDropped`. Envelopes sent to one
   * link arrive in the order they were sent.
   */
  send(message: Envelope): void;
  /** Called with every message the peer sends, ours or not: the hub filters. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called once, when the peer exits or disconnects, or the link is closed. */
  onClose(listener: () => void): void;
  /**
   * Called when envelopes could not be delivered (channel closed, send error, a full queue toward a
   * slow peer: a QueueOverflowError); `count` of them, 1 when the link does not say.
   */
  onDropped(listener: (error: Error, count: number) => void): void;
  /** Envelopes handed to the transport and not yet written. */
  readonly queued: number;
  /**
   * True when `send()` takes a BATCH of plain broadcasts as is (a Unix socket: the hub forwards the
   * frame it read); otherwise the hub sends its items one by one.
   */
  readonly acceptsBatches?: boolean;
  /** Stops relaying: removes the link's listeners; does not kill the peer. */
  close(): void;
}

/** The listeners every Link keeps, in one place: each transport holds one of these. */
export class LinkListeners {
  #message: ((message: unknown) => void)[] = [];
  #close: (() => void)[] = [];
  #dropped: ((error: Error, count: number) => void)[] = [];

  onMessage(listener: (message: unknown) => void): void {
    this.#message.push(listener);
  }

  onClose(listener: () => void): void {
    this.#close.push(listener);
  }

  onDropped(listener: (error: Error, count: number) => void): void {
    this.#dropped.push(listener);
  }

  message(message: unknown): void {
    for (const listener of this.#message) listener(message);
  }

  dropped(error: Error, count = 1): void {
    for (const listener of this.#dropped) listener(error, count);
  }

  /** Calls the close listeners once; from then on, no message or close listener is kept. */
  closed(): void {
    const listeners = this.#close;
    this.#message = [];
    this.#close = [];
    for (const listener of listeners) listener();
  }
}

let warnedOverflow = false;

/**
 * One SIO_IPC_QUEUE_OVERFLOW process warning for the first overflow of any link of the process,
 * whatever its transport: a count in a debug log is easy to miss, a warning per link would flood.
 */
export function warnQueueOverflow(message: string): void {
  if (warnedOverflow) return;
  warnedOverflow = true;
  process.emitWarning(message, { code: "SIO_IPC_QUEUE_OVERFLOW" });
}
