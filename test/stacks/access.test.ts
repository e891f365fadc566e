/**
 * Least privilege of object storage, read back from what each shipped stack records: a team's
 * trainer reads its own prefixes and the base models within its clearance, never the whole
 * models bucket and never another team's prefix (IAM on AWS, SeaweedFS identities in-cluster).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { clearedFor } from "../../components/lib/classification";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import type { StackConfig } from "../../stacks/config/schema";
import { awsAccessTable, clusterAccessTable, type AccessTable } from "../helpers/access";
import { valueOf } from "../helpers/mocks";
import { runShippedStack } from "../helpers/stack";

/** The bucket name per role, from the stack's outputs. */
async function bucketsOf(outputs: Record<string, unknown>): Promise<Record<string, string>> {
  return valueOf<Record<string, string>>(outputs.buckets as Record<string, string>);
}

/** What a team's trainer must be granted, derived from the config alone. */
function expectedTrainer(config: StackConfig, team: string, b: Record<string, string>): string[] {
  const t = config.teams.find((x) => x.name === team)!;
  const own = `teams/${team}/`;
  const base = config.models
    .filter((m) => clearedFor(t.clearance, m.dataClassification))
    .map((m) => (m.source.endsWith("/") ? m.source : `${m.source}/`))
    .filter((s) => !s.startsWith("teams/"));
  return [
    `read ${b.datasets}/${own}*`,
    `read ${b.checkpoints}/${own}*`,
    `write ${b.checkpoints}/${own}*`,
    `read ${b.models}/${own}*`,
    `write ${b.models}/${own}*`,
    ...[...new Set(base)].map((s) => `read ${b.models}/${s}*`),
  ].sort();
}

for (const stack of ["aws-dev", "aws-prod", "local"] as const) {
  describe(`object-storage access of ${stack}`, () => {
    let table: AccessTable;
    let config: StackConfig;
    let buckets: Record<string, string>;
    beforeAll(async () => {
      const run = await runShippedStack(stack);
      expect(run.error).toBeUndefined();
      config = parseConfig(rawFromStackFile(stackFile(stack)).raw);
      table = stack === "local" ? clusterAccessTable(run.recorder) : awsAccessTable(run.recorder);
      buckets = await bucketsOf(run.outputs!);
    });

    it("GIVEN each team WHEN its trainer's grants are read back THEN they are exactly its prefixes and the base models within its clearance", () => {
      for (const t of config.teams) {
        const key = stack === "local" ? `tenancy-${t.name}-trainer` : `team-${t.name}/trainer`;
        expect(table[key], key).toEqual(expectedTrainer(config, t.name, buckets));
      }
    });

    it("GIVEN every identity WHEN its grants are read back THEN the whole table is exactly what docs/access-control.md lists", () => {
      const aws = stack !== "local";
      const model = (m: string) => (aws ? `sovereign-serving/model-${m}` : `serving-model-${m}-identity`);
      const expected: Record<string, string[]> = {
        [aws ? "sovereign-gateway/gateway" : "gateway-workload"]: [
          // With RDS IAM authentication (every aws stack) the gateway's role may log in as its own role only.
          ...(aws ? ["connect postgres as gateway"] : []),
          `write ${buckets.inferenceLogs}/captures/*`,
        ],
        // A model server reads its weights, its adapters and (vLLM on a GPU pool) the flywheel
        // adapters trained on it, of every team: never the whole bucket.
        ...Object.fromEntries(
          config.models.map((m) => {
            const folder = (p: string) => (p.endsWith("/") ? p : `${p}/`);
            const flywheel = m.pool
              ? config.teams
                  .filter((t) => t.flywheel?.enabled && t.flywheel.baseModel === m.name)
                  .map((t) => `flywheel/${t.name}/${t.flywheel!.adapter}/`)
              : [];
            const prefixes = [folder(m.source), ...m.loraAdapters.map((a) => folder(a.source)), ...flywheel];
            return [model(m.name), [...new Set(prefixes)].map((p) => `read ${buckets.models}/${p}*`).sort()];
          }),
        ),
        ...Object.fromEntries(
          config.teams.map((t) => [
            aws ? `team-${t.name}/trainer` : `tenancy-${t.name}-trainer`,
            expectedTrainer(config, t.name, buckets),
          ]),
        ),
        // A team with the flywheel on has its own identity (test/stacks/flywheel.test.ts has its grants).
        ...Object.fromEntries(
          config.teams
            .filter((t) => t.flywheel?.enabled)
            .map((t) => {
              const key = aws ? `team-${t.name}/flywheel-builder` : `flywheel-${t.name}`;
              return [key, table[key]];
            }),
        ),
        ...(aws
          ? { "kube-system/karpenter": [] }
          : {
              operator: Object.values(buckets)
                .flatMap((b) => [`read ${b}/*`, `write ${b}/*`])
                .sort(),
            }),
      };
      expect(table).toEqual(expected);
    });

    it("THEN no trainer reads the whole models bucket or another team's prefix", () => {
      const trainers = Object.entries(table).filter(([k]) => k.includes("trainer"));
      expect(trainers.length).toBe(config.teams.length);
      for (const [k, grants] of trainers) {
        const team = /team-([a-z0-9-]+)\/trainer|tenancy-([a-z0-9-]+)-trainer/.exec(k)!;
        const name = team[1] ?? team[2];
        for (const g of grants) {
          const target = g.split(" ")[1];
          expect(target, `${k}: ${g}`).not.toBe(`${buckets.models}/*`);
          if (target.includes("/teams/")) expect(target, `${k}: ${g}`).toContain(`/teams/${name}/`);
        }
      }
    });
  });
}
