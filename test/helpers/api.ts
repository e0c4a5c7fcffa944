/**
 * Helpers for the API suites of test/cluster: clients that record what they receive, worker code
 * that runs against one namespace, and markers that prove an event did NOT arrive (a marker sent
 * after it along the same path arrived, so the event would have arrived first).
 */
import type { Socket } from "socket.io-client";
import type { TestCluster } from "./cluster";
import { withTimeout } from "./wait";

/** The namespaces every API suite runs in: the main one and another one served by every worker. */
export const NAMESPACES = ["/", "/chat"];
export const FIXTURE = { namespaces: ["/chat"] };

/**
 * The expression that names the namespace in worker code. For "/" it is `io` itself, so that the
 * Server's own methods (io.emit, io.to, io.fetchSockets…) are the ones under test.
 */
export function nspExpr(nsp: string): string {
  return nsp === "/" ? "io" : `io.of(${JSON.stringify(nsp)})`;
}

interface Received {
  event: string;
  args: any[];
}

/** A connected client and everything it received, in order. */
export class Client {
  readonly received: Received[] = [];
  #waiters: (() => void)[] = [];

  constructor(
    readonly socket: Socket,
    readonly worker: number,
    readonly name: string,
  ) {
    socket.onAny((event: string, ...args: any[]) => {
      this.received.push({ event, args });
      for (const waiter of [...this.#waiters]) waiter();
    });
  }

  get id(): string {
    return this.socket.id as string;
  }

  /** The argument lists of every `event` received so far. */
  args(event: string): any[][] {
    return this.received.filter((r) => r.event === event).map((r) => r.args);
  }

  count(event: string): number {
    return this.args(event).length;
  }

  /** Resolves with the argument lists of `event` once `count` of them arrived. */
  waitFor(event: string, count = 1, ms = 10_000): Promise<any[][]> {
    let waiter: () => void = () => {};
    const promise = new Promise<any[][]>((resolve) => {
      waiter = () => {
        if (this.count(event) >= count) resolve(this.args(event));
      };
      this.#waiters.push(waiter);
      waiter();
    });
    return withTimeout(promise, ms, `${count} "${event}" at ${this.name}`).finally(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
    });
  }

  /** Emits with an acknowledgement and resolves with its arguments. */
  request(event: string, ...args: any[]): Promise<any> {
    return withTimeout(this.socket.timeout(10_000).emitWithAck(event, ...args), 12_000, `ack of "${event}"`);
  }
}

interface Tap {
  teardown(fn: () => unknown): void;
}

let markers = 0;

/**
 * One subtest's view of a namespace of a shared cluster. The clients it connects are disconnected
 * in t.teardown, which waits until no worker holds them any more, so the next subtest starts clean.
 */
export class Scope {
  readonly clients: Client[] = [];
  #connecting = 0;

  constructor(
    t: Tap,
    readonly cluster: TestCluster,
    readonly nsp: string,
  ) {
    t.teardown(() => this.#cleanUp());
  }

  /** Connects a client to worker `worker` in this namespace. */
  async connect(worker: number, options: object = {}): Promise<Client> {
    // The index is taken before connecting: names and order follow the calls, not the handshakes.
    const index = this.#connecting++;
    const socket = await this.cluster.connect(worker, this.nsp, options);
    const client = new Client(socket, worker, `${this.nsp} client ${index} of worker ${worker}`);
    this.clients[index] = client;
    return client;
  }

  /** Connects one client per entry of `workers` (a worker index each). */
  connectAll(workers: number[]): Promise<Client[]> {
    return Promise.all(workers.map((w) => this.connect(w)));
  }

  /** Runs `body` in worker `worker` with `nsp` bound to this namespace (io itself for "/"). */
  run<T = any>(worker: number, body: string, ms?: number): Promise<T> {
    return this.cluster.workers[worker].eval(`const nsp = ${nspExpr(this.nsp)};\n${body}`, ms);
  }

  /**
   * Broadcasts a marker from worker `from` to every client of the namespace and waits until
   * `clients` all have it. Whatever `from` emitted before reached them first, if it reached them.
   */
  async marker(from: number, clients: Client[] = this.clients): Promise<void> {
    const id = ++markers;
    await this.run(from, `nsp.emit("marker", ${id}); return true`);
    await Promise.all(
      clients.map(async (client) => {
        const deadline = Date.now() + 10_000;
        while (!client.args("marker").some(([m]) => m === id)) {
          await client.waitFor("marker", client.count("marker") + 1, Math.max(deadline - Date.now(), 1));
        }
      }),
    );
  }

  async #cleanUp(): Promise<void> {
    const ids = this.clients.map((c) => c?.socket.id).filter((id) => id !== undefined);
    for (const client of this.clients) client?.socket.disconnect();
    const live = this.cluster.workers.filter((w) => w.worker.isConnected());
    await Promise.all(
      live.map((w) =>
        w.eval(
          `const ids = ${JSON.stringify(ids)}; const sockets = io.of(${JSON.stringify(this.nsp)}).sockets;
           await ctx.waitFor(() => ids.every((id) => !sockets.has(id)), 10_000, "the clients of the last test are gone");
           return true`,
          15_000,
        ),
      ),
    );
  }
}

/** Event names of a list of clients that received `event`, for readable assertions. */
export function receivers(clients: Client[], event: string): string[] {
  return clients.filter((c) => c.count(event) > 0).map((c) => c.name);
}
