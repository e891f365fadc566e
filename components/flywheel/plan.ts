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
import type { CanaryLimits } from "../lib/flywheel-canary";
import { modelServerUrl } from "../lib/endpoints";
import { modelKeyEnv, type ModelKeyRef } from "../lib/model-keys";
import { MODEL_CA_DIR, MODEL_CA_FILE, modelCaVolume } from "../lib/model-tls";

/** The model CA's bundle (`ca.crt` of the team's `model-server-ca` Secret) at MODEL_CA_DIR, when there. */
function modelCaMounts(on: boolean | undefined): {
  volumes: Record<string, unknown>[];
  volumeMounts: Record<string, unknown>[];
} {
  return on
    ? {
        volumes: [modelCaVolume()],
        volumeMounts: [{ name: "model-server-ca", mountPath: MODEL_CA_DIR, readOnly: true }],
      }
    : { volumes: [], volumeMounts: [] };
}
import { FLYWHEEL_STAGE_LABEL, k8sLabels, teamLabels } from "../lib/labels";
import { flywheelAdapterPrefix, flywheelDatasetsPrefix, folderOf, teamCapturesPrefix } from "../lib/scopes";
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
  /** The canary's limits (`teams[].flywheel.canary`), for the controller CronJob. @default none */
  readonly canary?: CanaryLimits;
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
      readonly canary?: CanaryLimits;
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
            ...(t.flywheel.canary ? { canary: { ...t.flywheel.canary } } : {}),
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
  return flywheelDatasetsPrefix(team, adapter);
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
          // The chain trains on the base model and writes each candidate under the adapter's
          // flywheel prefix (outside teams/: the team's trainer cannot write it).
          BASE_MODEL_URI: `s3://${e.buckets.models}/${folderOf(f.baseModelSource ?? "")}`,
          CANDIDATES_URI: `s3://${e.buckets.models}/${flywheelAdapterPrefix(f.team, f.adapter)}`,
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
    // the served base model's name: the run record's `baseModel`, which the registry records
    `--base-model=${f.baseModel}`,
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
  /**
   * The registry (the team's `flywheel` Postgres login) and the gateway image that runs the
   * controller: with it the chain's pod gets the init container that writes the incumbent, and
   * the team gets its controller CronJob. @default none (the chain ends at `candidate`)
   */
  readonly controller?: FlywheelController;
  /**
   * The model server keys this team's pods need, in Secrets of the team's namespace
   * (components/platform/model-keys.ts): the base model's (the controller reads its replicas'
   * /v1/models) and the guard's (the eval's safety set asks it). @default none (servers without a key)
   */
  readonly apiKeys?: { readonly baseModel?: ModelKeyRef; readonly guard?: ModelKeyRef };
  /**
   * The model CA's bundle is in the team's namespace (Secret `model-server-ca`,
   * components/lib/model-tls.ts): the controller verifies its base model's replicas
   * (FLYWHEEL_MODEL_CA_FILE) and the eval the guard (GUARD_CA_FILE) against it alone.
   * @default false (the public CAs: an in-cluster model server's certificate then fails)
   */
  readonly modelCa?: boolean;
}

/** The `flywheel` login of a team namespace, resolved (`connectPostgres`). */
export interface FlywheelPostgres {
  readonly host: string;
  readonly port: number;
  /** The gateway's database (the registry's schema lives there). */
  readonly database: string;
  readonly sslMode: string;
  /** The login Secret (`username`, `password`); absent with IAM authentication. */
  readonly secretName?: string;
  /** IAM authentication: the role to log in as, and the region the token is signed for. */
  readonly iamAuth?: { readonly user: string; readonly region: string };
  readonly rootCert:
    | { readonly configMapName: string; readonly key: string }
    | { readonly secretName: string; readonly key: string };
}

export interface FlywheelController {
  /** The gateway's image (it carries `controller-cli`). */
  readonly image: string;
  readonly postgres: FlywheelPostgres;
}

/**
 * What a deployed stack resolved for a team's chain pod (identity, credentials' environment,
 * object-store CA, registry login and the controller's image): the scheduled CronJob and a manual
 * run (`npm run flywheel -- run`, which reads it from the stack output `flywheelRunIdentities`)
 * both render their pod from it with {@link flywheelJobSpec}. No secret values: Secrets by name.
 */
export type FlywheelRunIdentity = FlywheelPodIdentity & { readonly controller: FlywheelController };

/** Where the gateway image (gateway/Dockerfile: WORKDIR /app, tsc's rootDir the repository) has the controller. */
export const FLYWHEEL_CONTROLLER_CLI = "/app/gateway/src/flywheel/controller-cli.js";
/** The emptyDir the init container writes the incumbent to and the loop reads it from. */
export const FLYWHEEL_HANDOFF_DIR = "/handoff";
export const FLYWHEEL_INCUMBENT_FILE = `${FLYWHEEL_HANDOFF_DIR}/incumbent.json`;
/**
 * How often the controller CronJob runs: each run registers a new run record and moves the
 * canary ONE step (an observation), so this is the canary's observation interval.
 */
export const FLYWHEEL_CONTROLLER_SCHEDULE = "*/5 * * * *";
const PG_CA_DIR = "/etc/postgres-ca";
/** Where in-cluster clients look for the ServiceAccount token (a projected, short-lived one). */
export const FLYWHEEL_API_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

const HARDENED = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

/**
 * An environment without repeated names (the API server refuses them): the identity's and the
 * registry's both set AWS_REGION with IAM authentication. The same name with two values is a bug.
 */
export function uniqueEnv(env: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const seen = new Map<string, Record<string, unknown>>();
  for (const e of env) {
    const name = String(e.name);
    const prev = seen.get(name);
    if (prev === undefined) seen.set(name, e);
    else if (JSON.stringify(prev) !== JSON.stringify(e))
      throw new Error(
        `flywheel: environment variable ${name} set twice, to ${JSON.stringify(prev)} and ${JSON.stringify(e)}`,
      );
  }
  return [...seen.values()];
}

/** The registry connection's environment (libpq's variables, as the gateway reads them). */
export function flywheelPostgresEnv(pg: FlywheelPostgres): Record<string, unknown>[] {
  return [
    { name: "PGHOST", value: pg.host },
    { name: "PGPORT", value: String(pg.port) },
    { name: "PGDATABASE", value: pg.database },
    { name: "PGSSLMODE", value: pg.sslMode },
    { name: "PGSSLROOTCERT", value: `${PG_CA_DIR}/${pg.rootCert.key}` },
    ...(pg.iamAuth
      ? [
          { name: "GATEWAY_PG_AUTH", value: "rds-iam" },
          { name: "PGUSER", value: pg.iamAuth.user },
          { name: "AWS_REGION", value: pg.iamAuth.region },
        ]
      : [
          { name: "PGUSER", valueFrom: { secretKeyRef: { name: pg.secretName, key: "username" } } },
          { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: pg.secretName, key: "password" } } },
        ]),
  ];
}

function postgresCaVolume(pg: FlywheelPostgres): Record<string, unknown> {
  return "secretName" in pg.rootCert
    ? {
        name: "postgres-ca",
        secret: {
          secretName: pg.rootCert.secretName,
          items: [{ key: pg.rootCert.key, path: pg.rootCert.key }],
        },
      }
    : { name: "postgres-ca", configMap: { name: pg.rootCert.configMapName } };
}

/**
 * The chain pod's init container: the gateway image's controller writes the promoted version
 * (`{"version", "uri"}`) to the shared emptyDir before any GPU work; the loop reads it there
 * (FLYWHEEL_INCUMBENT_FILE). A failure fails the pod before the chain starts.
 */
export function incumbentInitContainer(f: FlywheelTeamInput, c: FlywheelController): Record<string, unknown> {
  return {
    name: "incumbent",
    image: c.image,
    imagePullPolicy: "IfNotPresent",
    command: [
      "/bin/sh",
      "-c",
      `exec node ${FLYWHEEL_CONTROLLER_CLI} incumbent ${f.adapter} > ${FLYWHEEL_INCUMBENT_FILE}`,
    ],
    env: flywheelPostgresEnv(c.postgres),
    resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    securityContext: HARDENED,
    volumeMounts: [
      { name: "handoff", mountPath: FLYWHEEL_HANDOFF_DIR },
      { name: "postgres-ca", mountPath: PG_CA_DIR, readOnly: true },
    ],
  };
}

/**
 * The Job spec of one run of a team's chain: the ONE builder of the scheduled CronJob's
 * `jobTemplate` and of a manual run's Job, so both carry the same pod (the `incumbent` init
 * container included, whenever `id` has the controller).
 */
function flywheelJobSpec(f: FlywheelTeamInput, id?: FlywheelPodIdentity): Record<string, unknown> {
  const labels = labelsOf(f);
  // One GPU pod for the whole chain (docs/flywheel.md, "Decisions"): a GPU worker of the team's
  // training pool, like the training Jobs, admitted by Kueue against the team's GPU quota.
  const worker = gpuWorker(f.gpus ?? 1);
  const ca = objectStoreCaMounts(id?.caBundle);
  const ctl = id?.controller;
  const env = [
    ...(id?.env ?? []).map((e) => ({ ...e })),
    ...(ctl ? [{ name: "FLYWHEEL_INCUMBENT_FILE", value: FLYWHEEL_INCUMBENT_FILE }] : []),
    ...(id?.apiKeys?.guard ? [modelKeyEnv("GUARD_API_KEY", id.apiKeys.guard)] : []),
    ...(id?.modelCa ? [{ name: "GUARD_CA_FILE", value: MODEL_CA_FILE }] : []),
  ];
  const modelCa = modelCaMounts(id?.modelCa);
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
        ...(ctl ? { initContainers: [incumbentInitContainer(f, ctl)] } : {}),
        containers: [
          {
            name: "builder",
            image: f.image ?? TRAINER_IMAGE,
            imagePullPolicy: "IfNotPresent",
            command: loopCommand(f),
            envFrom: [{ configMapRef: { name: FLYWHEEL_ENV_CONFIGMAP } }],
            ...(env.length ? { env } : {}),
            resources: worker.resources,
            securityContext: HARDENED,
            volumeMounts: [
              { name: "scratch", mountPath: "/scratch" },
              ...(ctl ? [{ name: "handoff", mountPath: FLYWHEEL_HANDOFF_DIR, readOnly: true }] : []),
              ...worker.volumeMounts,
              ...ca.volumeMounts,
              ...modelCa.volumeMounts,
            ],
          },
        ],
        tolerations: worker.tolerations,
        volumes: [
          { name: "scratch", emptyDir: { sizeLimit: "200Gi" } },
          ...(ctl
            ? [{ name: "handoff", emptyDir: { sizeLimit: "1Mi" } }, postgresCaVolume(ctl.postgres)]
            : []),
          ...worker.volumes,
          ...ca.volumes,
          ...modelCa.volumes,
        ],
      },
    },
  };
}

/**
 * What the admission constraint K8sFlywheelIdentity (policies/admission/flywheelidentity.rego)
 * keeps to the kit's own CronJobs in one team namespace: the ServiceAccounts and Secrets a
 * workload created by a team identity may not use there.
 */
export interface FlywheelProtectedNames {
  readonly namespace: string;
  readonly serviceAccounts: readonly string[];
  readonly secrets: readonly string[];
}

/** The parts of a pod spec that name a ServiceAccount or Secrets. */
interface PodSecretView {
  readonly serviceAccountName?: string;
  readonly initContainers?: readonly ContainerSecretView[];
  readonly containers?: readonly ContainerSecretView[];
  readonly ephemeralContainers?: readonly ContainerSecretView[];
  readonly volumes?: readonly {
    readonly secret?: { readonly secretName?: string };
    readonly projected?: { readonly sources?: readonly { readonly secret?: { readonly name?: string } }[] };
  }[];
}

interface ContainerSecretView {
  readonly env?: readonly { readonly valueFrom?: { readonly secretKeyRef?: { readonly name?: string } } }[];
  readonly envFrom?: readonly { readonly secretRef?: { readonly name?: string } }[];
}

/**
 * The Secrets a pod spec reads, as the admission Rego sees them: env `secretKeyRef`, envFrom
 * `secretRef`, `secret` and `projected` volumes, of init, app and ephemeral containers.
 */
export function podSecretRefs(spec: PodSecretView): string[] {
  const out = new Set<string>();
  for (const c of [
    ...(spec.initContainers ?? []),
    ...(spec.containers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ]) {
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef?.name) out.add(e.valueFrom.secretKeyRef.name);
    for (const e of c.envFrom ?? []) if (e.secretRef?.name) out.add(e.secretRef.name);
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret?.secretName) out.add(v.secret.secretName);
    for (const src of v.projected?.sources ?? []) if (src.secret?.name) out.add(src.secret.name);
  }
  return [...out].sort();
}

/**
 * The flywheel's identity in its team's namespace, from the pods the kit renders for it (the loop
 * and the controller CronJobs): their ServiceAccount and every Secret they read (object-store
 * keys and CA, the `fw-<team>` login and its certificates, the model servers' API keys).
 */
export function flywheelProtectedNames(
  f: FlywheelTeamInput,
  id: FlywheelRunIdentity,
): FlywheelProtectedNames {
  const pods = [renderFlywheelCronJob(f, id), renderFlywheelControllerCronJob(f, id)].map(
    (c) => c.spec.jobTemplate.spec.template.spec as PodSecretView,
  );
  return {
    namespace: teamNamespace(f.team),
    serviceAccounts: [...new Set(pods.map((p) => String(p.serviceAccountName)))].sort(),
    secrets: [...new Set(pods.flatMap(podSecretRefs))].sort(),
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
      jobTemplate: { metadata: { labels }, spec: flywheelJobSpec(f, id) },
    },
  };
}

function controllerLabels(f: FlywheelTeamInput): Record<string, string> {
  return {
    ...k8sLabels("flywheel", `${f.team}-${f.adapter}`, { [FLYWHEEL_STAGE_LABEL]: "controller" }),
    ...teamLabels(f.team, f.costCenter),
  };
}

/** The name of a team's controller CronJob. */
export function controllerCronJobName(adapter: string): string {
  return `flywheel-controller-${adapter}`.slice(0, 52);
}

/**
 * The team's controller (docs/flywheel.md, Decisions): a small CPU CronJob, not Kueue-admitted,
 * that runs `controller-cli from-store ADAPTER` every {@link FLYWHEEL_CONTROLLER_SCHEDULE}: it
 * registers the newest run record the chain wrote under CANDIDATES_URI and moves the canary one
 * step. As the team's flywheel identity (object store), the team's `flywheel` Postgres login, and
 * the ServiceAccount token (a projected one, for listing the base model's EndpointSlices).
 */
export function renderFlywheelControllerCronJob(
  f: FlywheelTeamInput,
  id: FlywheelPodIdentity & { readonly controller: FlywheelController },
): K8sObject {
  const labels = controllerLabels(f);
  const ctl = id.controller;
  const ca = objectStoreCaMounts(id.caBundle);
  if (!f.canary) throw new Error(`flywheel of team "${f.team}": expected its canary limits, found none`);
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: controllerCronJobName(f.adapter), namespace: teamNamespace(f.team), labels },
    spec: {
      schedule: FLYWHEEL_CONTROLLER_SCHEDULE,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 240,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 0,
          // a step takes seconds (a load up to minutes); the next run picks up where it stopped
          activeDeadlineSeconds: 1800,
          ttlSecondsAfterFinished: 24 * 3600,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              serviceAccountName: id.serviceAccountName,
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 10001,
                runAsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "controller",
                  image: ctl.image,
                  imagePullPolicy: "IfNotPresent",
                  command: ["node", FLYWHEEL_CONTROLLER_CLI, "from-store", f.adapter],
                  envFrom: [{ configMapRef: { name: FLYWHEEL_ENV_CONFIGMAP } }],
                  env: uniqueEnv([
                    ...id.env.map((e) => ({ ...e })),
                    ...flywheelPostgresEnv(ctl.postgres),
                    { name: "FLYWHEEL_CANARY", value: JSON.stringify(f.canary) },
                    { name: "FLYWHEEL_MODEL_SERVICE", value: modelServerUrl(f.baseModel) },
                    ...(id.apiKeys?.baseModel
                      ? [modelKeyEnv("FLYWHEEL_MODEL_API_KEY", id.apiKeys.baseModel)]
                      : []),
                    ...(id.modelCa ? [{ name: "FLYWHEEL_MODEL_CA_FILE", value: MODEL_CA_FILE }] : []),
                    // No FLYWHEEL_LORA_ROOT: the model servers' lora-sync sidecars load the versions
                    // the controller publishes in `serving.json` under CANDIDATES_URI (flywheel-env).
                  ]),
                  resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                  securityContext: HARDENED,
                  volumeMounts: [
                    { name: "postgres-ca", mountPath: PG_CA_DIR, readOnly: true },
                    { name: "kube-api-access", mountPath: FLYWHEEL_API_TOKEN_DIR, readOnly: true },
                    ...ca.volumeMounts,
                    ...modelCaMounts(id.modelCa).volumeMounts,
                  ],
                },
              ],
              volumes: [
                postgresCaVolume(ctl.postgres),
                {
                  name: "kube-api-access",
                  projected: {
                    sources: [
                      { serviceAccountToken: { path: "token", expirationSeconds: 3600 } },
                      { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
                    ],
                  },
                },
                ...ca.volumes,
                ...modelCaMounts(id.modelCa).volumes,
              ],
            },
          },
        },
      },
    },
  };
}

/** What the controller may read of the Kubernetes API: the model servers' EndpointSlices, nothing else. */
export const FLYWHEEL_DISCOVERY_RULES = [
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
];

/**
 * The manual run's Job name: the CronJob's (`flywheel-<adapter>` cut to 52 characters, a DNS
 * label the config checks), cut so the whole run id fits in 63 characters (the pods' `job-name`
 * label), never ending on '-'; two run ids never give one name.
 */
function runJobName(adapter: string, runId: string): string {
  const cron = `flywheel-${adapter}`.slice(0, 52);
  return `${cron.slice(0, 62 - runId.length).replace(/-+$/, "")}-${runId}`;
}

/**
 * A manual run (`npm run flywheel -- run`): the CronJob's Job, named by the run id, with the pod
 * the deployed stack resolved (`id`, the stack output `flywheelRunIdentities`): the same init
 * container writes the incumbent (or `{"version": null}` before a first promotion, when the gate
 * compares with the base model, as the scheduled run's does).
 */
export function renderFlywheelRunJob(
  f: FlywheelTeamInput,
  runId: string,
  id: FlywheelRunIdentity,
): K8sObject {
  if (!/^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/.test(runId))
    throw new Error(`expected a run id of at most 20 lowercase letters, digits and '-', found "${runId}"`);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: runJobName(f.adapter, runId),
      namespace: teamNamespace(f.team),
      labels: labelsOf(f),
    },
    spec: flywheelJobSpec(f, id),
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
