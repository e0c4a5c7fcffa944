// Runs scenarios: each case in a fresh primary process (bench/lib/primary.mjs), for each adapter,
// then prints a markdown table (ours vs official, ratio, raw relay) and writes the JSON results.
import { execFileSync, fork } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";

const BENCH = fileURLToPath(new URL("..", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PRIMARY = fileURLToPath(new URL("./primary.mjs", import.meta.url));

const list = (value) =>
  String(value)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** The settings, from env vars; each scenario reads what it needs. */
export function readSettings(env = process.env) {
  return {
    WORKERS: env.WORKERS ? Number(env.WORKERS) : null,
    DURATION: Number(env.DURATION ?? 5),
    PAYLOAD: list(env.PAYLOAD ?? "100,10240").map(Number),
    SCENARIO: env.SCENARIO ?? "all",
    SERIALIZATION: list(env.SERIALIZATION ?? "json"),
    ADAPTERS: list(env.ADAPTERS ?? "ours,official"),
    CLIENTS: Number(env.CLIENTS ?? 200),
    RATE: Number(env.RATE ?? 100),
    BUSY: Number(env.BUSY ?? 2),
    SLOW_DURATION: Number(env.SLOW_DURATION ?? 20),
    REPEAT: Math.max(1, Number(env.REPEAT ?? 1)),
    SCALE_WORKERS: list(env.SCALE_WORKERS ?? "2,4,8,16").map(Number),
    SCALE_ROOMS: list(env.SCALE_ROOMS ?? "1,10,100,1000").map(Number),
    BASELINE: env.BASELINE ?? null,
  };
}

const SETTING_NAMES = Object.keys(readSettings({}));

export function machine() {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpu: cpus[0]?.model?.trim() ?? "unknown",
    cores: cpus.length,
    os: `${os.type()} ${os.release()}`,
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GB`,
  };
}

/** The command that reproduces this run: every setting that was given, then the npm script. */
export function commandLine(env = process.env) {
  const given = SETTING_NAMES.filter((name) => env[name] !== undefined).map((name) => `${name}=${env[name]}`);
  return [...given, "npm run bench"].join(" ");
}

/** Installs the comparison-only dependencies and builds our package when they are missing. */
export function ensureReady() {
  if (!existsSync(`${BENCH}/node_modules/@socket.io/cluster-adapter`)) {
    console.log("installing the bench's comparison dependencies (npm --prefix bench ci)");
    execFileSync("npm", ["--prefix", BENCH, "ci", "--no-audit", "--no-fund"], { stdio: "inherit" });
  }
  if (!existsSync(`${ROOT}/dist/index.js`)) {
    console.log("building the package (npm run build)");
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
  }
}

/** The median of each numeric field over repeated runs (the first run's value for the others). */
export function median(list) {
  const ok = list.filter((r) => !r.error);
  if (ok.length === 0) return list[0];
  if (ok.length === 1) return ok[0];
  const merge = (values) => {
    const first = values[0];
    if (typeof first === "number") {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.floor((sorted.length - 1) / 2)];
    }
    if (first && typeof first === "object" && !Array.isArray(first)) {
      return Object.fromEntries(Object.keys(first).map((key) => [key, merge(values.map((v) => v?.[key]))]));
    }
    return first;
  };
  return merge(ok);
}

/** Runs one case in a fresh primary; resolves with what the scenario's drive() returned. */
export function runCase(spec, timeoutMs = 300_000) {
  return new Promise((resolve) => {
    const execArgv = process.env.PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE}`] : [];
    const child = fork(PRIMARY, [JSON.stringify(spec)], { stdio: "inherit", execArgv });
    let result = null;
    const timer = setTimeout(() => {
      result = { error: `timed out after ${timeoutMs} ms` };
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("message", (message) => {
      if (message?.result) result = message.result;
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve(result ?? { error: `the primary exited with ${code} and no result` });
    });
  });
}

const SUFFIXES = ["", " k", " M", " G"];
/** 38412 -> "38.4 k", 0.5 -> "0.50". */
export function human(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) < 1_000) return value >= 100 ? value.toFixed(0) : value.toPrecision(digits);
  let i = 0;
  while (Math.abs(value) >= 1_000 && i < SUFFIXES.length - 1) {
    value /= 1_000;
    i++;
  }
  return `${value.toPrecision(digits)}${SUFFIXES[i]}`;
}

export const mb = (bytes) => (bytes === null || bytes === undefined ? null : bytes / 1024 ** 2);

function ratioCell(row, against = "official") {
  const ours = row.values.ours;
  const official = row.values[against];
  if (typeof ours !== "number" || typeof official !== "number") return "–";
  if (official === 0) return ours === 0 ? "=" : "–";
  const ratio = ours / official;
  const better = row.better === "higher" ? ratio > 1 : ratio < 1;
  return `${ratio.toFixed(2)}×${ratio !== 1 && better ? " ✓" : ""}`;
}

function cell(row, adapter) {
  const value = row.values[adapter];
  if (typeof value === "string") return value;
  return value === undefined ? "–" : `${human(value)}${row.unit ? ` ${row.unit}` : ""}`;
}

/** The markdown table of every row, then the machine and the command. */
export function markdown(rows, info) {
  const hasRaw = rows.some((row) => row.values.raw !== undefined);
  const hasBaseline = rows.some((row) => row.values.baseline !== undefined);
  const head = ["Scenario", "Measure", "Ours", "Official", "Ours ÷ official", ...(hasRaw ? ["Raw relay"] : [])];
  if (hasBaseline) head.push("Baseline (ours before)", "Ours ÷ baseline");
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
  for (const row of rows) {
    const cells = [row.scenario, row.measure, cell(row, "ours"), cell(row, "official"), ratioCell(row)];
    if (hasRaw) cells.push(row.values.raw === undefined ? "" : cell(row, "raw"));
    if (hasBaseline) cells.push(cell(row, "baseline"), ratioCell(row, "baseline"));
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    `Node ${info.node}, ${info.cpu} (${info.cores} cores, ${info.memory}), ${info.os}, ${info.date}. ` +
      `Official: @socket.io/cluster-adapter@0.3.0. ✓: ours is better. Command: \`${info.command}\``,
  );
  return lines.join("\n");
}

/**
 * Runs scenario modules. Each exports `name`, `groups(settings)` -> [{ label, workers,
 * serialization, params, raw? }], `drive(ctx, params)` (runs in the primary) and
 * `rows(group, results, settings)` -> [{ scenario, measure, unit, better, values }].
 */
export async function runScenarios(modules) {
  ensureReady();
  const settings = readSettings();
  const info = { ...machine(), command: commandLine(), date: new Date().toISOString().slice(0, 10) };
  console.log(`# socket.io-ipc-adapter benchmarks: ours vs @socket.io/cluster-adapter@0.3.0`);
  console.log(`settings: ${SETTING_NAMES.map((name) => `${name}=${settings[name]}`).join(" ")}`);
  console.log(`machine: Node ${info.node}, ${info.cpu} x ${info.cores}, ${info.memory}, ${info.os}`);
  const started = Date.now();
  const report = { ...info, settings, scenarios: [], rows: [] };
  for (const mod of modules) {
    const scenario = { name: mod.name, groups: [] };
    report.scenarios.push(scenario);
    for (const group of mod.groups(settings)) {
      const adapters = [...settings.ADAPTERS, ...(group.raw ? ["raw"] : [])];
      const runs = Object.fromEntries(adapters.map((adapter) => [adapter, []]));
      // Adapters take turns, so that a burst of load from elsewhere on the machine hits them alike.
      for (let round = 0; round < settings.REPEAT; round++) {
        for (const adapter of adapters) {
          const spec = {
            adapter,
            workers: group.workers,
            serialization: group.serialization,
            module: mod.url,
            params: group.params,
          };
          const t0 = Date.now();
          const result = await runCase(spec);
          runs[adapter].push(result);
          const seconds = ((Date.now() - t0) / 1_000).toFixed(1);
          const status = result.error ? `ERROR ${result.error}` : "ok";
          console.log(`  ${mod.name} ${group.label} [${adapter}] ${seconds} s: ${status}`);
        }
      }
      const results = Object.fromEntries(Object.entries(runs).map(([adapter, list]) => [adapter, median(list)]));
      const rows = mod.rows(group, results, settings);
      scenario.groups.push({ ...group, results, rows });
      report.rows.push(...rows);
    }
  }
  report.seconds = (Date.now() - started) / 1_000;
  const table = markdown(report.rows, info);
  report.markdown = table;
  mkdirSync(`${BENCH}/results`, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = `${BENCH}/results/${stamp}.json`;
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${BENCH}/results/latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${table}\n`);
  console.log(`results: ${file} (and bench/results/latest.json); ${report.seconds.toFixed(0)} s in all`);
  return report;
}

/** True when the module at `url` is the script node was started with. */
export function isMain(url) {
  return process.argv[1] !== undefined && fileURLToPath(url) === process.argv[1];
}
