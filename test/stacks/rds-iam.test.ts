/**
 * RDS IAM authentication in the shipped aws stacks (the default on every one), at the seam: the IAM policy's `dbuser`
 * ARN, the role it is attached to, the Pod Identity association of the gateway's
 * ServiceAccount, the login Job that grants `rds_iam`, and the token the gateway itself signs
 * from the environment its Deployment gets must all name the same instance, region and role.
 * The gateway's own config loader and token signer run on the recorded environment; only RDS
 * accepting the token is not checked (no RDS is reachable here).
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TestCa } from "../helpers/pki";

import { loadConfig } from "../../gateway/src/config";
import { poolPassword } from "../../gateway/src/db";
import { stackFile } from "../../stacks/config/load";
import { pulumiConfigFromFile, runProgram, runShippedStack, type StackRun } from "../helpers/stack";
import type { RecordedResource } from "../helpers/mocks";

const testCa = new TestCa("rds-iam test model CA");
afterAll(() => testCa.destroy());

const statements = (r: RecordedResource): any[] => [JSON.parse(r.inputs.policy).Statement].flat();

/** The plain-valued environment of the gateway container, as the Deployment sets it. */
function gatewayEnv(run: StackRun): {
  env: Record<string, string>;
  refs: string[];
  deployment: RecordedResource;
} {
  const deployment = run.recorder
    .ofType("kubernetes:apps/v1:Deployment")
    .find((d) => d.inputs.metadata.name === "gateway")!;
  const c = deployment.inputs.spec.template.spec.containers.find((x: any) => x.name === "gateway");
  const env: Record<string, string> = {};
  const refs: string[] = [];
  for (const e of c.env) if (e.value !== undefined) env[e.name] = String(e.value);
  for (const e of c.env) if (e.valueFrom) refs.push(e.name);
  return { env, refs, deployment };
}

for (const stack of ["aws-dev", "aws-prod"] as const)
  describe(`GIVEN the shipped ${stack} stack (IAM authentication on by default)`, () => {
    let run: StackRun;
    beforeAll(async () => {
      run = await runShippedStack(stack);
      expect(run.error).toBeUndefined();
    });

    it("WHEN the gateway signs a token from its Deployment's environment THEN the policy's dbuser ARN names that user, region and the instance the token is for", async () => {
      const { env, refs } = gatewayEnv(run);
      expect(refs).not.toContain("PGPASSWORD");
      expect(env.PGPASSWORD).toBeUndefined();
      // The catalog file is the recorded ConfigMap the Deployment mounts.
      const catalog = run.recorder
        .ofType("kubernetes:core/v1:ConfigMap")
        .find((r) => r.inputs.metadata.name === "gateway-catalog")!.inputs.data["catalog.json"];
      // ... and the model servers' keys file the recorded Secret it mounts holds
      const keys = run.recorder
        .ofType("kubernetes:core/v1:Secret")
        .find((r) => r.inputs.metadata.name === "gateway-model-api-keys")?.inputs.stringData["keys.json"];
      const cfg = loadConfig(env, (p) => {
        if (p === env.GATEWAY_CATALOG_FILE) return catalog;
        if (keys !== undefined && p === env.GATEWAY_MODEL_API_KEYS_FILE) return keys;
        // what cert-manager writes into the model CA bundle's ca.crt at run time
        if (p === env.GATEWAY_MODEL_CA_FILE) return fs.readFileSync(testCa.cert, "utf8");
        throw new Error(`unexpected read of ${p}`);
      }).postgres;
      expect(cfg.auth).toBe("rds-iam");
      expect(cfg.sslMode).toBe("verify-full");
      const sign = poolPassword(
        cfg,
        { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret" },
        () => new Date("2026-01-02T03:04:05Z"),
      ) as () => Promise<string>;
      const token = await sign();
      const [hostPort, query] = token.split("/?");
      const q = new URLSearchParams(query);
      const [, , tokenRegion, tokenService] = q.get("X-Amz-Credential")!.split("/");

      // The gateway's own grant (a team with the flywheel on has its own, as user `flywheel`:
      // test/stacks/flywheel.test.ts).
      const connects = run.recorder
        .ofType("aws:iam/rolePolicy:RolePolicy")
        .filter((r) => r.name.startsWith("gateway-"))
        .filter((r) => statements(r).some((s) => [s.Action].flat().includes("rds-db:connect")));
      expect(connects).toHaveLength(1);
      const [stmt] = statements(connects[0]);
      expect(stmt).toMatchObject({ Effect: "Allow", Action: ["rds-db:connect"] });
      const m = /^arn:aws:rds-db:([^:]+):(\d{12}):dbuser:(db-[A-Z0-9]+)\/(.+)$/.exec(stmt.Resource);
      expect(m, stmt.Resource).not.toBeNull();
      const [, arnRegion, , resourceId, arnUser] = m!;

      // The same role, region and signing service on both sides.
      expect(arnUser).toBe(q.get("DBUser"));
      expect(arnRegion).toBe(tokenRegion);
      expect(tokenService).toBe("rds-db");
      // The token is for the instance whose resource id the ARN names (the mocks derive both from it).
      const db = run.recorder.one("aws:rds/instance:Instance");
      expect(connects[0].propertyDependencies.policy).toContain(db.urn);
      expect(resourceId).toBe(`db-${db.name.toUpperCase().replace(/[^A-Z0-9]/g, "")}`);
      expect(db.inputs.iamDatabaseAuthenticationEnabled).toBe(true);
      expect(hostPort).toBe(`${db.name}.db.example:${db.inputs.port}`);
    });

    it("WHEN the policy's role is followed THEN it is the role Pod Identity gives the gateway's ServiceAccount, and no other role may connect", () => {
      const { deployment } = gatewayEnv(run);
      const [connect] = run.recorder
        .ofType("aws:iam/rolePolicy:RolePolicy")
        .filter((r) => statements(r).some((s) => [s.Action].flat().includes("rds-db:connect")));
      const [role] = connect.propertyDependencies.role;
      const associations = run.recorder
        .ofType("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        .filter((a) => a.propertyDependencies.roleArn?.includes(role));
      expect(associations.map((a) => [a.inputs.namespace, a.inputs.serviceAccount])).toEqual([
        [deployment.inputs.metadata.namespace, deployment.inputs.spec.template.spec.serviceAccountName],
      ]);
    });

    it("WHEN the login Job runs THEN it creates the token's role without a password and grants it rds_iam", async () => {
      const { env } = gatewayEnv(run);
      const job = run.recorder
        .ofType("kubernetes:batch/v1:Job")
        .find((j) => j.inputs.metadata.name === `${env.PGUSER}-postgres-login`)!;
      const c = job.inputs.spec.template.spec.containers[0];
      expect(c.env.find((e: any) => e.name === "SERVICE").value).toBe(env.PGUSER);
      const script = c.command.join(" ");
      expect(script).toContain("GRANT rds_iam TO %I");
      expect(script).toContain("PASSWORD NULL");
      expect(c.env.map((e: any) => e.name)).not.toContain("SERVICE_PASSWORD");
      // No Secret anywhere holds a service password.
      for (const s of run.recorder.ofType("kubernetes:core/v1:Secret"))
        expect(Object.keys(s.inputs.stringData ?? {}), s.name).not.toContain("password");
      expect(run.recorder.ofType("aws:secretsmanager/secret:Secret")).toEqual([]);
    });
  });

/** Runs `f` and returns what it logged through `pulumi.log.warn`. */
async function withWarnings(f: () => Promise<StackRun>): Promise<{ run: StackRun; warnings: string[] }> {
  const warn = vi.spyOn(pulumi.log, "warn");
  try {
    const run = await f();
    return { run, warnings: warn.mock.calls.map((c) => String(c[0])) };
  } finally {
    warn.mockRestore();
  }
}

describe("GIVEN aws-dev with the explicit password opt-out (database.iamAuth: false)", () => {
  it("WHEN the program runs THEN it warns once, naming the setting, that the password is never rotated, and the gateway logs in with the password Secret", async () => {
    const flat = pulumiConfigFromFile(stackFile("aws-dev"));
    flat.config["sovereign:database"] = JSON.stringify({ iamAuth: false });
    const { run, warnings: all } = await withWarnings(() => runProgram("aws-dev", flat));
    expect(run.error).toBeUndefined();
    const warnings = all.filter((m) => m.includes("database.iamAuth"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^sovereign:database\.iamAuth: .*static password that is never rotated/);
    const { refs } = gatewayEnv(run);
    expect(refs).toContain("PGPASSWORD");
    // The shipped stacks (IAM tokens) print no such warning.
    const shipped = await withWarnings(() => runShippedStack("aws-dev"));
    expect(shipped.warnings.filter((m) => m.includes("database.iamAuth"))).toEqual([]);
  });
});
