/**
 * The flywheel's identity is the kit's (docs/access-control.md, "What a team member can do"):
 * the admission constraint K8sFlywheelIdentity (policies/admission/flywheelidentity.rego) must
 * cover, in each team namespace, every ServiceAccount and Secret the Flywheel component creates
 * there, with the parameters the program actually records. Seam: the real program under mocks
 * (every shipped stack, the local stack with the flywheel on, aws-dev with passwords) and the
 * real pinned OPA evaluating the recorded constraint against Jobs built from the recorded
 * flywheel pods.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { flywheelIdentityViolations } from "../helpers/flywheel-admission";
import { FLYWHEEL_IDENTITY_CONSTRAINT, WORKLOAD_KINDS } from "../../components/platform/gatekeeper";
import { FLYWHEEL_STAGE_LABEL } from "../../components/lib/labels";
import { teamNamespace } from "../../components/lib/naming";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import type { StackConfig } from "../../stacks/config/schema";
import { localWithFlywheel } from "../helpers/flywheel-stack";
import type { RecordedResource } from "../helpers/mocks";
import { pulumiConfigFromFile, runProgram, runShippedStack, type StackRun } from "../helpers/stack";

type Flat = ReturnType<typeof pulumiConfigFromFile>;

/** aws-dev with RDS passwords (`iamAuth: false`): the `fw-<team>` login is a Secret. */
function awsDevPasswords(): { raw: Record<string, any>; flat: Flat } {
  const flat = pulumiConfigFromFile(stackFile("aws-dev"));
  const raw = structuredClone(rawFromStackFile(stackFile("aws-dev")).raw) as Record<string, any>;
  raw.database = { ...(raw.database ?? {}), iamAuth: false };
  flat.config["sovereign:database"] = JSON.stringify(raw.database);
  return { raw, flat };
}

/** local + flywheel where every team's Kubernetes group is `oidc:<oidcGroup>`. */
function localWithPrefixedGroups(): { raw: Record<string, any>; flat: Flat } {
  const { raw, flat } = localWithFlywheel();
  for (const t of raw.teams) t.kubernetesGroup = `oidc:${t.oidcGroup}`;
  flat.config["sovereign:teams"] = JSON.stringify(raw.teams);
  return { raw, flat };
}

const CASES: { name: string; run: () => Promise<StackRun>; raw: () => Record<string, any> }[] = [
  ...shippedStacks().map((s) => ({
    name: s,
    run: () => runShippedStack(s),
    raw: () => rawFromStackFile(stackFile(s)).raw,
  })),
  {
    name: "local + flywheel",
    run: () => runProgram("local", localWithFlywheel().flat),
    raw: () => localWithFlywheel().raw,
  },
  {
    // An API server started with --oidc-groups-prefix=oidc: names the team's group oidc:<group>.
    name: "local + flywheel, the cluster's groups prefixed (kubernetesGroup)",
    run: () => runProgram("local", localWithPrefixedGroups().flat),
    raw: () => localWithPrefixedGroups().raw,
  },
  {
    name: "aws-dev, passwords (iamAuth: false)",
    run: () => runProgram("aws-dev", awsDevPasswords().flat),
    raw: () => awsDevPasswords().raw,
  },
];

const ns = (r: RecordedResource) => String(r.inputs.metadata?.namespace);
/** A resource the Flywheel component created (itself or through the substrate, as its child). */
const ofFlywheel = (r: RecordedResource) => r.urn.includes("::sovereign:flywheel:Flywheel$");

interface Protected {
  namespace: string;
  serviceAccounts: string[];
  secrets: string[];
}

/** The violations of the recorded constraint for `object` requested by `user`, by the real OPA. */
function violations(params: unknown, object: Record<string, any>, user: Record<string, unknown>): string[] {
  return flywheelIdentityViolations(
    { namespace: object.metadata.namespace, object, userInfo: user, kind: { kind: object.kind } },
    params,
  );
}

for (const c of CASES) {
  describe(`admission of the flywheel identity in ${c.name}`, () => {
    let run: StackRun;
    let config: StackConfig;
    let constraint: RecordedResource;
    let params: {
      protected: Protected[];
      stageLabel: string;
      teamNamespaces: string[];
      teamGroups: string[];
    };
    const protectedIn = (n: string) => params.protected.find((p) => p.namespace === n);
    /** The groups the recorded RoleBindings of namespace `n` bind (a team member's groups). */
    const boundIn = (n: string): string[] =>
      run.recorder
        .ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
        .filter((b) => ns(b) === n)
        .flatMap((b) => (b.inputs.subjects ?? []).filter((s: { kind: string }) => s.kind === "Group"))
        .map((s: { name: string }) => s.name);

    beforeAll(async () => {
      run = await c.run();
      expect(run.error).toBeUndefined();
      config = parseConfig(c.raw());
      constraint = run.recorder.resources.find(
        (r) =>
          r.inputs.kind === "K8sFlywheelIdentity" && r.inputs.metadata?.name === FLYWHEEL_IDENTITY_CONSTRAINT,
      )!;
      expect(constraint, "the K8sFlywheelIdentity constraint").toBeDefined();
      params = constraint.inputs.spec.parameters;
    });

    it("GIVEN the constraint WHEN recorded THEN it denies, in every team namespace, every workload kind, for every team's group", () => {
      expect(constraint.inputs.spec.enforcementAction).toBe("deny");
      const namespaces = config.teams.map((t) => teamNamespace(t.name));
      expect([...constraint.inputs.spec.match.namespaces].sort()).toEqual([...namespaces].sort());
      // Every workload kind the other constraints match, and ReplicationController.
      const matched = (constraint.inputs.spec.match.kinds as { kinds: string[] }[]).flatMap((k) => k.kinds);
      for (const k of [...WORKLOAD_KINDS.flatMap((w) => w.kinds), "ReplicationController"])
        expect(matched, k).toContain(k);
      expect([...params.teamNamespaces].sort()).toEqual([...namespaces].sort());
      // The groups the Roles are actually bound to (not the config's names again).
      const bound = namespaces.flatMap(boundIn);
      expect(bound.length).toBeGreaterThan(0);
      for (const g of bound) expect(params.teamGroups, g).toContain(g);
      // Each team's Role is bound to its kubernetesGroup where one is set.
      for (const t of config.teams)
        if (t.kubernetesGroup) expect(boundIn(teamNamespace(t.name)), t.name).toEqual([t.kubernetesGroup]);
      expect(params.stageLabel).toBe(FLYWHEEL_STAGE_LABEL);
    });

    it("GIVEN every Secret, certificate Secret and ServiceAccount the flywheel records in a team namespace THEN the constraint protects it there", () => {
      const flywheelTeams = config.teams.filter((t) => t.flywheel?.enabled);
      const uncovered: string[] = [];
      let seen = 0;
      for (const r of run.recorder.resources.filter(ofFlywheel)) {
        const n = ns(r);
        if (!params.teamNamespaces.includes(n)) continue;
        const p = protectedIn(n);
        const name = String(r.inputs.metadata?.name);
        if (r.type === "kubernetes:core/v1:Secret") {
          seen++;
          if (!p?.secrets.includes(name)) uncovered.push(`Secret ${n}/${name}`);
        } else if (r.type === "kubernetes:core/v1:ServiceAccount") {
          seen++;
          if (!p?.serviceAccounts.includes(name)) uncovered.push(`ServiceAccount ${n}/${name}`);
        } else if (r.inputs.kind === "Certificate" && r.inputs.spec?.secretName) {
          seen++;
          if (!p?.secrets.includes(r.inputs.spec.secretName))
            uncovered.push(`Secret ${n}/${r.inputs.spec.secretName} (Certificate ${name})`);
        }
      }
      expect(uncovered).toEqual([]);
      // Each flywheel team has at least its ServiceAccount recorded and covered.
      if (flywheelTeams.length) expect(seen).toBeGreaterThanOrEqual(flywheelTeams.length);
      else expect(params.protected).toEqual([]);
    });

    it("GIVEN a team member's Job built from the flywheel's own pods WHEN admitted by the real OPA THEN it is denied for the identity, each Secret and the label; the same pods from the cronjob-controller pass", () => {
      const crons = run.recorder
        .ofType("kubernetes:batch/v1:CronJob")
        .filter((r) => ofFlywheel(r) && params.teamNamespaces.includes(ns(r)));
      expect(crons.length).toBe(2 * config.teams.filter((t) => t.flywheel?.enabled).length);
      for (const cron of crons) {
        const n = ns(cron);
        const team = config.teams.find((t) => teamNamespace(t.name) === n)!;
        // A member as the API server sees one: in the group the team's RoleBinding binds.
        expect(boundIn(n).length, n).toBeGreaterThan(0);
        const member = { username: "mallory", groups: [...boundIn(n), "system:authenticated"] };
        const template = cron.inputs.spec.jobTemplate.spec.template;
        const job = (tpl: Record<string, any>) => ({
          kind: "Job",
          metadata: { name: "mine", namespace: n, labels: { team: team.name } },
          spec: { template: tpl },
        });
        // As it is: denied.
        expect(violations(params, job(template), member).length).toBeGreaterThan(0);
        // Its ServiceAccount alone, no label, no Secret.
        const sa = job({
          spec: {
            serviceAccountName: template.spec.serviceAccountName,
            containers: [{ name: "c", image: "x" }],
          },
        });
        expect(violations(params, sa, member).join("\n")).toContain("ServiceAccount");
        // Each Secret its containers read by env, alone, as the team's trainer.
        const refs = [...(template.spec.initContainers ?? []), ...template.spec.containers].flatMap(
          (ct: Record<string, any>) =>
            (ct.env ?? [])
              .filter((e: any) => e.valueFrom?.secretKeyRef)
              .map((e: any) => e.valueFrom.secretKeyRef),
        );
        const volumes = (template.spec.volumes ?? []).filter(
          (v: any) => v.secret || v.projected?.sources?.some((s: any) => s.secret),
        );
        expect(refs.length + volumes.length, `${cron.name} reads Secrets`).toBeGreaterThan(0);
        for (const ref of refs) {
          const env = job({
            spec: {
              serviceAccountName: "trainer",
              containers: [{ name: "c", image: "x", env: [{ name: "K", valueFrom: { secretKeyRef: ref } }] }],
            },
          });
          expect(violations(params, env, member).join("\n"), ref.name).toContain(`Secret "${ref.name}"`);
        }
        for (const v of volumes) {
          const vol = job({
            spec: { serviceAccountName: "trainer", containers: [{ name: "c", image: "x" }], volumes: [v] },
          });
          expect(violations(params, vol, member).length, v.name).toBeGreaterThan(0);
        }
        // Every kind the constraint matches, running as the flywheel: the Rego reads its pods.
        for (const kind of (constraint.inputs.spec.match.kinds as { kinds: string[] }[]).flatMap(
          (k) => k.kinds,
        )) {
          const spec = {
            serviceAccountName: template.spec.serviceAccountName,
            containers: [{ name: "c", image: "x" }],
          };
          const obj = {
            kind,
            metadata: { name: "mine", namespace: n },
            spec:
              kind === "Pod"
                ? spec
                : kind === "CronJob"
                  ? { jobTemplate: { spec: { template: { spec } } } }
                  : { template: { spec } },
          };
          expect(violations(params, obj, member).join("\n"), kind).toContain("ServiceAccount");
        }
        // Each protected Secret named in every other place of a pod spec.
        for (const secret of protectedIn(n)!.secrets) {
          const c = { name: "c", image: "x" };
          const specs = {
            envFrom: { containers: [{ ...c, envFrom: [{ secretRef: { name: secret } }] }] },
            ephemeral: {
              containers: [c],
              ephemeralContainers: [{ ...c, envFrom: [{ secretRef: { name: secret } }] }],
            },
            imagePullSecrets: { containers: [c], imagePullSecrets: [{ name: secret }] },
            csi: {
              containers: [c],
              volumes: [{ name: "v", csi: { driver: "d", nodePublishSecretRef: { name: secret } } }],
            },
          };
          for (const [how, spec] of Object.entries(specs))
            expect(
              violations(params, job({ spec: { serviceAccountName: "trainer", ...spec } }), member).join(
                "\n",
              ),
              `${secret} by ${how}`,
            ).toContain(`Secret "${secret}"`);
        }
        // The stage label alone.
        const labelled = job({
          metadata: { labels: { [FLYWHEEL_STAGE_LABEL]: "controller" } },
          spec: { serviceAccountName: "trainer", containers: [{ name: "c", image: "x" }] },
        });
        expect(violations(params, labelled, member).join("\n")).toContain("flywheel-stage label");
        // The kit's own: the cronjob-controller creates the CronJob's Jobs.
        const controller = {
          username: "system:serviceaccount:kube-system:cronjob-controller",
          groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
        };
        expect(violations(params, job(template), controller)).toEqual([]);
      }
    });
  });
}
