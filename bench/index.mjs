// `npm run bench`: every scenario, or those named in SCENARIO (names or issue 5 numbers:
// SCENARIO=broadcast,rooms or SCENARIO=S1,S3), ours vs @socket.io/cluster-adapter@0.3.0.
import * as broadcast from "./broadcast.mjs";
import * as latency from "./latency.mjs";
import { readSettings, runScenarios } from "./lib/runner.mjs";
import * as requests from "./requests.mjs";
import * as rooms from "./rooms.mjs";
import * as scale from "./scale.mjs";
import * as slowWorker from "./slow-worker.mjs";

const SCENARIOS = { S1: broadcast, S3: rooms, S4: latency, S5: requests, S6: slowWorker, S7: scale };

const wanted = readSettings()
  .SCENARIO.split(",")
  .map((s) => s.trim());
const modules = Object.entries(SCENARIOS)
  .filter(([number, mod]) => wanted.includes("all") || wanted.includes(number) || wanted.includes(mod.name))
  .map(([, mod]) => mod);
if (modules.length === 0) {
  const known = Object.entries(SCENARIOS).map(([number, mod]) => `${number} (${mod.name})`);
  console.error(`SCENARIO=${wanted} matches none of: ${known.join(", ")}, all`);
  process.exit(1);
}
await runScenarios(modules);
