/**
 * The aws wiring maps the validated config and the profile defaults to the substrate's typed
 * args (pure: no resources are created here).
 */
import { describe, expect, it } from "vitest";
import { awsSubstrateArgs, clusterNameOf, upstreamImages } from "../../stacks/wiring/aws";
import { KARPENTER } from "../../components/aws/versions";
import { IMAGES } from "../../components/lib/versions";
import { shippedConfig } from "./harness";

const env = { accountId: "123456789012", partition: "aws", azNames: ["a", "b", "c"] };

describe("aws wiring", () => {
  it("GIVEN aws-dev WHEN mapped THEN dev defaults apply: 2 AZs, one NAT, no protection, force-destroy, 1-day backups", () => {
    const a = awsSubstrateArgs(shippedConfig("aws-dev"), { stack: "aws-dev" }, env);
    expect(a.network).toMatchObject({
      azCount: 2,
      egress: "nat",
      natPerAz: false,
      publicLoadBalancer: false,
    });
    expect(a.protectData).toBe(false);
    expect(a.storage.forceDestroy).toBe(true);
    expect(a.database).toMatchObject({ backupRetentionDays: 1, multiAz: false, version: "16" });
    expect(a.eks.systemNodes).toEqual({ instanceType: "m7i.xlarge", min: 2, max: 4 });
    expect(a.clusterName).toBe("sovereign-aws-dev");
    expect(a.tags).toMatchObject({
      owner: "platform-team",
      "cost-center": "cc-1000",
      "data-classification": "internal",
    });
  });

  it("GIVEN aws-prod WHEN mapped THEN prod defaults apply and explicit config wins (14-day backups, 3..6 system nodes)", () => {
    const a = awsSubstrateArgs(shippedConfig("aws-prod"), { stack: "aws-prod" }, env);
    expect(a.network).toMatchObject({ azCount: 3, egress: "private", natPerAz: true });
    expect(a.protectData).toBe(true);
    expect(a.storage).toMatchObject({ forceDestroy: false, objectLock: true, noncurrentVersionDays: 90 });
    expect(a.database).toMatchObject({
      backupRetentionDays: 14,
      multiAz: true,
      instanceClass: "db.r7g.large",
    });
    expect(a.eks.systemNodes).toEqual({ instanceType: "m7i.xlarge", min: 3, max: 6 });
    expect(a.gpuPools.find((p) => p.name === "training-h100")).toMatchObject({
      capacityType: "spot",
      volumeGiB: 500,
    });
    expect(a.eks.teamRoles).toEqual([]);
  });

  it("GIVEN a team with an IAM role WHEN mapped THEN the role is mapped to the team's group (its Role in the team's namespace only)", () => {
    const c = shippedConfig("aws-prod", (raw) => {
      raw.teams[0].iamRoleArn = "arn:aws:iam::123456789012:role/LegalAi";
    });
    const a = awsSubstrateArgs(c, { stack: "aws-prod" }, env);
    expect(a.eks.teamRoles).toEqual([
      { roleArn: "arn:aws:iam::123456789012:role/LegalAi", group: "legal-ai-users" },
    ]);
  });

  it("GIVEN image overrides WHEN the images to cache are listed THEN overrides replace the pins and Karpenter's controller is included", () => {
    const c = shippedConfig("aws-prod", (raw) => {
      raw.images = { opa: "quay.io/mirror/opa:1.0.0" };
    });
    const imgs = upstreamImages(c);
    expect(imgs).toContain("quay.io/mirror/opa:1.0.0");
    expect(imgs).not.toContain(IMAGES.opa);
    expect(imgs).toContain(`public.ecr.aws/karpenter/controller:${KARPENTER.version}`);
    expect(clusterNameOf("x")).toBe("sovereign-x");
  });

  it("GIVEN aws-prod WHEN the images to cache are listed THEN third-party chart images are included and mirrored registries are not", () => {
    const c = shippedConfig("aws-prod");
    const imgs = upstreamImages(c);
    // chart images (Prometheus from quay.io, Kueue from registry.k8s.io, KEDA from ghcr.io)
    expect(imgs).toContain("quay.io/prometheus/prometheus:v3.6.0");
    expect(imgs).toContain("registry.k8s.io/kueue/kueue:v0.19.4");
    expect(imgs).toContain("ghcr.io/kedacore/keda:2.21.1");
    // nvcr.io has a configured mirror: no pull-through rule is needed for it
    expect(imgs.some((i) => i.startsWith("nvcr.io/"))).toBe(false);
    const a = awsSubstrateArgs(c, { stack: "aws-prod" }, env);
    expect(a.registryMirrors).toEqual({
      "nvcr.io": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror/nvcr",
    });
  });
});
