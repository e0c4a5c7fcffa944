/**
 * An in-memory Link (src/transports/link.ts) for running the Hub without processes: it records
 * what the hub sends, lets a test inject what the peer would send, and close the link as a peer
 * that exits would. It follows IpcLink's contract: once closed, it stops delivering messages and
 * reports every send as dropped.
 */
import type { Envelope } from "../../src/protocol/messages";
import type { Link, LinkKind } from "../../src/transports/link";

export class MemoryLink implements Link {
  readonly name: string;
  readonly kind: LinkKind;
  /** Every envelope the hub sent on this link, in order, as the very objects it passed. */
  readonly sent: Envelope[] = [];
  /** Set by a test to simulate envelopes waiting in the transport. */
  queued = 0;
  /** When true, send() fails as a full or closed channel would. */
  failSends = false;
  #closed = false;
  #messageListeners: ((message: unknown) => void)[] = [];
  #closeListeners: (() => void)[] = [];
  #droppedListeners: ((error: Error, count: number) => void)[] = [];

  constructor(name: string, kind: LinkKind = "worker") {
    this.name = name;
    this.kind = kind;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: Envelope): void {
    if (this.#closed || this.failSends) {
      const error = new Error(`${this.name} is not connected`);
      for (const listener of this.#droppedListeners) listener(error, 1);
      return;
    }
    this.sent.push(message);
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  onDropped(listener: (error: Error, count: number) => void): void {
    this.#droppedListeners.push(listener);
  }

  /** Delivers `message` to the hub as if the peer had sent it. */
  inject(message: unknown): void {
    for (const listener of this.#messageListeners) listener(message);
  }

  /** Closes the link, as the peer's exit or the hub would. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const listeners = this.#closeListeners;
    this.#messageListeners = [];
    this.#closeListeners = [];
    for (const listener of listeners) listener();
  }

  /** The envelopes sent since the last call, and forgets them. */
  take(): Envelope[] {
    return this.sent.splice(0);
  }
}
