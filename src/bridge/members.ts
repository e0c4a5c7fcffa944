/**
 * The servers and emitters of other machines, as this machine's hub should see them. Two sources:
 * - Redis lists every server: each one, whatever its adapter, subscribes to its private channel
 *   `<prefix>#<nsp>#<uid>#` for as long as its connection lives. A listed namespace that is no
 *   longer listed is gone (its process closed it, or exited: Redis drops a dead connection).
 * - A message from a uid not listed yet (a server that just started) makes it known at once.
 * A member neither listed nor heard of for `timeout` ms is removed: this covers Redis being
 * unreachable (no listing at all) and members that Redis never lists.
 */
import { EMITTER_UID_PREFIX, type Role } from "../protocol/messages";

/** What the bridge does when the remote membership changes. */
export interface MemberHooks {
  joined(uid: string, role: Role): void;
  /** A remote server opened (`up`) or closed a namespace. */
  namespace(uid: string, nsp: string, up: boolean): void;
  /** A remote server is alive in `nsp`: tell the local servers, which count servers by heartbeats. */
  alive(uid: string, nsp: string): void;
  left(uid: string): void;
}

interface Remote {
  role: Role;
  /** Each namespace, and whether Redis listed it (only a listed namespace can vanish from the list). */
  namespaces: Map<string, boolean>;
  heardAt: number;
}

/** A uid's role, from its prefix: emitters (ours, and the Redis emitter's "emitter") are no servers. */
export function roleOf(uid: string): Role {
  return uid.startsWith(EMITTER_UID_PREFIX) ? "emitter" : "server";
}

/** The remote members of one bridge: see the top of this file. */
export class RemoteMembers {
  readonly #hooks: MemberHooks;
  readonly #timeout: number;
  #members = new Map<string, Remote>();

  constructor(hooks: MemberHooks, timeout: number) {
    this.#hooks = hooks;
    this.#timeout = timeout;
  }

  has(uid: string): boolean {
    return this.#members.has(uid);
  }

  /** The number of remote servers (emitters excluded). */
  get servers(): number {
    let count = 0;
    for (const member of this.#members.values()) if (member.role === "server") count++;
    return count;
  }

  /** A message came from `uid` in `nsp`: adds the member or the namespace if new. */
  heard(uid: string, nsp: string, now = Date.now(), listed = false): void {
    let member = this.#members.get(uid);
    if (!member) {
      member = { role: roleOf(uid), namespaces: new Map(), heardAt: now };
      this.#members.set(uid, member);
      this.#hooks.joined(uid, member.role);
    }
    member.heardAt = now;
    const wasListed = member.namespaces.get(nsp);
    if (wasListed === undefined) {
      member.namespaces.set(nsp, listed);
      if (member.role === "server") {
        this.#hooks.namespace(uid, nsp, true);
        this.#hooks.alive(uid, nsp);
      }
    } else if (listed && !wasListed) {
      member.namespaces.set(nsp, true);
    }
  }

  /** The private channels Redis lists now, by uid (local ones already left out). */
  listed(listing: Map<string, Set<string>>, now = Date.now()): void {
    for (const [uid, member] of [...this.#members]) {
      const present = listing.get(uid);
      for (const [nsp, wasListed] of member.namespaces) {
        if (wasListed && !present?.has(nsp)) this.closed(uid, nsp);
      }
    }
    for (const [uid, namespaces] of listing) for (const nsp of namespaces) this.heard(uid, nsp, now, true);
  }

  /** A remote server closed a namespace (ADAPTER_CLOSE, or no longer listed); the last one removes it. */
  closed(uid: string, nsp: string): void {
    const member = this.#members.get(uid);
    if (!member?.namespaces.delete(nsp)) return;
    if (member.role === "server") this.#hooks.namespace(uid, nsp, false);
    if (member.namespaces.size === 0) this.#remove(uid);
  }

  /** Removes the members neither listed nor heard of for the timeout. */
  expire(now = Date.now()): void {
    for (const [uid, member] of [...this.#members]) {
      if (now - member.heardAt > this.#timeout) this.#remove(uid);
    }
  }

  /** Tells the local servers that every remote server (of `nsp`, or of every namespace) is alive. */
  announce(nsp?: string): void {
    for (const [uid, member] of this.#members) {
      if (member.role !== "server") continue;
      for (const name of member.namespaces.keys()) if (nsp === undefined || name === nsp) this.#hooks.alive(uid, name);
    }
  }

  /** Removes every member (the bridge closes). */
  clear(): void {
    for (const uid of [...this.#members.keys()]) this.#remove(uid);
  }

  #remove(uid: string): void {
    this.#members.delete(uid);
    this.#hooks.left(uid);
  }
}
