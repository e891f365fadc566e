/**
 * The flywheel as `pulumi up` records it (docs/flywheel.md), for every shipped stack with the
 * flywheel on (aws-dev) and for the in-cluster substrate (the local stack with training and the
 * flywheel turned on): per enabled team, a Kueue-admitted CronJob in the team's namespace running
 * the chained loop as the team's own flywheel identity, whose object-store grants (IAM on AWS,
 * SeaweedFS identities in-cluster) read that team's `captures/team=<team>/` and nothing else of
 * `captures/`; no other identity reads `captures/` at all; OPA admits the flywheel's pods.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { LOGIN_SQL, loginScript } from "../../components/aws/postgres-login";
import { S3_CONFIG_KEY } from "../../components/existing-cluster/object-store";
import {
  controllerCronJobName,
  FLYWHEEL_API_TOKEN_DIR,
  FLYWHEEL_CONTROLLER_CLI,
  FLYWHEEL_SERVICE_ACCOUNT,
} from "../../components/flywheel/plan";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { modelServerUrl } from "../../components/lib/endpoints";
import { flywheelAdapterPrefix } from "../../components/lib/scopes";
import { serviceOf } from "../../gateway/src/routing/discovery";
import { loadConfig } from "../../gateway/src/config";
import { flywheelWriters } from "../../gateway/src/flywheel/registry";
import { unsecret } from "../aws/harness";
import { duplicateObjects } from "../helpers/object-identity";
import { FLYWHEEL_STAGE_LABEL } from "../../components/lib/labels";
import { PLATFORM_NAMESPACES, teamNamespace } from "../../components/lib/naming";
import { GPU_RESOURCE, GPU_TAINT } from "../../components/lib/gpu-catalog";
import { KUEUE_API } from "../../components/platform/kueue";
import { QUEUE_LABEL, TEAM_LOCAL_QUEUE } from "../../components/platform/tenancy-plan";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import type { StackConfig } from "../../stacks/config/schema";
import { helmTemplate } from "../helpers/helm";
import { awsAccessTable, clusterAccessTable, type AccessTable } from "../helpers/access";
import { localWithFlywheel } from "../helpers/flywheel-stack";
import { validateObject, type K8sObject } from "../helpers/k8s-schema";
import { isSecret, valueOf } from "../helpers/mocks";
import { main as flywheelCli, RUN_IDENTITIES_OUTPUT } from "../../scripts/flywheel";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { pulumiConfigFromFile, runProgram, runShippedStack, type StackRun } from "../helpers/stack";

const ROOT = path.resolve(__dirname, "../..");
let python = "";
/** The trainer's test venv's Python (trainer/setup-tests.sh; cached, built once per machine). */
function PY(): string {
  if (!python) {
    const r = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${r.stderr}`);
    python = path.join(r.stdout.trim().split("\n").pop()!, "bin/python");
  }
  return python;
}

/** Whether a toleration tolerates a taint (Kubernetes' matching: key, effect, Exists or Equal value). */
function tolerates(t: Record<string, any>, taint: { key: string; value?: string; effect: string }): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key !== undefined && t.key !== taint.key) return false;
  return t.operator === "Exists" || (t.value ?? "") === (taint.value ?? "");
}

/** The chained loop's CronJobs (stage `loop`), one per enabled team. */
function loopCronJobs(run: StackRun) {
  return run.recorder
    .ofType("kubernetes:batch/v1:CronJob")
    .filter((r) => r.inputs.spec?.jobTemplate?.metadata?.labels?.[FLYWHEEL_STAGE_LABEL] === "loop");
}

const CASES = [
  {
    name: "aws-dev",
    run: () => runShippedStack("aws-dev"),
    raw: () => rawFromStackFile(stackFile("aws-dev")).raw,
    config: () => parseConfig(rawFromStackFile(stackFile("aws-dev")).raw),
    aws: true,
  },
  {
    name: "local + flywheel",
    run: () => runProgram("local", localWithFlywheel().flat),
    raw: () => localWithFlywheel().raw,
    config: () => parseConfig(localWithFlywheel().raw),
    aws: false,
  },
];

for (const c of CASES) {
  describe(`flywheel of ${c.name}`, () => {
    let run: StackRun;
    let config: StackConfig;
    let table: AccessTable;
    let buckets: Record<string, string>;
    beforeAll(async () => {
      run = await c.run();
      expect(run.error).toBeUndefined();
      config = c.config();
      table = c.aws ? awsAccessTable(run.recorder) : clusterAccessTable(run.recorder);
      buckets = await valueOf<Record<string, string>>(run.outputs!.buckets as Record<string, string>);
    });
    const enabled = () => config.teams.filter((t) => t.flywheel?.enabled);

    it("GIVEN the config THEN at least one team has the flywheel on", () => {
      expect(enabled().length).toBeGreaterThan(0);
    });

    it("GIVEN each enabled team WHEN the program runs THEN a suspended, Kueue-queued CronJob in its namespace runs the chained loop as the flywheel identity", () => {
      const crons = loopCronJobs(run);
      expect(crons.length).toBe(enabled().length);
      for (const t of enabled()) {
        const cron = crons.find((r) => r.inputs.metadata?.labels?.team === t.name);
        expect(cron, t.name).toBeDefined();
        const i = cron!.inputs;
        expect(i.metadata.namespace).toBe(teamNamespace(t.name));
        expect(i.spec.schedule).toBe(t.flywheel!.schedule);
        expect(i.spec.concurrencyPolicy).toBe("Forbid");
        const job = i.spec.jobTemplate;
        expect(job.metadata.labels[QUEUE_LABEL]).toBe(TEAM_LOCAL_QUEUE);
        expect(job.spec.suspend).toBe(true);
        const pod = job.spec.template.spec;
        expect(pod.serviceAccountName).toBe(FLYWHEEL_SERVICE_ACCOUNT);
        expect(job.spec.template.metadata.labels[FLYWHEEL_STAGE_LABEL]).toBeDefined();
        const cmd = pod.containers[0].command as string[];
        expect(cmd.slice(0, 2)).toEqual(["sovereign-flywheel", "loop"]);
        expect(cmd).toContain(`--adapter=${t.flywheel!.adapter}`);
        expect(cmd).toContain(`--min-new-records=${t.flywheel!.minNewRecords}`);
        if (!c.aws) {
          // In-cluster the keys come from the identity's Secret, never as values.
          const env = pod.containers[0].env as { name: string; value?: string; valueFrom?: unknown }[];
          const key = env.find((e) => e.name === "AWS_SECRET_ACCESS_KEY");
          expect(key?.valueFrom).toBeDefined();
          expect(key?.value).toBeUndefined();
        }
      }
    });

    it("GIVEN each enabled team THEN the chain's one pod is a GPU worker that the team's LocalQueue admits onto its training pool", () => {
      const kueue = (kind: string) =>
        run.recorder.resources.filter((r) => r.inputs.apiVersion === KUEUE_API && r.inputs.kind === kind);
      const crons = loopCronJobs(run);
      for (const t of enabled()) {
        const gpus = t.flywheel!.gpus;
        const job = crons.find((r) => r.inputs.metadata?.labels?.team === t.name)!.inputs.spec.jobTemplate;
        const pod = job.spec.template.spec;
        const res = pod.containers[0].resources;
        expect(res.requests[GPU_RESOURCE], t.name).toBe(String(gpus));
        expect(res.limits[GPU_RESOURCE], t.name).toBe(String(gpus));
        expect((pod.tolerations as any[]).map((x) => x.key)).toEqual([GPU_TAINT.key]);
        // The queue label names the LocalQueue in the team's namespace, which feeds the team's ClusterQueue.
        const lq = kueue("LocalQueue").find(
          (q) =>
            q.inputs.metadata.namespace === teamNamespace(t.name) &&
            q.inputs.metadata.name === job.spec.template.metadata.labels[QUEUE_LABEL],
        );
        expect(lq, `${t.name}: LocalQueue ${job.spec.template.metadata.labels[QUEUE_LABEL]}`).toBeDefined();
        const cq = kueue("ClusterQueue").find(
          (q) => q.inputs.metadata.name === lq!.inputs.spec.clusterQueue,
        )!;
        expect(cq.inputs.spec.namespaceSelector.matchLabels["kubernetes.io/metadata.name"]).toBe(
          teamNamespace(t.name),
        );
        // Kueue's flavor assignment: the first GPU flavor whose nominal + borrowing quota fits.
        const groups = cq.inputs.spec.resourceGroups as any[];
        const gpuGroup = groups.find((g) => g.coveredResources.includes(GPU_RESOURCE));
        const flavor = (gpuGroup?.flavors as any[] | undefined)?.find((f) =>
          f.resources.some(
            (r: any) => r.name === GPU_RESOURCE && r.nominalQuota + (r.borrowingLimit ?? 0) >= gpus,
          ),
        );
        expect(flavor, `${t.name}: a GPU flavor with quota for ${gpus}`).toBeDefined();
        expect(config.gpuPools.find((p) => p.name === flavor.name)?.purpose).toBe("training");
        const cpu = groups.find((g) => g.coveredResources.includes("cpu")).flavors[0].resources as any[];
        const quota = (name: string) => {
          const r = cpu.find((x) => x.name === name);
          return parseFloat(r.nominalQuota) + parseFloat(r.borrowingLimit ?? "0");
        };
        expect(quota("cpu")).toBeGreaterThanOrEqual(parseFloat(res.requests.cpu));
        expect(quota("memory")).toBeGreaterThanOrEqual(parseFloat(res.requests.memory));
        // After admission (the flavor's node labels and tolerations injected) the pod lands on
        // the pool's nodes and tolerates each of their taints.
        const rf = kueue("ResourceFlavor").find((f) => f.inputs.metadata.name === flavor.name)!;
        const tolerations = [...(pod.tolerations as any[]), ...(rf.inputs.spec.tolerations as any[])];
        const nodePool = run.recorder.resources.find(
          (r) =>
            r.inputs.kind === "NodePool" &&
            r.inputs.spec?.template?.metadata?.labels?.["sovereign.ai/gpu-pool"] === flavor.name,
        );
        if (c.aws) {
          expect(nodePool, `${t.name}: the NodePool of ${flavor.name}`).toBeDefined();
          expect(nodePool!.inputs.spec.template.metadata.labels).toMatchObject(rf.inputs.spec.nodeLabels);
        }
        const taints: { key: string; value?: string; effect: string }[] = c.aws
          ? nodePool!.inputs.spec.template.spec.taints
          : [GPU_TAINT];
        for (const taint of taints)
          expect(
            tolerations.some((x) => tolerates(x, taint)),
            `${t.name} tolerates ${taint.key}`,
          ).toBe(true);
        // The pod's own toleration already covers the GPU taint (Kueue adds the pool's others).
        expect((pod.tolerations as any[]).some((x) => tolerates(x, GPU_TAINT))).toBe(true);
      }
    });

    it("GIVEN the gateway, which migrates the registry at start-up THEN it logs in as the owner of the database it uses (so it can create the flywheel schema and grant its writer)", () => {
      const deploy = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .find((d) => d.inputs.metadata?.labels?.["app.kubernetes.io/name"] === "gateway")!;
      const env = deploy.inputs.spec.template.spec.containers[0].env as any[];
      const database = env.find((e) => e.name === "PGDATABASE").value as string;
      const pguser = env.find((e) => e.name === "PGUSER");
      if (c.aws) {
        // IAM authentication (every shipped aws stack): the gateway logs in as the service's role.
        expect(pguser.value).toBe(database);
        // The login Job creates the service's role and its database owned by that role.
        const job = run.recorder
          .ofType("kubernetes:batch/v1:Job")
          .find((j) => j.inputs.metadata?.name === `${database}-postgres-login`)!;
        const jobEnv = job.inputs.spec.template.spec.containers[0].env as any[];
        expect(jobEnv.find((e) => e.name === "SERVICE").value).toBe(database);
        expect(LOGIN_SQL).toContain("CREATE DATABASE %I OWNER %I', :'svc', :'svc'");
      } else {
        const userRef = pguser.valueFrom.secretKeyRef;
        const secret = run.recorder
          .ofType("kubernetes:core/v1:Secret")
          .find(
            (x) => x.inputs.metadata?.name === userRef.name && x.inputs.metadata?.namespace !== undefined,
          )!;
        const user = secret.inputs.stringData?.[userRef.key] as string;
        const db = run.recorder.resources.find(
          (r) => r.inputs.kind === "Database" && r.inputs.spec?.name === database,
        )!;
        expect(db.inputs.spec.owner).toBe(user);
      }
    });

    it("GIVEN each enabled team THEN the builder's S3 client trusts the object store: in-cluster it mounts ca.crt of a Certificate in its namespace where AWS_CA_BUNDLE points; on AWS nothing (public CAs)", () => {
      const certs = run.recorder.ofType("kubernetes:cert-manager.io/v1:Certificate").map((r) => r.inputs);
      for (const t of enabled()) {
        const cron = loopCronJobs(run).find((r) => r.inputs.metadata?.labels?.team === t.name)!.inputs;
        const pod = cron.spec.jobTemplate.spec.template.spec;
        const ctr = pod.containers[0];
        const file = (ctr.env ?? []).find((e: any) => e.name === "AWS_CA_BUNDLE")?.value as
          string | undefined;
        if (c.aws) {
          expect(file, t.name).toBeUndefined();
          continue;
        }
        expect(file, `${t.name}: AWS_CA_BUNDLE`).toBeDefined();
        const m = ctr.volumeMounts.find((x: any) => file!.startsWith(`${x.mountPath}/`));
        expect(m, `${t.name}: a volume above ${file}`).toBeDefined();
        const vol = pod.volumes.find((v: any) => v.name === m.name);
        expect(vol.secret.items).toEqual([{ key: "ca.crt", path: file!.slice(m.mountPath.length + 1) }]);
        const cert = certs.find(
          (x) =>
            x.spec.secretName === vol.secret.secretName && x.metadata.namespace === teamNamespace(t.name),
        );
        expect(cert, `${t.name}: a Certificate writing ${vol.secret.secretName}`).toBeDefined();
        // The team's training Jobs (envFrom the training-env ConfigMap) are pointed at the same file,
        // where `renderTrainingJob` mounts the trainer's CA Secret.
        const trainingEnv = run.recorder
          .ofType("kubernetes:core/v1:ConfigMap")
          .find(
            (r) =>
              r.inputs.metadata?.name === "training-env" &&
              r.inputs.metadata?.namespace === teamNamespace(t.name),
          );
        expect(trainingEnv?.inputs.data.AWS_CA_BUNDLE, `${t.name}: training-env AWS_CA_BUNDLE`).toBe(file);
      }
    });

    it("GIVEN each enabled team WHEN its identity's grants are read back THEN it reads its own captures/team= partition and only its team's prefixes", () => {
      for (const t of enabled()) {
        const key = c.aws ? `${teamNamespace(t.name)}/${FLYWHEEL_SERVICE_ACCOUNT}` : `flywheel-${t.name}`;
        const base = config.models.find((m) => m.name === t.flywheel!.baseModel)!.source;
        const own = `teams/${t.name}/`;
        expect(table[key], key).toEqual(
          [
            `read ${buckets.inferenceLogs}/captures/team=${t.name}/*`,
            `read ${buckets.datasets}/${own}*`,
            `write ${buckets.datasets}/${own}*`,
            `read ${buckets.checkpoints}/${own}*`,
            `write ${buckets.checkpoints}/${own}*`,
            `read ${buckets.models}/${own}*`,
            `write ${buckets.models}/${own}*`,
            // its candidates and serving.json, outside teams/ (the trainer's)
            `read ${buckets.models}/flywheel/${t.name}/*`,
            `write ${buckets.models}/flywheel/${t.name}/*`,
            `read ${buckets.models}/${base.endsWith("/") ? base : `${base}/`}*`,
            // With RDS IAM authentication (the AWS default) it logs in to the registry as its
            // team's own role, only.
            ...(c.aws && config.database.iamAuth !== false
              ? [`connect postgres as ${flywheelRoleOf(t.name)}`]
              : []),
          ].sort(),
        );
      }
    });

    it("THEN no identity but a team's own flywheel reads anything under captures/, and none reads another team's", () => {
      for (const [who, grants] of Object.entries(table)) {
        for (const g of grants) {
          const [verb, target] = g.split(" ");
          if (verb !== "read" || !target.startsWith(`${buckets.inferenceLogs}/`)) continue;
          if (who === "operator") continue; // the store's own operator identity (bucket setup)
          const m = /^(?:[a-z0-9-]+\/flywheel-builder|flywheel-([a-z0-9-]+))$/.exec(who);
          expect(m, `${who} reads ${target}`).not.toBeNull();
          const team = c.aws ? who.split("/")[0].replace(/^team-/, "") : m![1];
          expect(target, who).toBe(`${buckets.inferenceLogs}/captures/team=${team}/*`);
        }
      }
    });

    it("THEN no identity but the team's own flywheel may write the adapter's versions or serving.json (the trainer neither), which the model servers load", () => {
      const writes = (grants: readonly string[], target: string) =>
        grants.some((g) => {
          const [verb, t] = g.split(" ");
          return verb === "write" && t.endsWith("*") && target.startsWith(t.slice(0, -1));
        });
      for (const t of enabled()) {
        const prefix = `${buckets.models}/${flywheelAdapterPrefix(t.name, t.flywheel!.adapter)}`;
        const own = c.aws ? `${teamNamespace(t.name)}/${FLYWHEEL_SERVICE_ACCOUNT}` : `flywheel-${t.name}`;
        const trainer = c.aws ? `team-${t.name}/trainer` : `tenancy-${t.name}-trainer`;
        expect(table[trainer], trainer).toBeDefined();
        for (const key of ["serving.json", "v1/adapter/adapter_model.safetensors", "v1/run.json"]) {
          expect(writes(table[own], prefix + key), `${own} writes ${prefix}${key}`).toBe(true);
          for (const [who, grants] of Object.entries(table)) {
            if (who === own || who === "operator") continue; // operator: the store's own admin (bucket setup)
            expect(writes(grants, prefix + key), `${who} writes ${prefix}${key}`).toBe(false);
          }
        }
      }
    });

    it("GIVEN the guard model the stack serves WHEN each flywheel-env's GUARD_URL is followed THEN it is the guard model server's Service (host, port, chat path), GUARD_MODEL is the model it serves, and policies admit the flywheel's pods to its pods on that port both ways", () => {
      const release = run.recorder
        .ofType("kubernetes:helm.sh/v3:Release")
        .find((r) => r.inputs.values?.model?.role === "guard")!;
      expect(release, "a guard model-server release").toBeDefined();
      const objects = helmTemplate(
        release.inputs.name,
        path.resolve(ROOT, release.inputs.chart),
        release.inputs.namespace,
        release.inputs.values,
      ) as any[];
      const svc = objects.find((o) => o.kind === "Service")!;
      const pod = objects.find((o) => o.kind === "Deployment")!.spec.template;
      const svcPort = svc.spec.ports[0];
      const containerPort = (pod.spec.containers as any[])
        .flatMap((c) => c.ports ?? [])
        .find(
          (p: any) => p.name === svcPort.targetPort || p.containerPort === svcPort.targetPort,
        ).containerPort;
      const matches = (sel: any, labels: Record<string, string>) =>
        Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
        (sel.matchExpressions ?? []).every((e: any) => e.operator === "Exists" && e.key in labels);
      const nps = run.recorder.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.inputs);
      const cms = run.recorder.ofType("kubernetes:core/v1:ConfigMap").map((r) => r.inputs);
      const crons = loopCronJobs(run).map((r) => r.inputs);
      for (const t of enabled()) {
        const ns = teamNamespace(t.name);
        const env = cms.find((c) => c.metadata.name === "flywheel-env" && c.metadata.namespace === ns)!.data;
        const u = new URL(env.GUARD_URL);
        expect([u.hostname, Number(u.port), u.pathname], t.name).toEqual([
          `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`,
          svcPort.port,
          "/v1/chat/completions",
        ]);
        expect(env.GUARD_MODEL).toBe(release.inputs.values.model.name);
        const flywheelPod = crons.find((c) => c.metadata.namespace === ns)!.spec.jobTemplate.spec.template
          .metadata.labels;
        const nsLabels = (n: string) => ({ "kubernetes.io/metadata.name": n });
        // A rule without ports or peers admits every port or peer (NetworkPolicy semantics).
        const admits = (
          own: string,
          rule: any,
          peer: "to" | "from",
          peerNs: string,
          peerPod: Record<string, string>,
        ) =>
          (rule.ports === undefined ||
            (rule.ports as any[]).some((p) => (p.protocol ?? "TCP") === "TCP" && p.port === containerPort)) &&
          (rule[peer] === undefined ||
            (rule[peer] as any[]).some(
              (x) =>
                !x.ipBlock &&
                (x.namespaceSelector ? matches(x.namespaceSelector, nsLabels(peerNs)) : own === peerNs) &&
                matches(x.podSelector ?? {}, peerPod),
            ));
        const egress = nps.filter(
          (p) =>
            p.metadata.namespace === ns &&
            p.spec.policyTypes.includes("Egress") &&
            matches(p.spec.podSelector, flywheelPod) &&
            (p.spec.egress ?? []).some((r: any) =>
              admits(ns, r, "to", svc.metadata.namespace, pod.metadata.labels),
            ),
        );
        expect(egress.length, `${t.name}: egress to the guard`).toBeGreaterThan(0);
        const ingress = nps.filter(
          (p) =>
            p.metadata.namespace === svc.metadata.namespace &&
            p.spec.policyTypes.includes("Ingress") &&
            matches(p.spec.podSelector, pod.metadata.labels) &&
            (p.spec.ingress ?? []).some((r: any) =>
              admits(svc.metadata.namespace, r, "from", ns, flywheelPod),
            ),
        );
        expect(ingress.length, `${t.name}: the guard's ingress from the flywheel`).toBeGreaterThan(0);
      }
    });

    it("GIVEN OPA's ingress policy THEN the flywheel's pods in the enabled teams' namespaces may reach it, no one else's", () => {
      const nps = run.recorder.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy");
      const ingress = nps.find((n) => n.inputs.metadata?.name === "opa-ingress")!;
      const rule = (ingress.inputs.spec.ingress as any[]).find((r) =>
        JSON.stringify(r).includes(FLYWHEEL_STAGE_LABEL),
      );
      expect(
        (rule.from as any[]).map((f) => [
          f.namespaceSelector.matchLabels["kubernetes.io/metadata.name"],
          f.podSelector.matchExpressions[0].key,
        ]),
      ).toEqual(enabled().map((t) => [teamNamespace(t.name), FLYWHEEL_STAGE_LABEL]));
      for (const t of enabled())
        expect(
          nps.some(
            (n) =>
              n.inputs.metadata?.name === "allow-flywheel-opa" && n.inputs.metadata?.labels?.team === t.name,
          ),
          t.name,
        ).toBe(true);
    });
  });
}

describe("flywheel retention on AWS", () => {
  /** Lifecycle rules of every bucket, as `<bucket resource>: <id> <prefix> <days>` for expirations. */
  function expirations(run: StackRun): string[] {
    return run.recorder
      .ofType("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
      .flatMap((r) =>
        (r.inputs.rules as any[])
          .filter((x) => x.expiration && x.filter?.prefix !== undefined)
          .map((x) => `${r.name}: ${x.filter.prefix} ${x.expiration.days}`),
      )
      .sort();
  }

  it("GIVEN the shipped aws-dev (no retention configured) THEN no capture or dataset ever expires", async () => {
    const run = await runShippedStack("aws-dev");
    expect(run.error).toBeUndefined();
    expect(expirations(run)).toEqual([]);
  });

  it("GIVEN a team's retentionDays WHEN the program runs THEN its captures and flywheel datasets, and only those, expire after those days", async () => {
    const flat = pulumiConfigFromFile(stackFile("aws-dev"));
    const teams = JSON.parse(flat.config["sovereign:teams"]) as Record<string, any>[];
    teams[0].flywheel.retentionDays = { captures: 30, datasets: 90 };
    flat.config["sovereign:teams"] = JSON.stringify(teams);
    const run = await runProgram("aws-dev", flat);
    expect(run.error).toBeUndefined();
    expect(expirations(run)).toEqual(
      [
        `substrate-storage-inference-logs-lifecycle: captures/team=${teams[0].name}/ 30`,
        `substrate-storage-datasets-lifecycle: teams/${teams[0].name}/flywheel/ 90`,
      ].sort(),
    );
  });
});

describe("flywheel retention in-cluster (SeaweedFS has no lifecycle rules)", () => {
  /** The local stack with the flywheel on and, optionally, its retention set. */
  async function localRun(retentionDays?: { captures?: number; datasets?: number }) {
    const { raw, flat } = localWithFlywheel();
    if (retentionDays) {
      raw.teams[0].flywheel.retentionDays = retentionDays;
      flat.config["sovereign:teams"] = JSON.stringify(raw.teams);
    }
    const run = await runProgram("local", flat);
    expect(run.error).toBeUndefined();
    const buckets = await valueOf<Record<string, string>>(run.outputs!.buckets as Record<string, string>);
    const identities = JSON.parse(
      run.recorder.ofType("kubernetes:core/v1:Secret").find((r) => r.inputs.stringData?.[S3_CONFIG_KEY])!
        .inputs.stringData[S3_CONFIG_KEY],
    ).identities as { name: string; actions: string[] }[];
    const crons = run.recorder
      .ofType("kubernetes:batch/v1:CronJob")
      .filter((r) => r.inputs.metadata?.labels?.["app.kubernetes.io/name"] === "retention");
    return { run, raw, buckets, identities, crons };
  }

  it("GIVEN no retentionDays THEN no retention job and no retention identity exist: nothing is deleted", async () => {
    const { identities, crons } = await localRun();
    expect(crons).toEqual([]);
    expect(identities.filter((i) => i.name.startsWith("retention-"))).toEqual([]);
  });

  it("GIVEN a team's retentionDays THEN one daily job in the data namespace, as an identity that may list and delete under exactly its expiring prefixes, and the job's command deletes exactly the expired objects there (real runner, S3 test store)", async () => {
    const { run, raw, buckets, identities, crons } = await localRun({ captures: 30, datasets: 90 });
    const team = raw.teams[0].name as string;
    expect(crons.length).toBe(1);
    const cron = crons[0].inputs;
    expect(cron.metadata.namespace).toBe(PLATFORM_NAMESPACES.data);
    expect(cron.spec.concurrencyPolicy).toBe("Forbid");
    expect(await validateObject(cron as K8sObject)).toEqual({ status: "valid" });
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const container = pod.containers[0];
    // Keys only by Secret reference, and the Secret is the retention identity's own.
    const secretRefs = (container.env as any[])
      .filter((e) => e.valueFrom)
      .map((e) => e.valueFrom.secretKeyRef.name);
    expect(new Set(secretRefs)).toEqual(new Set([`retention-${team}-s3`]));
    const id = identities.find((i) => i.name === `retention-${team}`);
    expect(id?.actions.sort()).toEqual(
      [
        `List:${buckets.inferenceLogs}/captures/team=${team}/*`,
        `Write:${buckets.inferenceLogs}/captures/team=${team}/*`,
        `List:${buckets.datasets}/teams/${team}/flywheel/*`,
        `Write:${buckets.datasets}/teams/${team}/flywheel/*`,
      ].sort(),
    );
    // No read of content: the retention identity never reads a capture.
    expect(id!.actions.some((a) => a.startsWith("Read:"))).toBe(false);
    // The store serves HTTPS from the data CA: the job trusts it through the store's serving
    // Secret (same namespace), mounted where AWS_CA_BUNDLE points.
    const envOf = Object.fromEntries((container.env as any[]).map((e) => [e.name, e.value]));
    const endpoint = new URL(envOf.AWS_ENDPOINT_URL_S3);
    expect(endpoint.protocol).toBe("https:");
    const mount = (container.volumeMounts as any[]).find((m) =>
      envOf.AWS_CA_BUNDLE?.startsWith(`${m.mountPath}/`),
    );
    expect(mount, "a mount holding AWS_CA_BUNDLE").toBeDefined();
    const vol = (pod.volumes as any[]).find((v) => v.name === mount.name);
    const serving = run.recorder
      .ofType("kubernetes:cert-manager.io/v1:Certificate")
      .map((r) => r.inputs)
      .find(
        (c) =>
          c.spec.secretName === vol.secret.secretName && c.metadata.namespace === cron.metadata.namespace,
      );
    expect(serving?.spec.dnsNames, "the Secret's Certificate names the endpoint").toContain(
      endpoint.hostname,
    );

    // The recorded command, run by the real runner against the S3 test store (moto) with objects
    // of recorded ages: only what the config says has expired, under exactly its prefixes, goes.
    const ages: Record<string, Record<string, number>> = {
      [buckets.inferenceLogs]: {
        [`captures/team=${team}/date=2026-10-01/model=m/a.jsonl`]: 40,
        [`captures/team=${team}/date=2026-11-20/model=m/b.jsonl`]: 15,
        [`captures/team=${team}x/date=2026-10-01/model=m/c.jsonl`]: 400,
        [`captures/date=2026-10-01/team=${team}/d.jsonl`]: 400,
        ["decisions/2026-10-01/e.jsonl"]: 400,
      },
      [buckets.datasets]: {
        [`teams/${team}/flywheel/demo-assistant/v1/train.jsonl`]: 100,
        [`teams/${team}/flywheel/demo-assistant/v2/train.jsonl`]: 60,
        [`teams/${team}/support/train.jsonl`]: 400,
      },
    };
    const script = [
      "import datetime as dt, json, sys",
      "from unittest import mock",
      "from moto import mock_aws",
      "from sovereign_train.retention import main",
      "from sovereign_train.s3 import client_from_env",
      "a = json.load(sys.stdin)",
      "now = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)",
      "env = {'AWS_REGION': 'us-east-1'}",
      "with mock_aws():",
      "    s3 = client_from_env(env)",
      "    for b, objs in a['ages'].items():",
      "        s3.create_bucket(Bucket=b)",
      "        for k, days in objs.items():",
      "            t = (now - dt.timedelta(days=days)).replace(tzinfo=None)",
      "            with mock.patch('moto.s3.models.utcnow', return_value=t):",
      "                s3.put_object(Bucket=b, Key=k, Body=b'{}')",
      "    with mock.patch('sys.stdout', new=sys.stderr):",
      "        rc = main(a['argv'], env, now)",
      "    left = {b: sorted(o['Key'] for o in s3.list_objects_v2(Bucket=b).get('Contents', [])) for b in a['ages']}",
      "    print(json.dumps({'rc': rc, 'left': left}))",
    ].join("\n");
    const command = container.command as string[];
    expect(command.slice(0, 3)).toEqual(["python", "-m", "sovereign_train.retention"]);
    const r = spawnSync(PY(), ["-c", script], {
      cwd: path.join(ROOT, "trainer"),
      input: JSON.stringify({ argv: command.slice(3), ages }),
      encoding: "utf8",
      env: { ...process.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rc: number; left: Record<string, string[]> };
    expect(out.rc).toBe(0);
    const days = raw.teams[0].flywheel.retentionDays as { captures: number; datasets: number };
    const keep = (bucket: string, prefix: string, limit: number) =>
      Object.entries(ages[bucket])
        .filter(([k, age]) => !k.startsWith(prefix) || age <= limit)
        .map(([k]) => k)
        .sort();
    expect(out.left).toEqual({
      [buckets.inferenceLogs]: keep(buckets.inferenceLogs, `captures/team=${team}/`, days.captures),
      [buckets.datasets]: keep(buckets.datasets, `teams/${team}/flywheel/`, days.datasets),
    });
  }, 120_000);
});

/**
 * aws-dev with the second team's flywheel on too, with RDS IAM authentication (the default) or
 * passwords (`iamAuth: false`, the dev opt-out): one registry login per team (`fw-<team>`), each
 * delivered to its own team's namespace only.
 */
function awsDevTwoFlywheels(iamAuth = false): {
  raw: Record<string, any>;
  flat: ReturnType<typeof pulumiConfigFromFile>;
} {
  const flat = pulumiConfigFromFile(stackFile("aws-dev"));
  const raw = structuredClone(rawFromStackFile(stackFile("aws-dev")).raw) as Record<string, any>;
  const support = raw.teams.find((t: any) => t.name === "support");
  support.allowCapture = true;
  support.allowedModels.push("llama-3-1-8b-instruct", "support-assistant");
  support.flywheel = { enabled: true, baseModel: "llama-3-1-8b-instruct", adapter: "support-assistant" };
  raw.database = { ...(raw.database ?? {}), iamAuth };
  for (const k of ["teams", "database"]) flat.config[`sovereign:${k}`] = JSON.stringify(raw[k]);
  return { raw, flat };
}

/** The local stack with the flywheel on for two teams (the in-cluster substrate, two managed roles). */
function localTwoFlywheels(): { raw: Record<string, any>; flat: ReturnType<typeof pulumiConfigFromFile> } {
  const { raw, flat } = localWithFlywheel();
  const demo = raw.teams[0];
  raw.teams.push({
    ...structuredClone(demo),
    name: "ops",
    oidcGroup: "sovereign-ops",
    allowedModels: ["tiny-chat", "ops-assistant"],
    flywheel: { ...demo.flywheel, adapter: "ops-assistant" },
  });
  flat.config["sovereign:teams"] = JSON.stringify(raw.teams);
  return { raw, flat };
}

const DEPLOY_CASES = [
  CASES[0],
  CASES[1],
  {
    name: "aws-dev + a second flywheel team, passwords (iamAuth: false)",
    run: () => runProgram("aws-dev", awsDevTwoFlywheels().flat),
    raw: () => awsDevTwoFlywheels().raw,
    config: () => parseConfig(awsDevTwoFlywheels().raw),
    aws: true,
  },
  {
    name: "local + two flywheel teams",
    run: () => runProgram("local", localTwoFlywheels().flat),
    raw: () => localTwoFlywheels().raw,
    config: () => parseConfig(localTwoFlywheels().raw),
    aws: false,
  },
  {
    name: "aws-dev + a second flywheel team, RDS IAM authentication",
    run: () => runProgram("aws-dev", awsDevTwoFlywheels(true).flat),
    raw: () => awsDevTwoFlywheels(true).raw,
    config: () => parseConfig(awsDevTwoFlywheels(true).raw),
    aws: true,
  },
];

for (const c of DEPLOY_CASES) {
  describe(`the flywheel's controller deployed in ${c.name}`, () => {
    let run: StackRun;
    let config: StackConfig;
    beforeAll(async () => {
      run = await c.run();
      expect(run.error).toBeUndefined();
      config = c.config();
    });
    const enabled = () => config.teams.filter((t) => t.flywheel?.enabled);
    // The flywheel logs in the way the gateway does (IAM tokens, or a password Secret).
    const iam = () => gatewayEnv().GATEWAY_PG_AUTH === "rds-iam";
    const envOf = (ctr: any) =>
      Object.fromEntries((ctr.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    const gatewayEnv = () =>
      envOf(
        run.recorder
          .ofType("kubernetes:apps/v1:Deployment")
          .find((d) => d.inputs.metadata?.labels?.["app.kubernetes.io/name"] === "gateway")!.inputs.spec
          .template.spec.containers[0],
      );
    const inNs = (type: string, ns: string, name: string) =>
      run.recorder
        .ofType(type)
        .find((r) => r.inputs.metadata?.namespace === ns && r.inputs.metadata?.name === name);
    const hardened = (pod: any) => {
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const ctr of [...(pod.initContainers ?? []), ...pod.containers]) {
        // The API server refuses a container with a repeated environment name.
        const names = (ctr.env ?? []).map((e: any) => e.name as string);
        expect(
          names.filter((n: string, i: number) => names.indexOf(n) !== i),
          ctr.name,
        ).toEqual([]);
      }
      for (const ctr of [...(pod.initContainers ?? []), ...pod.containers])
        expect(ctr.securityContext, ctr.name).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
    };
    /** The registry login's environment: the gateway's host and database, the team's own role, its CA mounted. */
    const expectRegistryLogin = (pod: any, ctr: any, ns: string, team: string) => {
      const env = envOf(ctr);
      const gw = gatewayEnv();
      expect([env.PGHOST, env.PGPORT, env.PGDATABASE, env.PGSSLMODE]).toEqual([
        gw.PGHOST,
        gw.PGPORT,
        gw.PGDATABASE,
        "verify-full",
      ]);
      if (iam()) {
        expect([env.GATEWAY_PG_AUTH, env.PGUSER, env.PGPASSWORD]).toEqual([
          "rds-iam",
          flywheelRoleOf(team),
          undefined,
        ]);
      } else {
        const ref = env.PGUSER.secretKeyRef;
        expect(env.PGPASSWORD.secretKeyRef.name).toBe(ref.name);
        const secret = inNs("kubernetes:core/v1:Secret", ns, ref.name);
        expect(secret, `${ns}/${ref.name}`).toBeDefined();
        expect(secret!.inputs.stringData.username).toBe(flywheelRoleOf(team));
      }
      const mount = ctr.volumeMounts.find((m: any) => env.PGSSLROOTCERT.startsWith(`${m.mountPath}/`));
      const vol = pod.volumes.find((v: any) => v.name === mount.name);
      const source = vol.configMap
        ? inNs("kubernetes:core/v1:ConfigMap", ns, vol.configMap.name)
        : run.recorder
            .ofType("kubernetes:cert-manager.io/v1:Certificate")
            .find(
              (x) => x.inputs.metadata.namespace === ns && x.inputs.spec.secretName === vol.secret.secretName,
            );
      expect(source, `${ns}: the Postgres CA ${JSON.stringify(vol)}`).toBeDefined();
    };

    it("GIVEN each enabled team THEN the chain's pod first runs the controller's `incumbent` (gateway image) into the handoff file the loop reads", () => {
      const gatewayImage = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .find((d) => d.inputs.metadata?.labels?.["app.kubernetes.io/name"] === "gateway")!.inputs.spec
        .template.spec.containers[0].image;
      for (const t of enabled()) {
        const ns = teamNamespace(t.name);
        const pod = loopCronJobs(run).find((r) => r.inputs.metadata?.namespace === ns)!.inputs.spec
          .jobTemplate.spec.template.spec;
        expect(pod.initContainers.map((x: any) => x.name)).toEqual(["incumbent"]);
        const init = pod.initContainers[0];
        expect(init.image).toBe(gatewayImage);
        const file = envOf(pod.containers[0]).FLYWHEEL_INCUMBENT_FILE as string;
        expect(init.command).toEqual([
          "/bin/sh",
          "-c",
          `exec node ${FLYWHEEL_CONTROLLER_CLI} incumbent ${t.flywheel!.adapter} > ${file}`,
        ]);
        // Both containers mount the same emptyDir above that file.
        const above = (ctr: any) =>
          ctr.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`))?.name;
        expect(above(init)).toBe(above(pod.containers[0]));
        expect(pod.volumes.find((v: any) => v.name === above(init)).emptyDir).toBeDefined();
        expect(pod.containers[0].command).toContain(`--base-model=${t.flywheel!.baseModel}`);
        expectRegistryLogin(pod, init, ns, t.name);
        hardened(pod);
      }
    });

    it("GIVEN each enabled team WHEN a manual run is rendered from the stack's outputs (`flywheel -- run --outputs`) THEN its Job runs the CronJob's pod: the same `incumbent` init container (image, command, env), identity and volumes", async () => {
      // `pulumi stack output --json` prints it without --show-secrets: it must not be a secret.
      const identities = run.outputs![RUN_IDENTITIES_OUTPUT] as pulumi.Input<Record<string, unknown>>;
      expect(identities).toBeDefined();
      expect(await isSecret(pulumi.output(identities))).toBe(false);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-manual-"));
      try {
        const stackFile = path.join(dir, "Pulumi.manual.yaml");
        fs.writeFileSync(
          stackFile,
          stringifyYaml({
            config: Object.fromEntries(Object.entries(c.raw()).map(([k, v]) => [`sovereign:${k}`, v])),
          }),
        );
        const outputs = path.join(dir, "outputs.json");
        fs.writeFileSync(
          outputs,
          JSON.stringify({
            [RUN_IDENTITIES_OUTPUT]: await valueOf(identities),
            grafanaAdminPassword: "[secret]",
          }),
        );
        for (const t of enabled()) {
          const ns = teamNamespace(t.name);
          const r = await flywheelCli(
            ["run", "--stack", stackFile, "--team", t.name, "--run-id", "manual1", "--outputs", outputs],
            {},
          );
          expect(r.err).toBe("");
          expect(r.code).toBe(0);
          const job = parseYaml(r.out);
          const cron = loopCronJobs(run).find((x) => x.inputs.metadata?.namespace === ns)!.inputs;
          expect(job.metadata.namespace).toBe(cron.metadata.namespace);
          const pod = job.spec.template.spec;
          const scheduled = cron.spec.jobTemplate.spec.template.spec;
          expect(pod.initContainers.map((x: any) => x.name)).toEqual(["incumbent"]);
          for (const k of ["image", "command", "env", "volumeMounts"])
            expect(pod.initContainers[0][k], `${ns}: the init container's ${k}`).toEqual(
              scheduled.initContainers[0][k],
            );
          // the whole Job spec: the same pod (identity, credentials, handoff file, volumes)
          expect(job.spec).toEqual(cron.spec.jobTemplate.spec);
          expect(await validateObject(job as K8sObject)).toEqual({ status: "valid" });
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("GIVEN each enabled team THEN a CPU controller CronJob (not Kueue-admitted, Forbid) runs `from-store` as the team's flywheel identity with its canary limits and its base model's Service", () => {
      for (const t of enabled()) {
        const ns = teamNamespace(t.name);
        const cron = inNs(
          "kubernetes:batch/v1:CronJob",
          ns,
          controllerCronJobName(t.flywheel!.adapter),
        )!.inputs;
        expect(cron.spec.concurrencyPolicy).toBe("Forbid");
        const job = cron.spec.jobTemplate;
        expect(job.metadata.labels[QUEUE_LABEL]).toBeUndefined();
        expect(job.spec.suspend).toBeUndefined();
        const pod = job.spec.template.spec;
        const loopPod = loopCronJobs(run).find((r) => r.inputs.metadata?.namespace === ns)!.inputs.spec
          .jobTemplate.spec.template.spec;
        // The same identity as the chain (its object-store scopes are checked above).
        expect(pod.serviceAccountName).toBe(loopPod.serviceAccountName);
        expect(pod.serviceAccountName).toBe(FLYWHEEL_SERVICE_ACCOUNT);
        const ctr = pod.containers[0];
        expect(ctr.image).toBe(loopPod.initContainers[0].image);
        expect(ctr.command).toEqual(["node", FLYWHEEL_CONTROLLER_CLI, "from-store", t.flywheel!.adapter]);
        expect(ctr.resources.requests[GPU_RESOURCE]).toBeUndefined();
        expect(ctr.envFrom).toEqual([{ configMapRef: { name: "flywheel-env" } }]);
        const env = envOf(ctr);
        expect(JSON.parse(env.FLYWHEEL_CANARY)).toEqual(t.flywheel!.canary);
        expect(env.FLYWHEEL_MODEL_SERVICE).toBe(modelServerUrl(t.flywheel!.baseModel));
        // Sidecar loading (lora-sync): no lora_path of the controller's; it publishes serving.json
        // under CANDIDATES_URI, which flywheel-env carries, as the identity that may write there.
        expect(env.FLYWHEEL_LORA_ROOT).toBeUndefined();
        const flywheelEnv = inNs("kubernetes:core/v1:ConfigMap", ns, "flywheel-env")!.inputs.data;
        // the adapter's flywheel prefix of the models bucket (no path before it: never under teams/)
        expect(flywheelEnv.CANDIDATES_URI).toMatch(
          new RegExp(`^s3://[a-z0-9.-]+-models/${flywheelAdapterPrefix(t.name, t.flywheel!.adapter)}$`),
        );
        expectRegistryLogin(pod, ctr, ns, t.name);
        hardened(pod);
        // The API token is projected where in-cluster clients read it, and nowhere else.
        expect(pod.automountServiceAccountToken).toBe(false);
        const token = ctr.volumeMounts.find((m: any) => m.mountPath === FLYWHEEL_API_TOKEN_DIR);
        expect(pod.volumes.find((v: any) => v.name === token.name).projected).toBeDefined();
        // Discovery: a RoleBinding in the base model's namespace, to a Role that lists EndpointSlices only.
        const svcNs = serviceOf(env.FLYWHEEL_MODEL_SERVICE)!.namespace;
        const binding = run.recorder
          .ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
          .find(
            (b) =>
              b.inputs.metadata.namespace === svcNs &&
              b.inputs.subjects.some((s: any) => s.namespace === ns && s.name === pod.serviceAccountName),
          );
        expect(binding, `${ns}: a RoleBinding in ${svcNs}`).toBeDefined();
        const role = inNs(
          "kubernetes:rbac.authorization.k8s.io/v1:Role",
          svcNs,
          binding!.inputs.roleRef.name,
        )!;
        expect(role.inputs.rules).toEqual([
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
        ]);
        if (!c.aws) expect(env.AWS_SECRET_ACCESS_KEY.secretKeyRef).toBeDefined();
      }
    });

    it("THEN each enabled team has its own registry login (fw-<team>, no database of its own), delivered to its own namespace only", () => {
      const roles = enabled().map((t) => flywheelRoleOf(t.name));
      // Every login object in a team namespace (Secret, CA ConfigMap, client Certificate) is that
      // team's own; the former shared `flywheel` login is gone.
      const teamOfNs = new Map(config.teams.map((t) => [teamNamespace(t.name), t.name]));
      const owner = (r: any) => {
        const n = String(r.inputs.metadata?.name ?? "");
        const cn = String(r.inputs.spec?.commonName ?? "");
        return [...config.teams.map((t) => t.name)]
          .filter((t) => n.startsWith(`${flywheelRoleOf(t)}-postgres`) || cn === flywheelRoleOf(t))
          .sort((x, y) => y.length - x.length)[0];
      };
      const loginObjects = run.recorder.resources.filter(
        (r) => teamOfNs.has(String(r.inputs.metadata?.namespace)) && owner(r) !== undefined,
      );
      for (const r of loginObjects)
        expect(owner(r), `${r.type} ${r.inputs.metadata.namespace}/${r.inputs.metadata.name}`).toBe(
          teamOfNs.get(r.inputs.metadata.namespace),
        );
      expect(
        run.recorder.resources.filter((r) => /^flywheel-postgres/.test(r.inputs.metadata?.name ?? "")),
      ).toEqual([]);
      for (const t of enabled()) {
        const ns = teamNamespace(t.name);
        const role = flywheelRoleOf(t.name);
        const mine = loginObjects.filter((r) => r.inputs.metadata.namespace === ns);
        // its CA (the AWS ConfigMap; in-cluster the client Certificate's Secret) and, with
        // passwords, its Secret
        expect(mine.length, ns).toBeGreaterThan(0);
        const secrets = run.recorder
          .ofType("kubernetes:core/v1:Secret")
          .filter((x) => x.inputs.metadata?.name === `${role}-postgres`);
        if (iam()) expect(secrets).toEqual([]);
        else {
          expect(secrets.map((x) => x.inputs.metadata.namespace)).toEqual([ns]);
          expect(secrets[0].inputs.stringData.username).toBe(role);
        }
      }
      if (c.aws) {
        const jobs = run.recorder
          .ofType("kubernetes:batch/v1:Job")
          .filter((j) => envOf(j.inputs.spec.template.spec.containers[0]).SERVICE !== "gateway");
        expect(jobs.map((j) => envOf(j.inputs.spec.template.spec.containers[0]).SERVICE).sort()).toEqual(
          [...roles].sort(),
        );
        for (const j of jobs) {
          const ctr = j.inputs.spec.template.spec.containers[0];
          expect(j.inputs.metadata.name).toBe(`${envOf(ctr).SERVICE}-postgres-login`);
          expect(ctr.command).toEqual(["/bin/sh", "-c", loginScript(iam(), false)]);
          expect(ctr.command[2]).not.toMatch(/CREATE DATABASE/);
        }
        // With passwords, the Secrets Manager copy an operator reads names the database the
        // team's controller connects to (the gateway's), not a database named after the role.
        const copies = run.recorder
          .ofType("aws:secretsmanager/secretVersion:SecretVersion")
          .map((v) => JSON.parse(unsecret(v.inputs.secretString)))
          .filter((v) => roles.includes(v.username));
        expect(copies.length).toBe(iam() ? 0 : roles.length);
        for (const v of copies) expect(v.dbname, v.username).toBe(gatewayEnv().PGDATABASE);
        // With IAM authentication each enabled team's flywheel identity may log in as its own
        // role, and as no other: one rds-db:connect policy per team, on the IAM role that the
        // team namespace's flywheel ServiceAccount assumes, naming that team's db user only.
        const connects = run.recorder
          .ofType("aws:iam/rolePolicy:RolePolicy")
          .filter((p) => String(p.inputs.policy).includes("rds-db:connect"))
          .filter((p) => !/dbuser:[^"]*\/gateway"/.test(String(p.inputs.policy)));
        expect(connects.length).toBe(iam() ? roles.length : 0);
        for (const p of connects) {
          const users = [...String(p.inputs.policy).matchAll(/dbuser:[^"]*\/([^"/]+)"/g)].map((m) => m[1]);
          const [iamRole] = p.propertyDependencies.role;
          const bound = run.recorder
            .ofType("aws:eks/podIdentityAssociation:PodIdentityAssociation")
            .filter((a) => a.propertyDependencies.roleArn?.includes(iamRole))
            .map((a) => [a.inputs.namespace, a.inputs.serviceAccount]);
          expect(bound.length, p.name).toBe(1);
          const [[ns, sa]] = bound;
          expect(sa).toBe(FLYWHEEL_SERVICE_ACCOUNT);
          expect(users, `${ns}: ${p.name}`).toEqual([flywheelRoleOf(teamOfNs.get(ns)!)]);
        }
      } else {
        const cluster = run.recorder.resources.find((r) => r.inputs.kind === "Cluster")!;
        expect(cluster.inputs.spec.managed.roles.map((r: any) => r.name)).toEqual(["gateway", ...roles]);
        // A team's writer holds the flywheel's own five connections (controller pool 2, init
        // container 1, a manual run 2) and no more than a few beyond; the gateway is not limited.
        for (const r of cluster.inputs.spec.managed.roles) {
          if (r.name === "gateway") expect(r.connectionLimit).toBeUndefined();
          else expect(r.connectionLimit, r.name).toBeGreaterThanOrEqual(5);
          if (r.name !== "gateway") expect(r.connectionLimit, r.name).toBeLessThanOrEqual(10);
        }
        const dbs = run.recorder.resources
          .filter((r) => r.inputs.kind === "Database")
          .map((r) => r.inputs.spec.name);
        expect(dbs).toEqual(["gateway"]);
      }
    });

    it("THEN the writer roles the gateway grants (its catalog, read by its own loader) are exactly the logins the substrate creates, each for its team's adapter", () => {
      const cm = run.recorder
        .ofType("kubernetes:core/v1:ConfigMap")
        .find((r) => r.inputs.metadata?.name === "gateway-catalog")!.inputs;
      const cfg = loadConfig({
        GATEWAY_OPA_URL: "http://opa:8181",
        GATEWAY_OIDC_ISSUER: "https://idp",
        GATEWAY_OIDC_AUDIENCE: "a",
        GATEWAY_CATALOG: cm.data["catalog.json"],
      });
      const writers = flywheelWriters(cfg.catalog.teams);
      const created = c.aws
        ? run.recorder
            .ofType("kubernetes:batch/v1:Job")
            .map((j) => envOf(j.inputs.spec.template.spec.containers[0]).SERVICE as string)
        : (run.recorder.resources
            .find((r) => r.inputs.kind === "Cluster")!
            .inputs.spec.managed.roles.map((r: any) => r.name) as string[]);
      expect(writers.map((w) => w.role).sort()).toEqual(created.filter((x) => x !== "gateway").sort());
      expect(writers.map((w) => [w.team, w.adapter]).sort()).toEqual(
        enabled()
          .map((t) => [t.name, t.flywheel!.adapter])
          .sort(),
      );
    });

    it("THEN no Kubernetes object is registered twice", () => {
      expect(duplicateObjects(run.recorder)).toEqual({});
    });
  });
}

describe("GIVEN a stack where no team has the flywheel on (the shipped local stack)", () => {
  it("THEN there is no flywheel login, role, controller or discovery Role", async () => {
    const run = await runShippedStack("local");
    expect(run.error).toBeUndefined();
    const named = (re: RegExp) =>
      run.recorder.resources.filter((r) => re.test(r.inputs.metadata?.name ?? ""));
    expect(named(/^fw-.*-postgres|^flywheel-controller-|^sovereign-flywheel-discovery/)).toEqual([]);
    const cluster = run.recorder.resources.find((r) => r.inputs.kind === "Cluster")!;
    expect(cluster.inputs.spec.managed.roles.map((r: any) => r.name)).toEqual(["gateway"]);
  });
});
