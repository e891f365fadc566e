import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { identityActions } from "../../components/existing-cluster/credentials";
import { bucketNames, gpuPlacements } from "../../components/existing-cluster/substrate";
import { GPU_TAINT } from "../../components/lib/gpu-catalog";
import { workloadScopes } from "../../components/lib/scopes";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import { renderTrainingJob } from "../../components/platform/training-jobs";
import { CHARTS } from "../../components/lib/versions";
import { existingClusterSubstrate, existingClusterSubstrateArgs } from "../../stacks/wiring/existing-cluster";
import { validateRecorded } from "../helpers/k8s-schema";
import { settle, valueOf } from "../helpers/mocks";
import {
  build,
  config,
  FakePlatform,
  inputsOf,
  onPremProd,
  unwrapped,
  unwrapSecrets,
  type Built,
} from "./harness";

/** cert-manager's kinds (the data CA and the certificates); the e2e checks them against the CRDs. */
const CERT_MANAGER_KINDS = ["cert-manager.io/v1 Certificate", "cert-manager.io/v1 ClusterIssuer"];
const CNPG_KINDS = [
  "postgresql.cnpg.io/v1 Cluster",
  "postgresql.cnpg.io/v1 Database",
  "postgresql.cnpg.io/v1 ScheduledBackup",
];

/** Binds one workload of each kind and the gateway's Postgres login, as the platform layer would. */
function bindAll(s: ReturnType<typeof existingClusterSubstrate>, team: string) {
  const parent = new FakePlatform("platform");
  const opts = { parent };
  return {
    model: s.bindWorkload(
      "platform-model-a",
      {
        kind: "model-server",
        namespace: "sovereign-serving",
        serviceAccountName: "model-a",
        readModels: ["model-a/"],
      },
      opts,
    ),
    model2: s.bindWorkload(
      "platform-model-b",
      {
        kind: "model-server",
        namespace: "sovereign-serving",
        serviceAccountName: "model-b",
        readModels: ["model-b/"],
      },
      opts,
    ),
    gateway: s.bindWorkload(
      "platform-gateway",
      { kind: "gateway", namespace: "sovereign-gateway", serviceAccountName: "gateway" },
      opts,
    ),
    opa: s.bindWorkload(
      "platform-opa",
      { kind: "policy", namespace: "sovereign-policy", serviceAccountName: "opa" },
      opts,
    ),
    training: s.bindWorkload(
      "platform-train",
      { kind: "training", namespace: `team-${team}`, serviceAccountName: "trainer", team },
      opts,
    ),
    pg: s.connectPostgres("platform-gateway-db", "gateway", "sovereign-gateway", opts),
  };
}

function s3Config(b: Built<unknown>): {
  identities: { name: string; credentials: any[]; actions: string[] }[];
} {
  const secret = inputsOf(b.recorder, "kubernetes:core/v1:Secret", "substrate-object-store-s3-config");
  return JSON.parse(secret.stringData.seaweedfs_s3_config);
}

describe("the existing-cluster substrate for the local stack", () => {
  let b: Built<ReturnType<typeof bindAll>>;
  beforeAll(async () => {
    b = await build(existingClusterSubstrate, config("local"), (s) => bindAll(s, "demo"));
  });

  it("GIVEN every object it creates WHEN validated offline THEN all pass, and only CloudNativePG's and cert-manager's kinds lack a schema", async () => {
    const v = await validateRecorded(unwrapped(b.recorder));
    expect(v.invalid).toEqual([]);
    expect(v.validated).toBeGreaterThanOrEqual(12);
    expect(v.unvalidatedKinds).toEqual([...CERT_MANAGER_KINDS, ...CNPG_KINDS.slice(0, 2)]);
  });

  it("GIVEN the local context THEN the provider targets kind-sovereign and may drop state of a deleted cluster", () => {
    const p = inputsOf(b.recorder, "pulumi:providers:kubernetes", "substrate-k8s");
    expect(p.context).toBe("kind-sovereign");
    expect(p.deleteUnreachable).toBe("true");
  });

  it("GIVEN the data namespace THEN only S3 over HTTPS and Postgres are reachable from other namespaces, and the operator reaches its instances' status port and Postgres", () => {
    const all = b.recorder
      .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
      .map((r) => unwrapSecrets(r.inputs) as any);
    // The substrate's policies are the data namespace's, and those of the namespaces it installs
    // operators in (cert-manager, CloudNativePG).
    expect([...new Set(all.map((p) => p.metadata.namespace))].sort()).toEqual([
      "cert-manager",
      "cnpg-system",
      "sovereign-data",
    ]);
    const pols = all.filter((p) => p.metadata.namespace === "sovereign-data");
    const byName = Object.fromEntries(pols.map((p) => [p.metadata.name, p.spec]));
    expect(byName["default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    // Rules that admit traffic from other namespaces, and on which ports.
    const crossNamespace = pols.flatMap((p) =>
      (p.spec.ingress ?? [])
        .filter((r: any) => r.from.some((f: any) => f.namespaceSelector !== undefined))
        .map((r: any) => ({ name: p.metadata.name, from: r.from, ports: r.ports ?? "all" })),
    );
    crossNamespace.sort((x: any, y: any) => x.name.localeCompare(y.name));
    expect(crossNamespace).toEqual([
      {
        name: "allow-cnpg-metrics",
        from: [
          { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "sovereign-monitoring" } } },
        ],
        // The instances' exporter (CloudNativePG's container port `metrics`).
        ports: [{ protocol: "TCP", port: 9187 }],
      },
      {
        name: "allow-cnpg-operator",
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "cnpg-system" } } }],
        ports: [
          { protocol: "TCP", port: 8000 },
          { protocol: "TCP", port: 5432 },
        ],
      },
      {
        name: "allow-s3-and-postgres-clients",
        from: [{ namespaceSelector: {} }],
        ports: [
          { protocol: "TCP", port: 8443 },
          { protocol: "TCP", port: 5432 },
        ],
      },
    ]);
    // The pods the monitoring stack's PodMonitor scrapes, in the namespace it looks in.
    expect(SCRAPE_TARGETS.cnpg.namespace).toBe("sovereign-data");
    expect(byName["allow-cnpg-metrics"].podSelector).toEqual({ matchLabels: SCRAPE_TARGETS.cnpg.selector });
    expect(byName["allow-cnpg-operator"].podSelector).toEqual({
      matchExpressions: [{ key: "cnpg.io/cluster", operator: "Exists" }],
    });
  });

  it("GIVEN a dev profile THEN nothing is protected or retained, so `destroy` leaves nothing behind", () => {
    for (const r of b.recorder.resources) {
      expect(r.protect, r.name).toBe(false);
      expect(r.retainOnDelete, r.name).toBe(false);
    }
  });

  it("GIVEN local THEN one single-pod object store with pinned chart and one Postgres instance without backups", () => {
    const rel = inputsOf(b.recorder, "kubernetes:helm.sh/v3:Release", "substrate-object-store-release");
    expect(rel.chart).toBe("seaweedfs");
    expect(rel.version).toBe(CHARTS.seaweedfs.version);
    expect(rel.repositoryOpts.repo).toBe(CHARTS.seaweedfs.repo);
    expect(rel.values.allInOne.enabled).toBe(true);
    expect(rel.values.allInOne.data.size).toBe("5Gi");
    const op = inputsOf(b.recorder, "kubernetes:helm.sh/v3:Release", "substrate-postgres-operator");
    expect([op.chart, op.version, op.namespace]).toEqual([
      "cloudnative-pg",
      CHARTS.cloudnativePg.version,
      "cnpg-system",
    ]);
    const cluster = inputsOf(
      b.recorder,
      "kubernetes:postgresql.cnpg.io/v1:Cluster",
      "substrate-postgres-cluster",
    );
    expect(cluster.spec.instances).toBe(1);
    expect(cluster.spec.storage).toEqual({ size: "2Gi", storageClass: "standard" });
    expect(cluster.spec.backup).toBeUndefined();
    expect(b.recorder.ofType("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup")).toEqual([]);
    // training is disabled on local: only the gateway gets a role.
    expect(cluster.spec.managed.roles.map((r: any) => r.name)).toEqual(["gateway"]);
  });

  it("GIVEN the buckets WHEN the Job runs THEN it creates exactly the four role buckets", () => {
    const job = inputsOf(b.recorder, "kubernetes:batch/v1:Job", "substrate-object-store-buckets");
    const env = job.spec.template.spec.containers[0].env;
    expect(env.find((e: any) => e.name === "BUCKETS").value).toBe(
      "sovereign-local-checkpoints sovereign-local-datasets sovereign-local-inference-logs sovereign-local-models",
    );
    expect(b.recorder.one("kubernetes:batch/v1:Job").dependsOn).toContain(
      b.recorder.named("substrate-object-store-release").urn,
    );
  });

  it("GIVEN bound workloads WHEN the S3 config renders THEN each has its own keys and exactly its scopes' actions", () => {
    const ids = s3Config(b).identities;
    expect(ids.map((i) => i.name).sort()).toEqual(
      [
        "operator",
        "platform-gateway",
        "platform-model-a",
        "platform-model-b",
        "platform-opa",
        "platform-train",
      ].sort(),
    );
    const buckets = bucketNames("sovereign-local");
    const expected: Record<string, string[]> = {
      "platform-model-a": identityActions(workloadScopes("model-server", undefined, ["model-a/"]), buckets),
      "platform-model-b": identityActions(workloadScopes("model-server", undefined, ["model-b/"]), buckets),
      "platform-gateway": identityActions(workloadScopes("gateway"), buckets),
      "platform-opa": identityActions(workloadScopes("policy"), buckets),
      "platform-train": identityActions(workloadScopes("training", "demo"), buckets),
    };
    for (const [name, actions] of Object.entries(expected)) {
      expect(ids.find((i) => i.name === name)!.actions, name).toEqual(actions);
    }
    const keys = ids.map((i) => i.credentials[0].accessKey);
    expect(new Set(keys).size).toBe(ids.length);
    expect(keys.every((k) => typeof k === "string" && k.startsWith("generated-"))).toBe(true);
    // No identity is an administrator.
    expect(ids.flatMap((i) => i.actions).some((a) => a.startsWith("Admin"))).toBe(false);
  });

  it("GIVEN a bound workload THEN its ServiceAccount and key Secret live in its namespace and env reads keys from it", async () => {
    expect(await valueOf(b.result.gateway.serviceAccountName)).toBe("gateway");
    expect(b.result.gateway.scopes).toEqual(workloadScopes("gateway"));
    expect(b.result.training.scopes).toEqual(workloadScopes("training", "demo"));
    const sa = inputsOf(b.recorder, "kubernetes:core/v1:ServiceAccount", "platform-train-sa");
    expect(sa.metadata).toMatchObject({ name: "trainer", namespace: "team-demo" });
    expect(sa.automountServiceAccountToken).toBe(false);
    const secret = b.recorder.one("kubernetes:core/v1:Secret", "platform-train-keys");
    expect(secret.secretPaths).toContain("stringData");
    const s = inputsOf(b.recorder, "kubernetes:core/v1:Secret", "platform-train-keys");
    expect(s.metadata).toMatchObject({ name: "trainer-s3", namespace: "team-demo" });
    expect(Object.keys(s.stringData).sort()).toEqual(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
    const env = await valueOf(b.result.training.env);
    expect(env).toContainEqual({
      name: "AWS_ENDPOINT_URL_S3",
      value: "https://seaweedfs-all-in-one.sovereign-data.svc.cluster.local:8443",
    });
    expect(env).toContainEqual({ name: "AWS_CA_BUNDLE", value: "/etc/sovereign/object-store-ca/ca.crt" });
    expect(env).toContainEqual({
      name: "AWS_SECRET_ACCESS_KEY",
      valueFrom: { secretKeyRef: { name: "trainer-s3", key: "AWS_SECRET_ACCESS_KEY" } },
    });
  });

  it("GIVEN the trainer's binding THEN a training Job (rendered outside the program) mounts the Secret with the object store's CA where AWS_CA_BUNDLE points", async () => {
    const ca = b.result.training.caBundle!;
    expect(ca, "the trainer gets the store's private CA").toBeDefined();
    const env = Object.fromEntries((await valueOf(b.result.training.env)).map((e) => [e.name, e.value]));
    const pod = (
      renderTrainingJob({
        kind: "lora",
        name: "j",
        team: "demo",
        costCenter: "cc",
        modelPrefix: "m/",
        dataset: "d.jsonl",
      }) as any
    ).spec.template.spec;
    const c = pod.containers[0];
    const m = c.volumeMounts.find((x: any) => String(env.AWS_CA_BUNDLE).startsWith(`${x.mountPath}/`));
    expect(m, `a volume above ${env.AWS_CA_BUNDLE}`).toBeDefined();
    const vol = pod.volumes.find((v: any) => v.name === m.name);
    expect(vol.secret.secretName).toBe(await valueOf(ca.secretName));
    expect(vol.secret.items).toEqual([
      { key: ca.key, path: String(env.AWS_CA_BUNDLE).slice(m.mountPath.length + 1) },
    ]);
    // The Certificate writing it lives in the team's namespace (the Job's).
    const cert = b.recorder
      .ofType("kubernetes:cert-manager.io/v1:Certificate")
      .map((r) => unwrapSecrets(r.inputs) as any)
      .find((x) => x.spec.secretName === vol.secret.secretName);
    expect(cert?.metadata.namespace).toBe("team-demo");
  });

  it("GIVEN the platform's components THEN the ServiceAccount and key Secret are children of the caller and the keys belong to the object store", () => {
    const creds = b.recorder.named("platform-gateway");
    expect(creds.type).toBe("sovereign:existingCluster:WorkloadCredentials");
    expect(b.recorder.byUrn(creds.parent!)?.name).toBe("platform");
    expect(
      b.recorder
        .childrenOf(creds)
        .map((c) => c.name)
        .sort(),
    ).toEqual(["platform-gateway-keys", "platform-gateway-sa"]);
    // The key pair is owned by the object store (no cycle: the caller waits for the store).
    for (const half of ["access-key", "secret-key"]) {
      const key = b.recorder.named(`substrate-object-store-platform-gateway-${half}`);
      expect(key.type).toBe("random:index/randomPassword:RandomPassword");
      expect(b.recorder.byUrn(key.parent!)?.type).toBe("sovereign:existingCluster:ObjectStore");
    }
  });

  it("GIVEN the gateway's Postgres login THEN a verify-full connection Secret lands in its namespace and waits for the database", async () => {
    const pg = b.result.pg;
    expect(await valueOf(pg.host)).toBe("postgres-rw.sovereign-data.svc.cluster.local");
    expect(await valueOf(pg.port)).toBe(5432);
    expect(pg.database).toBe("gateway");
    expect(pg.sslMode).toBe("verify-full");
    const s = inputsOf(b.recorder, "kubernetes:core/v1:Secret", "platform-gateway-db");
    expect(s.metadata).toMatchObject({ name: "gateway-postgres", namespace: "sovereign-gateway" });
    expect(s.stringData).toMatchObject({ username: "gateway", dbname: "gateway", sslmode: "verify-full" });
    const login = inputsOf(b.recorder, "kubernetes:core/v1:Secret", "substrate-postgres-gateway-login");
    expect(login.type).toBe("kubernetes.io/basic-auth");
    expect(login.stringData.password).toBe(s.stringData.password);
    expect(pg.dependsOn.map((r) => (r as any).__name ?? "")).toContain("substrate-postgres-gateway-db");
  });

  it("GIVEN a service without a provisioned database WHEN its login is requested THEN it is refused with the service name", () => {
    const s = b.substrate;
    expect(() => s.connectPostgres("x-training-db", "training" as never, "ns", {})).toThrow(
      'found "training"',
    );
  });

  it("GIVEN the program has finished constructing WHEN a workload is bound later THEN it fails loudly instead of getting keys the server never loads", async () => {
    await settle();
    expect(() =>
      b.substrate.bindWorkload("late", { kind: "gateway", namespace: "x", serviceAccountName: "late" }, {}),
    ).toThrow(/after the S3 config was rendered/);
  });

  it("GIVEN the substrate's outputs THEN operator keys are secret and everything else is plain", async () => {
    const out = b.substrate.outputs;
    expect(await pulumi.isSecret(out.objectStoreOperatorCredentials as pulumi.Output<unknown>)).toBe(true);
    expect(await valueOf(out.objectStoreEndpoint as pulumi.Output<string>)).toMatch(
      /^https:\/\/seaweedfs-all-in-one\./,
    );
    expect(out.kubeContext).toBe("kind-sovereign");
    expect(b.substrate.gpuPools).toEqual({});
    expect(b.substrate.storageClasses.default).toBe("standard");
    expect(b.substrate.objectStore.forcePathStyle).toBe(true);
  });
});

describe("the existing-cluster substrate for an on-prem prod stack", () => {
  let b: Built<ReturnType<typeof bindAll>>;
  beforeAll(async () => {
    b = await build(existingClusterSubstrate, onPremProd(), (s) => bindAll(s, "demo"));
  });

  it("GIVEN every object WHEN validated offline THEN all pass", async () => {
    const v = await validateRecorded(unwrapped(b.recorder));
    expect(v.invalid).toEqual([]);
    expect(v.unvalidatedKinds).toEqual([...CERT_MANAGER_KINDS, ...CNPG_KINDS]);
  });

  it("GIVEN prod THEN the Postgres cluster, the object-store release and the data namespace are protected and retained", () => {
    for (const name of [
      "substrate-postgres-cluster",
      "substrate-object-store-release",
      "substrate-data-ns",
    ]) {
      const r = b.recorder.named(name);
      expect([r.protect, r.retainOnDelete], name).toEqual([true, true]);
    }
    // Compute is not protected: the operator and the bucket Job can be replaced or removed.
    expect(b.recorder.named("substrate-postgres-operator").protect).toBe(false);
    expect(b.recorder.named("substrate-object-store-buckets").protect).toBe(false);
    const rel = inputsOf(b.recorder, "kubernetes:helm.sh/v3:Release", "substrate-object-store-release");
    expect(rel.values.volume.dataDirs[0].annotations).toEqual({ "helm.sh/resource-policy": "keep" });
    expect(
      inputsOf(b.recorder, "kubernetes:postgresql.cnpg.io/v1:Database", "substrate-postgres-gateway-db").spec
        .databaseReclaimPolicy,
    ).toBe("retain");
  });

  it("GIVEN prod THEN three instances with PDBs and daily backups to the object store with their own scoped identity", () => {
    const cluster = inputsOf(
      b.recorder,
      "kubernetes:postgresql.cnpg.io/v1:Cluster",
      "substrate-postgres-cluster",
    );
    expect(cluster.spec.instances).toBe(3);
    expect(cluster.spec.enablePDB).toBe(true);
    expect(cluster.spec.storage).toEqual({ size: "100Gi", storageClass: "ceph-block" });
    expect(cluster.spec.backup.retentionPolicy).toBe("14d");
    expect(cluster.spec.backup.barmanObjectStore.destinationPath).toBe("s3://acme-ai-pg-backups/");
    expect(cluster.spec.backup.barmanObjectStore.endpointURL).toBe(
      "https://seaweedfs-s3.sovereign-data.svc.cluster.local:8443",
    );
    // Backups verify the store with the CA of the Secret its Certificate writes (same namespace).
    const s3Cert = inputsOf(
      b.recorder,
      "kubernetes:cert-manager.io/v1:Certificate",
      "substrate-object-store-s3-certificate",
    );
    expect(cluster.spec.backup.barmanObjectStore.endpointCA).toEqual({
      name: s3Cert.spec.secretName,
      key: "ca.crt",
    });
    expect(s3Cert.metadata.namespace).toBe(cluster.metadata.namespace);
    expect(cluster.spec.managed.roles.map((r: any) => r.name)).toEqual(["gateway"]);
    const sched = inputsOf(
      b.recorder,
      "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup",
      "substrate-postgres-backup-schedule",
    );
    expect(sched.spec.cluster).toEqual({ name: "postgres" });
    const backupId = s3Config(b).identities.find((i) => i.name === "postgres-backup")!;
    expect(backupId.actions).toEqual([
      "Read:acme-ai-pg-backups",
      "List:acme-ai-pg-backups",
      "Write:acme-ai-pg-backups",
    ]);
    const creds = inputsOf(b.recorder, "kubernetes:core/v1:Secret", "substrate-postgres-backup-s3");
    expect(creds.stringData.ACCESS_KEY_ID).toBe(backupId.credentials[0].accessKey);
    // The cluster waits for the bucket it archives WAL to.
    expect(b.recorder.named("substrate-postgres-cluster").dependsOn).toContain(
      b.recorder.named("substrate-object-store-buckets").urn,
    );
    const job = inputsOf(b.recorder, "kubernetes:batch/v1:Job", "substrate-object-store-buckets");
    expect(job.spec.template.spec.containers[0].env.find((e: any) => e.name === "BUCKETS").value).toContain(
      "acme-ai-pg-backups",
    );
  });

  it("GIVEN prod THEN the object store is distributed and the provider keeps state of an unreachable cluster", () => {
    const rel = inputsOf(b.recorder, "kubernetes:helm.sh/v3:Release", "substrate-object-store-release");
    expect(rel.values.master.replicas).toBe(3);
    expect(rel.values.s3.replicas).toBe(2);
    expect(inputsOf(b.recorder, "pulumi:providers:kubernetes", "substrate-k8s").deleteUnreachable).toBe(
      "false",
    );
  });

  it("GIVEN GPU pools THEN placement uses the configured node labels and tolerates the GPU taint", () => {
    expect(b.substrate.gpuPools["training-h100"]).toEqual({
      gpuType: "nvidia-h100",
      gpusPerNode: 8,
      nodeSelector: { "node.acme.example/gpu": "h100" },
      tolerations: [{ key: GPU_TAINT.key, operator: "Exists", effect: "NoSchedule" }],
      capacityType: "on-demand",
    });
    expect(Object.keys(b.substrate.gpuPools).sort()).toEqual(["serving-l40s", "training-h100"]);
    expect(gpuPlacements([])).toEqual({});
  });

  it("GIVEN prod with training enabled THEN only the gateway has a Postgres login (training jobs use none)", () => {
    expect(onPremProd().training.enabled).toBe(true);
    expect(existingClusterSubstrateArgs(onPremProd()).postgres.services).toEqual(["gateway"]);
  });
});

describe("the cluster wiring", () => {
  it("GIVEN a non-cluster config WHEN mapped THEN it is refused naming the kind", () => {
    expect(() => existingClusterSubstrateArgs(config("aws-dev"))).toThrow('found "aws"');
  });

  it("GIVEN a dev config without explicit instances THEN one instance; prod defaults to three", () => {
    expect(
      existingClusterSubstrateArgs(config("local", (r) => delete r.database.instances)).postgres.instances,
    ).toBe(1);
    const prod = onPremProd();
    expect(
      existingClusterSubstrateArgs({ ...prod, database: { ...prod.database, instances: undefined } }).postgres
        .instances,
    ).toBe(3);
  });
});
