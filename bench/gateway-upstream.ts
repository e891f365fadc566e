/** Child process of bench/gateway.ts: the OpenAI-compatible test upstream on its own CPU budget. */
import { FakeUpstream } from "../gateway/test/helpers/upstream";

async function main(): Promise<void> {
  const u = new FakeUpstream({ chunks: 3 });
  await u.start(Number(process.argv[2] ?? 0));
  process.stdout.write(`${u.url}\n`);
  process.on("SIGTERM", () => void u.stop().then(() => process.exit(0)));
}
void main();
