/**
 * A pair of in-process link ends: the primary's own emitter talks to the hub through it. Delivery
 * is asynchronous (a microtask), as over IPC, so that no handler runs inside the sender's call.
 */
import type { Envelope } from "../protocol/messages";
import type { Link, LinkKind } from "./link";

class LocalEnd implements Link {
  readonly name: string;
  readonly kind: LinkKind = "local";
  other: LocalEnd | null = null;
  #closed = false;
  #messageListeners: ((message: unknown) => void)[] = [];
  #closeListeners: (() => void)[] = [];
  #droppedListeners: ((error: Error) => void)[] = [];
  #queued = 0;

  constructor(name: string) {
    this.name = name;
  }

  get queued(): number {
    return this.#queued;
  }

  send(message: Envelope): void {
    const other = this.other;
    if (this.#closed || !other) {
      for (const listener of this.#droppedListeners) listener(new Error(`${this.name} is closed`));
      return;
    }
    this.#queued++;
    queueMicrotask(() => {
      this.#queued--;
      other.deliver(message);
    });
  }

  deliver(message: unknown): void {
    if (this.#closed) return;
    for (const listener of this.#messageListeners) listener(message);
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  onDropped(listener: (error: Error) => void): void {
    this.#droppedListeners.push(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#closeListeners) listener();
    this.#messageListeners = [];
    this.#closeListeners = [];
    this.other?.close();
  }
}

/** Two connected ends: what one sends, the other receives. Closing either closes both. */
export function createLocalLinks(name: string): [hubEnd: Link, memberEnd: Link] {
  const hubEnd = new LocalEnd(name);
  const memberEnd = new LocalEnd("the hub");
  hubEnd.other = memberEnd;
  memberEnd.other = hubEnd;
  return [hubEnd, memberEnd];
}
