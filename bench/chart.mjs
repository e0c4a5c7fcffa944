// Turns a results file into an SVG bar chart for the README, with no dependency: the SVG is
// written by hand. Each chosen measure gets two bars, ours and the official adapter, scaled to the
// larger of the two, with the values and the ratio printed beside them.
//
//   node bench/chart.mjs [results.json] [out.svg]
//   (defaults: bench/results/latest.json -> bench/results/chart.svg)
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { human } from "./lib/runner.mjs";

const input = process.argv[2] ?? fileURLToPath(new URL("./results/latest.json", import.meta.url));
const output = process.argv[3] ?? fileURLToPath(new URL("./results/chart.svg", import.meta.url));

/** The measures drawn, in order, when the run has them: [scenario prefix, measure]. */
const CHOSEN = [
  ["S1 broadcast 100 B", "messages/s at each receiver"],
  ["S1 broadcast 10240 B", "messages/s at each receiver"],
  ["S1 broadcast 100 B", "CPU per message, all processes"],
  ["S1 broadcast 100 B", "CPU per message, primary"],
  ["S1 broadcast 10240 B", "primary peak RSS"],
  ["S3 rooms", "member throughput"],
  ["S3 rooms", "bytes sent to workers with no member, per broadcast"],
  ["S4 latency", "p99, light load"],
  ["S4 latency", "p99, saturated"],
  ["S5 requests", "fetchSockets p50"],
  ["S5 requests", "serverSideEmit p50"],
  ["S6 slow worker", "primary RSS growth"],
  ["S6 slow worker", "sender peak RSS"],
  ["S7 scale, 16 workers", "CPU per delivery"],
  ["S7 scale, 4 workers, 1000 rooms", "CPU per broadcast"],
];

const xml = (text) =>
  String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

export function chart(report) {
  const rows = [];
  for (const [prefix, measure] of CHOSEN) {
    const row = report.rows.find((r) => r.scenario.startsWith(prefix) && r.measure === measure);
    if (row && typeof row.values.ours === "number" && typeof row.values.official === "number") rows.push(row);
  }
  if (rows.length === 0) rows.push(...report.rows.filter((r) => typeof r.values.ours === "number").slice(0, 16));
  const width = 960;
  const labelWidth = 430;
  const barMax = 330;
  const rowHeight = 46;
  const top = 58;
  const height = top + rows.length * rowHeight + 50;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<title>socket.io-ipc-adapter vs @socket.io/cluster-adapter@0.3.0: ${xml(report.command)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">socket.io-ipc-adapter vs @socket.io/cluster-adapter@0.3.0</text>`,
    `<rect x="${labelWidth}" y="36" width="12" height="12" fill="#2563eb"/><text x="${labelWidth + 18}" y="46">ours</text>`,
    `<rect x="${labelWidth + 70}" y="36" width="12" height="12" fill="#9ca3af"/><text x="${labelWidth + 88}" y="46">official</text>`,
    `<text x="${labelWidth + 170}" y="46" fill="#555">bars scaled per measure; ✓ = ours better</text>`,
  ];
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    const { ours, official } = row.values;
    const max = Math.max(ours, official) || 1;
    const ratio = official === 0 ? null : ours / official;
    const better = ratio !== null && (row.better === "higher" ? ratio > 1 : ratio < 1);
    const unit = row.unit ? ` ${row.unit}` : "";
    const scenario = row.scenario.replace(/, (json|advanced)$/, "");
    out.push(
      `<text x="16" y="${y + 16}" font-weight="bold">${xml(row.measure)}${row.better === "higher" ? " ↑" : " ↓"}</text>`,
      `<text x="16" y="${y + 33}" fill="#555" font-size="11">${xml(scenario)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${((ours / max) * barMax).toFixed(1)}" height="15" fill="#2563eb"/>`,
      `<text x="${labelWidth + (ours / max) * barMax + 6}" y="${y + 16}">${xml(human(ours) + unit)}</text>`,
      `<rect x="${labelWidth}" y="${y + 22}" width="${((official / max) * barMax).toFixed(1)}" height="15" fill="#9ca3af"/>`,
      `<text x="${labelWidth + (official / max) * barMax + 6}" y="${y + 34}">${xml(human(official) + unit)}</text>`,
      `<text x="${width - 16}" y="${y + 26}" text-anchor="end" font-weight="bold" fill="${better ? "#15803d" : "#b91c1c"}">${ratio === null ? "–" : `${ratio.toFixed(2)}×${better ? " ✓" : ""}`}</text>`,
    );
  });
  const footer = `Node ${report.node}, ${report.cpu} (${report.cores} cores), ${report.date}: ${report.command}`;
  out.push(`<text x="16" y="${height - 18}" fill="#555" font-size="11">${xml(footer)}</text>`, "</svg>");
  return `${out.join("\n")}\n`;
}

const report = JSON.parse(readFileSync(input, "utf8"));
writeFileSync(output, chart(report));
console.log(`wrote ${output}`);
