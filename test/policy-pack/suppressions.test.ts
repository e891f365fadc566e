/**
 * Suppressions, cdk-nag style: a finding is accepted for one resource only with a written
 * reason; a suppression without one is refused (the rule reports it, and the finding too), and
 * every suppression in effect is printed with its reason by the advisory `suppressions` report.
 * The last tests run the whole chain: stack config -> pack config -> pack.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../stacks/config/validate";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { SUPPRESSION_REPORT } from "../../policy-pack/policies";
import { packConfigFile, packConfigFor } from "../../policy-pack/stack-config";
import { cmkEncryption } from "../../policy-pack/rules/cmk-encryption";
import { s3TlsOnly } from "../../policy-pack/rules/s3-tls-only";
import { type FakeResource, runPack, validateStackWith, validateWith } from "../../policy-pack/test/harness";

const REASON = "the vendor's appliance only accepts the AWS-managed key; ticket SEC-1234 tracks its removal";

const logGroup: FakeResource = {
  type: "aws:cloudwatch/logGroup:LogGroup",
  name: "appliance-logs",
  urn: "urn:pulumi:aws-prod::sovereign::aws:cloudwatch/logGroup:LogGroup::appliance-logs",
  props: {
    kmsKeyId: "alias/aws/logs",
    tags: { owner: "platform-team", "cost-center": "cc-1000", "data-classification": "internal" },
  },
};
const bucket: FakeResource = {
  type: "aws:s3/bucketV2:BucketV2",
  name: "legacy-exports",
  urn: "urn:legacy",
  props: { bucket: "acme-legacy" },
};

const suppress = (rule: string, resource: string, reason?: string) => ({
  suppressions: [{ rule, resource, ...(reason === undefined ? {} : { reason }) }],
});

describe("suppressions", () => {
  it("GIVEN a log group on the AWS-managed key WHEN validated without a suppression THEN cmk-encryption reports it", async () => {
    expect(await validateWith(cmkEncryption, logGroup)).toEqual([
      expect.stringContaining('kmsKeyId is "alias/aws/logs", an AWS-managed key'),
    ]);
  });

  it.each([
    ["its logical name", logGroup.name],
    ["its URN", logGroup.urn!],
  ])(
    "GIVEN a suppression naming the resource by %s, with a written reason WHEN validated THEN the finding is not reported",
    async (_by, resource) => {
      expect(
        await validateWith(cmkEncryption, logGroup, suppress("cmk-encryption", resource, REASON)),
      ).toEqual([]);
    },
  );

  it("GIVEN a suppression for another rule or another resource WHEN validated THEN the finding stays", async () => {
    for (const cfg of [
      suppress("required-tags", logGroup.name, REASON),
      suppress("cmk-encryption", "other", REASON),
    ])
      expect(await validateWith(cmkEncryption, logGroup, cfg)).toHaveLength(1);
  });

  it.each([
    ["no reason", undefined, "it carries no reason"],
    ["a blank reason", "   ", "it carries no reason"],
    [
      "a reason too short to say anything",
      "accepted risk",
      'its reason "accepted risk" is shorter than 20 characters',
    ],
    ["a reason that is no prose", "---------------------------", "is not written prose"],
  ])(
    "GIVEN a suppression with %s WHEN validated THEN it is refused: reported, with the finding it tried to hide",
    async (_what, reason, why) => {
      const messages = await validateWith(
        cmkEncryption,
        logGroup,
        suppress("cmk-encryption", logGroup.name, reason),
      );
      expect(messages).toEqual([
        expect.stringMatching(
          new RegExp(
            `^cmk-encryption: the suppression of cmk-encryption for aws:cloudwatch/logGroup:LogGroup "appliance-logs" is refused: .*Fix: give policy\\.suppressions\\[\\]\\.reason a written reason`,
          ),
        ),
        expect.stringContaining("an AWS-managed key"),
      ]);
      expect(messages[0]).toContain(why);
    },
  );

  it("GIVEN a stack rule's finding on a bucket WHEN suppressed with a reason THEN it is gone, and refused without one", async () => {
    expect(await validateStackWith(s3TlsOnly, [bucket])).toHaveLength(1);
    expect(
      await validateStackWith(s3TlsOnly, [bucket], suppress("s3-tls-only", "legacy-exports", REASON)),
    ).toEqual([]);
    const refused = await validateStackWith(
      s3TlsOnly,
      [bucket],
      suppress("s3-tls-only", "legacy-exports", "ok"),
    );
    expect(refused.map((v) => [v.urn, v.message.split(". Fix:")[0]])).toEqual([
      [
        "urn:legacy",
        's3-tls-only: the suppression of s3-tls-only for aws:s3/bucketV2:BucketV2 "legacy-exports" is refused: its reason "ok" is shorter than 20 characters',
      ],
      ["urn:legacy", 's3-tls-only: bucket "legacy-exports" allows plain HTTP: no such statement'],
    ]);
  });

  it("GIVEN suppressions in effect WHEN the advisory report runs THEN it prints each rule, resource, reason and the finding it hides", async () => {
    const config = {
      suppressions: [
        { rule: "cmk-encryption", resource: "appliance-logs", reason: REASON },
        { rule: "s3-tls-only", resource: "legacy-exports", reason: REASON },
        { rule: "required-tags", resource: "gone", reason: REASON },
        { rule: "no-such-rule", resource: "appliance-logs", reason: REASON },
      ],
    };
    expect(SUPPRESSION_REPORT.enforcementLevel).toBe("advisory");
    const printed = await validateStackWith(SUPPRESSION_REPORT, [logGroup, bucket], config);
    expect(printed.map((v) => v.message)).toEqual([
      `suppressions: "cmk-encryption" suppressed for "appliance-logs" (aws:cloudwatch/logGroup:LogGroup). Reason: ${REASON}. It hides: cmk-encryption: aws:cloudwatch/logGroup:LogGroup "appliance-logs": kmsKeyId is "alias/aws/logs", an AWS-managed key. Fix: set kmsKeyId: key.arn (the key policy must allow logs.<region>.amazonaws.com).`,
      expect.stringMatching(
        /^suppressions: "s3-tls-only" suppressed for "legacy-exports" \(aws:s3\/bucketV2:BucketV2\)\. Reason: .*It hides: s3-tls-only: bucket "legacy-exports" allows plain HTTP/,
      ),
      'suppressions: "required-tags" suppressed for "gone" matches no resource of this stack; remove it',
      expect.stringMatching(
        /^suppressions: "no-such-rule" suppressed for "appliance-logs" names no rule of the pack/,
      ),
    ]);
  });

  it("GIVEN the whole pack with a suppression WHEN run THEN only the advisory line remains, naming the reason", async () => {
    const v = await runPack([logGroup], suppress("cmk-encryption", "appliance-logs", REASON));
    expect(v.map((x) => x.policy)).toEqual(["suppressions"]);
    expect(v[0].message).toContain(`Reason: ${REASON}`);
  });
});

describe("suppressions from the stack config", () => {
  const prod = () => rawFromStackFile(stackFile("aws-prod"));
  const withSuppressions = (list: unknown) => {
    const raw = prod();
    const policy = raw.raw.policy as Record<string, unknown>;
    return parseConfig(
      { ...raw.raw, policy: { ...policy, suppressions: list } },
      { secretKeys: raw.secretKeys },
    );
  };

  it("GIVEN policy.suppressions with a reason WHEN the pack config is written THEN every rule and the report carry it, and the pack honours it", async () => {
    const config = withSuppressions([{ rule: "cmk-encryption", resource: "appliance-logs", reason: REASON }]);
    const file = packConfigFile(config);
    const expected = [{ rule: "cmk-encryption", resource: "appliance-logs", reason: REASON }];
    expect((file["cmk-encryption"] as Record<string, unknown>).suppressions).toEqual(expected);
    expect(file.suppressions).toMatchObject({ enforcementLevel: "advisory", suppressions: expected });
    const v = await runPack([logGroup], { ...packConfigFor(config) });
    expect(v.map((x) => x.policy)).toEqual(["suppressions"]);
  });

  it("GIVEN a suppression without a reason in the stack config WHEN validated THEN it is a config error naming the field", () => {
    let err: unknown;
    try {
      withSuppressions([{ rule: "cmk-encryption", resource: "appliance-logs" }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toContain("policy.suppressions[0].reason");
  });

  it("GIVEN a suppression of a rule the pack does not have WHEN the pack config is written THEN it fails naming the field and the rules", () => {
    const config = withSuppressions([{ rule: "cmk-encryptoin", resource: "x", reason: REASON }]);
    expect(() => packConfigFor(config)).toThrow(
      /^policy\.suppressions\[0\]\.rule: "cmk-encryptoin" is not a rule of the pack \(cmk-encryption, .*s3-tls-only\)$/,
    );
  });

  it("GIVEN the pack's JSON schema for suppressions WHEN read THEN the engine itself refuses an entry without a reason of 20 characters", () => {
    const items = (cmkEncryption.configSchema!.properties.suppressions as { items: Record<string, any> })
      .items;
    expect(items.required).toEqual(["rule", "resource", "reason"]);
    expect(items.properties.reason.minLength).toBe(20);
  });
});
