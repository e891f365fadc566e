/**
 * The Kubernetes objects of one team's flywheel (docs/flywheel.md), as plain data: a CronJob
 * that starts the dataset builder on the team's schedule, the same builder as a one-off Job for a
 * manual run, the ServiceAccount both run as, and the ConfigMap with the builder's settings.
 *
 * Every Job goes through the team's Kueue LocalQueue (created suspended, admitted against the
 * team's quota) in the team's namespace, as the `flywheel-builder` identity: a different identity
 * from the team's trainer, because it is the only workload that may read the team's own
 * `captures/…/team=<team>/` partition of the inference-log bucket. Pure: no I/O.
 */
import { FLYWHEEL_STAGE_LABEL, k8sLabels, teamLabels } from "../lib/labels";
import { flywheelAdapterPrefix, teamCapturesPrefix } from "../lib/scopes";
import { teamNamespace } from "../lib/naming";
import { TRAINER_IMAGE } from "../lib/versions";
import { objectStoreCaMounts } from "../lib/trust";
import { QUEUE_LABEL, TEAM_LOCAL_QUEUE, type K8sObject } from "../platform/tenancy-plan";
import { gpuWorker } from "../platform/training-jobs";

export const FLYWHEEL_SERVICE_ACCOUNT = "flywheel-builder";
export const FLYWHEEL_ENV_CONFIGMAP = "flywheel-env";

/** What one team's flywheel needs from the validated config. */
export interface FlywheelTeamInput {
  readonly team: string;
  readonly costCenter: string;
  readonly adapter: string;
  readonly baseModel: string;
  readonly schedule: string;
  readonly minNewRecords: number;
  /** Classification of each chat model's captures (a capture without its own field). */
  readonly modelClassifications: Readonly<Record<string, string>>;
  readonly redactPatterns: readonly string[];
  /** Days of captures each run reads, back from today. @default 30 */
  readonly lookbackDays?: number;
  readonly image?: string;
  /** Key prefix of the base model's weights in the models bucket (`models[].source`). @default "" */
  readonly baseModelSource?: string;
  /** Compressed variant the chain writes after training. @default "none" */
  readonly quantize?: "none" | "fp8" | "awq";
  /** The evaluation gate's thresholds (`teams[].flywheel.gate`). @default the schema's */
  readonly gate?: Readonly<Record<string, number>>;
  /** GPUs of the chain's one pod, admitted against the team's GPU quota. @default 1 */
  readonly gpus?: number;
}

/** The captures prefix of one team: the only part of the inference-log bucket it may read. */
export function teamCapturePrefix(team: string): string {
  return teamCapturesPrefix(team);
}

/** The flywheel input of every team whose flywheel is enabled, from the validated config. */
export function flywheelTeams(config: {
  readonly teams: readonly {
    readonly name: string;
    readonly costCenter: string;
    readonly flywheel?: {
      readonly enabled: boolean;
      readonly adapter: string;
      readonly baseModel: string;
      readonly schedule: string;
      readonly minNewRecords: number;
      readonly quantize?: "none" | "fp8" | "awq";
      readonly gate?: Readonly<Record<string, number | undefined>>;
      readonly gpus?: number;
    };
  }[];
  readonly models: readonly {
    readonly name: string;
    readonly role: string;
    readonly dataClassification: string;
    readonly source?: string;
  }[];
  readonly gateway: { readonly redactPatterns: readonly string[] };
}): FlywheelTeamInput[] {
  const classes = Object.fromEntries(
    config.models.filter((m) => m.role === "chat").map((m) => [m.name, m.dataClassification]),
  );
  return config.teams.flatMap((t) =>
    t.flywheel?.enabled
      ? [
          {
            team: t.name,
            costCenter: t.costCenter,
            adapter: t.flywheel.adapter,
            baseModel: t.flywheel.baseModel,
            schedule: t.flywheel.schedule,
            minNewRecords: t.flywheel.minNewRecords,
            modelClassifications: classes,
            redactPatterns: config.gateway.redactPatterns,
            baseModelSource: config.models.find((m) => m.name === t.flywheel!.baseModel)?.source ?? "",
            quantize: t.flywheel.quantize ?? "none",
            gpus: t.flywheel.gpus ?? 1,
            gate: Object.fromEntries(
              Object.entries(t.flywheel.gate ?? {}).filter((e): e is [string, number] => e[1] !== undefined),
            ),
          },
        ]
      : [],
  );
}

/** The datasets prefix the team's flywheel writes (immutable versions below it). */
export function flywheelDatasetPrefix(team: string, adapter: string): string {
  return flywheelAdapterPrefix(team, adapter);
}

/** Where the builder reads and writes, resolved by the platform from the substrate. */
export interface FlywheelEnvInput {
  readonly buckets: { readonly inferenceLogs: string; readonly datasets: string; readonly models?: string };
  /** The in-cluster OPA the builder asks (`opaUrl()`). */
  readonly opaUrl: string;
  /**
   * The guard model the eval's safety task asks: its chat completions URL and name, the same the
   * gateway and OPA screen with (the policy data's `guard`). Absent when no guard is configured.
   */
  readonly guard?: { readonly url: string; readonly model: string };
  /** Object-store endpoint settings, as in the team's training-env ConfigMap. */
  readonly endpoint: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
}

/** The `flywheel-env` ConfigMap of a team (plain settings only; credentials come from identity). */
export function flywheelEnvData(f: FlywheelTeamInput, e: FlywheelEnvInput): Record<string, string> {
  return {
    SOVEREIGN_TEAM: f.team,
    CAPTURES_URI: `s3://${e.buckets.inferenceLogs}/captures/`,
    DATASETS_URI: `s3://${e.buckets.datasets}/${flywheelDatasetPrefix(f.team, f.adapter)}`,
    ...(e.buckets.models
      ? {
          // The chain trains on the base model and writes each candidate under the team's prefix.
          BASE_MODEL_URI: `s3://${e.buckets.models}/${f.baseModelSource ?? ""}`,
          CANDIDATES_URI: `s3://${e.buckets.models}/${flywheelDatasetPrefix(f.team, f.adapter)}`,
        }
      : {}),
    OPA_URL: e.opaUrl,
    ...(e.guard ? { GUARD_URL: e.guard.url, GUARD_MODEL: e.guard.model } : {}),
    AWS_ENDPOINT_URL_S3: e.endpoint,
    AWS_REGION: e.region,
    S3_FORCE_PATH_STYLE: String(e.forcePathStyle),
    SCRATCH_DIR: "/scratch",
  };
}

/**
 * The chain's command (`sovereign-flywheel loop`): dataset from the last `lookbackDays` days of
 * captures (up to today, UTC), and only when at least `minNewRecords` new eligible records exist:
 * LoRA fine-tune, quantize (when configured), evaluate candidate and incumbent, gate.
 */
export function loopCommand(f: FlywheelTeamInput): string[] {
  const [exe, , ...rest] = builderCommand(f);
  return [
    exe,
    "loop",
    ...rest,
    `--quantize=${f.quantize ?? "none"}`,
    `--gate-thresholds=${JSON.stringify(f.gate ?? {})}`,
  ];
}

/** The builder's command: the last `lookbackDays` days of captures, up to today (UTC). */
export function builderCommand(f: FlywheelTeamInput): string[] {
  return [
    "sovereign-flywheel",
    "build-dataset",
    `--adapter=${f.adapter}`,
    `--days=${f.lookbackDays ?? 30}`,
    `--min-new-records=${f.minNewRecords}`,
    ...Object.entries(f.modelClassifications)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([m, c]) => `--model-classification=${m}=${c}`),
    ...f.redactPatterns.map((p) => `--redact-pattern=${p}`),
  ];
}

function labelsOf(f: FlywheelTeamInput): Record<string, string> {
  return {
    ...k8sLabels("flywheel", `${f.team}-${f.adapter}`, { [FLYWHEEL_STAGE_LABEL]: "loop" }),
    ...teamLabels(f.team, f.costCenter),
    [QUEUE_LABEL]: TEAM_LOCAL_QUEUE,
  };
}

/** Per-deployment pieces of the pod: the identity's ServiceAccount and credential environment. */
export interface FlywheelPodIdentity {
  readonly serviceAccountName: string;
  /** From the substrate (`bindWorkload`): endpoint, region and, in-cluster, secret-backed keys. */
  readonly env: readonly Record<string, unknown>[];
  /** The object store's private CA (`bindWorkload`'s `caBundle`), mounted where `env` points. @default none */
  readonly caBundle?: { readonly secretName: string; readonly key: string };
}

function jobSpec(f: FlywheelTeamInput, id?: FlywheelPodIdentity): Record<string, unknown> {
  const labels = labelsOf(f);
  // One GPU pod for the whole chain (docs/flywheel.md, "Decisions"): a GPU worker of the team's
  // training pool, like the training Jobs, admitted by Kueue against the team's GPU quota.
  const worker = gpuWorker(f.gpus ?? 1);
  const ca = objectStoreCaMounts(id?.caBundle);
  return {
    suspend: true,
    backoffLimit: 2,
    podFailurePolicy: {
      rules: [
        // A spot interruption of the training pool does not count as a failure.
        { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        { action: "FailJob", onExitCodes: { containerName: "builder", operator: "In", values: [2] } },
      ],
    },
    activeDeadlineSeconds: 6 * 3600,
    ttlSecondsAfterFinished: 7 * 24 * 3600,
    template: {
      metadata: { labels },
      spec: {
        restartPolicy: "Never",
        serviceAccountName: id?.serviceAccountName ?? FLYWHEEL_SERVICE_ACCOUNT,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 1000,
          runAsGroup: 1000,
          fsGroup: 1000,
          seccompProfile: { type: "RuntimeDefault" },
        },
        containers: [
          {
            name: "builder",
            image: f.image ?? TRAINER_IMAGE,
            imagePullPolicy: "IfNotPresent",
            command: loopCommand(f),
            envFrom: [{ configMapRef: { name: FLYWHEEL_ENV_CONFIGMAP } }],
            ...(id?.env.length ? { env: id.env.map((e) => ({ ...e })) } : {}),
            resources: worker.resources,
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ["ALL"] },
            },
            volumeMounts: [
              { name: "scratch", mountPath: "/scratch" },
              ...worker.volumeMounts,
              ...ca.volumeMounts,
            ],
          },
        ],
        tolerations: worker.tolerations,
        volumes: [{ name: "scratch", emptyDir: { sizeLimit: "200Gi" } }, ...worker.volumes, ...ca.volumes],
      },
    },
  };
}

/** The scheduled dataset build of one team (Kueue admits each Job the CronJob creates). */
export function renderFlywheelCronJob(f: FlywheelTeamInput, id?: FlywheelPodIdentity): K8sObject {
  const labels = labelsOf(f);
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: `flywheel-${f.adapter}`.slice(0, 52), namespace: teamNamespace(f.team), labels },
    spec: {
      schedule: f.schedule,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels }, spec: jobSpec(f, id) },
    },
  };
}

/** A manual run (`npm run flywheel -- run`): the CronJob's Job, named by the run id. */
export function renderFlywheelRunJob(f: FlywheelTeamInput, runId: string): K8sObject {
  if (!/^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/.test(runId))
    throw new Error(`expected a run id of at most 20 lowercase letters, digits and '-', found "${runId}"`);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: `flywheel-${f.adapter}-${runId}`.slice(0, 63),
      namespace: teamNamespace(f.team),
      labels: labelsOf(f),
    },
    spec: jobSpec(f),
  };
}

export function renderFlywheelObjects(f: FlywheelTeamInput, e: FlywheelEnvInput): K8sObject[] {
  const ns = teamNamespace(f.team);
  const labels = { ...k8sLabels("flywheel", `${f.team}-${f.adapter}`), ...teamLabels(f.team, f.costCenter) };
  return [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: FLYWHEEL_SERVICE_ACCOUNT, namespace: ns, labels },
      automountServiceAccountToken: false,
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: FLYWHEEL_ENV_CONFIGMAP, namespace: ns, labels },
      data: flywheelEnvData(f, e),
    },
    renderFlywheelCronJob(f),
  ];
}
