/** Child process of bench/eval.ts: evaluates one shipped stack under mocks, prints JSON. */
import { runShippedStack } from "../test/helpers/stack";

async function run(): Promise<void> {
  if (process.env.BENCH_SOURCE_MAPS === "off") process.setSourceMapsEnabled(false);
  const stack = process.argv[2];
  const t0 = process.hrtime.bigint();
  const r = await runShippedStack(stack);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) {
    console.error(String(r.error));
    process.exit(1);
  }
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ stack, ms, rssMiB, resources: r.recorder.resources.length }) + "\n");
  process.exit(0);
}
void run();
