/**
 * The real cert-manager chart (its source at the pinned version, fetched by scripts/tools.sh from
 * cert-manager's Go module) rendered offline with `helm template` and the values the kit records
 * for aws-prod: every image it renders is a mirrored entry of the kit's table (so the value keys
 * are the ones the chart reads and no image is left to the chart), the CRDs come with the release,
 * and the pinned versions agree between versions.ts and tools.sh.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CHART_IMAGES, type ChartImage } from "../../components/lib/chart-images";
import { formatImage, mirrorImage, parseImage } from "../../components/lib/images";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { CHARTS } from "../../components/lib/versions";
import { certManagerValues } from "../../components/platform/cert-manager";
import type { K8sObject } from "../helpers/k8s-schema";
import { helmTemplate } from "../helpers/helm";
import { chartPath } from "../helpers/tools";

const CHART = chartPath("cert-manager", CHARTS.certManager.version);
const MIRRORS = { "quay.io": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/quay" };

function render(values: unknown): K8sObject[] {
  return helmTemplate("cert-manager", CHART, PLATFORM_NAMESPACES.certManager, values);
}

/** Every container image of every pod template, and the ACME solver image flag. */
function imagesOf(objects: readonly K8sObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const spec = (o.spec as any)?.template?.spec;
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      out.push(c.image);
      for (const a of c.args ?? []) {
        const m = /^--acme-http01-solver-image=(.+)$/.exec(a);
        if (m) out.push(m[1]);
      }
    }
  }
  return out.map((i) => formatImage(parseImage(i)));
}

describe("the cert-manager chart with the kit's values (prod sizing, an ECR mirror for quay.io)", () => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = render(certManagerValues(2, MIRRORS));
  });

  it("THEN every image it renders is a mirrored table entry, and every table entry is rendered", () => {
    const table = (CHART_IMAGES.certManager as readonly ChartImage[]).map((i) =>
      mirrorImage(i.image, MIRRORS),
    );
    expect([...new Set(imagesOf(objects))].sort()).toEqual([...new Set(table)].sort());
    for (const i of table) expect(i).toMatch(/^123456789012\.dkr\.ecr\.eu-central-1\.amazonaws\.com\/quay\//);
  });

  it("THEN the CRDs the kit's Issuers and Certificates need come with the release, and the controller runs 2 replicas", () => {
    const crds = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata?.name);
    expect(crds).toEqual(
      expect.arrayContaining(["certificates.cert-manager.io", "clusterissuers.cert-manager.io"]),
    );
    const controller = objects.find((o) => o.kind === "Deployment" && o.metadata?.name === "cert-manager");
    expect((controller?.spec as any)?.replicas).toBe(2);
  });

  it("THEN tools.sh fetches the chart and CRDs of the version versions.ts pins", () => {
    const script = fs.readFileSync(path.resolve(__dirname, "../../scripts/tools.sh"), "utf8");
    expect(script).toContain(`CERT_MANAGER_VERSION=${CHARTS.certManager.version}`);
  });
});
