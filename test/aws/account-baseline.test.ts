/**
 * FSBP S3.1 and EC2.7 as the optional AccountBaseline: absent unless `accountBaseline.enabled`,
 * then the account-level public access block (all four switches) and EBS encryption by default,
 * both retained on delete; refused on a substrate without an AWS account; and what it records
 * passes the policy pack, which holds the account block to the same switches as a bucket's.
 */
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig } from "../../stacks/config/validate";
import { noPublicBuckets } from "../../policy-pack/rules/no-public-buckets";
import { validateWith } from "../../policy-pack/test/harness";
import { build } from "./harness";

const ACCOUNT_TYPES = [
  "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
  "aws:ebs/encryptionByDefault:EncryptionByDefault",
];

describe("AccountBaseline (FSBP S3.1, EC2.7)", () => {
  it("GIVEN the shipped aws-prod config WHEN built THEN nothing account-wide is created (off by default)", async () => {
    const b = await build("aws-prod");
    expect(b.config.accountBaseline.enabled).toBe(false);
    for (const t of ACCOUNT_TYPES) expect(b.recorder.ofType(t), t).toEqual([]);
  });

  it("GIVEN accountBaseline.enabled WHEN built THEN the account block has all four switches on and EBS encryption by default is on, both retained on delete", async () => {
    const b = await build("aws-prod", (raw) => {
      raw.accountBaseline = { enabled: true };
    });
    const block = b.recorder.one(ACCOUNT_TYPES[0]);
    expect(block.inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const ebs = b.recorder.one(ACCOUNT_TYPES[1]);
    expect(ebs.inputs.enabled).toBe(true);
    for (const r of [block, ebs]) expect(r.retainOnDelete, r.type).toBe(true);
    // The pack judges the recorded account block like a bucket's...
    expect(
      await validateWith(noPublicBuckets, { type: block.type, name: block.name, props: block.inputs }),
    ).toEqual([]);
    // ...and would refuse it with one switch off.
    expect(
      await validateWith(noPublicBuckets, {
        type: block.type,
        name: block.name,
        props: { ...block.inputs, restrictPublicBuckets: false },
      }),
    ).toEqual([expect.stringContaining("restrictPublicBuckets=false")]);
  });

  it("GIVEN accountBaseline.enabled on the cluster substrate (local) WHEN validated THEN it is a config error naming accountBaseline.enabled", () => {
    const raw = rawFromStackFile(stackFile("local"));
    let err: unknown;
    try {
      parseConfig({ ...raw.raw, accountBaseline: { enabled: true } }, { secretKeys: raw.secretKeys });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("accountBaseline.enabled");
    expect(() =>
      parseConfig({ ...raw.raw, accountBaseline: { enabled: "yes" } }, { secretKeys: raw.secretKeys }),
    ).toThrow(/accountBaseline\.enabled/);
  });
});
