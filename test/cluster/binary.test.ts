/**
 * Binary across workers. With the cluster's default serialization "json", Node's IPC turns a Buffer
 * into {"type":"Buffer","data":[…]} (what @socket.io/cluster-adapter delivers to the clients of other
 * workers); here every binary value, nested anywhere, must reach them as binary, with the right
 * bytes, under "json" and "advanced" alike.
 */
import t from "tap";
import { FIXTURE, NAMESPACES, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";

/**
 * Built the same way in the test and in the workers. Views with an offset check that only their
 * bytes travel. Two payloads: socket.io-parser refuses a packet with more than 10 binary
 * attachments (its `maxAttachments`), whatever the adapter.
 */
const TYPED = `({
  uint8: new Uint8Array([7, 8, 9]),
  int16: new Int16Array([-1, 300]),
  uint32: new Uint32Array([4294967295, 7]),
  float32: new Float32Array([0.5]),
  float64: new Float64Array([1.5, -2.25, Number.MAX_VALUE]),
  bigInt64: new BigInt64Array([-5n]),
  clamped: new Uint8ClampedArray([255, 0]),
  window: new Uint16Array(new Uint16Array([9, 8, 7, 6]).buffer, 2, 2),
})`;
const NESTED = `({
  buffer: Buffer.from([1, 2, 3]),
  arrayBuffer: new Uint8Array([4, 5, 6]).buffer,
  dataView: new DataView(new Uint8Array([10, 11, 12]).buffer),
  slice: Buffer.from([0, 1, 2, 3, 4, 5]).subarray(2, 4),
  empty: Buffer.alloc(0),
  list: [Buffer.from("a"), { deep: [new Uint32Array([1, 2]), "text", 3] }, null],
  text: "not binary",
  number: 42,
  like: { type: "Buffer", data: [1, 2] },
})`;

/** What a socket.io-client in Node makes of the payload: every binary value becomes a Buffer of its bytes. */
function asReceived(value: unknown): unknown {
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(asReceived);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asReceived(v)]));
  }
  return value;
}

/** The paths of the Buffers in a received value. */
function bufferPaths(value: unknown, path = "$"): string[] {
  if (Buffer.isBuffer(value)) return [path];
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => bufferPaths(v, `${path}.${k}`));
}

const build = (source: string) => new Function(`return ${source}`)();
const expectedTyped = asReceived(build(TYPED));
const expectedNested = asReceived(build(NESTED));

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`binary across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      await t.test(
        `binary nested in objects and arrays reaches clients of other workers as binary in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients = await s.connectAll([0, 1, 2]);
          await Promise.all(clients.map((x) => x.request("join", ["bin"])));
          await s.run(
            0,
            `nsp.emit("typed", ${TYPED});
           nsp.emit("nested", ${NESTED}, Buffer.from([255]), [new Float64Array([3.25])]);
           nsp.to("bin").emit("room", { typed: ${TYPED} });
           return true`,
          );
          for (const client of clients) {
            const [[typed]] = await client.waitFor("typed");
            t.same(bufferPaths(typed), bufferPaths(expectedTyped), `${client.name}: every typed array is a Buffer`);
            t.same(typed, expectedTyped, `${client.name}: the bytes of each typed array`);
            const [[nested, top, list]] = await client.waitFor("nested");
            t.same(bufferPaths(nested), bufferPaths(expectedNested), `${client.name}: every nested binary is a Buffer`);
            t.same(nested, expectedNested, `${client.name}: the bytes and the other values are intact`);
            t.ok(Buffer.isBuffer(top) && top[0] === 255, `${client.name}: a top-level Buffer argument`);
            t.ok(Buffer.isBuffer(list[0]), `${client.name}: a typed array in an array`);
            t.equal(list[0].readDoubleLE(0), 3.25);
            const [[wrapped]] = await client.waitFor("room");
            t.same(wrapped.typed, expectedTyped, `${client.name}: to(room) with binary`);
            t.ok(Buffer.isBuffer(wrapped.typed.float64), `${client.name}: to(room), binary`);
          }
          for (const event of ["typed", "nested", "room"]) {
            t.same(
              clients[1].args(event),
              clients[0].args(event),
              `a remote client gets what a local one gets: ${event}`,
            );
          }
        },
      );

      await t.test(
        `binary from a client, relayed by socket.to(room), reaches other workers as binary in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const [sender, ...others] = await s.connectAll([1, 0, 2]);
          await Promise.all(others.map((x) => x.request("join", ["bin"])));
          const sent = {
            image: Buffer.from([137, 80, 78, 71]),
            parts: [new Uint8Array([1]), { f: new Float32Array([2]) }],
          };
          await sender.request("relay", "bin", "upload", [sent]);
          for (const client of others) {
            const [[got]] = await client.waitFor("upload");
            t.same(bufferPaths(got), ["$.image", "$.parts.0", "$.parts.1.f"], `${client.name}: binary paths`);
            t.same(got, asReceived(sent), `${client.name}: bytes`);
          }
        },
      );

      await t.test(
        `binary in client acknowledgements, serverSideEmit and fetchSockets data is binary in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients = await s.connectAll([0, 1, 2]);
          for (const client of clients) {
            client.socket.on("give-binary", (callback: (v: unknown) => void) => {
              callback({ worker: client.worker, bytes: Buffer.from([client.worker, 200]) });
            });
          }
          await clients[2].request("set-data", { avatar: Buffer.from([5, 6]) });
          const acks = await s.run(
            0,
            `const responses = await nsp.timeout(10000).emitWithAck("give-binary");
           return responses.map((r) => ({ worker: r.worker, isBuffer: Buffer.isBuffer(r.bytes), bytes: [...r.bytes] }))
             .sort((a, b) => a.worker - b.worker);`,
          );
          t.same(
            acks,
            [0, 1, 2].map((w) => ({ worker: w, isBuffer: true, bytes: [w, 200] })),
            "each client's binary ack reaches the emitting worker as a Buffer",
          );

          const before = await s.run(2, `return ctx.serverSideEvents.length`);
          await s.run(0, `nsp.serverSideEmit("ping-servers", { blob: { ...${TYPED}, ...${NESTED} } }); return true`);
          const seen = await s.run(
            2,
            `await ctx.waitFor(() => ctx.serverSideEvents.length > ${before});
           const { nsp: name, args: [{ blob }] } = ctx.serverSideEvents[${before}];
           return { name, buffer: Buffer.isBuffer(blob.buffer), arrayBuffer: blob.arrayBuffer instanceof ArrayBuffer,
             float64: blob.float64 instanceof Float64Array ? [...blob.float64] : null,
             dataView: blob.dataView instanceof DataView ? blob.dataView.getUint8(2) : null,
             window: blob.window instanceof Uint16Array ? [...blob.window] : null,
             deep: blob.list[1].deep[0] instanceof Uint32Array };`,
          );
          t.same(
            seen,
            {
              name: nsp,
              buffer: true,
              arrayBuffer: true,
              float64: [1.5, -2.25, Number.MAX_VALUE],
              dataView: 12,
              window: [8, 7],
              deep: true,
            },
            "serverSideEmit arguments arrive with their own binary types",
          );

          const data = await s.run(
            0,
            `const [remote] = await nsp.in(${JSON.stringify(clients[2].id)}).fetchSockets();
           return { isBuffer: Buffer.isBuffer(remote.data.avatar), bytes: [...remote.data.avatar] };`,
          );
          t.same(data, { isBuffer: true, bytes: [5, 6] }, "socket.data of a remote socket keeps its Buffer");
        },
      );
    }
  });
}
