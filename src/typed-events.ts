/** Event-map types, as socket.io types a Server: `emit` is type-checked when a map is given. */

/** A map of event names to listener signatures, e.g. `{ hello: (name: string) => void }`. */
export interface EventsMap {
  [event: string]: any;
}

/** The map used when none is given: any event, any arguments. */
export interface DefaultEventsMap {
  [event: string]: (...args: any[]) => void;
}

export type EventNames<Map extends EventsMap> = keyof Map & string;

export type EventParams<Map extends EventsMap, Ev extends EventNames<Map>> = Parameters<Map[Ev]>;

/** The arguments of an event whose last parameter is an acknowledgement, without it. */
export type AllButLast<T extends unknown[]> = T extends [...infer Head, unknown] ? Head : T;
