// examples/pm2 runs as its README says: `pm2 start ecosystem.config.js`, then the client.
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { Pm2Run } from "../helpers/pm2";
import { until } from "../helpers/wait";

// A real PM2 daemon and its apps start slowly on a busy 2-core machine: more than tap's 60 s per file.
t.setTimeout(240_000);

const EXAMPLE = join(__dirname, "..", "..", "examples", "pm2");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function runClient(port: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(EXAMPLE, "client.js"), `http://127.0.0.1:${port}`],
      { timeout: 20_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    );
  });
}

t.test("examples/pm2: every client hears a shout, whatever its instance", { timeout: 200_000 }, async (t) => {
  const pm2 = new Pm2Run();
  t.teardown(() => pm2.stop());
  const port = await freePort();
  await pm2.cli(["start", join(EXAMPLE, "ecosystem.config.js")], 30_000, { PORT: String(port) });
  await until(
    async () => (await pm2.jlist()).filter((p) => p.name === "chat" && p.pm2_env?.status === "online").length === 2,
    "2 instances online",
    20_000,
  );
  // Until both instances have met (a client may land on an instance that is not yet in the cluster).
  let result = await runClient(port);
  await until(
    async () => {
      if (result.code === 0) return true;
      result = await runClient(port);
      return result.code === 0;
    },
    "the example client to succeed",
    20_000,
  ).catch(() => {});
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /heard "hello, everyone"/);
  t.match(result.stdout, /^2 servers, \d sockets/m);
  t.comment(result.stdout.trim().split("\n").join(" | "));
});
