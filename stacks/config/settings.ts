/**
 * The one place where the profile (`dev` or `prod`) is read. It resolves the validated config
 * into explicit, named settings (the way aws-cdk-lib passes `removalPolicy` or `replicas`):
 * components and the wiring receive these values, never a profile, so each component can be
 * built and tested without one. Explicit config always wins over the profile's choice.
 *
 * The cross-field rules (`rules/`) check the same resolved settings the wiring uses, so a
 * default is derived once, here, and never re-derived by hand.
 */
import type { Footprint } from "../../components/platform/observability";
import type { StackConfig } from "./schema";

/** RDS enhanced monitoring intervals, seconds (0 = off). */
type MonitoringInterval = NonNullable<StackConfig["database"]["enhancedMonitoringSeconds"]>;
export type Profile = StackConfig["profile"];

/** What a profile decides, as one table. Every entry is read by {@link resolveSettings}. */
export interface ProfileChoices {
  /** Availability zones of the network (aws), when `network.azCount` is not set. */
  readonly azCount: number;
  /** One NAT gateway per AZ (else one for the whole VPC). */
  readonly natPerAz: boolean;
  /** Replicas of stateless HA services: gateway (minimum), OPA, KEDA. */
  readonly haReplicas: number;
  /** Replicas of the operators that elect a leader: Kueue, Karpenter. */
  readonly operatorReplicas: number;
  /** Replicas of the admission webhook (Gatekeeper). */
  readonly admissionReplicas: number;
  /** Protect data stores from `pulumi destroy` and retain them (and their volumes) on delete. */
  readonly protectData: boolean;
  /** Database backup retention in days, when `database.backupRetentionDays` is not set. */
  readonly backupRetentionDays: number;
  /** Database high availability (multi-AZ RDS; 3 in-cluster Postgres instances). */
  readonly databaseHa: boolean;
  /** Prometheus retention and replicas, when not set. */
  readonly prometheusRetention: string;
  readonly prometheusReplicas: number;
  /** Whether `policy.guardFailOpen` may let requests through when the guard is down. */
  readonly guardMayFailOpen: boolean;
  /** Workloads must spread across zones and nodes (`DoNotSchedule`), and keep their floors. */
  readonly strictAvailability: boolean;
  /** RDS enhanced monitoring interval (FSBP RDS.6), when `database.enhancedMonitoringSeconds` is not set; 0 = off. */
  readonly enhancedMonitoringSeconds: MonitoringInterval;
  /** The gateway writes each audit row to disk (fsync) before answering. */
  readonly gatewayAuditSync: boolean;
  /** OIDC issuers and their endpoints must be `https` (tokens and keys are not fetched in the clear). */
  readonly httpsIdentity: boolean;
  /** The gateway's listener must serve TLS (`gateway.tls.mode: off` is refused). */
  readonly gatewayRequiresTls: boolean;
  /**
   * `database.iamAuth: false` (services log in to RDS with a static, unrotated password) is
   * accepted (aws). IAM tokens are the default on every profile.
   */
  readonly rdsPasswordOptOut: boolean;
}

export const PROFILE_CHOICES: Readonly<Record<Profile, ProfileChoices>> = {
  dev: {
    azCount: 2,
    natPerAz: false,
    haReplicas: 1,
    operatorReplicas: 1,
    admissionReplicas: 1,
    protectData: false,
    backupRetentionDays: 1,
    databaseHa: false,
    prometheusRetention: "2d",
    prometheusReplicas: 1,
    guardMayFailOpen: true,
    strictAvailability: false,
    enhancedMonitoringSeconds: 0,
    gatewayAuditSync: false,
    httpsIdentity: false,
    gatewayRequiresTls: false,
    rdsPasswordOptOut: true,
  },
  prod: {
    azCount: 3,
    natPerAz: true,
    haReplicas: 2,
    operatorReplicas: 2,
    admissionReplicas: 3,
    protectData: true,
    backupRetentionDays: 7,
    databaseHa: true,
    prometheusRetention: "15d",
    prometheusReplicas: 2,
    guardMayFailOpen: false,
    strictAvailability: true,
    enhancedMonitoringSeconds: 60,
    gatewayAuditSync: true,
    httpsIdentity: true,
    gatewayRequiresTls: true,
    rdsPasswordOptOut: false,
  },
};

/** The explicit settings of one stack. Nothing below depends on the profile any more. */
export interface StackSettings {
  readonly dataProtection: {
    /** `protect` and `retainOnDelete` on data stores (buckets, databases, keys, volumes). */
    readonly protect: boolean;
    /** Buckets may be destroyed with their contents. */
    readonly forceDestroyBuckets: boolean;
    /** Reclaim policy of the kit's StorageClass (aws). */
    readonly reclaimPolicy: "Retain" | "Delete";
    /** Delete in-cluster objects from state when the cluster is gone (a laptop cluster). */
    readonly deleteUnreachable: boolean;
  };
  readonly network: {
    readonly azCount: number;
    /** Fewest AZs accepted in `network.azCount`. */
    readonly minAzCount: number;
    readonly natPerAz: boolean;
  };
  readonly eks: {
    readonly systemNodes: { readonly instanceType: string; readonly min: number; readonly max: number };
    /** Fewest system nodes accepted in `eks.systemNodes.min` (spread across AZs). */
    readonly minSystemNodes: number;
    /** A public API endpoint allowlist must be narrow (no `0.0.0.0/0`, nothing wider than a /8). */
    readonly narrowEndpointAllowlist: boolean;
    /** Karpenter controller replicas. */
    readonly karpenterReplicas: number;
  };
  readonly database: {
    readonly backupRetentionDays: number;
    /** Fewest days of backups accepted (point-in-time recovery of a week in prod). */
    readonly minBackupRetentionDays: number;
    /** Scheduled in-cluster backups to the object store (existing-cluster substrate). */
    readonly scheduledBackups: boolean;
    /** Multi-AZ RDS. */
    readonly multiAz: boolean;
    /** RDS enhanced monitoring interval in seconds; 0 = off. */
    readonly enhancedMonitoringSeconds: MonitoringInterval;
    /** In-cluster Postgres instances. */
    readonly instances: number;
    /** Fewest in-cluster Postgres instances accepted. */
    readonly minInstances: number;
    /** Services log in to RDS with IAM tokens, no static password (aws). */
    readonly iamAuth: boolean;
    /** `database.iamAuth: false` is refused on aws (no static passwords in prod). */
    readonly requireIamAuth: boolean;
  };
  readonly objectStore: {
    /** In-cluster SeaweedFS topology. */
    readonly mode: "single" | "distributed";
  };
  readonly gateway: {
    readonly replicas: { readonly min: number; readonly max: number };
    /** Spread strictly across zones and nodes, and run at least 2 replicas. */
    readonly highAvailability: boolean;
    /** Write each audit row to disk (fsync) before answering (docs/gateway.md, durability). */
    readonly auditSync: boolean;
    /** Refuse a plaintext listener (`gateway.tls.mode: off`). */
    readonly requireTls: boolean;
  };
  readonly guard: {
    /** The guard model being unavailable denies requests. Always true in prod. */
    readonly failClosed: boolean;
  };
  readonly identity: {
    /** OIDC issuer, JWKS and endpoint URLs must be `https` (plain `http` is a dev option). */
    readonly httpsOnly: boolean;
  };
  readonly opa: { readonly replicas: number };
  readonly admission: {
    readonly replicas: number;
    /** The admission webhook's failure policy is `Fail` (else `Ignore`). */
    readonly failClosed: boolean;
  };
  readonly kueue: { readonly replicas: number };
  readonly keda: { readonly replicas: number };
  readonly serving: {
    /** Spread model servers strictly across zones (`DoNotSchedule`). */
    readonly strictSpread: boolean;
    /** KEDA scale-down cooldown, seconds. */
    readonly cooldownSeconds: number;
    /** Seconds a stopping model server drains for. @default by engine (60 s GPU, 5 s CPU) */
    readonly drainSeconds?: number;
    /** Fewest `models[].replicas.min` accepted (scale to zero is a dev option). */
    readonly minModelReplicas: number;
  };
  readonly observability: {
    readonly footprint: Footprint;
    readonly retention: string;
    readonly replicas: number;
  };
}

/** The settings of a validated config. Pure; the only reader of `config.profile`. */
export function resolveSettings(config: StackConfig): StackSettings {
  const p = PROFILE_CHOICES[config.profile];
  const sys = config.eks.systemNodes;
  const sysMin = sys.min ?? (p.strictAvailability ? 3 : 2);
  const gwMin = config.gateway.replicas.min ?? p.haReplicas;
  return {
    dataProtection: {
      protect: p.protectData,
      forceDestroyBuckets: !p.protectData,
      reclaimPolicy: p.protectData ? "Retain" : "Delete",
      deleteUnreachable: !p.protectData,
    },
    network: {
      azCount: config.network.azCount ?? p.azCount,
      minAzCount: p.azCount,
      natPerAz: p.natPerAz,
    },
    eks: {
      systemNodes: { instanceType: sys.instanceType, min: sysMin, max: sys.max ?? Math.max(sysMin * 2, 4) },
      minSystemNodes: p.strictAvailability ? 2 : 0,
      narrowEndpointAllowlist: p.strictAvailability,
      karpenterReplicas: p.operatorReplicas,
    },
    database: {
      backupRetentionDays: config.database.backupRetentionDays ?? p.backupRetentionDays,
      minBackupRetentionDays: p.protectData ? 7 : 1,
      scheduledBackups: p.protectData,
      multiAz: p.databaseHa,
      enhancedMonitoringSeconds: config.database.enhancedMonitoringSeconds ?? p.enhancedMonitoringSeconds,
      instances: config.database.instances ?? (p.databaseHa ? 3 : 1),
      minInstances: p.databaseHa ? 3 : 1,
      // IAM tokens by default on every aws stack; a password only where dev opts out explicitly.
      iamAuth: config.substrate.kind === "aws" && (config.database.iamAuth ?? true),
      requireIamAuth: !p.rdsPasswordOptOut,
    },
    objectStore: { mode: p.databaseHa ? "distributed" : "single" },
    gateway: {
      replicas: { min: gwMin, max: config.gateway.replicas.max ?? Math.max(gwMin, gwMin * 3) },
      highAvailability: p.strictAvailability,
      auditSync: p.gatewayAuditSync,
      requireTls: p.gatewayRequiresTls,
    },
    guard: { failClosed: !(p.guardMayFailOpen && config.policy.guardFailOpen) },
    identity: { httpsOnly: p.httpsIdentity },
    opa: { replicas: p.haReplicas },
    admission: { replicas: p.admissionReplicas, failClosed: p.strictAvailability },
    kueue: { replicas: p.operatorReplicas },
    keda: { replicas: p.haReplicas },
    serving: {
      strictSpread: p.strictAvailability,
      cooldownSeconds: p.strictAvailability ? 600 : 300,
      ...(p.strictAvailability ? { drainSeconds: 120 } : {}),
      minModelReplicas: p.strictAvailability ? 1 : 0,
    },
    observability: {
      footprint: p.strictAvailability ? "full" : "minimal",
      retention: config.observability.retention ?? p.prometheusRetention,
      replicas: config.observability.replicas ?? p.prometheusReplicas,
    },
  };
}
