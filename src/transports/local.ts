/**
 * A pair of in-process link ends: the primary's own emitter talks to the hub through it. Delivery
 * is asynchronous (a microtask), as over IPC, so that no handler runs inside the sender's call.
 */
import type { Envelope } from "../protocol/messages";
import { type Link, type LinkKind, ListenedLink } from "./link";

class LocalEnd extends ListenedLink implements Link {
  readonly name: string;
  readonly kind: LinkKind = "local";
  other: LocalEnd | null = null;
  #closed = false;
  #queued = 0;

  constructor(name: string) {
    super();
    this.name = name;
  }

  get queued(): number {
    return this.#queued;
  }

  send(message: Envelope): void {
    const other = this.other;
    if (this.#closed || !other) {
      this.listeners.dropped(new Error(`${this.name} is closed`));
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
    this.listeners.message(message);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.listeners.closed();
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
