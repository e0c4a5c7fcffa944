import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";

const ROOT = join(__dirname, "..", "..");

t.test("with an events map, Emitter.emit is type-checked (tsc on test/fixtures/emitter-types.ts)", async (t) => {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const fixture = join(ROOT, "test", "fixtures", "emitter-types.ts");
  const args = [tsc, "--noEmit", "--strict", "--target", "ES2022", "--module", "commonjs"];
  args.push("--moduleResolution", "node", "--types", "node", "--skipLibCheck", fixture);
  const result = await promisify(execFile)(process.execPath, args, { cwd: ROOT, timeout: 60_000 }).then(
    () => ({ code: 0, output: "" }),
    (error) => ({ code: error.code, output: `${error.stdout}${error.stderr}` }),
  );
  t.equal(result.code, 0, result.output || "tsc accepts the right calls and rejects each wrong one");
});
