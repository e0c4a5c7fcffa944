/**
 * Flow control: the hub does not read faster than the workers it forwards to can take.
 *
 * When what waits for a destination reaches PAUSE_BYTES, the hub stops reading the sender that
 * filled it (a link that can pause: a Unix socket) until the destination has taken everything. The
 * sender's writes then wait in the kernel and in its own queue, under its own cap
 * (MAX_QUEUED_BYTES), instead of in the hub: the hub's memory stays flat while one worker emits
 * faster than the others read.
 *
 * A destination that takes nothing for STALL_TIMEOUT ms (a blocked event loop, a stopped process)
 * holds nobody back: its senders are read again and its queue grows to its cap, past which the
 * overflow policy applies to it alone, until it drains.
 */
import debugModule from "debug";
import { type Link, PAUSE_BYTES } from "../transports/link";

const debug = debugModule("socket.io-ipc-adapter:flow");

/** How long a destination that takes nothing may hold its senders (ms). */
export const STALL_TIMEOUT = 100;

const stats = { stalls: 0, drains: 0 };

/** @internal How pauses of this process's hubs ended: a drain, or a stall (tests). */
export function flowStats(): Readonly<typeof stats> {
  return { ...stats };
}

export interface FlowCounters {
  readsPaused: number;
}

export class FlowControl {
  /** Per destination over PAUSE_BYTES: the senders paused on it, and the stall timer. */
  #waiting = new Map<Link, { senders: Set<Link>; timer: NodeJS.Timeout }>();
  /** Per paused sender: how many destinations it waits for. */
  #pausedOn = new Map<Link, number>();
  /** Destinations that stalled: nobody waits for them until they drain. */
  #stalled = new Set<Link>();
  #counters: FlowCounters;

  constructor(counters: FlowCounters) {
    this.#counters = counters;
  }

  /** Watches a link as a destination. */
  add(link: Link): void {
    link.onDrain?.(() => this.#drained(link));
  }

  /** After `sender`'s message was handed to `destination`: pause the sender if that one is full. */
  check(sender: Link, destination: Link): void {
    if ((destination.queuedBytes ?? 0) < PAUSE_BYTES || sender.pauseReading === undefined) return;
    if (destination.onDrain === undefined || this.#stalled.has(destination)) return;
    let waiting = this.#waiting.get(destination);
    if (waiting === undefined) {
      const timer = setTimeout(() => this.#stall(destination), STALL_TIMEOUT);
      timer.unref();
      waiting = { senders: new Set(), timer };
      this.#waiting.set(destination, waiting);
    }
    if (waiting.senders.has(sender)) return;
    waiting.senders.add(sender);
    const count = this.#pausedOn.get(sender) ?? 0;
    this.#pausedOn.set(sender, count + 1);
    if (count === 0) {
      this.#counters.readsPaused++;
      sender.pauseReading();
    }
  }

  /** A link closed: nobody waits for it any more, and it waits for nobody. */
  remove(link: Link): void {
    this.#release(link);
    this.#stalled.delete(link);
    if (this.#pausedOn.delete(link)) for (const { senders } of this.#waiting.values()) senders.delete(link);
  }

  /** Resumes everything (the hub closes). */
  close(): void {
    for (const destination of [...this.#waiting.keys()]) this.#release(destination);
    this.#stalled.clear();
  }

  #drained(destination: Link): void {
    if (this.#waiting.has(destination)) stats.drains++;
    this.#stalled.delete(destination);
    this.#release(destination);
  }

  #stall(destination: Link): void {
    debug("%s took nothing for %d ms: its senders are read again", destination.name, STALL_TIMEOUT);
    stats.stalls++;
    this.#stalled.add(destination);
    this.#release(destination);
  }

  #release(destination: Link): void {
    const waiting = this.#waiting.get(destination);
    if (waiting === undefined) return;
    this.#waiting.delete(destination);
    clearTimeout(waiting.timer);
    for (const sender of waiting.senders) {
      const count = (this.#pausedOn.get(sender) ?? 1) - 1;
      if (count > 0) {
        this.#pausedOn.set(sender, count);
        continue;
      }
      this.#pausedOn.delete(sender);
      sender.resumeReading?.();
    }
  }
}
