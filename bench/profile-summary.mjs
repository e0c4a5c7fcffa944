// Summarises V8 CPU profiles (node --cpu-prof, e.g. from PROFILE=dir npm run bench): the functions
// with the most self time in each profile, as a share of its samples.
//   node bench/profile-summary.mjs dir [top=15]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, top = "15"] = process.argv.slice(2);
for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
  const self = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const id of profile.samples) {
    const { callFrame } = byId.get(id);
    const where = callFrame.url ? `${callFrame.url.split("/").slice(-2).join("/")}:${callFrame.lineNumber + 1}` : "";
    const key = `${callFrame.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const idle = self.get("(idle)") ?? 0;
  console.log(`\n${file}: ${total} samples, ${((100 * idle) / total).toFixed(0)} % idle`);
  const rows = [...self].filter(([key]) => key !== "(idle)").sort((a, b) => b[1] - a[1]);
  for (const [key, count] of rows.slice(0, Number(top))) {
    console.log(`${((100 * count) / (total - idle)).toFixed(1).padStart(5)} %  ${key}`);
  }
}
