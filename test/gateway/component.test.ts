/** The gateway's platform component and wiring, under recording mocks with the substrate test double. */
import { beforeAll, describe, expect, it } from "vitest";
import { gatewayUrl, modelServerUrl } from "../../components/lib/endpoints";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { validateConfig } from "../../stacks/config/validate";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { awsLoadBalancerAnnotations } from "../../components/aws/substrate";
import { DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS } from "../../components/existing-cluster/substrate";
import { existingClusterSubstrateArgs } from "../../stacks/wiring/existing-cluster";
import { gatewayCatalog, gatewayReplicas, wireGateway } from "../../stacks/wiring/gateway";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { TestCa } from "../helpers/pki";
import { validateRecorded } from "../helpers/k8s-schema";
import { installMocks, settle, valueOf, type ResourceRecorder } from "../helpers/mocks";
import { parseConfig } from "../../stacks/config/validate";
import { loadConfig } from "../../gateway/src/config";
import { WasmPolicy } from "../../gateway/src/policy";
import { WASM_DATA_FILE } from "../../components/lib/gateway-policy";
import { opaDataOf } from "../../stacks/wiring/policy";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const recorder: ResourceRecorder = installMocks();
const config = (stack: string) => {
  const raw = rawFromStackFile(stackFile(stack));
  return parseConfig(raw.raw, { secretKeys: raw.secretKeys });
};

describe("GIVEN the aws-prod stack's config wired onto a substrate", () => {
  let outputs: Record<string, unknown>;
  beforeAll(async () => {
    outputs = wireGateway(config("aws-prod"), { stack: "aws-prod" }, fakeSubstrate());
    await settle();
  });
  const one = (type: string) =>
    recorder.resources.find((r) => r.type === type && r.name.startsWith("gateway"))!;

  it("WHEN it is deployed THEN the Deployment runs >= 2 hardened non-root replicas with the pinned image", () => {
    const d = one("kubernetes:apps/v1:Deployment").inputs;
    expect(d.metadata.namespace).toBe(PLATFORM_NAMESPACES.gateway);
    // The HPA owns the replica count: the Deployment leaves it unset, the HPA keeps >= 2.
    expect(d.spec.replicas).toBeUndefined();
    expect(one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec.minReplicas).toBe(3);
    const c = d.spec.template.spec.containers[0];
    expect(c.image).toMatch(/gateway:\d+\.\d+\.\d+$/);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(c.ports).toEqual([
      { name: "https", containerPort: 8080, protocol: "TCP" },
      { name: SCRAPE_TARGETS.gateway.port, containerPort: 9090, protocol: "TCP" },
    ]);
    expect(SCRAPE_TARGETS.gateway.port).toBe("metrics");
    expect(d.spec.template.metadata.labels).toMatchObject(SCRAPE_TARGETS.gateway.selector);
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(env.GATEWAY_OPA_URL).toBe("http://opa.sovereign-policy.svc.cluster.local:8181");
    expect(env.GATEWAY_CAPTURE_BUCKET).toBe("fake-inference-logs");
    expect(env.PGPASSWORD).toEqual({ secretKeyRef: { name: "gateway-postgres", key: "password" } });
    expect(env.PGSSLMODE).toBe("verify-full");
    // PGSSLROOTCERT is the substrate's CA ConfigMap key, at the path it is mounted.
    const caVol = d.spec.template.spec.volumes.find((v: any) => v.configMap?.name === "gateway-postgres-ca");
    const caMount = c.volumeMounts.find((m: any) => m.name === caVol.name);
    expect(env.PGSSLROOTCERT).toBe(`${caMount.mountPath}/ca.crt`);
    expect(env.AWS_ENDPOINT_URL_S3).toBe("http://s3.fake.svc:8333");
    expect(d.spec.template.spec.serviceAccountName).toBe("gateway");
  });

  it("WHEN the catalog ConfigMap is read by the gateway's own loader THEN it loads and routes adapters to their base model", () => {
    const cm = recorder
      .ofType("kubernetes:core/v1:ConfigMap")
      .find((r) => r.inputs.metadata.name === "gateway-catalog")!.inputs;
    const cfg = loadConfig({
      GATEWAY_OPA_URL: "http://opa:8181",
      GATEWAY_OIDC_ISSUER: "https://idp",
      GATEWAY_OIDC_AUDIENCE: "a",
      GATEWAY_CATALOG: cm.data["catalog.json"],
    });
    expect(cfg.catalog.routes["llama-3-1-8b-instruct"]).toBe(modelServerUrl("llama-3-1-8b-instruct"));
    // The adapter's classification reaches the gateway (it goes into every capture record).
    expect(cfg.catalog.models["legal-lora"]).toEqual({
      role: "chat",
      baseModel: "llama-3-1-8b-instruct",
      dataClassification: "confidential",
    });
    expect(cfg.catalog.teams.legal.budgets).toEqual({ tokensPerDay: 5_000_000, requestsPerMinute: 1200 });
  });

  it("WHEN a restarted pod waits, bounded, for both migration locks (a team's writer holds them) THEN its startup probe outlasts both waits", () => {
    const d = one("kubernetes:apps/v1:Deployment").inputs;
    const c = d.spec.template.spec.containers[0];
    // The lock wait the pod's gateway reads from its own env (the default when the env sets none).
    const plain = Object.fromEntries(
      c.env
        .filter((e: { value?: string }) => typeof e.value === "string")
        .map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    // The pod mounts the model CA's bundle where GATEWAY_MODEL_CA_FILE points: a test CA stands in.
    const modelCa = new TestCa("component test model CA");
    let cfg: ReturnType<typeof loadConfig>;
    try {
      cfg = loadConfig(
        { ...plain, GATEWAY_CATALOG: JSON.stringify({ teams: {}, models: {}, routes: {} }) },
        (p) => fs.readFileSync(p === plain.GATEWAY_MODEL_CA_FILE ? modelCa.cert : p, "utf8"),
      );
    } finally {
      modelCa.destroy();
    }
    const waitSeconds = cfg.migrationLockWaitMs! / 1000;
    expect(waitSeconds).toBeGreaterThan(0);
    // start() waits for the gateway's lock, then the registry's, before it listens on /healthz;
    // one probe period of margin for everything else the start does.
    const budget = c.startupProbe.periodSeconds * c.startupProbe.failureThreshold;
    expect(2 * waitSeconds + c.startupProbe.periodSeconds).toBeLessThan(budget);
  });

  it("WHEN the availability objects are read THEN a PDB keeps one pod and the HPA scales between the bounds", () => {
    expect(one("kubernetes:policy/v1:PodDisruptionBudget").inputs.spec.minAvailable).toBe(1);
    const hpa = one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec;
    expect([hpa.minReplicas, hpa.maxReplicas]).toEqual([3, 10]);
    expect(hpa.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "gateway" });
  });

  it("WHEN it is exposed THEN the Service matches gatewayUrl() and the load balancer is internal", async () => {
    const svcs = recorder.ofType("kubernetes:core/v1:Service").map((r) => r.inputs);
    const svc = svcs.find((s) => s.spec.type === "ClusterIP")!;
    expect(
      `https://${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local:${svc.spec.ports[0].port}`,
    ).toBe(gatewayUrl());
    expect(svc.metadata.labels).toMatchObject(SCRAPE_TARGETS.gateway.selector);
    expect(svc.spec.ports[0].name).toBe("https");
    // The ServiceMonitor scrapes the Service port named as in SCRAPE_TARGETS: the metrics port.
    expect(
      svc.spec.ports.find((p: { name: string }) => p.name === SCRAPE_TARGETS.gateway.port),
    ).toMatchObject({
      port: 9090,
      targetPort: SCRAPE_TARGETS.gateway.port,
    });
    const lb = svcs.find((s) => s.spec.type === "LoadBalancer")!;
    // the substrate's own annotations for an internal load balancer, nothing cloud-specific
    expect(lb.metadata.annotations).toEqual({ "fake.example/load-balancer": "internal" });
    expect(await valueOf(outputs.gatewayUrl as never)).toBe(gatewayUrl());
  });

  it("WHEN the NetworkPolicy is read THEN ingress is the http port, the metrics port from the monitoring namespace only, and egress is limited to what the gateway calls", () => {
    const policies = recorder.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.inputs);
    // The namespace is default-deny both ways; the gateway's own policy adds its flows.
    expect(policies.find((p) => p.metadata.name === "default-deny")!.spec).toEqual({
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
    });
    const np = policies.find((p) => p.metadata.name === "gateway")!.spec;
    expect(np.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(np.ingress).toEqual([
      { ports: [{ protocol: "TCP", port: 8080 }] },
      {
        from: [
          {
            namespaceSelector: {
              matchLabels: { "kubernetes.io/metadata.name": PLATFORM_NAMESPACES.monitoring },
            },
          },
        ],
        ports: [{ protocol: "TCP", port: 9090 }],
      },
    ]);
    const targets = np.egress.map(
      (e: {
        to?: { namespaceSelector?: { matchLabels: Record<string, string> } }[];
        ports: { port: number }[];
      }) => ({
        ns: e.to?.[0]?.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"],
        ports: e.ports.map((p) => p.port),
      }),
    );
    expect(targets).toContainEqual({ ns: PLATFORM_NAMESPACES.policy, ports: [8181] });
    expect(targets).toContainEqual({ ns: PLATFORM_NAMESPACES.serving, ports: [8000] });
    // Postgres and the object store where the substrate says (the double's "fake" namespace), not
    // their ports on every address; only HTTPS (the identity provider) goes anywhere.
    expect(targets).toContainEqual({ ns: "fake", ports: [5432] });
    expect(targets).toContainEqual({ ns: "fake", ports: [8333] });
    const anywhere = np.egress.filter((e: { to?: unknown }) => e.to === undefined);
    expect(anywhere).toEqual([{ ports: [{ protocol: "TCP", port: 443 }] }]);
  });

  it("WHEN the policy ConfigMap is mounted as the pod mounts it THEN the gateway's own loader decides with it, on the data OPA gets, and a change of it rolls no pod", async () => {
    const d = one("kubernetes:apps/v1:Deployment").inputs;
    const c = d.spec.template.spec.containers[0];
    const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    // the model CA file is cert-manager's at run time (gateway/test/model-tls.test.ts reads it)
    delete env.GATEWAY_MODEL_CA_FILE;
    const cfg = loadConfig({ ...env, GATEWAY_CATALOG: "{}" });
    expect(cfg.policy.mode).toBe("wasm");
    // The folder the gateway reads is the mount of the volume of the policy ConfigMap (no subPath:
    // the kubelet then updates the files in place).
    const mount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === cfg.policy.dir);
    expect(mount).toBeDefined();
    expect(mount.subPath).toBeUndefined();
    const volume = d.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name);
    const cm = recorder
      .ofType("kubernetes:core/v1:ConfigMap")
      .map((r) => r.inputs)
      .find((x) => x.metadata.name === volume.configMap.name)!;
    expect(Object.keys(d.spec.template.metadata.annotations)).toEqual(["sovereign.ai/catalog-digest"]);
    // As the kubelet writes it: data as text, binaryData decoded.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-gw-policy-"));
    try {
      for (const [k, v] of Object.entries(cm.data as Record<string, string>))
        fs.writeFileSync(path.join(dir, k), v);
      for (const [k, v] of Object.entries(cm.binaryData as Record<string, string>))
        fs.writeFileSync(path.join(dir, k), Buffer.from(v, "base64"));
      expect(JSON.parse(cm.data[WASM_DATA_FILE] as string)).toEqual(opaDataOf(config("aws-prod")));
      const policy = await WasmPolicy.open({ dir, pollMs: 0 });
      const input = {
        subject: { sub: "u", groups: ["legal-ai-users"], team: "legal" },
        request: {
          model: "legal-lora",
          endpoint: "/v1/chat/completions" as const,
          messages: [{ role: "user" as const, content: "Summarise clause 14." }],
          estimatedTokens: 10,
        },
        context: { time: "t", clientAddress: "10.0.0.1", usage: { tokensToday: 0, requestsThisMinute: 0 } },
      };
      // prod asks its guard first, then decides with the verdict
      const first = policy.planSync(input);
      expect(first).toMatchObject({
        guard: { url: modelServerUrl("llama-guard-3-8b") + "/v1/chat/completions" },
      });
      expect(policy.planSync({ ...input, guard: { verdict: "safe", categories: [] } })).toMatchObject({
        decision: { allow: true, reasons: [] },
      });
      expect(policy.planSync({ ...input, guard: { verdict: "down", categories: [] } })).toMatchObject({
        decision: { allow: false, reasons: ["guard_unavailable"] },
      });
      policy.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("WHEN every recorded object is validated offline THEN none is invalid", async () => {
    const r = await validateRecorded(recorder);
    // The Secret is the substrate double's (its secret password is recorded as a secret wrapper).
    expect(r.invalid.filter((x) => x.kind !== "v1 Secret")).toEqual([]);
    expect(r.validated).toBeGreaterThanOrEqual(7);
  });
});

describe("GIVEN replica settings", () => {
  it("WHEN the local (dev) stack leaves them unset THEN one replica; prod defaults to the HA count", () => {
    expect(gatewayReplicas(config("local"))).toEqual({ min: 1, max: 3 });
    const prod = config("aws-prod");
    expect(gatewayReplicas({ ...prod, gateway: { ...prod.gateway, replicas: {} } })).toEqual({
      min: 2,
      max: 6,
    });
  });

  it("WHEN prod asks for one replica THEN the config is rejected naming the path", () => {
    const raw = rawFromStackFile(stackFile("aws-prod")).raw as Record<string, any>;
    const bad = {
      ...raw,
      gateway: { ...raw.gateway, replicas: { min: 1, max: 1 }, redactPatterns: ["(unclosed"] },
    };
    const r = validateConfig(bad);
    const msgs = JSON.stringify(r);
    expect(msgs).toContain("expected at least 2 replicas in prod, found 1");
    expect(msgs).toContain('expected a regular expression, found \\"(unclosed\\"');
  });

  it("WHEN the catalog is built for local THEN the adapter resolves to the base model's server", () => {
    const c = gatewayCatalog(config("local"));
    expect(c.models["tiny-chat-support"]).toEqual({
      role: "chat",
      baseModel: "tiny-chat",
      dataClassification: "public",
    });
    expect(c.routes["tiny-chat"]).toBe(modelServerUrl("tiny-chat"));
  });
});

describe("GIVEN every shipped stack", () => {
  it("WHEN replicas are resolved THEN prod stacks run at least 2 and max is never below min", () => {
    for (const stack of shippedStacks()) {
      const c = config(stack);
      const r = gatewayReplicas(c);
      expect({ stack, ok: r.max >= r.min && (c.profile !== "prod" || r.min >= 2) }).toEqual({
        stack,
        ok: true,
      });
    }
  });

  it("GIVEN AWS WHEN a load balancer is internal or public THEN EKS's own service controller makes an NLB, internal unless public", () => {
    // `nlb` is served by the controller EKS runs; `external` would need the AWS Load Balancer Controller.
    expect(awsLoadBalancerAnnotations("internal")).toEqual({
      "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
      "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    });
    expect(awsLoadBalancerAnnotations("public")).toEqual({
      "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    });
  });

  it("GIVEN an existing cluster WHEN no annotations are configured THEN GKE's, AKS's and AWS's internal keys are used; configured ones replace them", () => {
    // without its key, a cloud's controller makes an internet-facing load balancer
    expect(DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS.internal).toEqual({
      "networking.gke.io/load-balancer-type": "Internal",
      "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
      "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    });
    expect(DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS.public).toEqual({});
    const args = existingClusterSubstrateArgs(
      parseConfig({
        ...rawFromStackFile(stackFile("local")).raw,
        substrate: {
          kind: "existing-cluster",
          context: "kind-sovereign",
          loadBalancerAnnotations: { internal: { "metallb.universe.tf/address-pool": "internal" } },
        },
      }),
    );
    expect(args.loadBalancerAnnotations).toEqual({
      internal: { "metallb.universe.tf/address-pool": "internal" },
    });
  });
});
