import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { once, until, withTimeout } from "../helpers/wait";

const ROOT = join(__dirname, "..", "..");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function run(t: tap.Test, file: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, [join(ROOT, file)], { cwd: ROOT, env: { ...process.env, ...env } });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const exited = once(child, "exit", 60_000).then(([code]) => code as number | null);
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await exited.catch(() => child.kill("SIGKILL"));
  });
  return { child, output: () => output, exited };
}

t.test("examples/emitter-in-helper runs with one command and ends by itself", async (t) => {
  const example = run(t, "examples/emitter-in-helper", { PORT: String(await freePort()) });
  const code = await example.exited;
  if (code !== 0) t.comment(example.output());
  t.equal(code, 0, "it exits with code 0");
  t.match(example.output(), "job: 2 devices of alice acknowledged");
  t.match(example.output(), /job: alice is connected on laptop, worker \d/);
  t.match(example.output(), /job: alice is connected on phone, worker \d/);
  t.match(example.output(), "primary: the job exited with code 0; helpers attached: 0");
});

t.test("examples/emitter-in-primary pushes the time from the primary to its client", async (t) => {
  const env = { PORT: String(await freePort()) };
  const ticker = run(t, "examples/emitter-in-primary", env);
  await until(() => ticker.output().includes("ticking every second"), "the ticker to start", 20_000);
  const client = run(t, "examples/emitter-in-primary/client.js", { ...env, TICKS: "2" });
  const code = await withTimeout(client.exited, 30_000, "the client to get 2 ticks");
  if (code !== 0) t.comment(client.output());
  t.equal(code, 0, "the client exits after 2 ticks");
  t.equal(client.output().match(/tick from the primary: \d{4}-/g)?.length, 2, "it printed 2 ticks");
  ticker.child.kill("SIGTERM");
  await withTimeout(ticker.exited, 20_000, "the ticker to stop");
  t.pass("the ticker stops on SIGTERM");
});
