/**
 * The worker side of connection state recovery: offsets for the broadcasts this server sends,
 * and the restore of a session whose log the hub keeps.
 *
 * Exactly once, in order: the hub answers a RESTORE with the packets it logged before it read the
 * request; packets it forwards after that reach this worker after the answer. From the answer
 * until socket.io has created the restored socket (a setImmediate later), messages for this
 * namespace wait, so that the new socket receives them live; broadcasts this server sends in that
 * window are added to the missed packets if the socket does not exist yet.
 */
import debugModule from "debug";
import { type BroadcastOptions, MessageType, type Session } from "socket.io-adapter";

type SessionToPersist = Omit<Session, "missedPackets">;

import { decode } from "./protocol/codec";
import { checkClusterMessage } from "./protocol/messages";

const debug = debugModule("socket.io-ipc-adapter:recovery");

export interface Found {
  session: string;
  log: string[];
}

interface Rooms {
  rooms: Iterable<string>;
  except?: Iterable<string>;
}

/** As socket.io-adapter's SessionAwareAdapter decides which logged packets a session missed. */
export function shouldIncludePacket(sessionRooms: string[], opts: Rooms): boolean {
  const rooms = new Set(opts.rooms);
  const except = new Set(opts.except ?? []);
  const included = rooms.size === 0 || sessionRooms.some((room) => rooms.has(room));
  return included && sessionRooms.every((room) => !except.has(room));
}

interface PendingRestore {
  /** Local broadcasts sent since the request, until the session's rooms are known. */
  recorded: { data: unknown[]; opts: BroadcastOptions }[];
  session: Session | null;
}

function toSession(found: Found, recorded: PendingRestore["recorded"]): Session | null {
  const session = decode(found.session) as SessionToPersist;
  if (typeof session?.sid !== "string" || !Array.isArray(session.rooms)) return null;
  const missedPackets: unknown[][] = [];
  for (const payload of found.log) {
    const message = decode(payload) as { type: number; data: { opts: Rooms; packet: { data: unknown[] } } };
    if (checkClusterMessage(message, "message") !== null || message.type !== MessageType.BROADCAST) continue;
    if (shouldIncludePacket(session.rooms, message.data.opts)) missedPackets.push(message.data.packet.data);
  }
  for (const { data, opts } of recorded) if (shouldIncludePacket(session.rooms, opts)) missedPackets.push(data);
  return { ...session, missedPackets };
}

export class AdapterRecovery {
  /** maxDisconnectionDuration, in ms. */
  readonly retention: number;
  #prefix: string;
  #seq = 0;
  #pending = new Set<PendingRestore>();
  #barriers = 0;
  #deferred: (() => void)[] = [];

  constructor(retention: number, uid: string) {
    this.retention = retention;
    // Unique across the cluster: offsets of different servers never collide.
    this.#prefix = `${uid.slice(0, 8)}-`;
  }

  nextOffset(): string {
    return this.#prefix + (++this.#seq).toString(36);
  }

  /** A broadcast this server sent with an offset: a session being restored may have missed it. */
  recordLocal(data: unknown[], opts: BroadcastOptions): void {
    for (const pending of this.#pending) {
      if (!pending.session) pending.recorded.push({ data, opts });
      else if (shouldIncludePacket(pending.session.rooms, opts)) pending.session.missedPackets.push(data);
    }
  }

  /** Runs `deliver` now, or after the restored socket exists if a restore just completed. */
  deliver(deliver: () => void): void {
    if (this.#barriers === 0) deliver();
    else this.#deferred.push(deliver);
  }

  /**
   * Restores a session. `request` sends the RESTORE and must call its callback synchronously when
   * the answer arrives (null: not found, or no answer).
   */
  restore(request: (answer: (found: Found | null) => void) => void): Promise<Session | null> {
    const pending: PendingRestore = { recorded: [], session: null };
    this.#pending.add(pending);
    return new Promise((resolve) => {
      request((found) => {
        this.#barriers++;
        try {
          pending.session = found ? toSession(found, pending.recorded) : null;
        } catch (error) {
          debug("drop an undecodable session: %s", (error as Error).message);
        }
        pending.recorded = [];
        resolve(pending.session);
        setImmediate(() => {
          this.#pending.delete(pending);
          if (--this.#barriers > 0) return;
          const deferred = this.#deferred;
          this.#deferred = [];
          for (const deliver of deferred) deliver();
        });
      });
    });
  }
}
