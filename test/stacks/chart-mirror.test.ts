/**
 * `chartMirror` (air-gapped installs): with an OCI prefix or a directory of packaged charts set,
 * every third-party Helm release of every shipped stack takes its chart from the mirror, at the
 * version it would use upstream, and no release still names an upstream chart repository.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { shippedStacks, stackFile } from "../../stacks/config/load";
import type { RecordedResource } from "../helpers/mocks";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";

const KIT_CHARTS = path.resolve(__dirname, "../../charts");
const RELEASE = "kubernetes:helm.sh/v3:Release";

interface Release {
  readonly name: string;
  readonly chart: string;
  readonly version: string | undefined;
  readonly repo: string | undefined;
}

function releases(resources: readonly RecordedResource[]): Release[] {
  return resources
    .filter((r) => r.type === RELEASE && !String(r.inputs.chart).startsWith(KIT_CHARTS))
    .map((r) => ({
      name: r.name,
      chart: String(r.inputs.chart),
      version: r.inputs.version as string | undefined,
      repo: (r.inputs.repositoryOpts as { repo?: string } | undefined)?.repo,
    }));
}

async function run(stack: string, mirror?: object): Promise<Release[]> {
  const flat = pulumiConfigFromFile(stackFile(stack));
  if (mirror) flat.config["sovereign:chartMirror"] = JSON.stringify(mirror);
  const r = await runProgram(stack, flat);
  expect(r.error).toBeUndefined();
  return releases(r.recorder.resources);
}

/** The chart's name as upstream names it (last segment of an OCI reference). */
const nameOf = (chart: string) => chart.slice(chart.lastIndexOf("/") + 1);

describe.each(shippedStacks())("chartMirror: stack %s", (stack) => {
  let upstream: Release[];
  let oci: Release[];
  let directory: Release[];
  beforeAll(async () => {
    upstream = await run(stack);
    oci = await run(stack, { oci: "oci://registry.internal.example/mirror/charts" });
    directory = await run(stack, { directory: "/opt/sovereign/charts" });
  });

  it("GIVEN no mirror THEN the stack installs third-party charts from their upstream sources", () => {
    expect(upstream.length).toBeGreaterThan(0);
    for (const r of upstream) expect(r.repo ?? r.chart, r.name).toMatch(/^(https|oci):\/\//);
  });

  it("GIVEN an OCI mirror THEN every release pulls <prefix>/<chart> at its upstream version", () => {
    expect(oci.map((r) => r.name).sort()).toEqual(upstream.map((r) => r.name).sort());
    for (const u of upstream) {
      const m = oci.find((r) => r.name === u.name)!;
      expect(m.chart, u.name).toBe(`oci://registry.internal.example/mirror/charts/${nameOf(u.chart)}`);
      expect(m.version, u.name).toBe(u.version);
      expect(m.repo, u.name).toBeUndefined();
    }
  });

  it("GIVEN a directory mirror THEN every release reads <dir>/<chart>-<version>.tgz", () => {
    expect(directory.map((r) => r.name).sort()).toEqual(upstream.map((r) => r.name).sort());
    for (const u of upstream) {
      const m = directory.find((r) => r.name === u.name)!;
      expect(m.chart, u.name).toBe(`/opt/sovereign/charts/${nameOf(u.chart)}-${u.version}.tgz`);
      expect(m.repo, u.name).toBeUndefined();
    }
  });
});
