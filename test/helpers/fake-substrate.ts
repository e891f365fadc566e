/**
 * A test double of the `Substrate` interface for unit tests of platform components: real
 * Kubernetes provider and ServiceAccounts/Secrets under mocks, fixed endpoints. Whole-program
 * tests use the real substrates instead.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GPU_POOL_LABEL, GPU_TAINT, GPU_TYPE_LABEL } from "../../components/lib/gpu-catalog";
import { workloadScopes } from "../../components/lib/scopes";
import type { GpuPlacement, Substrate } from "../../components/substrate";
import type { ChartMirror } from "../../components/lib/versions";

export function fakeSubstrate(
  opts: {
    gpuPools?: Record<string, { gpuType: string; gpusPerNode: number; capacityType?: "on-demand" | "spot" }>;
    registryMirrors?: Record<string, string>;
    chartMirror?: ChartMirror;
  } = {},
): Substrate {
  const provider = new k8s.Provider("fake-k8s", { context: "fake" });
  const gpuPools: Record<string, GpuPlacement> = {};
  for (const [name, p] of Object.entries(opts.gpuPools ?? {})) {
    gpuPools[name] = {
      gpuType: p.gpuType,
      gpusPerNode: p.gpusPerNode,
      nodeSelector: { [GPU_POOL_LABEL]: name, [GPU_TYPE_LABEL]: p.gpuType },
      tolerations: [
        { key: GPU_TAINT.key, operator: "Equal", value: GPU_TAINT.value, effect: GPU_TAINT.effect },
      ],
      capacityType: p.capacityType ?? "on-demand",
    };
  }
  const bucket = (b: string) => pulumi.output(`fake-${b}`);
  return {
    kind: "existing-cluster",
    provider,
    objectStore: {
      endpoint: pulumi.output("http://s3.fake.svc:8333"),
      region: "us-east-1",
      forcePathStyle: true,
      buckets: {
        models: bucket("models"),
        datasets: bucket("datasets"),
        checkpoints: bucket("checkpoints"),
        inferenceLogs: bucket("inference-logs"),
      },
    },
    apiServer: { peers: [{ ipBlock: { cidr: "192.0.2.10/32" } }], ports: [6443] },
    nodes: [{ ipBlock: { cidr: "192.0.2.0/24" } }],
    // The double's services are in-cluster, in namespace "fake".
    egressTargets: {
      objectStore: pulumi.output([
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "fake" } } }],
          ports: [{ protocol: "TCP" as const, port: 8333 }],
        },
      ]),
      postgres: pulumi.output([
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "fake" } } }],
          ports: [{ protocol: "TCP" as const, port: 5432 }],
        },
      ]),
    },
    storageClasses: { default: "standard" },
    gpuPools,
    registryMirrors: pulumi.output(opts.registryMirrors ?? {}),
    chartMirror: opts.chartMirror,
    ready: [],
    loadBalancerAnnotations: (exposure) => ({ "fake.example/load-balancer": exposure }),
    bindWorkload(name, req, opts) {
      const sa = new k8s.core.v1.ServiceAccount(
        name,
        { metadata: { name: req.serviceAccountName, namespace: req.namespace } },
        { ...opts, provider },
      );
      return {
        serviceAccountName: sa.metadata.name,
        env: pulumi.output([
          { name: "AWS_ENDPOINT_URL_S3", value: "http://s3.fake.svc:8333" },
          { name: "AWS_REGION", value: "us-east-1" },
        ]),
        scopes: workloadScopes(req.kind, req.team, req.readModels),
        dependsOn: [sa],
      };
    },
    connectPostgres(name, service, namespace, opts) {
      const secret = new k8s.core.v1.Secret(
        name,
        {
          metadata: { name: `${service}-postgres`, namespace },
          stringData: { username: service, password: pulumi.secret("fake-password") },
        },
        { ...opts, provider },
      );
      const ca = new k8s.core.v1.ConfigMap(
        `${name}-ca`,
        { metadata: { name: `${service}-postgres-ca`, namespace }, data: { "ca.crt": "fake CA bundle" } },
        { ...opts, provider },
      );
      return {
        host: pulumi.output("postgres.fake.svc"),
        port: pulumi.output(5432),
        database: service,
        secretName: secret.metadata.name,
        sslMode: "verify-full",
        rootCert: { configMapName: ca.metadata.name, key: "ca.crt" },
        dependsOn: [secret, ca],
      };
    },
  };
}
