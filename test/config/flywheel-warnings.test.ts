/**
 * The config warning for a flywheel whose base model cannot load adapters at runtime
 * (stacks/config/warnings.ts): it names the team's `flywheel.baseModel`, and it is given exactly
 * when the model server's chart values carry no runtime LoRA for that model (the seam:
 * `modelServerValues` of the same config, as `stacks/wiring/serving.ts` passes it).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { modelServerValues } from "../../components/platform/model-server";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { configWarnings } from "../../stacks/config/warnings";
import type { StackConfig } from "../../stacks/config/schema";
import { localWithFlywheel } from "../helpers/flywheel-stack";

const ROOT = path.resolve(__dirname, "../..");

/** The chart values of a model as the serving wiring computes them (with the flywheels trained on it). */
function valuesOf(config: StackConfig, name: string) {
  const m = config.models.find((x) => x.name === name)!;
  const flywheelAdapters = config.teams.flatMap((t) =>
    t.flywheel?.enabled && t.flywheel.baseModel === m.name
      ? [{ team: t.name, adapter: t.flywheel.adapter }]
      : [],
  );
  return modelServerValues({
    model: { ...m, flywheelAdapters },
    rollout: { strictSpread: true, cooldownSeconds: 600, drainSeconds: 120 },
    placement: m.pool
      ? {
          gpuType: "nvidia-l40s",
          gpusPerNode: 4,
          nodeSelector: {},
          tolerations: [],
          capacityType: "on-demand",
        }
      : undefined,
    bucket: "models",
    objectStoreEndpoint: "",
    forcePathStyle: false,
    env: [],
    serviceAccountName: "sa",
  });
}

const WARNING = (model: string) =>
  `"${model}" runs on the CPU (no GPU pool: the simulator), which cannot load adapters at runtime: ` +
  "the loop will train and gate, but no replica ever loads a candidate, so every canary is rolled back (load_failed); " +
  "use a model on a GPU pool as the flywheel's base model";

describe("flywheel on a base model without runtime LoRA", () => {
  it("GIVEN each config with a flywheel WHEN warnings are computed THEN a team's flywheel is warned about exactly when its base model's chart values load no adapters at runtime", () => {
    const cases = [
      ["local + flywheel", parseConfig(localWithFlywheel().raw)],
      ["aws-dev", parseConfig(rawFromStackFile(stackFile("aws-dev")).raw)],
    ] as const;
    let warned = 0;
    for (const [name, config] of cases) {
      const warnings = configWarnings(config);
      config.teams.forEach((t, i) => {
        if (!t.flywheel?.enabled) return;
        const values = valuesOf(config, t.flywheel.baseModel);
        const loads = values.flywheel.adapters.some((a) => a.adapter === t.flywheel!.adapter);
        const w = warnings.filter((x) => x.path === `sovereign:teams[${i}].flywheel.baseModel`);
        expect(w, `${name}: ${t.name}`).toEqual(
          loads
            ? []
            : [{ path: `sovereign:teams[${i}].flywheel.baseModel`, message: WARNING(t.flywheel.baseModel) }],
        );
        if (!loads) {
          expect(values.engine, name).toBe("simulator");
          warned++;
        }
      });
    }
    expect(warned).toBe(1); // the local case; aws-dev's base model is on a GPU pool
  });

  it("GIVEN the local stack with a flywheel on its CPU model WHEN check-config runs THEN it passes and prints the warning, naming the field", () => {
    const text = fs.readFileSync(stackFile("local"), "utf8");
    const doc = parse(text) as { config: Record<string, unknown> };
    const { raw } = localWithFlywheel();
    for (const k of ["teams", "training", "gpuPools", "policy"]) doc.config[`sovereign:${k}`] = raw[k];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flywheel-warn-"));
    const file = path.join(dir, "Pulumi.cpu-flywheel.yaml");
    fs.writeFileSync(file, stringify(doc));
    try {
      const r = spawnSync(
        process.execPath,
        ["--import", "tsx", path.join(ROOT, "scripts/check-config.ts"), file],
        {
          cwd: ROOT,
          encoding: "utf8",
        },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.trim().split("\n")).toEqual([
        `${file}: warning: sovereign:teams[0].flywheel.baseModel: ${WARNING("tiny-chat")}`,
      ]);
      expect(r.stdout).toContain(": ok (");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
