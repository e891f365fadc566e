/**
 * The substrate contract: the same assertions hold for the AWS and the existing-cluster substrate,
 * built by their wiring functions from the shipped configs under mocks, so the platform layer
 * cannot tell them apart. Every interface field is present; every secret is marked secret (in
 * recorded inputs and in outputs) and no secret value leaks into a plain input or output; the
 * credential scopes of each workload kind equal `workloadScopes()`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { GPU_TAINT } from "../components/lib/gpu-catalog";
import { isBucketName } from "../components/lib/naming";
import { BUCKET_ROLES, workloadScopes, type WorkloadKind } from "../components/lib/scopes";
import type { EgressRule } from "../components/substrate";
import type { StackConfig } from "../stacks/config/schema";
import { awsSubstrate } from "../stacks/wiring/aws";
import { existingClusterSubstrate } from "../stacks/wiring/existing-cluster";
import type { CreatedSubstrate } from "../stacks/wiring/substrate";
import { valueOf } from "./helpers/mocks";
import {
  build,
  config,
  FakePlatform,
  isSecretPath,
  leaves,
  unwrapSecrets,
  type Built,
} from "./existing-cluster/harness";

type Wire = (c: StackConfig, ctx: { stack: string }) => CreatedSubstrate;

const CASES: { stack: string; wire: Wire }[] = [
  { stack: "aws-dev", wire: awsSubstrate },
  { stack: "aws-prod", wire: awsSubstrate },
  { stack: "local", wire: existingClusterSubstrate },
];

const KINDS: WorkloadKind[] = ["model-server", "training", "gateway", "policy"];

/** Input keys that hold secret material wherever they appear (compared without case, `_` or `-`). */
const SECRET_KEYS = new Set([
  "password",
  "passwd",
  "masterpassword",
  "secret",
  "secretkey",
  "secretstring",
  "secretaccesskey",
  "privatekey",
  "token",
  "apikey",
  "credential",
  "credentials",
]);
const isSecretKey = (key: string) => SECRET_KEYS.has(key.toLowerCase().replace(/[-_]/g, ""));

interface Bound {
  readonly team: string;
  readonly access: Record<WorkloadKind, ReturnType<CreatedSubstrate["bindWorkload"]>>;
  readonly pg: ReturnType<CreatedSubstrate["connectPostgres"]>;
}

/** The weights prefix of the stack's first model (what its model server reads, as a folder). */
function modelPrefix(cfg: StackConfig): string {
  const source = cfg.models[0].source;
  return source.endsWith("/") ? source : `${source}/`;
}

function bindEveryKind(s: CreatedSubstrate, cfg: StackConfig): Bound {
  const parent = new FakePlatform("platform");
  const team = cfg.teams[0].name;
  const access = Object.fromEntries(
    KINDS.map((kind) => [
      kind,
      s.bindWorkload(
        `platform-${kind}`,
        {
          kind,
          namespace: kind === "training" ? `team-${team}` : "sovereign-serving",
          serviceAccountName: `sa-${kind}`,
          team: kind === "training" ? team : undefined,
          // a model server reads exactly its prefixes (its first model's weights here)
          readModels: kind === "model-server" ? [modelPrefix(cfg)] : undefined,
        },
        { parent },
      ),
    ]),
  ) as Bound["access"];
  // The gateway's own workload identity: a substrate may log the service in with it (RDS IAM).
  const pg = s.connectPostgres(
    "platform-gateway-db",
    "gateway",
    "sovereign-gateway",
    { parent },
    access.gateway,
  );
  return { team, access, pg };
}

describe.each(CASES)("the substrate contract: $stack", ({ stack, wire }) => {
  const cfg = config(stack);
  // Built on first use, so a substrate that cannot be built fails every assertion by name.
  let pending: Promise<Built<Bound>> | undefined;
  const built = () => (pending ??= build(wire, cfg, (s) => bindEveryKind(s, cfg)));

  it("GIVEN the shipped config WHEN built THEN every field of the interface is present", async () => {
    const b = await built();
    const s = b.substrate;
    expect(s.kind).toBe(cfg.substrate.kind);
    expect(s.provider).toBeInstanceOf(k8s.Provider);
    // TLS only: a plain http endpoint breaks the contract.
    expect(await valueOf(s.objectStore.endpoint)).toMatch(/^https:\/\/[^\s]+$/);
    expect(s.objectStore.region).toMatch(/^[a-z]{2}(-gov)?-[a-z]+-\d$/);
    expect(typeof s.objectStore.forcePathStyle).toBe("boolean");
    expect(Object.keys(s.objectStore.buckets).sort()).toEqual([...BUCKET_ROLES].sort());
    for (const role of BUCKET_ROLES) {
      const name = await valueOf(s.objectStore.buckets[role]);
      expect(isBucketName(name), `${role}: ${name}`).toBe(true);
    }
    expect(s.storageClasses.default).toMatch(/^[a-z0-9][-a-z0-9.]*$/);
    expect(s.ready.length).toBeGreaterThan(0);
    for (const r of s.ready) expect(pulumi.Resource.isInstance(r)).toBe(true);
    expect(typeof s.bindWorkload).toBe("function");
    expect(typeof s.connectPostgres).toBe("function");
    expect(typeof s.outputs).toBe("object");
  });

  it("GIVEN the egress targets THEN they name the substrate's services only: no rule opens a port to every address", async () => {
    const s = (await built()).substrate;
    for (const [what, rules] of Object.entries(s.egressTargets)) {
      const rs = await valueOf(rules as pulumi.Output<EgressRule[]>);
      expect(rs.length, what).toBeGreaterThan(0);
      for (const r of rs) {
        expect(r.ports.length, what).toBeGreaterThan(0);
        expect(r.to.length, what).toBeGreaterThan(0);
        for (const peer of r.to) {
          const cidr = (peer as { ipBlock?: { cidr: string } }).ipBlock?.cidr;
          if (cidr !== undefined)
            expect(Number(cidr.split("/")[1]), `${what}: ${cidr}`).toBeGreaterThanOrEqual(8);
          else expect(Object.keys(peer), what).toContain("namespaceSelector");
        }
      }
    }
  });

  it("GIVEN the configured GPU pools THEN each has a placement with selector, GPU toleration and capacity type", async () => {
    const b = await built();
    const s = b.substrate;
    expect(Object.keys(s.gpuPools).sort()).toEqual(cfg.gpuPools.map((p) => p.name).sort());
    for (const pool of cfg.gpuPools) {
      const p = s.gpuPools[pool.name];
      expect(p.gpuType, pool.name).toMatch(/\S/);
      expect(p.gpusPerNode).toBeGreaterThan(0);
      expect(Object.keys(p.nodeSelector).length).toBeGreaterThan(0);
      expect(p.tolerations.some((t) => t.key === GPU_TAINT.key && t.effect === GPU_TAINT.effect)).toBe(true);
      expect(p.capacityType).toBe(pool.capacityType);
    }
  });

  it("GIVEN each workload kind WHEN bound THEN its credential scopes equal workloadScopes()", async () => {
    const b = await built();
    for (const kind of KINDS) {
      const a = b.result.access[kind];
      expect(a.scopes, kind).toEqual(
        workloadScopes(
          kind,
          kind === "training" ? b.result.team : undefined,
          kind === "model-server" ? [modelPrefix(cfg)] : [],
        ),
      );
      expect(await valueOf(a.serviceAccountName)).toBe(`sa-${kind}`);
      expect(a.dependsOn.length).toBeGreaterThan(0);
      const env = await valueOf(a.env);
      expect(Array.isArray(env)).toBe(true);
      for (const e of env) expect(e.name).toMatch(/^[A-Z_][A-Z0-9_]*$/);
    }
    // A ServiceAccount with the requested name exists for every workload.
    const sas = b.recorder
      .ofType("kubernetes:core/v1:ServiceAccount")
      .map((r) => (unwrapSecrets(r.inputs) as any).metadata.name);
    for (const kind of KINDS) expect(sas).toContain(`sa-${kind}`);
  });

  it("GIVEN each workload kind WHEN bound THEN its S3 client reaches an https endpoint it can verify: public CAs, or a CA in its namespace from the issuer of the store's certificate", async () => {
    const b = await built();
    const endpoint = new URL(await valueOf(b.substrate.objectStore.endpoint));
    expect(endpoint.protocol).toBe("https:");
    const certs = b.recorder
      .ofType("kubernetes:cert-manager.io/v1:Certificate")
      .map((r) => unwrapSecrets(r.inputs) as any);
    for (const kind of KINDS) {
      const a = b.result.access[kind];
      if (a.caBundle === undefined) continue; // the system's CAs (AWS S3)
      const ns = kind === "training" ? `team-${b.result.team}` : "sovereign-serving";
      const secretName = await valueOf(a.caBundle.secretName);
      const client = certs.find((c) => c.spec.secretName === secretName && c.metadata.namespace === ns);
      expect(client, `${kind}: a Certificate in ${ns} writing ${secretName}`).toBeDefined();
      expect(a.caBundle.key).toBe("ca.crt");
      const serving = certs.filter(
        (c) =>
          c.spec.issuerRef.name === client.spec.issuerRef.name &&
          c.spec.usages.includes("server auth") &&
          c.spec.dnsNames.includes(endpoint.hostname),
      );
      expect(serving.length, `${kind}: a serving Certificate naming ${endpoint.hostname}`).toBe(1);
      // S3 clients are pointed at the mounted CA.
      const env = Object.fromEntries((await valueOf(a.env)).map((e) => [e.name, e.value]));
      expect(env.AWS_CA_BUNDLE, kind).toBe("/etc/sovereign/object-store-ca/ca.crt");
    }
  });

  it("GIVEN a service's Postgres login THEN the connection is verify-full against a CA in the requested namespace, and either its Secret exists there or it logs in with its identity (no password at all)", async () => {
    const b = await built();
    const pg = b.result.pg;
    const host = await valueOf(pg.host);
    expect(host).toMatch(/\S/);
    expect(await valueOf(pg.port)).toBeGreaterThan(0);
    expect(pg.database).toBe("gateway");
    // Encrypted and verified: the server's certificate must chain to the CA and name the host.
    expect(pg.sslMode).toBe("verify-full");
    expect(pg.rootCert, "the CA a verify-full client needs").toBeDefined();
    const certs = b.recorder
      .ofType("kubernetes:cert-manager.io/v1:Certificate")
      .map((r) => unwrapSecrets(r.inputs) as any);
    if ("configMapName" in pg.rootCert) {
      // A ConfigMap in the requested namespace with a PEM bundle at the key.
      const cmName = await valueOf(pg.rootCert.configMapName);
      const cm = b.recorder
        .ofType("kubernetes:core/v1:ConfigMap")
        .map((r) => r.inputs as any)
        .find((o) => o.metadata?.name === cmName && o.metadata?.namespace === "sovereign-gateway");
      expect(cm?.data?.[pg.rootCert.key], `ConfigMap ${cmName} key ${pg.rootCert.key}`).toMatch(
        /-----BEGIN CERTIFICATE-----/,
      );
    } else {
      // A Secret that a cert-manager Certificate in the requested namespace writes, from a CA
      // issuer the substrate created (it writes `ca.crt`); the same issuer signs a serving
      // certificate that names the host the client connects to.
      const secretName = await valueOf(pg.rootCert.secretName);
      const client = certs.find(
        (c) => c.spec.secretName === secretName && c.metadata.namespace === "sovereign-gateway",
      );
      expect(client, `a Certificate in sovereign-gateway writing Secret ${secretName}`).toBeDefined();
      expect(pg.rootCert.key).toBe("ca.crt");
      const issuer = b.recorder
        .ofType(`kubernetes:cert-manager.io/v1:${client.spec.issuerRef.kind}`)
        .map((r) => r.inputs as any)
        .find((i) => i.metadata.name === client.spec.issuerRef.name);
      expect(issuer?.spec?.ca?.secretName, `CA issuer ${client.spec.issuerRef.name}`).toMatch(/\S/);
      const serving = certs.filter(
        (c) =>
          c.spec.issuerRef.name === client.spec.issuerRef.name &&
          c.spec.usages.includes("server auth") &&
          c.spec.dnsNames.includes(host),
      );
      expect(serving.length, `a serving Certificate naming ${host}`).toBe(1);
    }
    // Exactly one way to log in.
    expect([pg.secretName !== undefined, pg.iamAuth !== undefined].filter(Boolean)).toEqual([true]);
    if (pg.iamAuth) {
      expect(pg.sslMode).toBe("verify-full");
      expect(pg.iamAuth.user).toBe("gateway");
      const inNamespace = b.recorder
        .ofType("kubernetes:core/v1:Secret")
        .filter((r) => r.inputs.metadata?.namespace === "sovereign-gateway");
      expect(inNamespace.map((r) => r.name)).toEqual([]);
      return;
    }
    const name = await valueOf(pg.secretName!);
    const secret = b.recorder
      .ofType("kubernetes:core/v1:Secret")
      .map((r) => ({ r, o: unwrapSecrets(r.inputs) as any }))
      .find(({ o }) => o.metadata?.name === name && o.metadata?.namespace === "sovereign-gateway");
    expect(secret, `Secret ${name}`).toBeDefined();
    const keys = Object.keys({ ...secret!.o.stringData, ...secret!.o.data });
    expect(keys).toEqual(expect.arrayContaining(["username", "password"]));
  });

  it("GIVEN every recorded resource THEN secret inputs and Kubernetes Secret contents are marked secret", async () => {
    const b = await built();
    const unmarked: string[] = [];
    for (const r of b.recorder.resources) {
      const inputs = unwrapSecrets(r.inputs);
      for (const leaf of leaves(inputs)) {
        const key = leaf.path.split(".").pop()!;
        const inSecretData = r.type === "kubernetes:core/v1:Secret" && /^(stringData|data)\./.test(leaf.path);
        if ((inSecretData || isSecretKey(key)) && leaf.value !== "" && !isSecretPath(r, leaf.path)) {
          unmarked.push(`${r.type} ${r.name}: ${leaf.path}`);
        }
      }
    }
    expect(unmarked).toEqual([]);
  });

  it("GIVEN every secret value THEN none appears in a plain input or a plain stack output", async () => {
    const b = await built();
    const secrets = new Set<string>();
    const plain: { where: string; value: string }[] = [];
    for (const r of b.recorder.resources) {
      for (const leaf of leaves(unwrapSecrets(r.inputs))) {
        if (isSecretPath(r, leaf.path)) {
          if (leaf.value.length >= 16 && !/^[a-z0-9.-]+$/.test(leaf.value)) secrets.add(leaf.value);
        } else plain.push({ where: `${r.name}.${leaf.path}`, value: leaf.value });
      }
    }
    for (const [k, v] of Object.entries(b.substrate.outputs)) {
      const out = pulumi.output(v);
      if (await pulumi.isSecret(out)) continue;
      // A name ending in password/secret/credentials promises a secret (an ...SecretArn does not).
      expect(k, `output ${k} looks secret but is not marked`).not.toMatch(/(password|secret|credentials?)$/i);
      for (const leaf of leaves(await valueOf(out))) plain.push({ where: `output ${k}`, value: leaf.value });
    }
    const leaks = plain.filter((p) => [...secrets].some((s) => p.value.includes(s))).map((p) => p.where);
    expect(leaks).toEqual([]);
  });
});
