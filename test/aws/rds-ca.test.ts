/**
 * The pinned RDS CA bundle (components/aws/rds-ca-bundle.ts) against what the kit deploys: every
 * entry is a self-signed CA certificate named for its region; the bundle a region's clients get
 * holds the root of the CA the RDS instance is created with (`RDS_CA_IDENTIFIER`), so
 * `verify-full` can succeed; a region the bundle lacks is a clear error, not an empty bundle.
 */
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RDS_CA_IDENTIFIER, rdsCaBundle } from "../../components/aws/database";
import { RDS_CA_ROOTS } from "../../components/aws/rds-ca-bundle";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { parseConfig, validateConfig } from "../../stacks/config/validate";

const certs = (pem: string) =>
  [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]),
  );

/** `rds-ca-rsa2048-g1` → the root's common name in `region`. */
function rootName(identifier: string, region: string): string {
  const m = /^rds-ca-(rsa2048|rsa4096|ecc384)-g1$/.exec(identifier);
  if (!m) throw new Error(`unexpected RDS CA identifier ${identifier}`);
  return `Amazon RDS ${region} Root CA ${m[1].toUpperCase()} G1`;
}

describe("the pinned RDS CA bundle", () => {
  it("GIVEN every entry THEN it is a self-signed CA certificate whose name is its region's", () => {
    const regions = Object.keys(RDS_CA_ROOTS);
    expect(regions.length).toBeGreaterThan(20);
    for (const region of regions) {
      const cs = certs(rdsCaBundle(region));
      expect(cs.map((c) => c.subject.match(/CN=(.*)$/m)![1]).sort()).toEqual(
        ["ECC384", "RSA2048", "RSA4096"].map((k) => `Amazon RDS ${region} Root CA ${k} G1`),
      );
      for (const c of cs) {
        expect(c.ca, c.subject).toBe(true);
        expect(c.verify(c.publicKey), c.subject).toBe(true);
      }
    }
  });

  it("GIVEN the AWS stacks THEN their region's bundle holds the root of the CA the instance is created with", () => {
    const aws = shippedStacks()
      .map((s) => parseConfig(rawFromStackFile(stackFile(s)).raw))
      .filter((c) => c.substrate.kind === "aws");
    expect(aws.length).toBeGreaterThan(0);
    for (const c of aws) {
      const region = (c.substrate as { region: string }).region;
      const names = certs(rdsCaBundle(region)).map((x) => x.subject.match(/CN=(.*)$/m)![1]);
      expect(names).toContain(rootName(RDS_CA_IDENTIFIER, region));
    }
  });

  it("GIVEN a region the bundle lacks THEN the error names it and the regions it covers", () => {
    expect(() => rdsCaBundle("xx-nowhere-1")).toThrow(
      /expected a region the pinned RDS CA bundle covers \(af-south-1, .*\), found "xx-nowhere-1"/,
    );
  });

  it("GIVEN a stack in a real region the bundle lacks THEN the config names substrate.region (no stack trace at deploy)", () => {
    const r = rawFromStackFile(stackFile("aws-dev")).raw as Record<string, any>;
    // mx-central-1 is in the region catalog (stacks/config/catalog/aws.json) but not in the bundle.
    const res = validateConfig({ ...r, substrate: { ...r.substrate, region: "mx-central-1" } });
    expect(res.ok).toBe(false);
    expect(res.ok ? [] : res.issues.filter((i) => i.path === "sovereign:substrate.region")).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/pinned RDS CA bundle covers .*found "mx-central-1"/),
      }),
    ]);
    expect(validateConfig(r).ok).toBe(true);
  });
});
