/**
 * Cost before `pulumi up`:
 *   npm run -s cost -- <stack> [--s3-gb N] [--logs-gb N] [--nat-gb N] [--tokens team=N,...] [--json]
 * A monthly estimate per component from the pinned price table (scripts/cost/prices.ts) and a
 * chargeback per team. See docs/cost.md.
 */
import { loadStack, parseArgs, runMain, UsageError } from "./lib/cli";
import { DEFAULT_ASSUMPTIONS, estimate, renderEstimate, type Assumptions } from "./cost/estimate";
import { PRICES, PRICES_DATE, PRICES_SOURCE } from "./cost/prices";

export const USAGE =
  "usage: npm run -s cost -- <stack> [--s3-gb N] [--logs-gb N] [--nat-gb N] [--tokens team=N,...] [--json]";

function number(flag: string, v: string | true | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  // Plain decimals only: Number() reads " " as 0 and 0x10 as 16.
  const n = Number(v);
  if (typeof v !== "string" || !/^(\d+(\.\d*)?|\.\d+)$/.test(v) || !Number.isFinite(n))
    throw new UsageError(`--${flag}: expected a number of GB ≥ 0, found "${String(v)}"`);
  return n;
}

export function parseTokens(v: string, teams: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of v.split(",")) {
    const m = /^([^=]+)=(\d+)$/.exec(part.trim());
    if (!m) throw new UsageError(`--tokens: expected team=N[,team=N...], found "${part}"`);
    if (!teams.includes(m[1]))
      throw new UsageError(`--tokens: no team "${m[1]}" (teams: ${teams.join(", ")})`);
    if (m[1] in out) throw new UsageError(`--tokens: team "${m[1]}" is given twice`);
    if (!Number.isSafeInteger(Number(m[2])))
      throw new UsageError(`--tokens: ${m[1]}=${m[2]} is more tokens than can be counted`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv, ["s3-gb", "logs-gb", "nat-gb", "tokens"], ["json"]);
  if (args.positional.length !== 1) throw new UsageError("expected exactly one stack name");
  const stack = args.positional[0];
  const { config } = loadStack(stack);
  const a: Assumptions = {
    s3Gb: number("s3-gb", args.flags["s3-gb"], DEFAULT_ASSUMPTIONS.s3Gb),
    logsGb: number("logs-gb", args.flags["logs-gb"], DEFAULT_ASSUMPTIONS.logsGb),
    natGb: number("nat-gb", args.flags["nat-gb"], DEFAULT_ASSUMPTIONS.natGb),
    tokens:
      typeof args.flags.tokens === "string"
        ? parseTokens(
            args.flags.tokens,
            config.teams.map((t) => t.name),
          )
        : {},
  };
  const e = estimate(stack.replace(/^.*Pulumi\.(.+)\.yaml$/, "$1"), config, PRICES, a);
  if (args.flags.json)
    console.log(JSON.stringify({ ...e, pricesDate: PRICES_DATE, pricesSource: PRICES_SOURCE }, null, 2));
  else console.log(renderEstimate(e, PRICES_SOURCE, PRICES_DATE));
}

if (require.main === module) runMain("cost", USAGE, () => main(process.argv.slice(2)));
