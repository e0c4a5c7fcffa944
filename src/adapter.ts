/**
 * The worker side: a ClusterAdapterWithHeartbeat from socket.io-adapter, whose messages travel
 * through the hub in the primary. What it changes from its base:
 * - broadcasts and room utilities publish synchronously, so that an argument that cannot be sent
 *   throws at the caller, and a local join is done before the next line runs, as on one server;
 * - requests (fetchSockets, serverSideEmit with an ack, broadcasts with acks) wait `requestsTimeout`
 *   and settle as soon as the hub reports that a server left, with the answers of the others.
 */
import {
  Adapter,
  ClusterAdapter as BaseClusterAdapter,
  type BroadcastOptions,
  ClusterAdapterWithHeartbeat,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Room,
} from "socket.io-adapter";
import { type AdapterOptions, type ResolvedAdapterOptions, resolveAdapterOptions } from "./options";
import { randomId } from "./peer";
import { EMITTER_UID_PREFIX } from "./protocol/messages";
import { acquireWorkerPeer, type PeerAdapter, type WorkerPeer } from "./worker";

/** The members of ClusterAdapterWithHeartbeat (socket.io-adapter 2.5) that it keeps private. */
interface HeartbeatInternals {
  nodesMap: Map<string, number>;
  removeNode(uid: string): void;
}

const RESOLVED = Promise.resolve() as Promise<never>;

interface PendingRequest {
  missing: Set<string>;
  answers: unknown[];
  timer: NodeJS.Timeout;
  finish(error: Error | null): void;
}

interface AckServer {
  /** The number of clients the server sent the packet to; null until it says. */
  clients: number | null;
  acks: number;
  done: boolean;
}

interface AckRequest {
  servers: Map<string, AckServer>;
  pending: number;
  clientCountCallback: (clientCount: number) => void;
  ack: (...args: unknown[]) => void;
  timer: NodeJS.Timeout;
}

function encodeOptions(opts: BroadcastOptions) {
  return { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} };
}

/** The adapter that `createAdapter()` gives Socket.IO, one per namespace. */
export class ClusterAdapter extends ClusterAdapterWithHeartbeat implements PeerAdapter {
  #opts: ResolvedAdapterOptions;
  #peer: WorkerPeer | null;
  #internals: HeartbeatInternals;
  #requests = new Map<string, PendingRequest>();
  #ackRequests = new Map<string, AckRequest>();
  #initialized = false;

  constructor(nsp: any, opts: ResolvedAdapterOptions, peer: WorkerPeer | null) {
    super(nsp, { heartbeatInterval: opts.heartbeatInterval, heartbeatTimeout: opts.heartbeatTimeout });
    this.#opts = opts;
    this.#peer = peer;
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
      this.#serverLeft(uid);
    };
    this.#internals = internals;
    if (peer) {
      // One uid per process: the hub knows the worker, not each namespace.
      (this as unknown as { uid: string }).uid = peer.uid;
      peer.register(this);
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
    for (const request of this.#requests.values()) request.finish(null);
    for (const [id, request] of this.#ackRequests) {
      clearTimeout(request.timer);
      this.#ackRequests.delete(id);
    }
    this.#peer?.unregister(this);
    this.#peer = null;
  }

  override onMessage(message: ClusterMessage, offset?: string): void {
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

  memberLeft(uid: string): void {
    this.#internals.removeNode(uid);
  }

  hubGone(): void {
    this.#peer = null;
    for (const uid of [...this.#internals.nodesMap.keys()]) this.#internals.removeNode(uid);
  }

  protected override doPublish(message: ClusterMessage): Promise<string> {
    this.#peer?.publish(message);
    return RESOLVED;
  }

  protected override doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    this.#peer?.respond(requesterUid, response);
    return RESOLVED;
  }

  override broadcast(packet: any, opts: BroadcastOptions): Promise<void> {
    if (!opts.flags?.local) {
      this.publish({ type: MessageType.BROADCAST, data: { packet, opts: encodeOptions(opts) } });
    }
    Adapter.prototype.broadcast.call(this, packet, opts);
    return RESOLVED;
  }

  override broadcastWithAck(
    packet: any,
    opts: BroadcastOptions,
    clientCountCallback: (clientCount: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    const peers = [...this.#internals.nodesMap.keys()];
    if (!opts.flags?.local && peers.length > 0) {
      const requestId = randomId();
      this.publish({ type: MessageType.BROADCAST, data: { packet, requestId, opts: encodeOptions(opts) } });
      // socket.io completes the emit when every server counted by serverCount() has reported its
      // number of clients and that many acks arrived. A server's count is passed on only once all
      // its acks are in, so that a server that leaves can be closed with the acks it did send.
      const servers = new Map<string, AckServer>();
      for (const uid of peers) servers.set(uid, { clients: null, acks: 0, done: false });
      const timer = setTimeout(() => this.#ackRequests.delete(requestId), opts.flags?.timeout ?? 0);
      this.#ackRequests.set(requestId, { servers, pending: servers.size, clientCountCallback, ack, timer });
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
    const requestId = randomId();
    this.publish({ type: MessageType.FETCH_SOCKETS, data: { opts: encodeOptions(opts), requestId } });
    return new Promise((resolve, reject) => {
      this.#request(requestId, peers, local, opts.flags?.timeout ?? this.#opts.requestsTimeout, (error, answers) => {
        if (!error) return resolve(answers);
        // As socket.io does for emitWithAck: what did arrive, on the error.
        (error as Error & { responses?: unknown[] }).responses = answers;
        reject(error);
      });
    });
  }

  override serverSideEmit(packet: any[]): Promise<any> {
    const ack = typeof packet[packet.length - 1] === "function" ? packet.pop() : null;
    if (!ack) {
      this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { packet } });
      return RESOLVED;
    }
    const peers = [...this.#internals.nodesMap.keys()];
    if (peers.length === 0) {
      process.nextTick(ack, null, []);
      return RESOLVED;
    }
    const requestId = randomId();
    this.publish({ type: MessageType.SERVER_SIDE_EMIT, data: { requestId, packet } });
    this.#request(requestId, peers, [], this.#opts.requestsTimeout, ack);
    return RESOLVED;
  }

  override onResponse(response: ClusterResponse): void {
    const { requestId } = response.data;
    switch (response.type) {
      case MessageType.FETCH_SOCKETS_RESPONSE:
        return this.#answer(requestId, response.uid, response.data.sockets, true);
      case MessageType.SERVER_SIDE_EMIT_RESPONSE:
        return this.#answer(requestId, response.uid, [response.data.packet], false);
      case MessageType.BROADCAST_CLIENT_COUNT:
      case MessageType.BROADCAST_ACK: {
        const request = this.#ackRequests.get(requestId);
        const server = request?.servers.get(response.uid);
        if (!request || !server || server.done) return;
        if (response.type === MessageType.BROADCAST_ACK) {
          server.acks++;
          request.ack(response.data.packet);
        } else {
          server.clients = response.data.clientCount;
        }
        if (server.clients !== null && server.acks >= server.clients) this.#ackServerDone(requestId, request, server);
      }
    }
  }

  #request(
    requestId: string,
    peers: string[],
    answers: unknown[],
    timeout: number,
    callback: (error: Error | null, answers: unknown[]) => void,
  ): void {
    const missing = new Set(peers);
    const timer = setTimeout(() => {
      request.finish(new Error(`timeout reached: missing ${missing.size} responses`));
    }, timeout);
    const request: PendingRequest = {
      missing,
      answers,
      timer,
      finish: (error) => {
        clearTimeout(timer);
        this.#requests.delete(requestId);
        callback(error, answers);
      },
    };
    this.#requests.set(requestId, request);
  }

  #answer(requestId: string, uid: string, items: unknown[], spread: boolean): void {
    const request = this.#requests.get(requestId);
    if (!request?.missing.delete(uid)) return;
    if (spread) for (const item of items) request.answers.push(item);
    else request.answers.push(items[0]);
    if (request.missing.size === 0) request.finish(null);
  }

  #ackServerDone(requestId: string, request: AckRequest, server: AckServer): void {
    server.done = true;
    request.clientCountCallback(server.acks);
    if (--request.pending === 0) {
      clearTimeout(request.timer);
      this.#ackRequests.delete(requestId);
    }
  }

  #serverLeft(uid: string): void {
    for (const request of [...this.#requests.values()]) {
      if (request.missing.delete(uid) && request.missing.size === 0) request.finish(null);
    }
    for (const [requestId, request] of [...this.#ackRequests]) {
      const server = request.servers.get(uid);
      if (server && !server.done) this.#ackServerDone(requestId, request, server);
    }
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
    return new ClusterAdapter(nsp, resolved, acquireWorkerPeer());
  };
}
