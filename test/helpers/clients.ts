/**
 * Recording socket.io-client clients for the emitter tests, and the "marker" idiom: an emitter's
 * messages reach each worker in order, so once a client has received a marker emitted after an
 * event, whatever it did not receive of that event, it never will.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "socket.io-client";
import type { TestCluster } from "./cluster";
import type { EmitterHost } from "./emitter";
import { once, until } from "./wait";

export interface Client {
  name: string;
  socket: Socket;
  /** Every event received, as [event, ...args]. */
  events: unknown[][];
}

export interface ClientSpec {
  name: string;
  worker: number;
  nsp?: string;
  rooms?: string[];
  auth?: Record<string, unknown>;
}

/** Connects the clients, records everything they receive and makes them join their rooms. */
export async function connectClients(c: TestCluster, specs: ClientSpec[]): Promise<Record<string, Client>> {
  const clients: Record<string, Client> = {};
  await Promise.all(
    specs.map(async (spec) => {
      const socket = await c.connect(spec.worker, spec.nsp ?? "/", spec.auth ? { auth: spec.auth } : {});
      const client: Client = { name: spec.name, socket, events: [] };
      socket.onAny((...args) => client.events.push(args));
      if (spec.rooms?.length) await socket.timeout(10_000).emitWithAck("join", spec.rooms);
      clients[spec.name] = client;
    }),
  );
  return clients;
}

/** The names of the clients that received `event`. */
export function receivers(clients: Record<string, Client>, event: string): string[] {
  return Object.values(clients)
    .filter((client) => client.events.some(([name]) => name === event))
    .map((client) => client.name)
    .sort();
}

/** The arguments of each `event` a client received. */
export function argsOf(client: Client, event: string): unknown[][] {
  return client.events.filter(([name]) => name === event).map(([, ...args]) => args);
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * Emits a marker from the host to every client of each namespace in `clients`, and waits until all
 * have it: everything emitted before has then been delivered (or never will be).
 */
export async function flush(host: EmitterHost, clients: Record<string, Client>): Promise<void> {
  const marker = uniqueName("marker");
  const namespaces = new Set(Object.values(clients).map((client) => client.socket.nsp));
  for (const nsp of namespaces) {
    await host.run(`ctx.emitter.of(${JSON.stringify(nsp)}).emit(${JSON.stringify(marker)}); return true`);
  }
  await until(
    () =>
      Object.values(clients).every(
        (client) => !client.socket.connected || client.events.some(([name]) => name === marker),
      ),
    `every client to receive ${marker}`,
    10_000,
  );
}

/** Disconnects the clients (in t.teardown of each subtest). */
export function closeClients(clients: Record<string, Client>): void {
  for (const client of Object.values(clients)) client.socket.disconnect();
}

/** Waits for a client's next disconnect and returns the reason. */
export async function disconnectReason(socket: Socket, ms = 10_000): Promise<string> {
  const [reason] = await once(socket, "disconnect", ms);
  return reason;
}
