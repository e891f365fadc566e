/**
 * Profile defaults. The profile (`dev` or `prod`) selects defaults for HA, sizes and data
 * protection; explicit config always wins over these.
 */
export type Profile = "dev" | "prod";

export interface ProfileDefaults {
  /** AZs the network spans (AWS). */
  readonly azCount: number;
  /** Replicas for stateless HA services (gateway, OPA). */
  readonly haReplicas: number;
  /** Protect data stores from `pulumi destroy` and retain them on delete. */
  readonly protectData: boolean;
  /** Allow buckets to be destroyed with their contents. */
  readonly forceDestroy: boolean;
  /** Database backup retention in days. */
  readonly backupRetentionDays: number;
  /** Database high availability (multi-AZ / 3 instances). */
  readonly databaseHa: boolean;
  /** Prometheus retention and replicas. */
  readonly prometheusRetention: string;
  readonly prometheusReplicas: number;
  /** The guard model being unavailable denies requests (fail closed). */
  readonly guardFailClosed: boolean;
}

export const PROFILE_DEFAULTS: Readonly<Record<Profile, ProfileDefaults>> = {
  dev: {
    azCount: 2,
    haReplicas: 1,
    protectData: false,
    forceDestroy: true,
    backupRetentionDays: 1,
    databaseHa: false,
    prometheusRetention: "2d",
    prometheusReplicas: 1,
    guardFailClosed: true,
  },
  prod: {
    azCount: 3,
    haReplicas: 2,
    protectData: true,
    forceDestroy: false,
    backupRetentionDays: 7,
    databaseHa: true,
    prometheusRetention: "15d",
    prometheusReplicas: 2,
    guardFailClosed: true,
  },
};

export function profileDefaults(p: Profile): ProfileDefaults {
  return PROFILE_DEFAULTS[p];
}
