import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cpuMillis, LAPTOP, LOCAL_BUDGET, totals } from "../../components/existing-cluster/budget";
import { quantityMiB } from "../../components/existing-cluster/object-store";
import { existingClusterSubstrate } from "../../stacks/wiring/existing-cluster";
import { build, config, inputsOf, type Built } from "./harness";

const row = (component: string) => LOCAL_BUDGET.find((r) => r.component === component)!;

describe("the local stack's resource budget", () => {
  let b: Built<void>;
  beforeAll(async () => {
    b = await build(existingClusterSubstrate, config("local"), () => undefined);
  });

  it("GIVEN every component's requests THEN the whole stack fits a 4 CPU / 8 GiB kind cluster with headroom", () => {
    const t = totals(LOCAL_BUDGET);
    expect(t.cpuMillis).toBeLessThanOrEqual(cpuMillis(LAPTOP.cpu) * 0.75);
    expect(t.memoryMiB).toBeLessThanOrEqual(quantityMiB(LAPTOP.memory) * 0.75);
  });

  it("GIVEN the rendered substrate THEN each of its components requests no more than its budget row", () => {
    const within = (
      requests: { cpu: string; memory: string },
      budget: { cpu: string; memory: string },
      times = 1,
    ) => {
      expect(cpuMillis(requests.cpu) * times).toBeLessThanOrEqual(cpuMillis(budget.cpu));
      expect(quantityMiB(requests.memory) * times).toBeLessThanOrEqual(quantityMiB(budget.memory));
    };
    const store = inputsOf(b.recorder, "kubernetes:helm.sh/v3:Release", "substrate-object-store-release");
    within(store.values.allInOne.resources.requests, row("SeaweedFS all-in-one"));
    const op = inputsOf(b.recorder, "kubernetes:helm.sh/v3:Release", "substrate-postgres-operator");
    within(op.values.resources.requests, row("CloudNativePG operator"));
    const pg = inputsOf(b.recorder, "kubernetes:postgresql.cnpg.io/v1:Cluster", "substrate-postgres-cluster");
    within(pg.spec.resources.requests, row("PostgreSQL (1 instance)"), pg.spec.instances);
    const job = inputsOf(b.recorder, "kubernetes:batch/v1:Job", "substrate-object-store-buckets");
    within(job.spec.template.spec.containers[0].resources.requests, row("SeaweedFS bucket Job (runs once)"));
  });

  it("GIVEN docs/local.md THEN it shows every budget row as the code has it", () => {
    const doc = fs.readFileSync(path.resolve(__dirname, "../../docs/local.md"), "utf8");
    // Table rows as cells, whatever the column padding.
    const rows = doc
      .split("\n")
      .filter((l) => l.startsWith("|"))
      .map((l) =>
        l
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim())
          .join(" | "),
      );
    for (const r of LOCAL_BUDGET) {
      expect(rows, r.component).toContain(`${r.component} | ${r.owner} | ${r.cpu} | ${r.memory}`);
    }
    const t = totals(LOCAL_BUDGET);
    expect(rows).toContain(`**total** |  | **${t.cpuMillis}m** | **${t.memoryMiB}Mi**`);
  });

  it("GIVEN a bad CPU quantity THEN it is refused with the value", () => {
    expect(cpuMillis("2")).toBe(2000);
    expect(cpuMillis("250m")).toBe(250);
    expect(() => cpuMillis("two")).toThrow('"two"');
  });
});
