/**
 * The flywheel as `pulumi up` records it (docs/flywheel.md), for every shipped stack with the
 * flywheel on (aws-dev) and for the in-cluster substrate (the local stack with training and the
 * flywheel turned on): per enabled team, a Kueue-admitted CronJob in the team's namespace running
 * the chained loop as the team's own flywheel identity, whose object-store grants (IAM on AWS,
 * SeaweedFS identities in-cluster) read that team's `captures/team=<team>/` and nothing else of
 * `captures/`; no other identity reads `captures/` at all; OPA admits the flywheel's pods.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { FLYWHEEL_SERVICE_ACCOUNT } from "../../components/flywheel/plan";
import { FLYWHEEL_STAGE_LABEL } from "../../components/lib/labels";
import { teamNamespace } from "../../components/lib/naming";
import { QUEUE_LABEL, TEAM_LOCAL_QUEUE } from "../../components/platform/tenancy-plan";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import type { StackConfig } from "../../stacks/config/schema";
import { awsAccessTable, clusterAccessTable, type AccessTable } from "../helpers/access";
import { valueOf } from "../helpers/mocks";
import { pulumiConfigFromFile, runProgram, runShippedStack, type StackRun } from "../helpers/stack";

/** The local stack with training and the demo team's flywheel on (the in-cluster substrate). */
function localWithFlywheel(): { raw: Record<string, any>; flat: ReturnType<typeof pulumiConfigFromFile> } {
  const flat = pulumiConfigFromFile(stackFile("local"));
  const teams = JSON.parse(flat.config["sovereign:teams"]) as Record<string, any>[];
  teams[0].allowedModels.push("demo-assistant");
  teams[0].flywheel = { enabled: true, baseModel: "tiny-chat", adapter: "demo-assistant", minNewRecords: 50 };
  flat.config["sovereign:teams"] = JSON.stringify(teams);
  flat.config["sovereign:training"] = JSON.stringify({ enabled: true });
  const raw = structuredClone(rawFromStackFile(stackFile("local")).raw) as Record<string, any>;
  raw.teams = teams;
  raw.training = { enabled: true };
  return { raw, flat };
}

const CASES = [
  {
    name: "aws-dev",
    run: () => runShippedStack("aws-dev"),
    config: () => parseConfig(rawFromStackFile(stackFile("aws-dev")).raw),
    aws: true,
  },
  {
    name: "local + flywheel",
    run: () => runProgram("local", localWithFlywheel().flat),
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
      const crons = run.recorder.ofType("kubernetes:batch/v1:CronJob");
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

    it("GIVEN each enabled team THEN the builder's S3 client trusts the object store: in-cluster it mounts ca.crt of a Certificate in its namespace where AWS_CA_BUNDLE points; on AWS nothing (public CAs)", () => {
      const certs = run.recorder.ofType("kubernetes:cert-manager.io/v1:Certificate").map((r) => r.inputs);
      for (const t of enabled()) {
        const cron = run.recorder
          .ofType("kubernetes:batch/v1:CronJob")
          .find((r) => r.inputs.metadata?.labels?.team === t.name)!.inputs;
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
            `read ${buckets.models}/${base.endsWith("/") ? base : `${base}/`}*`,
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
