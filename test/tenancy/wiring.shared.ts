/** Assertions every shipped stack's tenancy and policy objects must satisfy. */
import { expect } from "vitest";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import { PLATFORM_NAMESPACES, teamNamespace } from "../../components/lib/naming";
import { TENANCY_CHARTS } from "../../components/lib/versions";
import { opaDataOf } from "../../stacks/wiring/policy";
import { validateRecorded } from "../helpers/k8s-schema";
import { ofKind, type Wired } from "./wired";

export async function assertBuiltinsValid(w: Wired): Promise<void> {
  const v = await validateRecorded(w.recorder);
  expect(v.invalid).toEqual([]);
  expect(v.validated).toBeGreaterThan(10);
  // Only the CRs without offline schemas are left unvalidated; they get explicit assertions below
  // (a flywheel team's model CA bundle Certificate: test/stacks/transport.test.ts, the e2e).
  for (const k of v.unvalidatedKinds)
    expect(k).toMatch(
      /^(kueue\.x-k8s\.io\/v1beta2 |templates\.gatekeeper\.sh\/v1 |constraints\.gatekeeper\.sh\/v1beta1 |cert-manager\.io\/v1 Certificate$)/,
    );
}

export function assertChildNaming(w: Wired): void {
  for (const r of w.recorder.resources) {
    if (!r.parent) continue;
    const parent = w.recorder.byUrn(r.parent);
    if (parent && !parent.custom)
      expect(r.name.startsWith(`${parent.name}-`), `${r.name} under ${parent.name}`).toBe(true);
  }
}

export function assertTeamNamespaces(w: Wired): void {
  const { config, recorder } = w;
  const namespaces = recorder.ofType("kubernetes:core/v1:Namespace").map((r) => r.inputs.metadata.name);
  for (const t of config.teams) {
    const ns = teamNamespace(t.name);
    expect(namespaces).toContain(ns);
    const nsObj = recorder.ofType("kubernetes:core/v1:Namespace").find((r) => r.inputs.metadata.name === ns)!;
    expect(nsObj.inputs.metadata.labels).toMatchObject({
      team: t.name,
      "cost-center": t.costCenter,
      "pod-security.kubernetes.io/enforce": "restricted",
    });
    const nps = recorder
      .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
      .filter((r) => r.inputs.metadata.namespace === ns);
    const byName: Record<string, any> = Object.fromEntries(
      nps.map((r) => [r.inputs.metadata.name, r.inputs.spec]),
    );
    expect(Object.keys(byName).sort()).toEqual([
      "allow-data-services",
      "allow-dns",
      // A team with the flywheel on: its flywheel pods (only) reach OPA's and the guard's ports,
      // and Postgres; its controller the API server and the base model's pods.
      ...(t.flywheel?.enabled
        ? [
            "allow-flywheel-controller",
            "allow-flywheel-guard",
            "allow-flywheel-opa",
            "allow-flywheel-postgres",
          ]
        : []),
      "allow-monitoring-scrape",
      "allow-same-namespace",
      "default-deny",
    ]);
    expect(byName["default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    // Jobs reach the object store of the substrate and nothing else: the trainer has no
    // Postgres login (the double's services are in-cluster, in "fake").
    const toFake = (port: number) => ({
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "fake" } } }],
      ports: [{ protocol: "TCP", port }],
    });
    expect(byName["allow-data-services"].egress).toEqual([toFake(8333)]);
    expect(byName["allow-dns"].egress[0].ports).toEqual([
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ]);
    // No policy in a team namespace admits traffic from another team's namespace.
    for (const spec of Object.values(byName))
      for (const rule of spec.ingress ?? [])
        for (const from of rule.from ?? [])
          expect(
            from.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] ??
              PLATFORM_NAMESPACES.monitoring,
          ).toBe(PLATFORM_NAMESPACES.monitoring);
    const binding = recorder
      .ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
      .find((r) => r.inputs.metadata.namespace === ns)!;
    expect(binding.inputs.subjects).toEqual([
      { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: t.oidcGroup },
    ]);
    const role = recorder
      .ofType("kubernetes:rbac.authorization.k8s.io/v1:Role")
      .find((r) => r.inputs.metadata.namespace === ns)!;
    expect(JSON.stringify(role.inputs.rules)).not.toContain("secrets");
    // The training identity and its environment.
    const sa = recorder
      .ofType("kubernetes:core/v1:ServiceAccount")
      .find((r) => r.inputs.metadata.namespace === ns)!;
    expect(sa.inputs.metadata.name).toBe("trainer");
    const cm = recorder
      .ofType("kubernetes:core/v1:ConfigMap")
      .find((r) => r.inputs.metadata.namespace === ns)!;
    expect(cm.inputs.data).toMatchObject({
      SOVEREIGN_BUCKET_DATASETS: "fake-datasets",
      SOVEREIGN_BUCKET_CHECKPOINTS: "fake-checkpoints",
      SOVEREIGN_TEAM_PREFIX: `teams/${t.name}/`,
      AWS_ENDPOINT_URL_S3: "http://s3.fake.svc:8333",
    });
  }
}

export function assertKueue(w: Wired): void {
  const { config, recorder } = w;
  const release = recorder.named("kueue-release");
  expect(release.inputs).toMatchObject({
    chart: TENANCY_CHARTS.kueue.chart,
    version: TENANCY_CHARTS.kueue.version,
    namespace: PLATFORM_NAMESPACES.kueue,
  });
  // Pinned explicitly (these wiring tests use a substrate without registry mirrors).
  const kueueRepository = "registry.k8s.io/kueue/kueue";
  expect(release.inputs.values.controllerManager).toEqual({
    ...(config.profile === "prod"
      ? { replicas: 2, podDisruptionBudget: { enabled: true, minAvailable: 1 } }
      : { replicas: 1, podDisruptionBudget: { enabled: false, minAvailable: 1 } }),
    manager: { image: { repository: kueueRepository, tag: "v0.19.4" } },
  });
  const flavors = ofKind(recorder, "kueue.x-k8s.io/v1beta2", "ResourceFlavor");
  expect(flavors.map((f) => f.inputs.metadata.name).sort()).toEqual(
    [...config.gpuPools.map((p) => p.name), "cpu-memory"].sort(),
  );
  for (const p of config.gpuPools) {
    const f = flavors.find((x) => x.inputs.metadata.name === p.name)!;
    // ResourceFlavor v1beta2: spec.nodeLabels (<= 8), spec.tolerations (<= 8, Equal/Exists).
    expect(f.inputs.spec.nodeLabels).toEqual({
      "sovereign.ai/gpu-pool": p.name,
      "sovereign.ai/gpu-type": expect.any(String),
    });
    expect(Object.keys(f.inputs.spec.nodeLabels).length).toBeLessThanOrEqual(8);
    expect(f.inputs.spec.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
    ]);
    expect(f.dependsOn).toContain(release.urn);
  }
  const cqs = ofKind(recorder, "kueue.x-k8s.io/v1beta2", "ClusterQueue");
  expect(cqs.map((q) => q.inputs.metadata.name).sort()).toEqual(
    config.teams.map((t) => `team-${t.name}`).sort(),
  );
  const trainingPools = config.gpuPools.filter((p) => p.purpose === "training").map((p) => p.name);
  for (const t of config.teams) {
    const q = cqs.find((x) => x.inputs.metadata.name === `team-${t.name}`)!.inputs.spec;
    // ClusterQueue v1beta2: cohortName, resourceGroups[].coveredResources/flavors[].resources[].nominalQuota/borrowingLimit.
    expect(q.cohortName).toBe(config.training.cohort);
    expect(q.namespaceSelector).toEqual({
      matchLabels: { "kubernetes.io/metadata.name": teamNamespace(t.name) },
    });
    expect(q.resourceGroups[0].coveredResources).toEqual(["nvidia.com/gpu"]);
    expect(q.resourceGroups[0].flavors.map((f: { name: string }) => f.name)).toEqual(trainingPools);
    for (const f of q.resourceGroups[0].flavors)
      expect(f.resources).toEqual([
        {
          name: "nvidia.com/gpu",
          nominalQuota: t.gpuQuota.nominal,
          borrowingLimit: t.gpuQuota.borrowingLimit,
        },
      ]);
    // Every flavor lists all covered resources, in order (a CEL rule of the CRD).
    for (const g of q.resourceGroups)
      for (const f of g.flavors)
        expect(f.resources.map((r: { name: string }) => r.name)).toEqual(g.coveredResources);
    expect(q.resourceGroups.length).toBeLessThanOrEqual(16);
    expect(q.preemption).toEqual({
      reclaimWithinCohort: "Any",
      borrowWithinCohort: { policy: "LowerPriority" },
      withinClusterQueue: "LowerPriority",
    });
    expect(["Never", "LowerPriority", "Any"]).toContain(q.preemption.reclaimWithinCohort);
    expect(["Never", "LowerPriority", "LowerOrNewerEqualPriority"]).toContain(
      q.preemption.withinClusterQueue,
    );
    expect(q.queueingStrategy).toBe("BestEffortFIFO");
    const lq = ofKind(recorder, "kueue.x-k8s.io/v1beta2", "LocalQueue").find(
      (r) => r.inputs.metadata.namespace === teamNamespace(t.name),
    )!;
    expect(lq.inputs).toMatchObject({
      metadata: { name: "training" },
      spec: { clusterQueue: `team-${t.name}` },
    });
    expect(lq.dependsOn).toContain(release.urn);
  }
}

export function assertGatekeeper(w: Wired): void {
  const { config, recorder } = w;
  expect(recorder.named("gatekeeper-release").inputs).toMatchObject({
    chart: "gatekeeper",
    version: TENANCY_CHARTS.gatekeeper.version,
    repositoryOpts: { repo: TENANCY_CHARTS.gatekeeper.repo },
    namespace: PLATFORM_NAMESPACES.gatekeeper,
    values: { validatingWebhookFailurePolicy: config.profile === "prod" ? "Fail" : "Ignore" },
  });
  const templates = ofKind(recorder, "templates.gatekeeper.sh/v1", "ConstraintTemplate");
  expect(templates.map((t) => t.inputs.metadata.name).sort()).toEqual([
    "k8sallowedimages",
    "k8sflywheelidentity",
    "k8sgputhroughqueue",
    "k8snohostaccess",
    "k8srequiredteamlabels",
  ]);
  for (const t of templates) {
    // ConstraintTemplate v1: name is the lowercased kind; the parameter schema is structural.
    expect(t.inputs.metadata.name).toBe(t.inputs.spec.crd.spec.names.kind.toLowerCase());
    expect(t.inputs.spec.crd.spec.validation.openAPIV3Schema.type).toBe("object");
    expect(t.inputs.spec.targets).toHaveLength(1);
    expect(t.inputs.spec.targets[0].target).toBe("admission.k8s.gatekeeper.sh");
    expect(t.inputs.spec.targets[0].code[0].source.version).toBe("v1");
  }
  const constraints = recorder.resources.filter(
    (r) => r.inputs.apiVersion === "constraints.gatekeeper.sh/v1beta1",
  );
  const byName = Object.fromEntries(constraints.map((c) => [c.inputs.metadata.name, c]));
  expect(Object.keys(byName).sort()).toEqual([
    "allowed-images",
    "flywheel-identity",
    "gpu-through-queue",
    "no-host-access",
    "required-team-labels",
  ]);
  for (const c of constraints) {
    expect(c.inputs.spec.enforcementAction).toBe("deny");
    const template = templates.find((t) => t.inputs.spec.crd.spec.names.kind === c.inputs.kind)!;
    expect(c.dependsOn).toContain(template.urn);
    expect(c.inputs.spec.match.kinds).toContainEqual({ apiGroups: [""], kinds: ["Pod"] });
  }
  // The configured registries, plus Docker Hub's other names when it is allowed (the Rego
  // compares hosts as images write them).
  const hub = config.policy.allowedRegistries.includes("docker.io")
    ? ["index.docker.io", "registry-1.docker.io"]
    : [];
  expect([...byName["allowed-images"].inputs.spec.parameters.registries].sort()).toEqual(
    [...config.policy.allowedRegistries, ...hub].sort(),
  );
  expect(byName["gpu-through-queue"].inputs.spec.parameters).toEqual({
    teamNamespaces: config.teams.map((t) => teamNamespace(t.name)),
    exemptNamespaces: [PLATFORM_NAMESPACES.serving],
    queueLabel: "kueue.x-k8s.io/queue-name",
    gpuResource: "nvidia.com/gpu",
  });
  expect(byName["required-team-labels"].inputs.spec.match.namespaces).toEqual(
    config.teams.map((t) => teamNamespace(t.name)),
  );
  expect(byName["no-host-access"].inputs.spec.match.excludedNamespaces).not.toContain(
    PLATFORM_NAMESPACES.serving,
  );
}

export function assertOpa(w: Wired): void {
  const { config, recorder } = w;
  const ns = PLATFORM_NAMESPACES.policy;
  const dep = recorder.one("kubernetes:apps/v1:Deployment", "opa-deployment").inputs;
  const prod = config.profile === "prod";
  expect(dep.metadata.namespace).toBe(ns);
  expect(dep.spec.replicas).toBe(prod ? 2 : 1);
  const c = dep.spec.template.spec.containers[0];
  expect(c.image).toBe(config.images.opa ?? "docker.io/openpolicyagent/opa:1.22.3-static");
  expect(c.ports).toEqual([{ name: SCRAPE_TARGETS.opa.port, containerPort: 8181, protocol: "TCP" }]);
  expect(c.readinessProbe.httpGet).toEqual({ path: "/health?bundles", port: "http" });
  expect(dep.spec.template.metadata.labels).toMatchObject(SCRAPE_TARGETS.opa.selector);
  const svc = recorder.one("kubernetes:core/v1:Service", "opa-service").inputs;
  expect(svc.metadata).toMatchObject({ name: "opa", namespace: ns });
  expect(svc.metadata.labels).toMatchObject(SCRAPE_TARGETS.opa.selector);
  expect(svc.spec.ports[0]).toMatchObject({ name: "http", port: 8181 });
  expect(recorder.ofType("kubernetes:policy/v1:PodDisruptionBudget").length).toBe(prod ? 1 : 0);
  const cm = recorder.one("kubernetes:core/v1:ConfigMap", "opa-bundle").inputs;
  expect(JSON.parse(cm.data["sovereign.data.json"])).toEqual(JSON.parse(JSON.stringify(opaDataOf(config))));
  expect(cm.data["system.log.mask.rego"]).toContain('mask contains "/input/request/prompt"');
  const guard = JSON.parse(cm.data["sovereign.data.json"]).guard;
  expect(guard.failClosed).toBe(prod ? true : !config.policy.guardFailOpen);
  const ingress = recorder.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "opa-np-opa-ingress").inputs
    .spec;
  const sources = ingress.ingress.flatMap(
    (r: { from: { namespaceSelector: { matchLabels: Record<string, string> } }[] }) =>
      r.from.map((f) => f.namespaceSelector.matchLabels["kubernetes.io/metadata.name"]),
  );
  // The gateway, monitoring and, for teams with the flywheel on, their flywheel pods (the
  // dataset builder asks the data_access decision).
  expect(sources.sort()).toEqual(
    [
      PLATFORM_NAMESPACES.gateway,
      PLATFORM_NAMESPACES.monitoring,
      ...config.teams.filter((t) => t.flywheel?.enabled).map((t) => teamNamespace(t.name)),
    ].sort(),
  );
  // OPA resolves names and reaches nothing else: the gateway asks the guard and passes the
  // verdict in (input.guard), and OPA holds no model server's key.
  const egress = recorder.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "opa-np-opa-egress").inputs
    .spec.egress;
  expect(egress).toEqual([
    {
      to: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
          podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        },
      ],
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    },
  ]);
  expect(
    recorder.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "opa-np-default-deny").inputs.spec,
  ).toEqual({
    podSelector: {},
    policyTypes: ["Ingress", "Egress"],
  });
}
