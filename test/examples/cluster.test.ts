/**
 * examples/cluster as its README runs it: the server, then the client, whose long-polling,
 * websocket and upgrading clients all go through the sticky primary and hear one broadcast.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { interrupt, ROOT, startExample } from "../helpers/example";
import { withTimeout } from "../helpers/wait";

function run(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(ROOT, script), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  return withTimeout(
    new Promise((resolve) => child.once("exit", (code) => resolve({ code, output }))),
    20_000,
    `${script} to finish`,
  );
}

t.test("polling, websocket and upgraded clients share a broadcast through the sticky primary", async (t) => {
  const server = await startExample(t, "examples/cluster/server.js", { WORKERS: "2" }, (output) =>
    output.includes("with 2 workers"),
  );
  const client = await run("examples/cluster/client.js", [server.url]);
  t.equal(client.code, 0, client.output);
  t.match(client.output, /^long-polling +on worker \d+, now polling +heard "hello from a long-polling client"/m);
  t.match(client.output, /^websocket +on worker \d+, now websocket heard "hello from a long-polling client"/m);
  t.match(client.output, /^polling, then upgrade +on worker \d+, now websocket heard "hello from a long-polling/m);
  t.match(client.output, /^2 servers; sockets per worker: /m);
  // The least-connection balancing spreads the three clients over both workers.
  t.match(client.output, /"worker 1":\d/);
  t.match(client.output, /"worker 2":\d/);

  t.equal(await interrupt(server), 0, "Ctrl-C: the primary exits with 0");
  t.notOk(server.alive(), "no worker is left");
});
