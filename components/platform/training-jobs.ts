/**
 * Training job templates: a LoRA fine-tune, a quantization (llm-compressor, FP8 or AWQ) and an
 * evaluation. Each is a `batch/v1` Job in the team's namespace that
 * - goes through the team's Kueue LocalQueue (created suspended; Kueue admits it against quota
 *   and injects the GPU pool's node labels and tolerations from its ResourceFlavor);
 * - reads base weights from the models bucket and datasets from the team's prefix, and writes
 *   checkpoints and artifacts only under `teams/<team>/<job>/` (what the team's credentials allow);
 * - survives spot interruptions: a disrupted pod does not count as a failure, the replacement pod
 *   resumes from the newest checkpoint, and the grace period lets the trainer save on SIGTERM;
 * - carries the `team` and `cost-center` labels admission requires.
 */
import { GPU_RESOURCE, GPU_TAINT } from "../lib/gpu-catalog";
import { k8sLabels, teamLabels } from "../lib/labels";
import { isDnsLabel, teamNamespace } from "../lib/naming";
import { TRAINER_IMAGE } from "../lib/versions";
import { folderOf } from "../lib/scopes";
import { OBJECT_STORE_CA_DIR, OBJECT_STORE_CA_FILE, objectStoreCaSecretName } from "../lib/trust";
import { QUEUE_LABEL, TEAM_LOCAL_QUEUE, TRAINER_SERVICE_ACCOUNT, type K8sObject } from "./tenancy-plan";

export const JOB_KINDS = ["lora", "quantize", "eval"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: Record<string, unknown>;
}

export interface TrainingJobArgs {
  readonly kind: JobKind;
  /** Job name (a DNS label); also the folder of its outputs. */
  readonly name: string;
  readonly team: string;
  readonly costCenter: string;
  /** Key prefix (in the models bucket) of the model the job starts from. */
  readonly modelPrefix: string;
  /** Dataset key under the team's prefix of the datasets bucket (required for lora, eval and awq quantize). @default none (fp8 quantize needs none) */
  readonly dataset?: string;
  /** GPUs for the one worker pod. @default 1 */
  readonly gpus?: number;
  /** Quantization scheme (quantize only). @default fp8 */
  readonly scheme?: "fp8" | "awq";
  /** Evaluation tasks (eval only). @default ["team-dataset"] */
  readonly tasks?: readonly string[];
  /** Runner image. @default TRAINER_IMAGE */
  readonly image?: string;
  /** Extra environment, e.g. the credential references of the team's `training-env` ConfigMap. @default [] */
  readonly extraEnv?: readonly EnvVar[];
  /** Wall-clock limit of the whole job, seconds. @default 172800 (2 days) */
  readonly activeDeadlineSeconds?: number;
}

/** Name of the ConfigMap tenancy writes in every team namespace. */
export const TRAINING_ENV_CONFIGMAP = "training-env";

/** Where a job's outputs land (keys in the models and checkpoints buckets). */
export function jobPrefix(team: string, job: string): string {
  return `teams/${team}/${job}/`;
}

/** Every problem of a job request, at once. */
export function jobArgProblems(a: TrainingJobArgs): string[] {
  const out: string[] = [];
  if (!isDnsLabel(a.name) || a.name.length > 52)
    out.push(`expected a job name of lowercase letters, digits and '-' (at most 52), found "${a.name}"`);
  if (!(JOB_KINDS as readonly string[]).includes(a.kind))
    out.push(`expected a job kind (${JOB_KINDS.join(", ")}), found "${a.kind}"`);
  if ((a.kind === "lora" || a.kind === "eval") && !a.dataset)
    out.push(`expected a dataset for a ${a.kind} job, found nothing`);
  // AWQ calibrates on the team's chats (jobs run offline: no public calibration set).
  if (a.kind === "quantize" && a.scheme === "awq" && !a.dataset)
    out.push("expected a dataset (calibration chats) for an awq quantize job, found nothing");
  if (a.dataset !== undefined && (a.dataset.startsWith("/") || a.dataset.split("/").includes("..")))
    out.push(`expected a dataset key inside the team's prefix, found "${a.dataset}"`);
  const gpus = a.gpus ?? 1;
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > 8) out.push(`expected 1 to 8 GPUs, found ${gpus}`);
  if (a.image !== undefined && (/:latest$/.test(a.image) || !/[:@]/.test(a.image.split("/").pop() ?? "")))
    out.push(`expected an image with a pinned tag or digest, found "${a.image}"`);
  return out;
}

function commandOf(a: TrainingJobArgs): string[] {
  switch (a.kind) {
    case "lora":
      return ["sovereign-train", "lora"];
    case "quantize":
      return ["sovereign-train", "quantize", `--scheme=${a.scheme ?? "fp8"}`];
    case "eval":
      return ["sovereign-train", "eval", `--tasks=${(a.tasks ?? ["team-dataset"]).join(",")}`];
  }
}

/**
 * What makes a pod a GPU worker of the team's training pool, shared by the training Jobs and the
 * flywheel's chain: the GPU request (and its host share of CPU and memory), the toleration of
 * the GPU taint, and `/tmp` and shared-memory volumes. The pool's node labels and its own
 * tolerations come from its ResourceFlavor, which Kueue injects on admission against the team's
 * GPU quota (the pod must carry the team's queue label).
 */
export function gpuWorker(gpus: number): {
  tolerations: Record<string, unknown>[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: Record<string, unknown>[];
  volumes: Record<string, unknown>[];
} {
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > 8) throw new Error(`expected 1 to 8 GPUs, found ${gpus}`);
  return {
    tolerations: [{ key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect }],
    resources: {
      requests: { cpu: String(8 * gpus), memory: `${64 * gpus}Gi`, [GPU_RESOURCE]: String(gpus) },
      limits: { memory: `${64 * gpus}Gi`, [GPU_RESOURCE]: String(gpus) },
    },
    volumeMounts: [
      { name: "tmp", mountPath: "/tmp" },
      { name: "dshm", mountPath: "/dev/shm" },
    ],
    volumes: [
      { name: "tmp", emptyDir: { sizeLimit: "10Gi" } },
      { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: `${8 * gpus}Gi` } },
    ],
  };
}

/** Renders one training Job. Throws with every problem when the request is invalid. */
export function renderTrainingJob(a: TrainingJobArgs): K8sObject {
  const problems = jobArgProblems(a);
  if (problems.length > 0) throw new Error(`invalid training job:\n  - ${problems.join("\n  - ")}`);
  const worker = gpuWorker(a.gpus ?? 1);
  const prefix = jobPrefix(a.team, a.name);
  const labels = {
    ...k8sLabels("training-job", a.name, { "sovereign.ai/job-kind": a.kind }),
    ...teamLabels(a.team, a.costCenter),
    [QUEUE_LABEL]: TEAM_LOCAL_QUEUE,
  };
  const env: EnvVar[] = [
    { name: "SOVEREIGN_JOB_KIND", value: a.kind },
    { name: "SOVEREIGN_JOB_NAME", value: a.name },
    // Bucket names come from the `training-env` ConfigMap (envFrom), expanded here.
    // As a folder: the trainer lists it, and its read scope is granted on the folder.
    { name: "MODEL_URI", value: `s3://$(SOVEREIGN_BUCKET_MODELS)/${folderOf(a.modelPrefix)}` },
    ...(a.dataset
      ? [{ name: "DATASET_URI", value: `s3://$(SOVEREIGN_BUCKET_DATASETS)/teams/${a.team}/${a.dataset}` }]
      : []),
    { name: "CHECKPOINT_URI", value: `s3://$(SOVEREIGN_BUCKET_CHECKPOINTS)/${prefix}` },
    { name: "OUTPUT_URI", value: `s3://$(SOVEREIGN_BUCKET_MODELS)/${prefix}` },
    // Resume from the newest checkpoint under CHECKPOINT_URI when one exists (spot restarts).
    { name: "RESUME_FROM_CHECKPOINT", value: "auto" },
    { name: "CHECKPOINT_ON_SIGTERM", value: "true" },
    { name: "HF_HUB_OFFLINE", value: "1" },
    { name: "HOME", value: "/scratch" },
    ...(a.extraEnv ?? []),
  ];
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: a.name, namespace: teamNamespace(a.team), labels },
    spec: {
      // Kueue admits it (its webhook would suspend it anyway).
      suspend: true,
      // Spot interruptions do not count (podFailurePolicy); real failures retry a few times.
      backoffLimit: 3,
      podFailurePolicy: {
        rules: [
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          // Exit code 2: the trainer rejected its input; retrying cannot help.
          { action: "FailJob", onExitCodes: { containerName: "trainer", operator: "In", values: [2] } },
        ],
      },
      activeDeadlineSeconds: a.activeDeadlineSeconds ?? 172_800,
      ttlSecondsAfterFinished: 7 * 24 * 3600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: TRAINER_SERVICE_ACCOUNT,
          // Spot nodes give about two minutes: save a checkpoint and exit.
          terminationGracePeriodSeconds: 110,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: "RuntimeDefault" },
          },
          // The pool's own tolerations (e.g. of a cloud's node disruption) come from its
          // ResourceFlavor, which Kueue injects on admission.
          tolerations: worker.tolerations,
          containers: [
            {
              name: "trainer",
              image: a.image ?? TRAINER_IMAGE,
              imagePullPolicy: "IfNotPresent",
              command: commandOf(a),
              envFrom: [{ configMapRef: { name: TRAINING_ENV_CONFIGMAP } }],
              env,
              resources: worker.resources,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [
                { name: "scratch", mountPath: "/scratch" },
                ...worker.volumeMounts,
                { name: "object-store-ca", mountPath: OBJECT_STORE_CA_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: "scratch", emptyDir: { sizeLimit: "200Gi" } },
            ...worker.volumes,
            // The object store's private CA in-cluster (AWS_CA_BUNDLE in the ConfigMap points
            // here); optional: on AWS there is no such Secret and S3 has a public certificate.
            {
              name: "object-store-ca",
              secret: {
                secretName: objectStoreCaSecretName(TRAINER_SERVICE_ACCOUNT),
                optional: true,
                items: [{ key: "ca.crt", path: OBJECT_STORE_CA_FILE }],
              },
            },
          ],
        },
      },
    },
  };
}
