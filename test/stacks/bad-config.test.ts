import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { stackFile } from "../../stacks/config/load";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";

describe("a bad stack config", () => {
  it("GIVEN three deliberate mistakes WHEN the program runs THEN it fails with one clean error listing all three and registers nothing", async () => {
    const flat = pulumiConfigFromFile(stackFile("aws-prod"));
    flat.config["sovereign:colour"] = "blue";
    const models = JSON.parse(flat.config["sovereign:models"]);
    models[0].gpusPerReplica = "four";
    models[1].pool = "serving-a100";
    flat.config["sovereign:models"] = JSON.stringify(models);

    const run = await runProgram("aws-prod", flat);

    expect(run.error).toBeInstanceOf(pulumi.RunError);
    const msg = (run.error as Error).message;
    expect(msg).toContain("sovereign:colour: unknown key");
    expect(msg).toContain("sovereign:models[0].gpusPerReplica: expected number");
    expect(msg).toContain("sovereign:models[1].pool: expected one of the gpuPools names");
    expect(run.recorder.resources).toEqual([]);
  });
});
