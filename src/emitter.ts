/**
 * The Emitter: broadcasts, room utilities and requests sent to every worker from the cluster
 * primary or from a helper process that the primary forked and attached, with no Socket.IO server.
 */
import type { ClusterMessage } from "socket.io-adapter";
import { MessageType } from "socket.io-adapter";
import { acquireEmitterPeer, type EmitterPeer } from "./emitter-peer";
import { ErrorCode, InvalidOptionTypeError, IpcAdapterError, MessageTooLargeError } from "./errors";
import { checkMessageSize, checkMilliseconds, checkOptionsObject, DEFAULT_MAX_MESSAGE_SIZE } from "./options";
import { nextRequestId } from "./peer";
import type { AllButLast, DefaultEventsMap, EventNames, EventParams, EventsMap } from "./typed-events";

/** Options of {@link Emitter}. */
export interface EmitterOptions {
  /**
   * How long `fetchSockets()` (without `timeout()`) and `serverSideEmit()` with an acknowledgement
   * wait for the answers of the servers.
   * @default 5_000
   */
  requestsTimeout?: number;
  /**
   * The largest message this emitter sends, in bytes of its encoded form (UTF-8 JSON; binary counts
   * as base64, 4/3 of its size). A larger one throws a MessageTooLargeError (code
   * `SIO_IPC_ERR_MESSAGE_TOO_LARGE`) at the caller, is sent to nobody and is counted in
   * `emitter.messagesTooLarge`. At most 256 MiB.
   * @default 67_108_864 (64 MiB)
   */
  maxMessageSize?: number;
}

export const DEFAULT_EMITTER_REQUESTS_TIMEOUT = 5_000;

/** Event names Socket.IO reserves: emitting them throws, as `io.emit()` does. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  "connect",
  "connect_error",
  "disconnect",
  "disconnecting",
  "newListener",
  "removeListener",
]);

/** serverSideEmit() also refuses the names a Namespace reserves. */
const RESERVED_SERVER_SIDE_EVENTS: ReadonlySet<string> = new Set([...RESERVED_EVENTS, "connection", "new_namespace"]);

/** What fetchSockets() returns for each socket: plain data, wherever the socket is. */
export interface SocketDetails {
  id: string;
  handshake: Record<string, unknown>;
  rooms: string[];
  data: unknown;
}

const EVENT = 2; // socket.io-parser's PacketType.EVENT

function checkEvent(ev: unknown, reserved: ReadonlySet<string>): void {
  if (typeof ev !== "string" || reserved.has(ev)) {
    throw new IpcAdapterError(
      ErrorCode.RESERVED_EVENT,
      typeof ev === "string" ? `"${ev}" is a reserved event name` : `an event name must be a string, got ${typeof ev}`,
    );
  }
}

function toRooms(rooms: string | string[]): string[] {
  return Array.isArray(rooms) ? rooms : [rooms];
}

interface Flags {
  volatile?: boolean;
  compress?: boolean;
  timeout?: number;
}

interface Target {
  peer: EmitterPeer;
  nsp: string;
  requestsTimeout: number;
  maxMessageSize: number;
  /** Shared by an Emitter, its operators and the emitters of(): what messagesTooLarge reports. */
  counters: { tooLarge: number };
}

/** An immutable set of targets and flags; each method returns a new operator. */
export class BroadcastOperator<EmitEvents extends EventsMap = DefaultEventsMap> {
  readonly #target: Target;
  readonly #rooms: ReadonlySet<string>;
  readonly #except: ReadonlySet<string>;
  readonly #flags: Readonly<Flags>;

  /** @internal */
  constructor(
    target: Target,
    rooms: ReadonlySet<string> = new Set(),
    except: ReadonlySet<string> = new Set(),
    flags: Flags = {},
  ) {
    this.#target = target;
    this.#rooms = rooms;
    this.#except = except;
    this.#flags = flags;
  }

  /** Targets the clients in `rooms` (several calls add up). */
  to(rooms: string | string[]): BroadcastOperator<EmitEvents> {
    return new BroadcastOperator(this.#target, new Set([...this.#rooms, ...toRooms(rooms)]), this.#except, this.#flags);
  }

  /** Same as to(). */
  in(rooms: string | string[]): BroadcastOperator<EmitEvents> {
    return this.to(rooms);
  }

  /** Leaves out the clients in `rooms`. */
  except(rooms: string | string[]): BroadcastOperator<EmitEvents> {
    return new BroadcastOperator(this.#target, this.#rooms, new Set([...this.#except, ...toRooms(rooms)]), this.#flags);
  }

  /** Sets whether the packet is compressed. */
  compress(compress: boolean): BroadcastOperator<EmitEvents> {
    return new BroadcastOperator(this.#target, this.#rooms, this.#except, { ...this.#flags, compress });
  }

  /** The packet may be lost if a client is not ready to receive it. */
  get volatile(): BroadcastOperator<EmitEvents> {
    return new BroadcastOperator(this.#target, this.#rooms, this.#except, { ...this.#flags, volatile: true });
  }

  /** Waits `ms` for acknowledgements (emit with a callback last) or for fetchSockets() answers. */
  timeout(ms: number): BroadcastOperator<EmitEvents> {
    checkMilliseconds("timeout", ms);
    return new BroadcastOperator(this.#target, this.#rooms, this.#except, { ...this.#flags, timeout: ms });
  }

  /**
   * Emits to the targeted clients of every worker. With `timeout(ms)` and a callback last, the
   * callback gets `(err, responses)` as with `io.timeout(ms).emit()`.
   */
  emit<Ev extends EventNames<EmitEvents>>(
    ev: Ev,
    ...args:
      | EventParams<EmitEvents, Ev>
      | [...AllButLast<EventParams<EmitEvents, Ev>>, (err: Error | null, responses: unknown[]) => void]
  ): true {
    checkEvent(ev, RESERVED_EVENTS);
    const data: unknown[] = [ev, ...args];
    const ack =
      typeof data[data.length - 1] === "function"
        ? (data.pop() as (err: Error | null, responses: unknown[]) => void)
        : null;
    if (ack && this.#flags.timeout === undefined) {
      throw new IpcAdapterError(
        ErrorCode.ACK_WITHOUT_TIMEOUT,
        "Callbacks are not supported when broadcasting without a timeout; use emitter.timeout(ms).emit(ev, ...args, callback)",
      );
    }
    const packet = { type: EVENT, data, nsp: this.#target.nsp };
    if (!ack) {
      this.#send(this.#prepare(MessageType.BROADCAST, { packet, opts: this.#opts() }));
      return true;
    }
    const requestId = nextRequestId();
    const prepared = this.#prepare(MessageType.BROADCAST, { packet, requestId, opts: this.#opts() });
    this.#withServers(
      (servers) => this.#collectAcks(requestId, servers, ack),
      prepared,
      (error) => ack(error, []),
    );
    return true;
  }

  /** Makes the targeted sockets of every worker join `rooms`. */
  socketsJoin(rooms: string | string[]): void {
    this.#send(this.#prepare(MessageType.SOCKETS_JOIN, { opts: this.#opts(), rooms: toRooms(rooms) }));
  }

  /** Makes the targeted sockets of every worker leave `rooms`. */
  socketsLeave(rooms: string | string[]): void {
    this.#send(this.#prepare(MessageType.SOCKETS_LEAVE, { opts: this.#opts(), rooms: toRooms(rooms) }));
  }

  /** Disconnects the targeted sockets of every worker; `close` closes their underlying connection too. */
  disconnectSockets(close = false): void {
    this.#send(this.#prepare(MessageType.DISCONNECT_SOCKETS, { opts: this.#opts(), close }));
  }

  /**
   * The targeted sockets of every worker, as plain objects. Rejects after `timeout(ms)` or
   * `requestsTimeout` with "timeout reached: missing N responses" (the answers that arrived are on
   * `err.responses`).
   */
  fetchSockets(): Promise<SocketDetails[]> {
    const requestId = nextRequestId();
    let prepared: ReturnType<EmitterPeer["prepare"]>;
    try {
      prepared = this.#prepare(MessageType.FETCH_SOCKETS, { opts: this.#opts(), requestId });
    } catch (error) {
      // Its arguments cannot be wrong: what fails here is the emitter (hub gone, not attached).
      return Promise.reject(error);
    }
    const timeout = this.#flags.timeout ?? this.#target.requestsTimeout;
    return new Promise((resolve, reject) => {
      const settle = (error: Error | null, answers: unknown[]) => {
        const sockets = answers as SocketDetails[];
        if (!error) return resolve(sockets);
        (error as Error & { responses?: unknown[] }).responses = sockets;
        reject(error);
      };
      this.#withServers(
        (servers) => this.#expect(requestId, servers, timeout, settle),
        prepared,
        (error) => reject(error),
      );
    });
  }

  /** @internal */
  serverSideEmit(ev: string, args: unknown[]): true {
    checkEvent(ev, RESERVED_SERVER_SIDE_EVENTS);
    const packet: unknown[] = [ev, ...args];
    const ack =
      typeof packet[packet.length - 1] === "function"
        ? (packet.pop() as (err: Error | null, r: unknown[]) => void)
        : null;
    if (!ack) {
      this.#send(this.#prepare(MessageType.SERVER_SIDE_EMIT, { packet }));
      return true;
    }
    const requestId = nextRequestId();
    const prepared = this.#prepare(MessageType.SERVER_SIDE_EMIT, { requestId, packet });
    this.#withServers(
      (servers) => this.#expect(requestId, servers, this.#target.requestsTimeout, ack),
      prepared,
      (error) => ack(error, []),
    );
    return true;
  }

  #opts() {
    return { rooms: [...this.#rooms], except: [...this.#except], flags: { ...this.#flags } };
  }

  #prepare(type: MessageType, data: unknown) {
    const { peer, nsp, maxMessageSize, counters } = this.#target;
    try {
      return peer.prepare({ type, nsp, data } as Omit<ClusterMessage, "uid">, maxMessageSize);
    } catch (error) {
      if (error instanceof MessageTooLargeError) counters.tooLarge++;
      throw error;
    }
  }

  #send(prepared: ReturnType<EmitterPeer["prepare"]>): void {
    this.#target.peer.send(prepared);
  }

  /**
   * Requests wait for the hub's answer to learn which servers serve the namespace, then register
   * before they send, so that no answer can arrive unexpected.
   */
  #withServers(
    start: (servers: string[]) => void,
    prepared: ReturnType<EmitterPeer["prepare"]>,
    fail: (error: Error) => void,
  ): void {
    const { peer, nsp } = this.#target;
    peer.hold();
    peer.ready().then(
      () => {
        // The hub may have gone since the request was prepared (hub.close() in the meantime).
        try {
          peer.check();
        } catch (error) {
          peer.release();
          return fail(error as Error);
        }
        start(peer.serversOf(nsp));
        peer.send(prepared);
      },
      (error: Error) => {
        peer.release();
        fail(error);
      },
    );
  }

  #expect(
    requestId: string,
    servers: string[],
    timeout: number,
    callback: (error: Error | null, answers: unknown[]) => void,
  ): void {
    const { peer, nsp } = this.#target;
    peer.requestsOf(nsp).expect(requestId, servers, timeout, [], (error, answers) => {
      peer.release();
      callback(error, answers);
    });
  }

  /** As socket.io's BroadcastOperator.emit with a timeout: complete when every server's clients answered. */
  #collectAcks(requestId: string, servers: string[], ack: (err: Error | null, responses: unknown[]) => void): void {
    const { peer, nsp } = this.#target;
    const responses: unknown[] = [];
    let expectedClients = 0;
    let reported = 0;
    let done = false;
    const finish = (error: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      peer.release();
      ack(error, responses);
    };
    const timer = setTimeout(() => finish(new Error("operation has timed out")), this.#flags.timeout);
    const check = () => {
      if (reported === servers.length && responses.length === expectedClients) finish(null);
    };
    peer.requestsOf(nsp).expectAcks(
      requestId,
      servers,
      this.#flags.timeout ?? 0,
      (count) => {
        expectedClients += count;
        reported++;
        check();
      },
      (answer) => {
        responses.push(answer);
        check();
      },
    );
    if (servers.length === 0) process.nextTick(check);
  }
}

/**
 * Sends broadcasts, room utilities and requests to every worker, from the cluster primary (after
 * setupPrimary()) or from a helper forked by the primary and passed to `hub.attach(child)`.
 * Anywhere else the constructor throws an Error with code `SIO_IPC_ERR_WRONG_PROCESS`.
 *
 * @example
 * const emitter = new Emitter();
 * emitter.to("room1").emit("hello", "world");
 */
export class Emitter<EmitEvents extends EventsMap = DefaultEventsMap> {
  readonly #options: EmitterOptions | undefined;
  readonly #target: Target;
  readonly #operator: BroadcastOperator<EmitEvents>;

  constructor(opts?: EmitterOptions, nsp = "/") {
    const given = checkOptionsObject(opts, "Emitter");
    const requestsTimeout =
      given.requestsTimeout === undefined
        ? DEFAULT_EMITTER_REQUESTS_TIMEOUT
        : checkMilliseconds("requestsTimeout", given.requestsTimeout);
    const maxMessageSize =
      given.maxMessageSize === undefined
        ? DEFAULT_MAX_MESSAGE_SIZE
        : checkMessageSize("maxMessageSize", given.maxMessageSize);
    if (typeof nsp !== "string" || !nsp.startsWith("/")) {
      throw new InvalidOptionTypeError(`the namespace must be a string starting with "/", got ${JSON.stringify(nsp)}`);
    }
    this.#options = opts;
    this.#target = { peer: acquireEmitterPeer(), nsp, requestsTimeout, maxMessageSize, counters: { tooLarge: 0 } };
    this.#operator = new BroadcastOperator(this.#target);
  }

  /**
   * The messages this emitter (its operators and the emitters of `of()` included) refused with a
   * MessageTooLargeError because they were larger than `maxMessageSize`. None of them was sent.
   */
  get messagesTooLarge(): number {
    return this.#target.counters.tooLarge;
  }

  /**
   * The messages this process's emitters dropped because their queue toward the hub held 16 MiB
   * (they emitted faster than the hub took them). Counted for the whole process.
   */
  get messagesOverflowed(): number {
    return this.#target.peer.messagesOverflowed;
  }

  /** The namespace this emitter targets. */
  get nsp(): string {
    return this.#target.nsp;
  }

  /** An emitter for another namespace, with the same options. */
  of(nsp: string): Emitter<EmitEvents> {
    const emitter = new Emitter<EmitEvents>(this.#options, nsp);
    emitter.#target.counters = this.#target.counters;
    return emitter;
  }

  /** Emits to every client of the namespace, on every worker. Returns true. */
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): true {
    return this.#operator.emit(ev, ...args);
  }

  to(rooms: string | string[]): BroadcastOperator<EmitEvents> {
    return this.#operator.to(rooms);
  }

  in(rooms: string | string[]): BroadcastOperator<EmitEvents> {
    return this.#operator.in(rooms);
  }

  except(rooms: string | string[]): BroadcastOperator<EmitEvents> {
    return this.#operator.except(rooms);
  }

  compress(compress: boolean): BroadcastOperator<EmitEvents> {
    return this.#operator.compress(compress);
  }

  get volatile(): BroadcastOperator<EmitEvents> {
    return this.#operator.volatile;
  }

  timeout(ms: number): BroadcastOperator<EmitEvents> {
    return this.#operator.timeout(ms);
  }

  socketsJoin(rooms: string | string[]): void {
    this.#operator.socketsJoin(rooms);
  }

  socketsLeave(rooms: string | string[]): void {
    this.#operator.socketsLeave(rooms);
  }

  disconnectSockets(close = false): void {
    this.#operator.disconnectSockets(close);
  }

  fetchSockets(): Promise<SocketDetails[]> {
    return this.#operator.fetchSockets();
  }

  /**
   * Emits to `io.on(ev)` of every worker. With a callback last, it gets `(err, responses)`: one
   * answer per worker, as `io.serverSideEmit()` gives them, within `requestsTimeout`.
   */
  serverSideEmit(ev: string, ...args: unknown[]): true {
    return this.#operator.serverSideEmit(ev, args);
  }
}
