/**
 * Review finding (fails on main now): a model server's key is meant to stop a pod that the
 * NetworkPolicies let reach the server's port from loading or unloading adapters
 * (docs/access-control.md, "Model server keys"). Kubernetes does not check the creator of a Job
 * or Pod against the Secrets its pod template references, so whoever may create a Job in a
 * namespace may read every Secret there (an env `secretKeyRef` in the template), and may also give
 * its pod any label, the flywheel controller's among them (the serving namespace's ingress rule
 * admits that label from the team's namespace). A team's human group (Role `team-member`) may
 * create Jobs in its namespace, which holds its base model's key: a team member can then unload
 * or replace, on the shared base model's server, the adapters of every other team. Recorded for
 * every shipped stack with the real program under mocks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { requiresApiKey } from "../../components/platform/model-server";
import { modelApiKeySecretName } from "../../components/lib/model-keys";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import type { RecordedResource } from "../helpers/mocks";
import { runShippedStack, type StackRun } from "../helpers/stack";

const SECRET = "kubernetes:core/v1:Secret";
const ns = (r: RecordedResource) => String(r.inputs.metadata?.namespace);
const WORKLOADS = ["pods", "jobs", "cronjobs", "deployments", "replicasets", "statefulsets", "daemonsets"];

for (const stack of shippedStacks()) {
  describe(`model server keys and human groups of ${stack}`, () => {
    let run: StackRun;
    const keys: Record<string, string> = {};

    beforeAll(async () => {
      run = await runShippedStack(stack);
      expect(run.error).toBeUndefined();
      const config = parseConfig(rawFromStackFile(stackFile(stack)).raw);
      for (const m of config.models.filter(requiresApiKey).map((x) => x.name)) {
        const s = run.recorder
          .ofType(SECRET)
          .find(
            (r) =>
              ns(r) === PLATFORM_NAMESPACES.serving && r.inputs.metadata.name === modelApiKeySecretName(m),
          );
        keys[m] = s!.inputs.stringData["api-key"];
      }
    });

    it("GIVEN a namespace where a human group may create workloads WHEN recorded THEN it holds no model server's key", () => {
      const roles = run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role");
      const creators = new Set<string>();
      for (const b of run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")) {
        if (!(b.inputs.subjects ?? []).some((s: { kind: string }) => s.kind === "Group")) continue;
        const role = roles.find((r) => ns(r) === ns(b) && r.inputs.metadata.name === b.inputs.roleRef.name);
        const creates = (role?.inputs.rules ?? []).some(
          (r: { resources: string[]; verbs: string[] }) =>
            r.resources.some((x) => WORKLOADS.includes(x)) &&
            r.verbs.some((v) => v === "create" || v === "*"),
        );
        if (creates) creators.add(ns(b));
      }
      const held = run.recorder
        .ofType(SECRET)
        .filter((s) => creators.has(ns(s)))
        .flatMap((s) =>
          Object.entries(keys)
            .filter(([, k]) => JSON.stringify(s.inputs.stringData ?? {}).includes(k))
            .map(([m]) => `${ns(s)} holds ${m}'s key (Secret ${s.inputs.metadata.name})`),
        );
      expect(held).toEqual([]);
    });
  });
}
