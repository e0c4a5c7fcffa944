/**
 * The requests a member waits on (fetchSockets, serverSideEmit with an ack, broadcasts with acks),
 * shared by the worker adapter and the emitter. A request settles with the answers that arrived
 * when the last expected server answers, when the servers it still waits on leave the cluster
 * (no error: a server that left owes nothing), or after its timeout (Socket.IO's error wording).
 */
import { type ClusterResponse, MessageType } from "socket.io-adapter";

type Callback = (error: Error | null, answers: unknown[]) => void;

interface PendingRequest {
  missing: Set<string>;
  answers: unknown[];
  timer: NodeJS.Timeout;
  callback: Callback;
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
  ack: (answer: unknown) => void;
  timer: NodeJS.Timeout;
}

export class Requests {
  #requests = new Map<string, PendingRequest>();
  #acks = new Map<string, AckRequest>();

  /** The number of requests still open. */
  get size(): number {
    return this.#requests.size + this.#acks.size;
  }

  /**
   * Waits for one answer from each of `servers`. `answers` may already hold local answers; each
   * remote answer is appended (fetchSockets answers are spread: one item per socket).
   */
  expect(requestId: string, servers: Iterable<string>, timeout: number, answers: unknown[], callback: Callback): void {
    const missing = new Set(servers);
    if (missing.size === 0) {
      process.nextTick(callback, null, answers);
      return;
    }
    const timer = setTimeout(() => {
      this.#finish(requestId, new Error(`timeout reached: missing ${missing.size} responses`));
    }, timeout);
    this.#requests.set(requestId, { missing, answers, timer, callback });
  }

  /**
   * Tracks a broadcast with acks. socket.io completes such an emit when every server it counted
   * has reported its number of clients and that many acks arrived. A server's count is passed on
   * only once all its acks are in, so that a server that leaves can be closed with the acks it
   * did send. `cleanup` is when to forget the request (the emit's own timeout).
   */
  expectAcks(
    requestId: string,
    servers: Iterable<string>,
    cleanup: number,
    clientCountCallback: (clientCount: number) => void,
    ack: (answer: unknown) => void,
  ): void {
    const map = new Map<string, AckServer>();
    for (const uid of servers) map.set(uid, { clients: null, acks: 0, done: false });
    if (map.size === 0) return;
    const timer = setTimeout(() => this.#acks.delete(requestId), cleanup);
    this.#acks.set(requestId, { servers: map, pending: map.size, clientCountCallback, ack, timer });
  }

  onResponse(response: ClusterResponse): void {
    const { requestId } = response.data;
    switch (response.type) {
      case MessageType.FETCH_SOCKETS_RESPONSE:
        return this.#answer(requestId, response.uid, response.data.sockets, true);
      case MessageType.SERVER_SIDE_EMIT_RESPONSE:
        return this.#answer(requestId, response.uid, [response.data.packet], false);
      case MessageType.BROADCAST_CLIENT_COUNT:
      case MessageType.BROADCAST_ACK: {
        const request = this.#acks.get(requestId);
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

  /** The server `uid` left: nothing more is expected from it. */
  serverLeft(uid: string): void {
    for (const [requestId, request] of [...this.#requests]) {
      if (request.missing.delete(uid) && request.missing.size === 0) this.#finish(requestId, null);
    }
    for (const [requestId, request] of [...this.#acks]) {
      const server = request.servers.get(uid);
      if (server && !server.done) this.#ackServerDone(requestId, request, server);
    }
  }

  /** Settles every request with what it has (the member is closing). */
  closeAll(): void {
    for (const requestId of [...this.#requests.keys()]) this.#finish(requestId, null);
    for (const request of this.#acks.values()) clearTimeout(request.timer);
    this.#acks.clear();
  }

  #answer(requestId: string, uid: string, items: unknown[], spread: boolean): void {
    const request = this.#requests.get(requestId);
    if (!request?.missing.delete(uid)) return;
    if (spread) for (const item of items) request.answers.push(item);
    else request.answers.push(items[0]);
    if (request.missing.size === 0) this.#finish(requestId, null);
  }

  #finish(requestId: string, error: Error | null): void {
    const request = this.#requests.get(requestId);
    if (!request) return;
    clearTimeout(request.timer);
    this.#requests.delete(requestId);
    request.callback(error, request.answers);
  }

  #ackServerDone(requestId: string, request: AckRequest, server: AckServer): void {
    server.done = true;
    request.clientCountCallback(server.acks);
    if (--request.pending === 0) {
      clearTimeout(request.timer);
      this.#acks.delete(requestId);
    }
  }
}
