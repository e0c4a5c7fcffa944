/**
 * Which servers on Redis run the official `@socket.io/redis-streams-adapter`, for
 * `countEachServer: "auto"`: the bridge opens its per-server subscriber connections only while one
 * of them is there, since only they count servers by connection (PUBSUB NUMSUB).
 *
 * The signal: every server, on either adapter, holds its private channel `<prefix>#<nsp>#<uid>#`
 * for as long as its connection lives, and every bridge also holds a marker channel
 * `<prefix>#bridge#<uid>#` for each of its local servers, subscribed before their private channels
 * on the same connection and dropped after them. A server uid that Redis lists with a private
 * channel and no marker is an official server (or a bridge too old to mark its servers: counting
 * it as one only costs connections). Nothing depends on the stream, which is trimmed, read from its
 * end by a machine that starts, and lost by a Redis restart without persistence.
 *
 * Hysteresis: a uid counts once two listings in a row show it unmarked (one listing could catch a
 * SUBSCRIBE in flight), and the connections close only once no official server has been listed for
 * `hold` ms, so that an official server restarting does not make them flap. A listing that failed
 * (Redis unreachable) changes nothing.
 */
export class OfficialServers {
  readonly #hold: number;
  /** The uids listed without a marker in the previous listing. */
  #unmarked = new Set<string>();
  #count = 0;
  #lastSeen = Number.NEGATIVE_INFINITY;
  #present = false;

  constructor(hold: number) {
    this.#hold = hold;
  }

  /** The official servers in the last listing (one uid per namespace of each). */
  get count(): number {
    return this.#count;
  }

  /** True while the per-server connections should be open. */
  get present(): boolean {
    return this.#present;
  }

  /**
   * Takes one listing: the uids of the remote servers listed with a private channel, and the uids
   * with a marker. Returns true when `present` changed.
   */
  update(servers: Iterable<string>, markers: ReadonlySet<string>, now = Date.now()): boolean {
    const unmarked = new Set<string>();
    let count = 0;
    for (const uid of servers) {
      if (markers.has(uid) || unmarked.has(uid)) continue;
      unmarked.add(uid);
      if (this.#unmarked.has(uid)) count++;
    }
    this.#unmarked = unmarked;
    this.#count = count;
    if (count > 0) this.#lastSeen = now;
    const present = count > 0 || (this.#present && now - this.#lastSeen < this.#hold);
    if (present === this.#present) return false;
    this.#present = present;
    return true;
  }
}
