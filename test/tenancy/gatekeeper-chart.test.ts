/**
 * The real Gatekeeper chart (its source at the pinned version, fetched by scripts/tools.sh from
 * Gatekeeper's Go module) rendered offline with `helm template`:
 * - with no values, the images it renders are exactly the kit's table for it (so the table is
 *   complete and its tags are right);
 * - with the values each shipped stack records, every image is the mirrored table image and is
 *   admitted by the stack's own allowlist, the webhook fails closed in prod, and every built-in
 *   object is valid against the Kubernetes schemas.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { pullThroughMirrors } from "../../components/aws/registries";
import { CHART_IMAGES, type ChartImage } from "../../components/lib/chart-images";
import { mirrorImage, normalizeRegistry, parseImage, formatImage } from "../../components/lib/images";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { TENANCY_CHARTS } from "../../components/lib/versions";
import type { StackConfig } from "../../stacks/config/schema";
import { upstreamImages } from "../../stacks/wiring/aws";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { validateObject, type K8sObject } from "../helpers/k8s-schema";
import { installMocks, settle } from "../helpers/mocks";
import { helmTemplate } from "../helpers/helm";
import { chartPath } from "../helpers/tools";
import { shippedConfig } from "./wired";
import { wirePolicy } from "../../stacks/wiring/policy";

const CHART = chartPath("gatekeeper", TENANCY_CHARTS.gatekeeper.version);
const ECR = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";

function render(values: unknown): K8sObject[] {
  return helmTemplate("gatekeeper", CHART, PLATFORM_NAMESPACES.gatekeeper, values);
}

/** Every container image of every pod template, normalized to `registry/repository:tag`. */
function imagesOf(objects: readonly K8sObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const spec = (o.spec as any)?.template?.spec ?? (o.kind === "Pod" ? o.spec : undefined);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) out.push(c.image);
  }
  return out.map((i) => formatImage(parseImage(i)));
}

/** The mirrors the stack's substrate would expose (ECR pull-through when egress is private). */
function stackMirrors(config: StackConfig): Record<string, string> {
  const isolated = config.substrate.kind === "aws" && config.network.egress === "private";
  const cached = [...new Set(upstreamImages(config).map((i) => parseImage(i).registry))];
  return { ...(isolated ? pullThroughMirrors(ECR, cached) : {}), ...config.registryMirrors };
}

describe("the Gatekeeper chart source", () => {
  it("GIVEN the fetched chart THEN it is the pinned version, and tools.sh fetches that version", () => {
    const chart = parseYaml(fs.readFileSync(path.join(CHART, "Chart.yaml"), "utf8")) as { version: string };
    expect(chart.version).toBe(TENANCY_CHARTS.gatekeeper.version);
    const script = fs.readFileSync(path.resolve(__dirname, "../../scripts/tools.sh"), "utf8");
    expect(script).toContain(`GATEKEEPER_CHART_VERSION=${TENANCY_CHARTS.gatekeeper.version}`);
  });

  it("GIVEN no values WHEN rendered THEN its images are exactly the kit's table entries that are on by default", () => {
    const table = (CHART_IMAGES.gatekeeper as readonly ChartImage[]).filter((i) => i.when === undefined);
    expect([...new Set(imagesOf(render({})))].sort()).toEqual([...new Set(table.map((i) => i.image))].sort());
  });
});

for (const stack of ["local", "aws-dev", "aws-prod"] as const) {
  describe(`the Gatekeeper chart with ${stack}'s values`, () => {
    let config: StackConfig;
    let objects: K8sObject[];
    let mirrors: Record<string, string>;
    beforeAll(async () => {
      config = shippedConfig(stack);
      mirrors = stackMirrors(config);
      const recorder = installMocks({ stack });
      wirePolicy(config, { stack }, fakeSubstrate({ registryMirrors: mirrors }));
      await settle();
      const release = recorder.one("kubernetes:helm.sh/v3:Release", "gatekeeper-release");
      objects = render(release.inputs.values);
    });

    it("THEN every image is the mirrored table image and admitted by the stack's allowlist", () => {
      const images = imagesOf(objects);
      expect(images.length).toBeGreaterThanOrEqual(4);
      const table = new Set(
        (CHART_IMAGES.gatekeeper as readonly ChartImage[]).map((i) =>
          formatImage(parseImage(mirrorImage(i.image, mirrors))),
        ),
      );
      const allowed = config.policy.allowedRegistries.map(normalizeRegistry);
      for (const i of images) {
        expect(table, i).toContain(i);
        expect(allowed, i).toContain(parseImage(i).registry);
      }
      if (stack === "aws-prod")
        for (const i of images) expect(i.startsWith(`${ECR}/docker-hub/`), i).toBe(true);
    });

    it("THEN the validating webhook fails closed in prod and open in dev", () => {
      const hook = objects.find((o) => o.kind === "ValidatingWebhookConfiguration") as any;
      const policy = hook.webhooks.find((w: any) => w.name === "validation.gatekeeper.sh").failurePolicy;
      expect(policy).toBe(config.profile === "prod" ? "Fail" : "Ignore");
    });

    it("THEN every built-in object is valid against the Kubernetes schemas", async () => {
      let validated = 0;
      for (const o of objects) {
        const r = await validateObject(o);
        if (r.status === "invalid") expect.fail(`${o.kind} ${String(o.metadata?.name)}: ${r.errors}`);
        if (r.status === "valid") validated++;
      }
      expect(validated).toBeGreaterThan(10);
    });
  });
}
