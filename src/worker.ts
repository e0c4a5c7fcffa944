/**
 * The one peer of a worker process: every namespace's adapter shares its uid and its link, so that
 * the process has one IPC `message` listener whatever the number of namespaces.
 */
import cluster from "node:cluster";
import debugModule from "debug";
import { type ClusterMessage, type ClusterResponse, MessageType } from "socket.io-adapter";
import type { HubStats } from "./hub/stats";
import { Peer, randomId } from "./peer";
import { resolveGroupPaths } from "./pm2/directory";
import { ElectedUplink, isPm2Cluster, type Uplink } from "./pm2/uplink";
import { checkSize, encode, encodeLenient } from "./protocol/codec";
import { envelope, Kind, type Publish, type Rooms } from "./protocol/messages";
import type { Found } from "./recovery";
import { UpgradableLink } from "./transports/data-socket";
import { IpcLink, type IpcPeer } from "./transports/ipc";
import type { Link } from "./transports/link";

const debug = debugModule("socket.io-ipc-adapter:worker");

/** If the hub has not answered HELLO by then, the primary most likely never called setupPrimary(). */
export const HUB_ANSWER_DELAY = 3_000;

/**
 * PM2 mode: a hub that has not answered HELLO on a new link by then (ms) is not going to (e.g. it
 * still had our uid on the link we lost): drop the link and find the hub again.
 */
export const WELCOME_TIMEOUT = 2_000;

/** The group of PM2 mode when neither the `group` option nor PM2's app name (`name`) gives one. */
export const DEFAULT_GROUP = "default";

/** What the peer needs of an adapter. */
export interface PeerAdapter {
  readonly nsp: { name: string };
  readonly rooms: Map<string, Set<string>>;
  onMessage(message: ClusterMessage): void;
  onResponse(response: ClusterResponse): void;
  /** The member `uid` left the cluster. */
  memberLeft(uid: string): void;
  /**
   * The link to the hub closed: every other server is gone at once. If `reconnecting` (PM2 mode),
   * the peer is finding the hub again and rejoin() follows; otherwise this server is alone from now on.
   */
  hubGone(reconnecting?: boolean): void;
  /** The peer joined a (new) hub: announce this server again, so that the others learn about it. */
  rejoin(): void;
}

type PublishFields = Omit<Publish, "sio-ipc">;

/** One uid for the life of the process: the hub knows a worker by it. */
const PROCESS_UID = randomId();

export class WorkerPeer extends Peer {
  #adapters = new Map<string, Set<PeerAdapter>>();
  /** Per namespace, the rooms with a member in this process and how many servers have them. */
  #rooms = new Map<string, Map<string, number>>();
  #warnTimer: NodeJS.Timeout | undefined;
  #restores = new Map<string, { answer: (found: Found | null) => void; timer: NodeJS.Timeout }>();
  /** Each namespace's connection state recovery retention, announced again after a reconnection. */
  #retentions = new Map<string, number | undefined>();
  #uplink: Uplink | null = null;
  #welcomeTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  /**
   * Over `link` (node:cluster: the IPC channel to the primary), or, with `uplink` (PM2 mode), over
   * the links it finds, one after the other, for the life of the process.
   */
  constructor(link: Link | Uplink) {
    const uplink = "connect" in link ? link : null;
    super("server", PROCESS_UID, uplink ? null : (link as Link), debug);
    if (uplink) {
      this.#uplink = uplink;
      this.#reconnect();
      return;
    }
    this.#warnTimer = setTimeout(() => {
      process.emitWarning(
        `socket.io-ipc-adapter: the cluster primary has not answered in ${HUB_ANSWER_DELAY} ms. Call setupPrimary() in the primary, before forking the workers; until then this worker's Socket.IO server works alone.`,
        { code: "SIO_IPC_NO_HUB" },
      );
    }, HUB_ANSWER_DELAY).unref();
  }

  /** @param retention connection state recovery's maxDisconnectionDuration, if it is on */
  register(adapter: PeerAdapter, retention?: number): void {
    const name = adapter.nsp.name;
    let set = this.#adapters.get(name);
    if (!set) {
      set = new Set();
      this.#adapters.set(name, set);
      this.#retentions.set(name, retention);
      this.#rooms.set(name, new Map());
      this.#announce(name);
    }
    set.add(adapter);
  }

  /**
   * Tells the hub that namespace `name` is served here (with its recovery retention, if any), and
   * which of its rooms have members here: from then on this server reports its rooms, and the hub
   * routes broadcasts to rooms by them (again, after a reconnection).
   */
  #announce(name: string): void {
    const retention = this.#retentions.get(name);
    this.send(envelope({ k: Kind.NAMESPACE, n: name, up: true, ...(retention ? { r: retention } : {}) }));
    this.send(envelope<Rooms>({ k: Kind.ROOMS, n: name, up: [...(this.#rooms.get(name)?.keys() ?? [])] }));
  }

  unregister(adapter: PeerAdapter): void {
    const name = adapter.nsp.name;
    const set = this.#adapters.get(name);
    if (!set?.delete(adapter)) return;
    if (set.size > 0) {
      // Another server of this process serves the namespace: take back this one's rooms.
      for (const room of adapter.rooms.keys()) this.roomRemoved(name, room);
      return;
    }
    this.#adapters.delete(name);
    this.#rooms.delete(name);
    this.#retentions.delete(name);
    this.send(envelope({ k: Kind.NAMESPACE, n: name, up: false }));
    if (this.#adapters.size === 0) {
      // No server left in this process: release the channel so that the process may exit.
      debug("[%s] last adapter closed", this.uid);
      this.send(envelope({ k: Kind.BYE, uid: this.uid }));
      clearTimeout(this.#warnTimer);
      clearTimeout(this.#welcomeTimer);
      this.#stopped = true;
      this.#uplink?.close();
      this.closeLink();
      if (current === this) current = null;
    }
  }

  /**
   * Sends a ClusterMessage to every other server. Throws an UnserializableError, or a
   * MessageTooLargeError above `maxSize` bytes, synchronously, before anything is sent.
   * `log` makes the hub keep it for connection state recovery (`only`: and forward it to nobody).
   */
  publish(message: ClusterMessage, maxSize: number, log?: { offset: string; only: boolean }): void {
    if (!this.connected) return;
    const d = checkSize(encode(message, "message"), maxSize);
    // A volatile broadcast says so, so that a link toward a backlogged worker drops it first.
    const volatile = message.type === MessageType.BROADCAST && message.data.opts.flags?.volatile === true;
    const fields: PublishFields = volatile ? { k: Kind.PUBLISH, d, v: 1 } : { k: Kind.PUBLISH, d };
    if (message.type === MessageType.BROADCAST) {
      // The hub routes a broadcast to rooms by them; not one with acks, which every server answers.
      if (message.data.requestId === undefined && message.data.opts.rooms.length > 0) {
        fields.n = message.nsp;
        fields.r = message.data.opts.rooms;
      }
    } else if (message.type === MessageType.SOCKETS_JOIN) {
      fields.n = message.nsp;
      fields.j = message.data.rooms;
    }
    if (log) {
      fields.o = log.offset;
      fields.n = message.nsp;
      if (log.only) fields.l = 1;
    }
    this.send(envelope<Publish>(fields));
  }

  /** A room of `nsp` got its first member in this process: the hub routes its broadcasts here. */
  roomAdded(nsp: string, room: string): void {
    const counts = this.#rooms.get(nsp);
    if (!counts) return;
    const count = counts.get(room) ?? 0;
    counts.set(room, count + 1);
    if (count === 0) this.send(envelope<Rooms>({ k: Kind.ROOMS, n: nsp, up: [room] }));
  }

  /** A room of `nsp` lost its last member in this process. */
  roomRemoved(nsp: string, room: string): void {
    const counts = this.#rooms.get(nsp);
    const count = counts?.get(room);
    if (!counts || count === undefined) return;
    if (count > 1) return void counts.set(room, count - 1);
    counts.delete(room);
    this.send(envelope<Rooms>({ k: Kind.ROOMS, n: nsp, down: [room] }));
  }

  /** Hands a disconnected client's session to the hub (connection state recovery). */
  saveSession(nsp: string, pid: string, session: unknown): void {
    this.send(envelope({ k: Kind.SESSION, n: nsp, pid, d: encodeLenient(session) }));
  }

  /** Asks the hub for a session and the packets after `offset`; `answer` runs synchronously on the reply. */
  restore(nsp: string, pid: string, offset: string, timeout: number, answer: (found: Found | null) => void): void {
    if (!this.connected) return answer(null);
    const id = randomId();
    const timer = setTimeout(() => {
      this.#restores.delete(id);
      debug("[%s] no answer to the restore of %s", this.uid, pid);
      answer(null);
    }, timeout);
    this.#restores.set(id, { answer, timer });
    this.send(envelope({ k: Kind.RESTORE, id, n: nsp, pid, o: offset }));
  }

  protected override onRestored(id: string, session: string | null, log: string[]): void {
    const restore = this.#restores.get(id);
    if (!restore) return;
    this.#restores.delete(id);
    clearTimeout(restore.timer);
    restore.answer(session === null ? null : { session, log });
  }

  /**
   * Sends a ClusterResponse to the member that asked; what cannot be sent is left out. Throws a
   * MessageTooLargeError above `maxSize` bytes, before anything is sent.
   */
  respond(to: string, response: ClusterResponse, maxSize: number): void {
    if (!this.connected) return;
    let d: string;
    try {
      d = encodeLenient(response);
    } catch (error) {
      // Only user code that throws wherever it is touched (e.g. a Proxy in socket.data whose traps
      // throw) gets here. This runs in socket.io-adapter's promise chain: a throw would be an
      // unhandled rejection that kills the worker. The requester times out instead.
      return debug("[%s] drop a response to %s that cannot be encoded: %s", this.uid, to, (error as Error)?.message);
    }
    this.send(envelope({ k: Kind.RESPONSE, to, d: checkSize(d, maxSize) }));
  }

  /** PM2 mode: how this peer finds the hub; null under node:cluster. */
  get uplink(): Uplink | null {
    return this.#uplink;
  }

  protected onWelcome(): void {
    clearTimeout(this.#warnTimer);
    clearTimeout(this.#welcomeTimer);
    debug("[%s] the hub answered", this.uid);
    if (!this.#uplink) return;
    this.#uplink.reset();
    // The other servers of a new hub do not know this one yet (nor it them): socket.io-adapter's
    // INITIAL_HEARTBEAT makes each of them answer with a HEARTBEAT.
    for (const adapters of this.#adapters.values()) for (const adapter of adapters) adapter.rejoin();
  }

  protected onClusterMessage(message: ClusterMessage): void {
    const adapters = this.#adapters.get(message.nsp);
    if (!adapters) return debug("[%s] ignore a message for namespace %s, not served here", this.uid, message.nsp);
    for (const adapter of adapters) adapter.onMessage(message);
    if (message.type === MessageType.SOCKETS_JOIN) {
      // The hub counted the joined rooms as present here until told otherwise: tell it.
      const counts = this.#rooms.get(message.nsp);
      const down = counts ? message.data.rooms.filter((room) => !counts.has(room)) : [];
      if (down.length > 0) this.send(envelope<Rooms>({ k: Kind.ROOMS, n: message.nsp, down }));
    }
  }

  protected onClusterResponse(response: ClusterResponse): void {
    const adapters = this.#adapters.get(response.nsp);
    if (adapters) for (const adapter of adapters) adapter.onResponse(response);
  }

  protected onNamespace(): void {
    // Servers learn about each other from socket.io-adapter's heartbeats; only emitters need this.
  }

  protected onLeft(uid: string): void {
    debug("[%s] %s left the cluster", this.uid, uid);
    for (const adapters of this.#adapters.values()) for (const adapter of adapters) adapter.memberLeft(uid);
  }

  protected onHubGone(): void {
    clearTimeout(this.#warnTimer);
    clearTimeout(this.#welcomeTimer);
    for (const id of [...this.#restores.keys()]) this.onRestored(id, null, []);
    const reconnecting = this.#uplink !== null && !this.#stopped;
    for (const adapters of this.#adapters.values()) for (const adapter of adapters) adapter.hubGone(reconnecting);
    if (reconnecting) return this.#reconnect();
    if (current === this) current = null;
  }

  /** PM2 mode: finds the hub (again), says HELLO and announces this worker's namespaces. */
  #reconnect(): void {
    this.#uplink?.connect((link) => {
      if (this.#stopped) return link.close();
      this.attach(link);
      for (const name of this.#adapters.keys()) this.#announce(name);
      this.#welcomeTimer = setTimeout(() => {
        debug("[%s] no answer from the hub in %d ms: find it again", this.uid, WELCOME_TIMEOUT);
        link.close();
      }, WELCOME_TIMEOUT).unref();
    });
  }
}

let current: WorkerPeer | null = null;

/**
 * PM2 mode: the counters of the hub that this process runs, if it won the election of its group;
 * null otherwise. Internal (not exported by the package): for tests and debugging.
 */
export function localHubStats(): HubStats | null {
  return current?.uplink?.hubStats() ?? null;
}

/**
 * The link of this process's peer to the hub, if any: IPC, or the data socket once upgraded.
 * Internal (not exported by the package): tests watch what arrives on it.
 */
export function workerLink(): Link | null {
  return current?.link ?? null;
}

/** How a worker finds its cluster: createAdapter()'s `pm2` and `group` options, null when not given. */
export interface PeerSettings {
  pm2: boolean | null;
  group: string | null;
}

/**
 * The process's peer, created on first use (later settings are ignored: one peer per process).
 * - PM2 cluster mode (detected, or forced with `pm2: true`): over a Unix socket to the hub elected
 *   among the workers of the group. Throws an IpcAdapterError if the socket directory is unsafe.
 * - PM2 cluster mode with `pm2: false`: null, each instance alone (PM2's daemon relays nothing).
 * - a `node:cluster` worker: over the IPC channel to the primary.
 * - elsewhere (a single process, a plain fork) there is no cluster to join: null, and the adapter
 *   works as the in-memory one.
 */
export function acquireWorkerPeer(settings: PeerSettings = { pm2: null, group: null }): WorkerPeer | null {
  if (current) return current;
  // PM2's daemon is a cluster primary too (cluster.isWorker is true there): check PM2 first.
  const underPm2 = isPm2Cluster();
  if (settings.pm2 ?? underPm2) {
    const group = settings.group ?? process.env.name ?? DEFAULT_GROUP;
    const paths = resolveGroupPaths(group);
    debug("PM2 mode: group %s on %s", group, paths.socket);
    current = new WorkerPeer(new ElectedUplink(paths, PROCESS_UID));
    return current;
  }
  if (underPm2) {
    // pm2: false. PM2's daemon is the primary: it would publish our messages on its bus, never answer.
    debug("PM2 mode disabled: this server works alone");
    return null;
  }
  if (!cluster.isWorker || typeof process.send !== "function" || !process.connected) {
    debug("not a cluster worker with an IPC channel: this server works alone");
    return null;
  }
  // Moves to the hub's data socket if the hub offers one (see transports/data-socket.ts).
  const ipc = new IpcLink(process as unknown as IpcPeer, "worker", "the primary");
  current = new WorkerPeer(new UpgradableLink(ipc, "worker"));
  return current;
}
