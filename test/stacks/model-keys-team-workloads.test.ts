/**
 * Review finding, and the guarantee that now answers it: a model server's key is meant to stop a
 * pod that the NetworkPolicies let reach the server's port from loading or unloading adapters
 * (docs/access-control.md, "Model server keys"). Kubernetes does not check the creator of a Job
 * or Pod against the Secrets its pod template references, and a team's human group (Role
 * `team-member`) may create Jobs in its namespace, which holds its flywheel's base-model and guard
 * keys. Admission closes it: in every namespace where a human group may create workloads, every
 * Secret holding a model server's key, and the flywheel's ServiceAccount, is protected by the
 * K8sFlywheelIdentity constraint (policies/admission/flywheelidentity.rego) for that namespace,
 * the group is one of its team identities, and the real OPA denies that group's Job reading the
 * Secret or running as the ServiceAccount. Recorded for every shipped stack with the real program
 * under mocks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { flywheelIdentityViolations } from "../helpers/flywheel-admission";
import { FLYWHEEL_SERVICE_ACCOUNT } from "../../components/flywheel/plan";
import { FLYWHEEL_IDENTITY_CONSTRAINT } from "../../components/platform/gatekeeper";
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

/** Violations of the K8sFlywheelIdentity Rego (real pinned OPA) for a Job a group member submits. */
function denied(params: unknown, namespace: string, group: string, spec: Record<string, unknown>): string[] {
  const object = { kind: "Job", metadata: { name: "mine", namespace }, spec: { template: { spec } } };
  return flywheelIdentityViolations(
    { namespace, object, userInfo: { username: "member", groups: [group] } },
    params,
  );
}

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

    it("GIVEN a namespace where a human group may create workloads WHEN recorded THEN admission keeps every model key Secret and the flywheel's ServiceAccount there from that group's workloads", () => {
      const roles = run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role");
      const creators = new Map<string, string[]>();
      for (const b of run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")) {
        const groups = (b.inputs.subjects ?? [])
          .filter((s: { kind: string }) => s.kind === "Group")
          .map((s: { name: string }) => s.name);
        if (!groups.length) continue;
        const role = roles.find((r) => ns(r) === ns(b) && r.inputs.metadata.name === b.inputs.roleRef.name);
        const creates = (role?.inputs.rules ?? []).some(
          (r: { resources: string[]; verbs: string[] }) =>
            r.resources.some((x) => WORKLOADS.includes(x)) &&
            r.verbs.some((v) => v === "create" || v === "*"),
        );
        if (creates) creators.set(ns(b), [...(creators.get(ns(b)) ?? []), ...groups]);
      }
      expect(creators.size, "some human group may create workloads").toBeGreaterThan(0);
      const constraint = run.recorder.resources.find(
        (r) =>
          r.inputs.kind === "K8sFlywheelIdentity" && r.inputs.metadata?.name === FLYWHEEL_IDENTITY_CONSTRAINT,
      );
      expect(constraint, "the K8sFlywheelIdentity constraint").toBeDefined();
      const spec = constraint!.inputs.spec;
      const params = spec.parameters as {
        protected: { namespace: string; serviceAccounts: string[]; secrets: string[] }[];
      };
      const unprotected: string[] = [];
      let checked = 0;
      for (const [n, groups] of creators) {
        const held = run.recorder
          .ofType(SECRET)
          .filter((s) => ns(s) === n)
          .filter((s) =>
            Object.values(keys).some((k) => JSON.stringify(s.inputs.stringData ?? {}).includes(k)),
          )
          .map((s) => String(s.inputs.metadata.name));
        const accounts = run.recorder
          .ofType("kubernetes:core/v1:ServiceAccount")
          .filter((s) => ns(s) === n && s.inputs.metadata.name === FLYWHEEL_SERVICE_ACCOUNT)
          .map((s) => String(s.inputs.metadata.name));
        if (!held.length && !accounts.length) continue;
        if (spec.enforcementAction !== "deny" || !spec.match.namespaces.includes(n)) {
          unprotected.push(`${n}: the constraint does not deny there`);
          continue;
        }
        for (const group of groups) {
          for (const secret of held) {
            checked++;
            const v = denied(params, n, group, {
              serviceAccountName: "trainer",
              containers: [
                {
                  name: "c",
                  image: "x",
                  env: [{ name: "K", valueFrom: { secretKeyRef: { name: secret, key: "api-key" } } }],
                },
              ],
            });
            if (!v.some((m) => m.includes(`Secret "${secret}"`)))
              unprotected.push(
                `${n}: a Job of group ${group} may read Secret ${secret} (a model server's key)`,
              );
          }
          for (const sa of accounts) {
            checked++;
            const v = denied(params, n, group, {
              serviceAccountName: sa,
              containers: [{ name: "c", image: "x" }],
            });
            if (!v.some((m) => m.includes(`ServiceAccount "${sa}"`)))
              unprotected.push(`${n}: a Job of group ${group} may run as ServiceAccount ${sa}`);
          }
        }
      }
      expect(unprotected).toEqual([]);
      // A stack whose flywheel delivers a key into a team namespace checks at least that one.
      const delivered = run.recorder
        .ofType(SECRET)
        .some(
          (s) =>
            creators.has(ns(s)) &&
            Object.values(keys).some((k) => JSON.stringify(s.inputs.stringData ?? {}).includes(k)),
        );
      if (delivered) expect(checked).toBeGreaterThan(0);
    });
  });
}
