/**
 * The pack as a whole: its composition (index.ts), its rule files and PulumiPolicy.yaml, and
 * forbidden changes to an otherwise compliant prod stack failing with the rule id and a fix.
 * (That config/<stack>.json is up to date is the kit's test: test/policy-pack/.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { PACK_NAME, POLICIES } from "../policies";
import { type FakeResource, runPack } from "./harness";

const captured = vi.hoisted(() => ({ packs: [] as { name: string; args: any }[] }));
vi.mock("@pulumi/policy", () => ({
  PolicyPack: class {
    constructor(name: string, args: unknown) {
      captured.packs.push({ name, args });
    }
  },
}));

const PACK_DIR = path.resolve(__dirname, "..");

describe("sovereign-baseline pack", () => {
  it("GIVEN index.ts WHEN loaded THEN it builds one mandatory pack named sovereign-baseline with every rule", async () => {
    await import("../index");
    expect(captured.packs).toHaveLength(1);
    const { name, args } = captured.packs[0];
    expect(name).toBe("sovereign-baseline");
    expect(PACK_NAME).toBe(name);
    expect(args.enforcementLevel).toBe("mandatory");
    expect(args.policies.map((p: { name: string }) => p.name)).toEqual(POLICIES.map((p) => p.name));
    // Every rule is mandatory; only the suppression report is advisory (it judges nothing).
    for (const p of args.policies)
      expect(p.enforcementLevel, p.name).toBe(p.name === "suppressions" ? "advisory" : "mandatory");
  });

  it("GIVEN the rules folder WHEN listed THEN there is one file per rule, named after the rule id", () => {
    const files = fs.readdirSync(path.join(PACK_DIR, "rules")).filter((f) => f.endsWith(".ts"));
    expect(files.map((f) => f.replace(/\.ts$/, "")).sort()).toEqual(POLICIES.map((p) => p.name).sort());
    for (const f of files) {
      const src = fs.readFileSync(path.join(PACK_DIR, "rules", f), "utf8");
      expect(/export const RULE = "([a-z0-9-]+)";/.exec(src)?.[1], f).toBe(f.replace(/\.ts$/, ""));
    }
    expect(new Set(POLICIES.map((p) => p.name)).size).toBe(POLICIES.length);
  });

  it("GIVEN PulumiPolicy.yaml WHEN read THEN it is a nodejs pack with a version", () => {
    // Top-level `key: value` lines (the pack's tree has no YAML parser; the file is flat).
    const text = fs.readFileSync(path.join(PACK_DIR, "PulumiPolicy.yaml"), "utf8");
    const doc = Object.fromEntries([...text.matchAll(/^([a-z]+): (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(doc.runtime).toBe("nodejs");
    expect(doc.version).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

// ---------------------------------------------------------------------------------------
// Forbidden changes to a compliant prod stack
// ---------------------------------------------------------------------------------------

const KEY = "arn:aws:kms:eu-central-1:123456789012:key/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab";
const TAGS = { owner: "platform-team", "cost-center": "cc-1000", "data-classification": "confidential" };
const PROVIDER = {
  type: "pulumi:providers:aws",
  name: "aws",
  urn: "urn:pulumi:aws-prod::sovereign::pulumi:providers:aws::aws",
  props: { region: "eu-central-1", defaultTags: { tags: TAGS } },
};
const CONFIG = {
  profile: "prod",
  allowedRegions: ["eu-central-1"],
  allowedRegistries: ["123456789012.dkr.ecr.eu-central-1.amazonaws.com"],
};

function prodStack(): FakeResource[] {
  return [
    { type: PROVIDER.type, name: PROVIDER.name, urn: PROVIDER.urn, props: PROVIDER.props },
    {
      type: "aws:kms/key:Key",
      name: "data-key",
      props: { enableKeyRotation: true },
      opts: { protect: true },
      provider: PROVIDER,
    },
    {
      type: "aws:s3/bucket:Bucket",
      name: "models",
      urn: "urn:models",
      props: { bucket: "acme-ai-prod-models", forceDestroy: false },
      opts: { protect: true },
      provider: PROVIDER,
    },
    {
      type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      name: "models-public-access",
      props: {
        bucket: "models-id",
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      dependsOn: ["urn:models"],
      provider: PROVIDER,
    },
    {
      type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      name: "models-encryption",
      props: {
        bucket: "models-id",
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY } }],
      },
      dependsOn: ["urn:models"],
      provider: PROVIDER,
    },
    {
      type: "aws:s3/bucketPolicy:BucketPolicy",
      name: "models-policy",
      props: {
        bucket: "models-id",
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: ["arn:aws:s3:::acme-ai-prod-models", "arn:aws:s3:::acme-ai-prod-models/*"],
              Condition: { Bool: { "aws:SecureTransport": false } },
            },
          ],
        }),
      },
      dependsOn: ["urn:models"],
      provider: PROVIDER,
    },
    {
      type: "aws:rds/instance:Instance",
      name: "platform-db",
      props: {
        engine: "postgres",
        storageEncrypted: true,
        kmsKeyId: KEY,
        publiclyAccessible: false,
        deletionProtection: true,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: "platform-db-final",
      },
      opts: { protect: true },
      provider: PROVIDER,
    },
  ];
}

function change(rs: FakeResource[], name: string, f: (r: FakeResource) => FakeResource): FakeResource[] {
  return rs.map((r) => (r.name === name ? f(r) : r));
}

describe("forbidden changes to a compliant prod stack", () => {
  it("GIVEN the compliant prod resources WHEN the whole pack runs THEN there is no violation", async () => {
    expect(await runPack(prodStack(), CONFIG)).toEqual([]);
  });

  it("GIVEN a bucket made public (canned ACL) WHEN the pack runs THEN no-public-buckets fails with how to fix it", async () => {
    const rs = change(prodStack(), "models", (r) => ({ ...r, props: { ...r.props, acl: "public-read" } }));
    const v = await runPack(rs, CONFIG);
    expect(v.map((x) => x.policy)).toEqual(["no-public-buckets"]);
    expect(v[0].message).toBe(
      'no-public-buckets: aws:s3/bucket:Bucket "models" has the public canned ACL "public-read". Fix: remove the ACL (use "private" and bucket-owner-enforced ownership).',
    );
  });

  it("GIVEN the public access block switched off WHEN the pack runs THEN no-public-buckets names the switch and the fix", async () => {
    const rs = change(prodStack(), "models-public-access", (r) => ({
      ...r,
      props: { ...r.props, blockPublicPolicy: false, restrictPublicBuckets: false },
    }));
    const v = await runPack(rs, CONFIG);
    expect(v.map((x) => x.policy)).toEqual(["no-public-buckets"]);
    expect(v[0].message).toContain("blockPublicPolicy=false, restrictPublicBuckets=false");
    expect(v[0].message).toContain(
      "Fix: set blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets to true",
    );
  });

  it("GIVEN the public access block removed WHEN the pack runs THEN s3-bucket-baseline reports the bucket", async () => {
    const rs = prodStack().filter((r) => r.name !== "models-public-access");
    const v = await runPack(rs, CONFIG);
    expect(v.map((x) => [x.policy, x.urn])).toEqual([["s3-bucket-baseline", "urn:models"]]);
    expect(v[0].message).toContain("Fix: add aws.s3.BucketPublicAccessBlock");
  });

  it("GIVEN protect dropped from the prod database WHEN the pack runs THEN prod-data-protection fails with how to fix it", async () => {
    const rs = change(prodStack(), "platform-db", (r) => ({ ...r, opts: { ...r.opts, protect: false } }));
    const v = await runPack(rs, CONFIG);
    expect(v.map((x) => x.policy)).toEqual(["prod-data-protection"]);
    expect(v[0].message).toMatch(
      /^prod-data-protection: aws:rds\/instance:Instance "platform-db" is a prod data store without protect \(opts\.protect false\)\. Fix: create it with \{ protect: true \}/,
    );
  });

  it("GIVEN the same change in dev WHEN the pack runs THEN it is allowed (dev data is disposable)", async () => {
    const rs = change(prodStack(), "platform-db", (r) => ({ ...r, opts: { ...r.opts, protect: false } }));
    expect(await runPack(rs, { ...CONFIG, profile: "dev" })).toEqual([]);
  });

  it("GIVEN final snapshots skipped and deletion protection off WHEN the pack runs THEN each is reported", async () => {
    const rs = change(prodStack(), "platform-db", (r) => ({
      ...r,
      props: { ...r.props, skipFinalSnapshot: true, deletionProtection: false },
    }));
    const v = await runPack(rs, CONFIG);
    expect(v.map((x) => x.message.split(". Fix:")[0])).toEqual([
      'prod-data-protection: aws:rds/instance:Instance "platform-db" has deletionProtection false',
      'prod-data-protection: aws:rds/instance:Instance "platform-db" has skipFinalSnapshot true',
    ]);
  });
});
