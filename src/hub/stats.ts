/** The counters behind hub.stats(). */

import type { RecoveryStats } from "./recovery";

/** A snapshot of the hub's counters, as returned by `hub.stats()`. */
export interface HubStats extends RecoveryStats {
  /** Worker processes whose Socket.IO server said hello and are still connected. */
  workers: number;
  /** Helper processes attached with hub.attach(child) and still connected. */
  helpers: number;
  /** Messages delivered to a destination (a broadcast to 3 workers counts 3). */
  messagesRouted: number;
  /** Payload bytes delivered, counted like messagesRouted (UTF-16 code units of the encoded payload). */
  bytesRouted: number;
  /** Messages handed to a transport and not yet written to the channel (a gauge, not a total). */
  messagesQueued: number;
  /** Messages that could not be delivered: a channel closed, a send failed, a recipient that left. */
  messagesDropped: number;
  /**
   * Of messagesDropped, those left out because the destination was too far behind: its queue held
   * the transport's cap (16 MiB over IPC), or 1 MiB for a volatile broadcast.
   */
  messagesOverflowed: number;
  /**
   * Broadcasts and answers that never reached the hub: the member that sent them (a worker, an
   * emitter in a helper) dropped them because its own queue toward the hub held its cap (16 MiB:
   * it emitted faster than the hub took them, e.g. while flow control held it back). Each member
   * reports its count about once a second while it drops, behind what it had queued before; the
   * member's own figure is `adapter.messagesOverflowed` (`emitter.messagesOverflowed`). Not part of
   * messagesDropped, which counts deliveries the hub did not make.
   */
  messagesOverflowedAtSenders: number;
  /**
   * Copies of broadcasts to rooms not sent to a server that has no member of those rooms (a server
   * that reports its rooms: every worker of this version).
   */
  broadcastsFiltered: number;
  /** Messages on the channel that are not ours (e.g. from @socket.io/sticky), left alone. */
  messagesIgnored: number;
  /**
   * Times the hub stopped reading a worker because a destination of its messages had 512 KiB
   * waiting (flow control: that worker's own queue holds the rest, under its cap).
   */
  readsPaused: number;
  /** Messages of ours that were malformed or of another protocol version, dropped. */
  messagesRejected: number;
  /** Messages (broadcasts, answers, sessions) larger than the hub's `maxMessageSize`, dropped. */
  messagesTooLarge: number;
}

export class Counters {
  messagesRouted = 0;
  bytesRouted = 0;
  messagesDropped = 0;
  messagesOverflowed = 0;
  messagesOverflowedAtSenders = 0;
  broadcastsFiltered = 0;
  messagesIgnored = 0;
  readsPaused = 0;
  messagesRejected = 0;
  messagesTooLarge = 0;
}
