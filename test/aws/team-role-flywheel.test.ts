/**
 * A team's IAM role (`teams[].iamRoleArn`, "the IAM role of the team's members") on EKS, at the
 * seam with what its namespace holds once the team turns the flywheel on: the flywheel's registry
 * login and the model servers' keys (its base model's server is shared by every team's adapters:
 * its key loads and unloads any of them and answers inference past the gateway). Whatever
 * Kubernetes rights the role gets come from its access entry: an access policy association and
 * the Kubernetes groups it maps the role to (RoleBindings of those groups). The role must have a
 * team member's rights there and nothing more: no Secret read through the API (which no
 * admission controller sees), and its workloads are the team identity's that the
 * K8sFlywheelIdentity constraint denies the flywheel's Secrets and ServiceAccount (evaluated by
 * the real pinned OPA, as Gatekeeper does). The real program for aws-dev under mocks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { FLYWHEEL_SERVICE_ACCOUNT } from "../../components/flywheel/plan";
import { FLYWHEEL_IDENTITY_CONSTRAINT } from "../../components/platform/gatekeeper";
import { modelApiKeySecretName } from "../../components/lib/model-keys";
import { stackFile } from "../../stacks/config/load";
import { flywheelIdentityViolations } from "../helpers/flywheel-admission";
import type { RecordedResource } from "../helpers/mocks";
import { pulumiConfigFromFile, runProgram, type StackRun } from "../helpers/stack";

const ROLE = "arn:aws:iam::123456789012:role/ResearchAi";
const NS = "team-research";
const BASE = "llama-3-1-8b-instruct"; // research's flywheel base model in aws-dev

const ns = (r: RecordedResource) => String(r.inputs.metadata?.namespace);

/** The Kubernetes groups the team role's access entry maps it to. */
function entryGroups(run: StackRun): string[] {
  const entries = run.recorder
    .ofType("aws:eks/accessEntry:AccessEntry")
    .filter((e) => e.inputs.principalArn === ROLE);
  expect(entries).toHaveLength(1);
  return [...(entries[0].inputs.kubernetesGroups ?? [])];
}

// As shipped (the Kubernetes group is the OIDC group), and with the cluster's name for it.
for (const kubernetesGroup of [undefined, "oidc:ai-research"])
  describe(`GIVEN aws-dev's research team, flywheel on, with an IAM role for its members${kubernetesGroup ? `, kubernetesGroup ${kubernetesGroup}` : ""}`, () => {
    let run: StackRun;
    beforeAll(async () => {
      const flat = pulumiConfigFromFile(stackFile("aws-dev"));
      const teams = JSON.parse(flat.config["sovereign:teams"]) as Record<string, unknown>[];
      expect(teams[0]).toMatchObject({ name: "research", flywheel: { enabled: true, baseModel: BASE } });
      teams[0].iamRoleArn = ROLE;
      if (kubernetesGroup) teams[0].kubernetesGroup = kubernetesGroup;
      flat.config["sovereign:teams"] = JSON.stringify(teams);
      run = await runProgram("aws-dev", flat);
      expect(run.error).toBeUndefined();
    });

    it("WHEN its access entry is recorded THEN no access policy gives the role more than its groups' Roles (the EKS edit and admin policies read every Secret)", () => {
      const policies = run.recorder
        .ofType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        .filter((a) => a.inputs.principalArn === ROLE)
        .map((a) => String(a.inputs.policyArn));
      expect(policies).toEqual([]);
    });

    it("WHEN the role's groups are followed to their RoleBindings THEN it may create Jobs in its namespace and read no Secret anywhere", () => {
      const groups = entryGroups(run);
      expect(groups).toEqual([kubernetesGroup ?? "ai-research"]);
      const roles = run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role");
      const rules: { resources: string[]; verbs: string[]; ns: string }[] = [];
      for (const b of run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")) {
        const bound = (b.inputs.subjects ?? []).some(
          (s: { kind: string; name: string }) => s.kind === "Group" && groups.includes(s.name),
        );
        if (!bound) continue;
        const role = roles.find((r) => ns(r) === ns(b) && r.inputs.metadata.name === b.inputs.roleRef.name);
        for (const r of role?.inputs.rules ?? []) rules.push({ ...r, ns: ns(b) });
      }
      for (const b of run.recorder.ofType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"))
        expect(
          (b.inputs.subjects ?? []).some((s: { name: string }) => groups.includes(s.name)),
          "a ClusterRoleBinding of the team role's group",
        ).toBe(false);
      expect(
        rules.some((r) => r.ns === NS && r.resources.includes("jobs") && r.verbs.includes("create")),
      ).toBe(true);
      expect(rules.filter((r) => r.resources.some((x) => x === "secrets" || x === "*"))).toEqual([]);
    });

    it("WHEN the role submits a Job that reads the base model's key or runs as the flywheel's ServiceAccount THEN admission denies it", () => {
      const constraint = run.recorder.resources.find(
        (r) =>
          r.inputs.kind === "K8sFlywheelIdentity" && r.inputs.metadata?.name === FLYWHEEL_IDENTITY_CONSTRAINT,
      );
      expect(constraint).toBeDefined();
      const params = constraint!.inputs.spec.parameters;
      const secret = modelApiKeySecretName(BASE);
      expect(
        run.recorder
          .ofType("kubernetes:core/v1:Secret")
          .some((s) => ns(s) === NS && s.inputs.metadata.name === secret),
        "the base model's key is in the team's namespace",
      ).toBe(true);
      // An EKS access entry's principal: its role session as the username, its groups and
      // system:authenticated.
      const userInfo = {
        username: `arn:aws:sts::123456789012:assumed-role/ResearchAi/alice`,
        groups: [...entryGroups(run), "system:authenticated"],
      };
      const job = (spec: Record<string, unknown>) => ({
        namespace: NS,
        userInfo,
        object: { kind: "Job", metadata: { name: "mine", namespace: NS }, spec: { template: { spec } } },
      });
      const readsKey = flywheelIdentityViolations(
        job({
          containers: [
            {
              name: "c",
              image: "x",
              env: [{ name: "K", valueFrom: { secretKeyRef: { name: secret, key: "api-key" } } }],
            },
          ],
        }),
        params,
      );
      expect(readsKey.some((m) => m.includes(`Secret "${secret}"`))).toBe(true);
      const runsAs = flywheelIdentityViolations(
        job({ serviceAccountName: FLYWHEEL_SERVICE_ACCOUNT, containers: [{ name: "c", image: "x" }] }),
        params,
      );
      expect(runsAs.some((m) => m.includes(`ServiceAccount "${FLYWHEEL_SERVICE_ACCOUNT}"`))).toBe(true);
    });
  });
