import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLASSIFICATIONS, clearedFor } from "../../components/lib/classification";
import { identityActions } from "../../components/existing-cluster/credentials";
import { teamNamespace } from "../../components/lib/naming";
import { planKueue } from "../../components/platform/kueue";
import {
  QUEUE_LABEL,
  opaDataFromConfig,
  planTenancy,
  teamClusterQueue,
  type TeamInput,
} from "../../components/platform/tenancy-plan";
import { jobPrefix, renderTrainingJob } from "../../components/platform/training-jobs";

const MODELS = [
  {
    name: "chat-a",
    role: "chat" as const,
    dataClassification: "internal" as const,
    loraAdapters: [{ name: "lora-a" }],
  },
  { name: "embed-b", role: "embedding" as const, dataClassification: "public" as const, loraAdapters: [] },
];
const SERVED = ["chat-a", "lora-a", "embed-b"];
/** Models' weights: prefixes anywhere in the bucket, some under a team's own folder. */
const weightsArb = fc.array(
  fc.record({
    source: fc.oneof(
      fc.stringMatching(/^[a-z][a-z0-9.-]{0,12}\/?$/),
      fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/).map((t) => `teams/${t}/q1/`),
    ),
    dataClassification: fc.constantFrom(...CLASSIFICATIONS),
  }),
  { maxLength: 5 },
);
const BUCKETS = { models: "m", datasets: "d", checkpoints: "c", inferenceLogs: "l" };
const label = fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/);

const teamsArb = fc
  .uniqueArray(
    fc.record({
      name: label,
      oidcGroup: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim().length > 0),
      // Half the time the cluster names the group otherwise (an authenticator's prefix).
      kubernetesGroup: fc.option(fc.stringMatching(/^oidc:[a-z0-9-]{1,20}$/), { nil: undefined }),
      costCenter: fc.stringMatching(/^cc-[0-9]{1,5}$/),
      clearance: fc.constantFrom(...CLASSIFICATIONS),
      allowedModels: fc.subarray(SERVED),
      gpuQuota: fc.record({ nominal: fc.nat(16), borrowingLimit: fc.nat(16) }),
      budgets: fc.record({
        tokensPerDay: fc.integer({ min: 1, max: 10_000_000 }),
        requestsPerMinute: fc.integer({ min: 1, max: 10_000 }),
      }),
      allowCapture: fc.boolean(),
    }),
    { minLength: 1, maxLength: 6, selector: (t) => t.name },
  )
  .filter((ts) => new Set(ts.map((t) => t.oidcGroup)).size === ts.length)
  .filter((ts) => new Set(ts.map((t) => t.kubernetesGroup ?? t.oidcGroup)).size === ts.length);

const placement = {
  gpuType: "nvidia-l40s",
  gpusPerNode: 8,
  nodeSelector: { "sovereign.ai/gpu-pool": "train" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" }],
  capacityType: "spot" as const,
};

describe("tenancy consistency (property)", () => {
  it("GIVEN generated team configs WHEN planned THEN namespace, queue, binding, storage scope, OPA data and job agree for every team", () => {
    fc.assert(
      fc.property(teamsArb, fc.boolean(), weightsArb, (teams: TeamInput[], training, weights) => {
        const plans = planTenancy({ teams, trainingEnabled: training, cohort: "shared", models: weights });
        const kueue = planKueue({
          pools: [{ name: "train", purpose: "training", placement }],
          teams,
          cohort: "shared",
        });
        const opa = opaDataFromConfig({
          teams,
          models: MODELS,
          guard: { timeoutMs: 1000, failClosed: true },
          redactPatterns: [],
        });
        expect(plans.map((p) => p.team)).toEqual(teams.map((t) => t.name));
        expect(Object.keys(opa.teams).sort()).toEqual(teams.map((t) => t.name).sort());
        for (const [i, plan] of plans.entries()) {
          const t = teams[i];
          const ns = teamNamespace(t.name);
          // Namespace: named for the team, labelled for it, Pod Security restricted.
          expect(plan.namespace.metadata.name).toBe(ns);
          expect(plan.namespace.metadata.labels.team).toBe(t.name);
          expect(plan.namespace.metadata.labels["cost-center"]).toBe(t.costCenter);
          expect(plan.namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
          // Every namespaced object lives in that namespace.
          for (const o of [
            ...plan.networkPolicies,
            plan.role,
            plan.roleBinding,
            ...(plan.localQueue ? [plan.localQueue] : []),
          ])
            expect(o.metadata.namespace).toBe(ns);
          expect(
            plan.networkPolicies.find((n) => n.metadata.name === "default-deny")?.spec.policyTypes,
          ).toEqual(["Ingress", "Egress"]);
          // RBAC: the team's group as the cluster names it (else its OIDC group), bound to the
          // namespace Role; OPA knows the team by its OIDC group (the token's claim).
          expect(plan.roleBinding.subjects).toEqual([
            { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: t.kubernetesGroup ?? t.oidcGroup },
          ]);
          expect(plan.roleBinding.roleRef).toEqual({
            apiGroup: "rbac.authorization.k8s.io",
            kind: "Role",
            name: plan.role.metadata.name,
          });
          // Queue: LocalQueue → the team's ClusterQueue, which admits only this namespace with this quota.
          expect(plan.clusterQueue).toBe(teamClusterQueue(t.name));
          const cq = kueue.clusterQueues.find((q) => q.metadata.name === plan.clusterQueue)!;
          expect(cq.spec.namespaceSelector).toEqual({ matchLabels: { "kubernetes.io/metadata.name": ns } });
          expect(cq.spec.cohortName).toBe("shared");
          expect(cq.spec.resourceGroups[0].flavors[0].resources[0]).toEqual({
            name: "nvidia.com/gpu",
            nominalQuota: t.gpuQuota.nominal,
            borrowingLimit: t.gpuQuota.borrowingLimit,
          });
          if (training) expect(plan.localQueue?.spec.clusterQueue).toBe(plan.clusterQueue);
          else expect(plan.localQueue).toBeUndefined();
          // Storage: writes only under the team's prefix; reads never the whole bucket, never
          // another team's prefix, and of the models only those within the team's clearance.
          const own = `teams/${t.name}/`;
          const cleared = weights
            .filter((w) => clearedFor(t.clearance, w.dataClassification))
            .map((w) => (w.source.endsWith("/") ? w.source : `${w.source}/`));
          for (const s of plan.storageScopes) {
            if (s.access !== "read") expect(s.prefix).toBe(own);
            expect(s.prefix, `${s.bucket} read of team ${t.name}`).not.toBe("");
            if (s.prefix.startsWith("teams/")) expect(s.prefix).toBe(own);
            if (s.bucket === "models" && s.prefix !== own) expect(cleared).toContain(s.prefix);
          }
          for (const w of cleared.filter((p) => !p.startsWith("teams/")))
            expect(plan.storageScopes).toContainEqual({ bucket: "models", prefix: w, access: "read" });
          // The same holds for what the in-cluster store enforces (SeaweedFS actions).
          for (const action of identityActions(plan.storageScopes, BUCKETS)) {
            const target = action.slice(action.indexOf(":") + 1);
            expect(target, action).toContain("/");
            if (target.includes("/teams/"))
              expect(target.startsWith(`${target.split("/")[0]}/${own}`)).toBe(true);
          }
          // OPA: the same group, clearance, models and budgets.
          expect(opa.teams[t.name]).toEqual(plan.opa);
          expect(plan.opa.oidcGroup).toBe(t.oidcGroup);
          expect(plan.opa.allowedModels).toEqual(t.allowedModels);
          expect(plan.opa.trainableClassifications).not.toContain(
            CLASSIFICATIONS[CLASSIFICATIONS.indexOf(t.clearance) + 1] ?? "none",
          );
          // A job of the team lands in its namespace, in its queue, writing under its writable prefixes.
          const job = renderTrainingJob({
            kind: "lora",
            name: "run-1",
            team: t.name,
            costCenter: t.costCenter,
            modelPrefix: "base/",
            dataset: "d.jsonl",
          });
          expect(job.metadata.namespace).toBe(ns);
          expect(job.metadata.labels[QUEUE_LABEL]).toBe(plan.localQueue?.metadata.name ?? "training");
          expect(job.metadata.labels.team).toBe(t.name);
          expect(job.spec.template.spec.serviceAccountName).toBe(plan.serviceAccountName);
          const env = Object.fromEntries(
            job.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [
              e.name,
              e.value,
            ]),
          );
          const writable = plan.storageScopes
            .filter((s) => s.access !== "read")
            .map((s) => `${s.bucket}:${s.prefix}`);
          expect(writable).toContain(`checkpoints:${jobPrefix(t.name, "").slice(0, -1)}`);
          expect(env.CHECKPOINT_URI).toBe(
            `s3://$(SOVEREIGN_BUCKET_CHECKPOINTS)/${jobPrefix(t.name, "run-1")}`,
          );
          expect(env.OUTPUT_URI).toBe(`s3://$(SOVEREIGN_BUCKET_MODELS)/${jobPrefix(t.name, "run-1")}`);
          expect(writable).toContain(`models:teams/${t.name}/`);
          expect(env.DATASET_URI.startsWith(`s3://$(SOVEREIGN_BUCKET_DATASETS)/teams/${t.name}/`)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });
});
