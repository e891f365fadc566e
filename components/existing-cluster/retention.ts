/**
 * Retention of the teams' flywheel data on the in-cluster object store (docs/flywheel.md).
 * SeaweedFS has no S3 lifecycle rules, so where a team sets `flywheel.retentionDays` the substrate
 * runs, per such team, a daily CronJob in the data namespace (no team can run pods there) as a
 * store identity of its own that may list and delete under exactly that team's expiring prefixes
 * (`retentionExpirations`) and nothing else; it deletes the objects last modified more than the
 * configured days ago (`python -m sovereign_train.retention`, trainer/sovereign_train/retention.py).
 * Without the setting there is no job and no identity: nothing is deleted. Pure: no I/O.
 */
import type * as k8s from "@pulumi/kubernetes";
import { k8sLabels } from "../lib/labels";
import type { BucketRole, Expiration } from "../lib/scopes";
import { ACCESS_KEY_ENV, SECRET_KEY_ENV } from "./credentials";
import { objectStoreCaEnv, objectStoreCaMounts } from "../lib/trust";

/** When the retention jobs run (UTC): after the flywheel's default 03:00 run. */
export const RETENTION_SCHEDULE = "30 4 * * *";

/** The expirations of each team, by team, in the order given. */
export function expirationsByTeam(expirations: readonly Expiration[]): Map<string, Expiration[]> {
  const out = new Map<string, Expiration[]>();
  for (const e of expirations) out.set(e.team, [...(out.get(e.team) ?? []), e]);
  return out;
}

/** Name of a team's retention identity (and of its CronJob and Secret). */
export function retentionName(team: string): string {
  return `retention-${team}`;
}

/**
 * The SeaweedFS actions of a team's retention identity: list and write (a delete is a write)
 * under each expiring prefix. No read: listing gives keys and ages, never content.
 */
export function retentionActions(
  expirations: readonly Expiration[],
  buckets: Readonly<Record<BucketRole, string>>,
): string[] {
  return [
    ...new Set(
      expirations.flatMap((e) => {
        if (!e.prefix.endsWith("/") || e.prefix === "/")
          throw new Error(`a retention prefix must be a folder ending in "/", found "${e.prefix}"`);
        const target = `${buckets[e.bucket]}/${e.prefix}*`;
        return [`List:${target}`, `Write:${target}`];
      }),
    ),
  ];
}

/** The `--target` arguments of the retention command: `bucket/prefix=days`. */
export function retentionTargets(
  expirations: readonly Expiration[],
  buckets: Readonly<Record<BucketRole, string>>,
): string[] {
  return expirations.map((e) => `--target=${buckets[e.bucket]}/${e.prefix}=${e.days}`);
}

export interface RetentionJobInput {
  readonly team: string;
  readonly namespace: string;
  readonly expirations: readonly Expiration[];
  readonly buckets: Readonly<Record<BucketRole, string>>;
  /** The runner image (it carries `sovereign_train.retention`), mirrored. */
  readonly image: string;
  readonly endpoint: string;
  readonly region: string;
  /** Secret (in `namespace`) with the identity's keys. */
  readonly secretName: string;
  /** Secret (in `namespace`) and key of the CA the store's HTTPS certificate chains to. */
  readonly caBundle?: { readonly secretName: string; readonly key: string };
  /** @default RETENTION_SCHEDULE */
  readonly schedule?: string;
}

/** The CronJob (batch/v1) that deletes a team's expired captures and datasets. */
export function retentionCronJob(a: RetentionJobInput): k8s.types.input.batch.v1.CronJob & {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
} {
  if (a.expirations.some((e) => e.team !== a.team))
    throw new Error(`expected only team "${a.team}"'s expirations in its retention job`);
  const labels = { ...k8sLabels("retention", a.team), team: a.team };
  const ca = objectStoreCaMounts(a.caBundle);
  const fromSecret = (key: string) => ({
    name: key,
    valueFrom: { secretKeyRef: { name: a.secretName, key } },
  });
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: retentionName(a.team).slice(0, 52), namespace: a.namespace, labels },
    spec: {
      schedule: a.schedule ?? RETENTION_SCHEDULE,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 2,
          // Exit code 2: a target the job refuses; retrying cannot help.
          podFailurePolicy: {
            rules: [
              { action: "FailJob", onExitCodes: { containerName: "retention", operator: "In", values: [2] } },
            ],
          },
          activeDeadlineSeconds: 3 * 3600,
          ttlSecondsAfterFinished: 7 * 24 * 3600,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 1000,
                runAsGroup: 1000,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "retention",
                  image: a.image,
                  imagePullPolicy: "IfNotPresent",
                  command: [
                    "python",
                    "-m",
                    "sovereign_train.retention",
                    ...retentionTargets(a.expirations, a.buckets),
                  ],
                  env: [
                    { name: "AWS_ENDPOINT_URL_S3", value: a.endpoint },
                    { name: "AWS_REGION", value: a.region },
                    { name: "S3_FORCE_PATH_STYLE", value: "true" },
                    fromSecret(ACCESS_KEY_ENV),
                    fromSecret(SECRET_KEY_ENV),
                    ...(a.caBundle ? objectStoreCaEnv() : []),
                  ],
                  volumeMounts: ca.volumeMounts,
                  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                  },
                },
              ],
              volumes: ca.volumes,
            },
          },
        },
      },
    },
  };
}
