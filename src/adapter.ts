/**
 * The worker side: a ClusterAdapterWithHeartbeat from socket.io-adapter, whose messages travel
 * through the hub in the primary. What it changes from its base:
 * - broadcasts and room utilities publish synchronously, so that an argument that cannot be sent
 *   throws at the caller, and a local join is done before the next line runs, as on one server;
 * - requests (fetchSockets, serverSideEmit with an ack, broadcasts with acks) wait `requestsTimeout`
 *   and settle as soon as the hub reports that a server left, with the answers of the others.
 */

import debugModule from "debug";
import {
  Adapter,
  ClusterAdapter as BaseClusterAdapter,
  type BroadcastOptions,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Room,
  type Session,
} from "socket.io-adapter";
import { MessageTooLargeError } from "./errors";
import { RecoveryLog } from "./hub/recovery";
import { type AdapterOptions, type ResolvedAdapterOptions, resolveAdapterOptions } from "./options";
import { nextRequestId } from "./peer";
import { encode, encodeLenient } from "./protocol/codec";
import { EMITTER_UID_PREFIX } from "./protocol/messages";
import { AdapterRecovery } from "./recovery";
import { Requests } from "./requests";
import { acquireWorkerPeer, type PeerAdapter, type WorkerPeer } from "./worker";

/** The members of ClusterAdapterWithHeartbeat (socket.io-adapter 2.5) that it keeps private. */
interface HeartbeatInternals {
  nodesMap: Map<string, number>;
  removeNode(uid: string): void;
}

const debug = debugModule("socket.io-ipc-adapter:worker");

const RESOLVED = Promise.resolve() as Promise<never>;

function encodeOptions(opts: BroadcastOptions) {
  return { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} };
}

/** The adapter that `createAdapter()` gives Socket.IO, one per namespace. */
export class ClusterAdapter extends ClusterAdapterWithHeartbeat implements PeerAdapter {
  #opts: ResolvedAdapterOptions;
  #peer: WorkerPeer | null;
  /** The process's peer even after this adapter let go of it: its counters stay readable. */
  readonly #counters: WorkerPeer | null;
  #internals: HeartbeatInternals;
  #requests = new Requests();
  #initialized = false;
  /** Connection state recovery, when the server has it on. */
  #recovery: AdapterRecovery | null = null;
  /** Where sessions and packets are kept when this server runs alone (no hub). */
  #localLog: RecoveryLog | null = null;
  #tooLarge = 0;

  constructor(nsp: any, opts: ResolvedAdapterOptions, peer: WorkerPeer | null) {
    super(nsp, { heartbeatInterval: opts.heartbeatInterval, heartbeatTimeout: opts.heartbeatTimeout });
    this.#opts = opts;
    this.#peer = peer;
    this.#counters = peer;
    const internals = this as unknown as HeartbeatInternals;
    if (!(internals.nodesMap instanceof Map) || typeof internals.removeNode !== "function") {
      throw new Error(
        "socket.io-ipc-adapter needs socket.io-adapter 2.5 (ClusterAdapterWithHeartbeat.nodesMap and removeNode); install the version in our package.json",
      );
    }
    // Every way a server leaves (our LEFT notice, ADAPTER_CLOSE, a missed heartbeat) goes through
    // removeNode: settle our requests there too.
    const removeNode = internals.removeNode;
    internals.removeNode = (uid: string) => {
      removeNode.call(this, uid);
      this.#requests.serverLeft(uid);
    };
    this.#internals = internals;
    if (peer) {
      // One uid per process: the hub knows the worker, not each namespace.
      (this as unknown as { uid: string }).uid = peer.uid;
    }
    const csr = nsp.server?.opts?.connectionStateRecovery;
    if (csr) {
      this.#recovery = new AdapterRecovery(csr.maxDisconnectionDuration, this.uid);
      if (!peer) this.#localLog = new RecoveryLog();
    }
    peer?.register(this, this.#recovery?.retention);
    if (peer) {
      // The hub routes broadcasts to rooms by where their members are (issue 5).
      this.on("create-room", (room: Room) => peer.roomAdded(nsp.name, room));
      this.on("delete-room", (room: Room) => peer.roomRemoved(nsp.name, room));
    }
    // socket.io 4.8.0 and 4.8.1 never call init(); later versions call it right after this constructor.
    queueMicrotask(() => {
      if (!this.#initialized) this.init();
    });
  }

  override init(): void {
    this.#initialized = true;
    super.init();
  }

  override close(): void {
    super.close();
    this.#requests.closeAll();
    this.#localLog?.close();
    this.#peer?.unregister(this);
    this.#peer = null;
  }

  override onMessage(message: ClusterMessage, offset?: string): void {
    if (this.#recovery) this.#recovery.deliver(() => this.#onMessage(message, offset));
    else this.#onMessage(message, offset);
  }

  #onMessage(message: ClusterMessage, offset?: string): void {
    // A broadcast carries its recovery offset in its data already: skip the base's offset logic,
    // which would append another (the official adapter's stray "" / null argument).
    if (message.type === MessageType.BROADCAST && message.data.requestId === undefined && message.uid !== this.uid) {
      const { rooms, except, flags } = message.data.opts;
      if (this.#reachesLocal(rooms)) {
        Adapter.prototype.broadcast.call(this, message.data.packet, {
          rooms: new Set(rooms),
          except: new Set(except),
          flags,
        });
      }
      if (message.uid.startsWith(EMITTER_UID_PREFIX)) return;
      // Still count the sender as a live server, as the base does for every message.
      return super.onMessage({ uid: message.uid, nsp: message.nsp, type: MessageType.HEARTBEAT } as ClusterMessage);
    }
    // An emitter is not a server: skip the heartbeat bookkeeping that would count it.
    if (message.uid.startsWith(EMITTER_UID_PREFIX)) {
      return (BaseClusterAdapter.prototype as unknown as { onMessage: ClusterAdapter["onMessage"] }).onMessage.call(
        this,
        message,
        offset,
      );
    }
    super.onMessage(message, offset);
  }

  override persistSession(session: Omit<Session, "missedPackets">): void {
    if (!this.#recovery) return;
    if (this.#peer) this.#peer.saveSession(this.nsp.name, session.pid, session);
    else this.#localLog?.save(this.nsp.name, session.pid, encodeLenient(session));
  }

  // socket.io-adapter types the result as Promise<Session>, but socket.io expects null when not found.
  override restoreSession(pid: string, offset: string): Promise<Session> {
    const recovery = this.#recovery;
    if (!recovery) return Promise.resolve(null) as unknown as Promise<Session>;
    const peer = this.#peer;
    return recovery.restore((answer) => {
      if (peer) peer.restore(this.nsp.name, pid, offset, this.#opts.requestsTimeout, answer);
      else answer(this.#localLog?.restore(this.nsp.name, pid, offset) ?? null);
    }) as Promise<Session>;
  }

  /**
   * The messages of this namespace's adapter that were larger than `maxMessageSize`: broadcasts,
   * room operations and requests refused at the caller with a MessageTooLargeError, and answers
   * (fetchSockets, acknowledgements) dropped. None of them was sent.
   */
  get messagesTooLarge(): number {
    return this.#tooLarge;
  }

  /**
   * The broadcasts and answers this worker process dropped because its queue toward the hub held
   * 16 MiB (it emitted faster than the hub took them: see the hub's flow control). The same figure
   * in every namespace of the process; 0 outside a cluster.
   */
  get messagesOverflowed(): number {
    return this.#counters?.messagesOverflowed ?? 0;
  }

  memberLeft(uid: string): void {
    this.#internals.removeNode(uid);
  }

  hubGone(reconnecting = false): void {
    if (!reconnecting) this.#peer = null;
    for (const uid of [...this.#internals.nodesMap.keys()]) this.#internals.removeNode(uid);
  }

  rejoin(): void {
    this.publish({ type: MessageType.INITIAL_HEARTBEAT });
  }

  protected override doPublish(message: ClusterMessage): Promise<string> {
    this.#publish(message);
    return RESOLVED;
  }

  #publish(message: ClusterMessage, log?: { offset: string; only: boolean }): void {
    try {
      this.#peer?.publish(message, this.#opts.maxMessageSize, log);
    } catch (error) {
      if (error instanceof MessageTooLargeError) this.#tooLarge++;
      throw error;
    }
  }

  protected override doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    // socket.io-adapter calls this from a promise callback with no catch (its fetchSockets
    // handler): a throw would be an unhandled rejection that ends the worker.
    try {
      this.#peer?.respond(requesterUid, response, this.#opts.maxMessageSize);
    } catch (error) {
      if (error instanceof MessageTooLargeError) this.#tooLarge++;
      debug("[%s] drop an answer to %s: %s", this.uid, requesterUid, (error as Error).message);
    }
    return RESOLVED;
  }

  override broadcast(packet: any, opts: BroadcastOptions): Promise<void> {
    const local = opts.flags?.local;
    const recovery = this.#recovery;
    // As socket.io-adapter's SessionAwareAdapter: events without ack, not volatile, get an offset.
    if (recovery && !local && packet.type === 2 && packet.id === undefined && !opts.flags?.volatile) {
      const offset = recovery.nextOffset();
      packet.data.push(offset);
      // Published first: a packet refused for its size must not reach a session being restored.
      this.#publishLogged(packet, opts, offset);
      recovery.recordLocal(packet.data, opts);
    } else if (!local) {
      this.publish({ type: MessageType.BROADCAST, data: { packet, opts: encodeOptions(opts) } });
    }
    if (this.#reachesLocal(opts.rooms)) Adapter.prototype.broadcast.call(this, packet, opts);
    return RESOLVED;
  }

  /**
   * False when a broadcast to `rooms` (every socket when empty) can reach no socket of this server.
   * socket.io-adapter encodes the packet before it looks for recipients: skipping it then saves
   * about a third of a worker's time on broadcasts meant for sockets elsewhere (issue 5). With
   * nothing to deliver, the in-memory broadcast has no other effect.
   */
  #reachesLocal(rooms: Iterable<Room>): boolean {
    if (this.sids.size === 0) return false;
    let targeted = false;
    for (const room of rooms) {
      if (this.rooms.has(room)) return true;
      targeted = true;
    }
    return !targeted;
  }

  #publishLogged(packet: any, opts: BroadcastOptions, offset: string): void {
    const message = {
      uid: this.uid,
      nsp: this.nsp.name,
      type: MessageType.BROADCAST,
      data: { packet, opts: encodeOptions(opts) },
    } as ClusterMessage;
    // With recovery on, socket.emit() goes through broadcast() with the socket's id as the only
    // room: when that socket is here, the hub logs the packet and sends it to nobody.
    const [room] = opts.rooms;
    const only = opts.rooms.size === 1 && !opts.except?.size && this.nsp.sockets.has(room);
    if (this.#peer) this.#publish(message, { offset, only });
    else this.#localLog?.append(offset, this.nsp.name, encode(message, "message"));
  }

  override broadcastWithAck(
    packet: any,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    const peers = [...this.#internals.nodesMap.keys()];
    if (!opts.flags?.local && peers.length > 0) {
      const requestId = nextRequestId();
      this.publish({ type: MessageType.BROADCAST, data: { packet, requestId, opts: encodeOptions(opts) } });
      this.#requests.expectAcks(requestId, peers, opts.flags?.timeout ?? 0, clientCountCallback, ack);
    } else if (opts.flags?.local) {
      // socket.io completes io.local.timeout(ms).emit only once every server that serverCount()
      // counts has given its number of clients: the others send this broadcast to none.
      for (let i = 0; i < peers.length; i++) clientCountCallback(0);
    }
    Adapter.prototype.broadcastWithAck.call(this, packet, opts, clientCountCallback, ack);
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): Promise<void> {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.SOCKETS_JOIN, data: { opts: encodeOptions(opts), rooms } });
    }
    Adapter.prototype.addSockets.call(this, opts, rooms);
    return RESOLVED;
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): Promise<void> {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.SOCKETS_LEAVE, data: { opts: encodeOptions(opts), rooms } });
    }
    Adapter.prototype.delSockets.call(this, opts, rooms);
    return RESOLVED;
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): Promise<void> {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.DISCONNECT_SOCKETS, data: { opts: encodeOptions(opts), close } });
    }
    Adapter.prototype.disconnectSockets.call(this, opts, close);
    return RESOLVED;
  }

  override async fetchSockets(opts: BroadcastOptions): Promise<any[]> {
    const local = await Adapter.prototype.fetchSockets.call(this, opts);
    const peers = [...this.#internals.nodesMap.keys()];
    if (opts.flags?.local || peers.length === 0) return local;
    const requestId = nextRequestId();
    this.publish({ type: MessageType.FETCH_SOCKETS, data: { opts: encodeOptions(opts), requestId } });
    return new Promise((resolve, reject) => {
      this.#requests.expect(
        requestId,
        peers,
        opts.flags?.timeout ?? this.#opts.requestsTimeout,
        local,
        (error, answers) => {
          if (!error) return resolve(answers);
          // As socket.io does for emitWithAck: what did arrive, on the error.
          (error as Error & { responses?: unknown[] }).responses = answers;
          reject(error);
        },
      );
    });
  }

  override serverSideEmit(packet: any[]): Promise<any> {
    const ack = typeof packet[packet.length - 1] === "function" ? packet.pop() : null;
    if (!ack) {
      this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { packet } });
      return RESOLVED;
    }
    const peers = [...this.#internals.nodesMap.keys()];
    const requestId = nextRequestId();
    if (peers.length > 0) this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { requestId, packet } });
    this.#requests.expect(requestId, peers, this.#opts.requestsTimeout, [], ack);
    return RESOLVED;
  }

  override onResponse(response: ClusterResponse): void {
    this.#requests.onResponse(response);
  }
}

/**
 * Returns the adapter constructor to pass to `io.adapter()`, in every worker.
 *
 * @example
 * io.adapter(createAdapter());
 */
export function createAdapter(opts?: AdapterOptions) {
  const resolved = resolveAdapterOptions(opts);
  // A function, not an arrow: Socket.IO calls it with `new`.
  return function (nsp: any) {
    return new ClusterAdapter(nsp, resolved, acquireWorkerPeer(resolved));
  };
}
