/**
 * The flag dispatch of `npm run bench:gateway`: `-- --compare litellm,nginx` runs the comparison
 * (bench/compare/run.ts) instead of the gateway-only bench. A bad flag, a missing tool or a
 * server that does not start ends the run with one clear line, not a stack trace.
 */
import { parseCompareArg, type Competitor } from "./report";

export function gatewayBench(argv: readonly string[], gatewayOnly: () => Promise<void>): Promise<void> {
  let compare: Competitor[] | undefined;
  try {
    compare = parseCompareArg(argv);
  } catch (e) {
    console.error(`bench:gateway: ${(e as Error).message}`);
    process.exit(2);
  }
  if (!compare) return gatewayOnly();
  const competitors = compare;
  return import("./run")
    .then((m) => m.runCompare(competitors))
    .then(() => process.exit(0)) // the exit handler kills every server and its workers
    .catch((e: Error) => {
      console.error(`bench:gateway --compare: ${e.message}`);
      process.exit(1);
    });
}
