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

describe("who may ask the kit's cert-manager for a certificate (every ClusterIssuer signs for any namespace)", () => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = render(certManagerValues(1));
  });

  /** Whether a ClusterRole's rules let its holder make cert-manager sign: create or change a Certificate or CertificateRequest. */
  const mintsCertificates = (role: K8sObject) =>
    ((role as any).rules ?? []).some(
      (r: { apiGroups?: string[]; resources?: string[]; verbs?: string[] }) =>
        (r.apiGroups ?? []).some((g) => g === "cert-manager.io" || g === "*") &&
        (r.resources ?? []).some((x) => ["certificates", "certificaterequests", "*"].includes(x)) &&
        (r.verbs ?? []).some((v) => ["create", "update", "patch", "*"].includes(v)),
    );

  it("THEN no rendered ClusterRole that can make a certificate aggregates into Kubernetes' user-facing roles (edit, admin), so a namespace editor anywhere cannot get a model-CA or data-CA certificate for a platform host", () => {
    const roles = objects.filter((o) => o.kind === "ClusterRole");
    const minting = roles.filter(mintsCertificates);
    // the chart renders the controller's own (bound to its ServiceAccount) and the user-facing one
    expect(minting.length).toBeGreaterThan(0);
    const aggregated = minting
      .filter((r) =>
        Object.entries(r.metadata?.labels ?? {}).some(
          ([k, v]) => k.startsWith("rbac.authorization.k8s.io/aggregate-to-") && v === "true",
        ),
      )
      .map((r) => r.metadata?.name);
    expect(aggregated).toEqual([]);
    // and every binding of such a role names cert-manager's own ServiceAccounts only
    const names = new Set(minting.map((r) => r.metadata?.name));
    for (const b of objects.filter((o) => o.kind === "ClusterRoleBinding")) {
      if (!names.has((b as any).roleRef?.name)) continue;
      for (const s of (b as any).subjects ?? [])
        expect({ binding: b.metadata?.name, kind: s.kind, namespace: s.namespace }).toEqual({
          binding: b.metadata?.name,
          kind: "ServiceAccount",
          namespace: PLATFORM_NAMESPACES.certManager,
        });
    }
  });
});
