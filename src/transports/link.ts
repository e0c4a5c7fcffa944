/**
 * The interface the hub is written against. A link is one peer process (a worker, a forked helper,
 * the primary's own emitter, a Unix socket connection) seen from the hub.
 */
import { QueueOverflowError } from "../errors";
import { type Envelope, Kind } from "../protocol/messages";

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
  /**
   * Flow control, on a transport that has it (a Unix socket): stop reading what the peer sends
   * (its writes then wait in its own queue, under its own cap), and start again. Pausing twice is
   * pausing once.
   */
  pauseReading?(): void;
  resumeReading?(): void;
  /** Bytes waiting for the peer: queued here and not yet taken by the transport's channel. */
  readonly queuedBytes?: number;
  /** Called each time the peer has taken all that waited for it after a backlog. */
  onDrain?(listener: () => void): void;
  /** Stops relaying: removes the link's listeners; does not kill the peer. */
  close(): void;
}

/** The listeners every Link keeps, in one place: each transport holds one of these. */
export class LinkListeners {
  #message: ((message: unknown) => void)[] = [];
  #close: (() => void)[] = [];
  #dropped: ((error: Error, count: number) => void)[] = [];
  #drain: (() => void)[] = [];

  onMessage(listener: (message: unknown) => void): void {
    this.#message.push(listener);
  }

  onClose(listener: () => void): void {
    this.#close.push(listener);
  }

  onDropped(listener: (error: Error, count: number) => void): void {
    this.#dropped.push(listener);
  }

  onDrain(listener: () => void): void {
    this.#drain.push(listener);
  }

  drain(): void {
    for (const listener of this.#drain) listener();
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
    this.#drain = [];
    for (const listener of listeners) listener();
  }
}

/** What every link has: its listeners, and the Link methods that add them. */
export abstract class ListenedLink {
  protected readonly listeners = new LinkListeners();

  onMessage(listener: (message: unknown) => void): void {
    this.listeners.onMessage(listener);
  }

  onClose(listener: () => void): void {
    this.listeners.onClose(listener);
  }

  onDropped(listener: (error: Error, count: number) => void): void {
    this.listeners.onDropped(listener);
  }
}

/** A link that says when its peer has taken all that waited (Link.onDrain): flow control follows it. */
export abstract class DrainingLink extends ListenedLink {
  onDrain(listener: () => void): void {
    this.listeners.onDrain(listener);
  }
}

/**
 * The cap on bytes waiting for one peer, on every transport (16 MiB, some 60,000 broadcasts of 250
 * bytes): what a link queued and its transport has not yet written. Once a link holds this much,
 * broadcasts and responses to it are dropped (counted in `hub.stats().messagesOverflowed` and
 * `messagesDropped`, logged, and one process warning SIO_IPC_QUEUE_OVERFLOW) until the peer catches
 * up; what does arrive keeps its order. Membership and recovery envelopes (HELLO, WELCOME,
 * NAMESPACE, LEFT, SESSION, RESTORE, RESTORED, ROOMS) always go. The same cap holds in a worker,
 * toward the hub: a worker that emits faster than the hub relays cannot grow its memory without
 * limit either.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * Volatile broadcasts (`io.volatile.emit`) go first: they are dropped as soon as a link holds this
 * many bytes (1 MiB), long before the others, as Socket.IO drops them toward a client that is not
 * ready.
 */
export const VOLATILE_HIGH_WATER = 1024 * 1024;

/**
 * Flow control in the hub: once this many bytes (512 KiB) wait for a peer that reads them, the hub
 * stops reading the senders of what it forwards there, until that peer has taken all of it. Below
 * VOLATILE_HIGH_WATER, so that a peer that keeps up more slowly than a sender emits is paced rather
 * than dropped from.
 */
export const PAUSE_BYTES = 512 * 1024;

let warnedOverflow = false;

/**
 * The policy toward a peer that reads too slowly, the same for every transport. Each link holds
 * one: its dropped-message errors are made once (an Error per dropped message would cost a stack
 * trace each).
 */
export class QueuePolicy {
  readonly cap: number;
  #errors: [nonVolatile: QueueOverflowError | null, volatile: QueueOverflowError | null] = [null, null];

  constructor(cap = MAX_QUEUED_BYTES) {
    this.cap = cap;
  }

  /**
   * The error to drop `message` with, or null when it may be queued: `waiting` bytes already wait
   * for the peer of link `name`, and the message adds about `size`. Only data (PUBLISH, RESPONSE,
   * a BATCH of broadcasts) is refused; a volatile broadcast as soon as VOLATILE_HIGH_WATER bytes
   * wait. The first refusal of the process emits the one SIO_IPC_QUEUE_OVERFLOW warning (a count in
   * a debug log is easy to miss; a warning per link would flood).
   */
  refuse(message: Envelope, waiting: number, size: number, name: string): QueueOverflowError | null {
    if (message.k !== Kind.PUBLISH && message.k !== Kind.RESPONSE && message.k !== Kind.BATCH) return null;
    const volatile = message.k === Kind.PUBLISH && message.v === 1;
    if (volatile ? waiting < VOLATILE_HIGH_WATER : waiting + size <= this.cap) return null;
    if (!volatile && !warnedOverflow) {
      warnedOverflow = true;
      process.emitWarning(
        `socket.io-ipc-adapter: ${name} reads more slowly than messages arrive; over ${this.cap} bytes wait for it, so broadcasts and responses to it are dropped until it catches up (counted in hub.stats() in the primary, in adapter.messagesOverflowed in a worker; see DEBUG=socket.io-ipc-adapter:*). Emit less at once, or check that no process is stuck.`,
        { code: "SIO_IPC_QUEUE_OVERFLOW" },
      );
    }
    const index = volatile ? 1 : 0;
    this.#errors[index] ??= new QueueOverflowError(name, volatile);
    return this.#errors[index];
  }
}
