/**
 * FSBP RDS.23: `database.port` moves the RDS instance off PostgreSQL's default port, and every
 * part that must agree follows it: the instance, its security group, the substrate namespace's
 * NetworkPolicy, the egress targets teams and services get, and the connection clients use.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../stacks/config/errors";
import { valueOf } from "../helpers/mocks";
import { build, shippedConfig, type Built } from "./harness";

async function ports(b: Built) {
  const db = b.recorder.one("aws:rds/instance:Instance").inputs;
  const sg = b.recorder
    .ofType("aws:ec2/securityGroup:SecurityGroup")
    .find((r) => r.name.endsWith("-database-sg"))!;
  const np = b.recorder
    .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    .find((r) => r.inputs.metadata?.name === "allow-postgres")!;
  const egress = await valueOf(b.substrate.egressTargets.postgres);
  return {
    instance: db.port,
    securityGroup: sg.inputs.ingress.map((r: any) => [r.fromPort, r.toPort]),
    networkPolicy: np.inputs.spec.egress.flatMap((e: any) => e.ports.map((p: any) => p.port)),
    egressTargets: egress.flatMap((e) => (e.ports ?? []).map((p) => p.port)),
    client: await valueOf(b.postgres.port),
  };
}

describe("database.port (FSBP RDS.23)", () => {
  it("GIVEN aws-prod with database.port 6432 WHEN the substrate is built THEN the instance, its security group, the NetworkPolicy, the egress targets and the client all use 6432", async () => {
    const b = await build("aws-prod", (raw) => {
      raw.database = { ...(raw.database ?? {}), port: 6432 };
    });
    expect(await ports(b)).toEqual({
      instance: 6432,
      securityGroup: [[6432, 6432]],
      networkPolicy: [6432],
      egressTargets: [6432],
      client: 6432,
    });
  });

  it("GIVEN the shipped aws-dev config (no port set) WHEN built THEN everything uses 5432", async () => {
    const b = await build("aws-dev");
    expect(await ports(b)).toEqual({
      instance: 5432,
      securityGroup: [[5432, 5432]],
      networkPolicy: [5432],
      egressTargets: [5432],
      client: 5432,
    });
  });

  it.each([80, 70000, 5432.5])(
    "GIVEN database.port %s WHEN validated THEN it is a config error naming database.port",
    (port) => {
      let err: unknown;
      try {
        shippedConfig("aws-prod", (raw) => {
          raw.database = { ...(raw.database ?? {}), port };
        });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain("database.port");
    },
  );
});
