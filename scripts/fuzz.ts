/**
 * The full fuzz run (`npm run fuzz`): FUZZ_ITERATIONS (default 120000) random and mutated inputs
 * through the codec, the hub and the peers' receive paths. FUZZ_SEED reproduces a run; without it,
 * the seed is random and printed first. Exits 1 on any failure.
 */
import { fuzz } from "../test/fuzz/engine";

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const iterations = Number(process.env.FUZZ_ITERATIONS ?? 120_000);

async function main(): Promise<void> {
  console.log(`fuzz: seed ${seed}, ${iterations} iterations (reproduce: FUZZ_SEED=${seed} npm run fuzz)`);
  const result = await fuzz({
    seed,
    iterations,
    progress: (done) => {
      if (done % 10_000 === 0) console.log(`  ${done} iterations`);
    },
  });
  console.log(
    `fuzz: ${result.iterations} iterations in ${(result.ms / 1000).toFixed(1)} s (${JSON.stringify(result.byTarget)}); ${result.checkedOutputs} envelopes sent by the hub checked; ${result.hubRejected} refused by the hub`,
  );
  console.log(
    `fuzz: ms per target: ${Object.entries(result.timeByTarget)
      .map(([name, ms]) => `${name} ${ms.toFixed(0)}`)
      .join(", ")}`,
  );
  for (const failure of result.failures) {
    console.log(`FAIL #${failure.iteration} [${failure.target}] ${failure.problem}\n  input: ${failure.input}`);
  }
  console.log(
    result.failures.length === 0 ? "fuzz: no failure" : `fuzz: ${result.failures.length} failures (seed ${seed})`,
  );
  process.exit(result.failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
