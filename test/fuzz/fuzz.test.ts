/**
 * Issue 6, point 3: the fast slice of the fuzzer (the full run is `npm run fuzz`). A random seed
 * each run, printed: FUZZ_SEED=<seed> reproduces it.
 */
import t from "tap";
import { fuzz } from "./engine";

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const iterations = 2_000;

t.test(
  `${iterations} random and mutated messages through the codec, the hub and the peers (seed ${seed})`,
  async (t) => {
    const result = await fuzz({ seed, iterations });
    t.comment(
      `seed ${seed}: ${JSON.stringify(result.byTarget)} in ${result.ms} ms; ${result.checkedOutputs} envelopes sent by the hub checked, ${result.hubRejected} refused`,
    );
    t.same(result.failures, [], `no failure (reproduce: FUZZ_SEED=${seed} FUZZ_ITERATIONS=${iterations} npm run fuzz)`);
  },
);
