import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";

const run = promisify(execFile);
const consumers = join(__dirname, "..", "fixtures", "consumers");
const root = join(__dirname, "..", "..");

t.test("works with import from ESM", async (t) => {
  const { stdout } = await run(process.execPath, [join(consumers, "esm.mjs")], { cwd: root });
  t.same(JSON.parse(stdout), {
    createAdapter: "function",
    setupPrimary: "function",
    Emitter: "function",
    ClusterAdapter: "function",
    code: "SIO_IPC_ERR_WRONG_PROCESS",
    defaultHasCreateAdapter: "function",
  });
});

t.test("works with require() from CommonJS, and blocks deep imports", async (t) => {
  const { stdout } = await run(process.execPath, [join(consumers, "cjs.cjs")], { cwd: root });
  t.same(JSON.parse(stdout), {
    createAdapter: "function",
    setupPrimary: "function",
    Emitter: "function",
    deep: "blocked",
  });
});

t.test("ships type declarations that type-check an ESM TypeScript consumer", async (t) => {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const { stdout } = await run(process.execPath, [tsc, "-p", join(consumers, "tsconfig.json")], { cwd: root }).catch(
    (error) => error,
  );
  t.equal(stdout, "", "no type error");
});
