/**
 * The bootstrap state backend under mocks: versioned, KMS-encrypted with its own key, public
 * access blocked, TLS only, everything protected and retained; the URLs it prints.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { installMocks, settle, type ResourceRecorder } from "../../test/helpers/mocks";
import { loginUrl, secretsProviderUrl, StateBackend } from "../state-backend";

describe("bootstrap state backend", () => {
  let rec: ResourceRecorder;
  let backend: StateBackend;
  beforeAll(async () => {
    rec = installMocks({ project: "sovereign-bootstrap", stack: "bootstrap" });
    backend = new StateBackend("state", {
      bucketName: "acme-pulumi-state",
      region: "eu-central-1",
      accountId: "123456789012",
      partition: "aws",
      tags: { owner: "o", "cost-center": "c", "data-classification": "restricted" },
    });
    await settle();
  });

  it("GIVEN the backend WHEN created THEN the state bucket is versioned and SSE-KMS with the state key and bucket keys", () => {
    expect(rec.one("aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration.status).toBe(
      "Enabled",
    );
    const rule = rec.one(
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs.rules[0];
    expect(rule.applyServerSideEncryptionByDefault).toEqual({
      sseAlgorithm: "aws:kms",
      kmsMasterKeyId: "arn:aws:kms:eu-central-1:123456789012:key/state-state-key",
    });
    expect(rule.bucketKeyEnabled).toBe(true);
  });

  it("THEN public access is blocked, ACLs are disabled and plain HTTP is denied", () => {
    expect(rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(
      rec.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule.objectOwnership,
    ).toBe("BucketOwnerEnforced");
    const st = JSON.parse(rec.one("aws:s3/bucketPolicy:BucketPolicy").inputs.policy).Statement;
    expect(st[0]).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": false } } });
  });

  it("THEN both keys rotate, have policies without wildcard actions, and every resource is protected and retained", () => {
    const keys = rec.ofType("aws:kms/key:Key");
    expect(keys.map((k) => k.name).sort()).toEqual(["state-secrets-key", "state-state-key"]);
    for (const k of keys) {
      expect(k.inputs.enableKeyRotation).toBe(true);
      const actions = JSON.parse(k.inputs.policy).Statement.flatMap((s: any) => [s.Action].flat());
      expect(actions.filter((a: string) => a.includes("*"))).toEqual([]);
    }
    for (const r of rec.resources.filter((x) => x.custom)) {
      expect(r.protect, r.name).toBe(true);
      expect(r.retainOnDelete, r.name).toBe(true);
    }
    expect(rec.one("aws:s3/bucket:Bucket").inputs.forceDestroy).toBe(false);
    expect(rec.one("aws:kms/alias:Alias").inputs.name).toBe("alias/sovereign-pulumi-secrets");
  });

  it("THEN it prints the pulumi login and secrets-provider URLs for the bucket and key alias", () => {
    expect(backend.loginUrl).toBe("s3://acme-pulumi-state?region=eu-central-1&awssdk=v2");
    expect(backend.secretsProviderUrl).toBe("awskms://alias/sovereign-pulumi-secrets?region=eu-central-1");
    expect(loginUrl("b", "r")).toBe("s3://b?region=r&awssdk=v2");
    expect(secretsProviderUrl("a", "r")).toBe("awskms://alias/a?region=r");
  });

  it("GIVEN a bucket name with dots WHEN the backend is created THEN it throws quoting the name", () => {
    expect(
      () =>
        new StateBackend("bad", {
          bucketName: "a.b.c",
          region: "r",
          accountId: "1",
          partition: "aws",
          tags: {},
        }),
    ).toThrow('"a.b.c"');
  });
});
