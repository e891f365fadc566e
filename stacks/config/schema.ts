/**
 * The one configuration schema for a sovereign stack. Every key lives under the `sovereign:`
 * namespace of a Pulumi stack config. Types are inferred from the schema; the program never
 * reads config anywhere else.
 *
 * Conventions:
 * - objects are strict: an unknown key is an error (it is usually a typo);
 * - profile-dependent settings are optional here and resolved in `settings.ts`, the one module
 *   that reads the profile;
 * - every default is declared once, on its field: a section that may be left out defaults to
 *   `{}` parsed through its schema (`prefault`), so its fields' defaults apply;
 * - secrets live under the one key `secrets`, which must be set with `pulumi config set --secret`.
 */
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { MIRROR_PREFIX, REGISTRY_HOST } from "../../components/lib/images";
import { CLASSIFICATIONS } from "../../components/lib/classification";
import { GUARD_FAMILIES } from "../../components/lib/contracts";
import type { ChartMirror } from "../../components/lib/versions";

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a DNS-1123 label (lowercase letters, digits and '-')")
  .max(40);

/** A Kubernetes object name (DNS-1123 subdomain). */
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    "a Kubernetes name (lowercase letters, digits, '-' and '.')",
  );
/** A DNS name for a certificate (a `*.` wildcard allowed in front). */
const dnsName = z
  .string()
  .max(253)
  .regex(
    /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    "a lowercase DNS name like gateway.example.com",
  );

const classification = z.enum(CLASSIFICATIONS);
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
/** Kubernetes quantity such as `50Gi` or `500m`. */
const quantity = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, "a Kubernetes quantity like 50Gi");
/** Container image reference with an explicit tag or digest that is not `latest`. */
export const imageRef = z
  .string()
  .regex(
    /^[^\s:@]+(:[0-9]+)?(\/[^\s:@]+)*(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/,
    "an image with a pinned tag or digest",
  )
  .refine((s) => !/:latest$/.test(s), "a pinned tag, never 'latest'");
/** `~` and `~/...` as a shell expands them (Pulumi passes the string on as it is). */
export function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

const cidr = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/, "an IPv4 CIDR like 10.0.0.0/16");

export const substrateSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("aws"),
    /** AWS region everything is created in. */
    region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "an AWS region like eu-central-1"),
  }),
  z.strictObject({
    kind: z.literal("existing-cluster"),
    /** kubeconfig context of the target cluster. */
    context: z.string().min(1, "a kubeconfig context name"),
    /**
     * Path to a kubeconfig file; a leading `~/` is your home directory, as in a shell.
     * @default the standard kubeconfig resolution ($KUBECONFIG, ~/.kube/config)
     */
    kubeconfig: z.string().min(1).transform(expandHome).optional(),
    /**
     * StorageClass for the kit's volumes (object store, Postgres, platform). `standard` is
     * kind's class; k3d uses `local-path`. @default standard
     */
    storageClass: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "a StorageClass name")
      .default("standard"),
    /**
     * Addresses of the cluster's API server (its endpoints and where its webhook calls come from):
     * the NetworkPolicies of the charts' namespaces (Gatekeeper, cert-manager) admit them, on
     * ports 443 and 6443 only. There is no portable way to learn them, so the default is any
     * address; name your control plane's to narrow it. @default ["0.0.0.0/0"]
     */
    apiServerCidrs: z.array(cidr).min(1).default(["0.0.0.0/0"]),
    /**
     * Annotations your load-balancer controller (MetalLB, kube-vip, a cloud's) needs to make a
     * `LoadBalancer` Service internal or public, e.g. a MetalLB address pool.
     * @default internal: GKE's and AKS's internal-LB annotations; public: none
     */
    loadBalancerAnnotations: z
      .strictObject({
        internal: z.record(z.string().min(1), z.string()).optional(),
        public: z.record(z.string().min(1), z.string()).optional(),
      })
      .optional(),
  }),
]);

export const tagsSchema = z.strictObject({
  owner: z.string().min(1),
  costCenter: z.string().min(1),
  dataClassification: classification,
});

export const networkSchema = z.strictObject({
  /** VPC CIDR. @default 10.40.0.0/16 */
  cidr: cidr.default("10.40.0.0/16"),
  /** Availability zones. @default 2 in dev, 3 in prod */
  azCount: z.number().int().min(1).max(6).optional(),
  /** `nat`: NAT gateways for egress; `private`: no internet egress at all. @default nat */
  egress: z.enum(["nat", "private"]).default("nat"),
  /** Create public subnets and allow a public load balancer. @default false */
  publicLoadBalancer: z.boolean().default(false),
  /**
   * Secrets Manager ARNs (names start with `ecr-pullthroughcache/`) of upstream registry
   * credentials for ECR pull-through cache rules, by registry host (`docker.io`, `ghcr.io`).
   * Only used with egress `private`. @default {}
   */
  registryCredentialArns: z
    .record(
      z.string(),
      z
        .string()
        .regex(
          /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/.+$/,
          "a Secrets Manager ARN of an ecr-pullthroughcache/ secret",
        ),
    )
    .default({}),
});

export const eksSchema = z.strictObject({
  /** Kubernetes (EKS) version; an upgrade is a change of this value. @default 1.33 */
  version: z
    .string()
    .regex(/^1\.\d{2}$/, "a Kubernetes minor version like 1.33")
    .default("1.33"),
  /** Expose the API endpoint publicly (with an allowlist). @default false */
  endpointPublicAccess: z.boolean().default(false),
  /** CIDRs allowed to reach a public endpoint. @default [] */
  publicAccessCidrs: z.array(cidr).default([]),
  /** IAM role ARNs granted cluster-admin through access entries. @default [] */
  adminRoleArns: z
    .array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, "an IAM role ARN"))
    .default([]),
  /** The on-demand system node group. */
  systemNodes: z
    .strictObject({
      /** EC2 instance type of the system nodes. @default m7i.xlarge */
      instanceType: z.string().default("m7i.xlarge"),
      /** @default 3 in prod, 2 in dev */
      min: nonNegativeInt.optional(),
      /** @default twice min, at least 4 */
      max: positiveInt.optional(),
    })
    .prefault({}),
});

export const gpuPoolSchema = z.strictObject({
  name: dnsLabel,
  /** `serving` pools are on-demand; `training` pools may use spot. */
  purpose: z.enum(["serving", "training"]),
  /** AWS instance families, e.g. [g6e]. Required on the aws substrate. */
  instanceFamilies: z.array(z.string().min(1)).min(1).optional(),
  /** Capacity type. @default on-demand (spot is allowed for training pools only) */
  capacityType: z.enum(["on-demand", "spot"]).default("on-demand"),
  /** GPUs per node. @default the largest size of the pool's families (aws); required on cluster */
  gpusPerNode: positiveInt.optional(),
  /** GPU type label value. @default derived from the instance family (aws); required on cluster */
  gpuType: z.string().optional(),
  /** Node selector for this pool on an existing cluster. @default {} */
  nodeSelector: z.record(z.string(), z.string()).default({}),
  /** Maximum GPUs of the pool (Karpenter's limit on aws); team GPU quotas must fit the training pools' maxima. */
  maxGpus: positiveInt,
  /** Root/data volume per GPU node, GiB. @default 200 */
  volumeGiB: z.number().int().min(200, "at least 200 GiB for model images").default(200),
});

export const loraAdapterSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, "a served adapter name"),
  /** Key prefix of the adapter in the model bucket. */
  source: z.string().min(1),
});

export const modelSchema = z.strictObject({
  name: dnsLabel,
  role: z.enum(["chat", "embedding", "guard"]),
  /** Key prefix of the weights in the model bucket, e.g. `llama-3.1-8b-instruct/`. */
  source: z
    .string()
    .min(1)
    .regex(/^[^/].*/, "a key prefix without a leading '/'"),
  /** GPU pool to run on. Omit for a CPU model (the local stack). */
  pool: dnsLabel.optional(),
  /** GPUs per replica. @default 1 when a pool is set, 0 otherwise */
  gpusPerReplica: nonNegativeInt.optional(),
  /** Tensor-parallel size; must divide gpusPerReplica. @default gpusPerReplica */
  tensorParallelSize: positiveInt.optional(),
  /**
   * vLLM's `--quantization`. Checkpoints written by the kit's quantize job (llm-compressor, fp8
   * or awq scheme) are `compressed-tensors`: their config.json says so, and vLLM refuses a
   * different flag. `fp8` quantizes an unquantized checkpoint online; `awq`/`gptq` are for
   * AutoAWQ/AutoGPTQ checkpoints. @default none
   */
  quantization: z.enum(["none", "fp8", "awq", "gptq", "compressed-tensors"]).default("none"),
  maxModelLen: positiveInt.default(8192),
  gpuMemoryUtilization: z.number().gt(0).max(0.98).default(0.9),
  enablePrefixCaching: z.boolean().default(true),
  /** Approximate weight size in GiB; sizes the startup probe budget. @default 16 */
  sizeGiB: z.number().positive().default(16),
  replicas: z.strictObject({ min: nonNegativeInt.default(1), max: positiveInt.default(1) }).prefault({}),
  /** Highest classification of data the model was fine-tuned on. @default public */
  dataClassification: classification.default("public"),
  loraAdapters: z.array(loraAdapterSchema).default([]),
  /** Maximum LoRA adapters resident at once. @default number of adapters */
  maxLoras: positiveInt.optional(),
  /** Image override (air-gapped mirror). @default the kit's pinned image */
  image: imageRef.optional(),
});

/** A five-field cron schedule (minute hour day-of-month month day-of-week), as a CronJob takes it. */
const cronSchedule = z
  .string()
  .regex(
    /^(\S+\s+){4}\S+$/,
    'a five-field cron schedule like "0 3 * * *" (minute hour day-of-month month day-of-week)',
  )
  .refine(
    (s) =>
      s
        .trim()
        .split(/\s+/)
        .every((f) => /^[0-9*,/-]+$/.test(f)),
    "cron fields of digits, '*', ',', '-' and '/' only",
  );
const fraction = z.number().min(0).max(1);

/**
 * The training flywheel of one team (docs/flywheel.md): captures -> dataset -> LoRA ->
 * (quantize) -> evaluation gate -> registry -> canary -> promote or roll back.
 */
export const flywheelSchema = z.strictObject({
  /** Run the loop for this team (needs `allowCapture`). @default false */
  enabled: z.boolean().default(false),
  /** The chat model the team's adapter is trained on and served by. */
  baseModel: dnsLabel,
  /** Stable served adapter name clients call; versions stay internal. */
  adapter: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, "a served adapter name"),
  /** When the CronJob checks for new captures (cron, UTC). @default "0 3 * * *" */
  schedule: cronSchedule.default("0 3 * * *"),
  /** New eligible captures needed before a run trains anything. @default 1000 */
  minNewRecords: positiveInt.default(1000),
  /** Compressed variant of the merged candidate written by the quantize job. @default none */
  quantize: z.enum(["none", "fp8", "awq"]).default("none"),
  /**
   * GPUs of the chain's pod (dataset, LoRA, quantize, eval and gate run in one Kueue-admitted
   * pod on the team's training pool); needs a training pool and a team GPU quota of at least
   * this. @default 1
   */
  gpus: z.number().int().min(1).max(8).default(1),
  /** Every threshold must hold for a candidate to reach the canary. */
  gate: z
    .strictObject({
      /** Largest allowed relative perplexity increase over the incumbent (0.05 = 5 %). @default 0.05 */
      maxPerplexityRegression: z.number().min(0).default(0.05),
      /** Smallest exact-match gain over the incumbent (absolute, may be negative). @default 0 */
      minExactMatchGain: z.number().min(-1).max(1).default(0),
      /** Smallest share of held-out records where the candidate's loss beats the incumbent's (ties half). @default none */
      minWinRate: fraction.optional(),
      /** Guard-flag rate on the safety set may exceed the incumbent's by at most this. @default 0 */
      maxGuardFlagRateIncrease: fraction.default(0),
    })
    .default({ maxPerplexityRegression: 0.05, minExactMatchGain: 0, maxGuardFlagRateIncrease: 0 }),
  /** Canary of a gated candidate: a share of the team's traffic, watched for a window. */
  canary: z
    .strictObject({
      /** Share of the team's requests for the adapter that go to the candidate. @default 0.1 */
      share: z.number().gt(0).max(0.5).default(0.1),
      /** How long the candidate is watched before promotion. @default 60 */
      windowMinutes: positiveInt.default(60),
      /** Candidate requests needed in the window before it may be promoted. @default 100 */
      minRequests: positiveInt.default(100),
      /** Error rate (5xx) of the candidate that rolls it back. @default 0.02 */
      maxErrorRate: fraction.default(0.02),
      /** p95 latency of the candidate over the stable version's that rolls it back. @default 1.5 */
      maxLatencyRatio: z.number().min(1).default(1.5),
      /** Guard-flag rate of the candidate's traffic that rolls it back. @default 0.01 */
      maxGuardFlagRate: fraction.default(0.01),
    })
    .default({
      share: 0.1,
      windowMinutes: 60,
      minRequests: 100,
      maxErrorRate: 0.02,
      maxLatencyRatio: 1.5,
      maxGuardFlagRate: 0.01,
    }),
  /**
   * Days after which the team's captures and flywheel datasets expire. The data is the
   * customer's: without this setting nothing is ever deleted. @default none (keep forever)
   */
  retentionDays: z
    .strictObject({ captures: positiveInt.optional(), datasets: positiveInt.optional() })
    .default({}),
});

export const teamSchema = z.strictObject({
  name: dnsLabel,
  /** OIDC group whose members belong to the team (as the gateway reads it from the token). */
  oidcGroup: z.string().min(1, "a non-empty OIDC group"),
  /**
   * The group the cluster's authenticator gives the team's members, where it differs from
   * `oidcGroup` (an API server with `--oidc-groups-prefix=oidc:` names `ai-research` as
   * `oidc:ai-research`). The team's RoleBinding, admission's team groups and the EKS access
   * entry of `iamRoleArn` use it. Never a `system:` group. @default oidcGroup
   */
  kubernetesGroup: z.string().min(1, "a non-empty Kubernetes group").optional(),
  costCenter: z.string().min(1),
  /** Highest data classification members may see. */
  clearance: classification,
  /** Models (or LoRA adapters) the team may call. */
  allowedModels: z.array(z.string().min(1)).default([]),
  /** Training GPU quota: nominal GPUs and how many more it may borrow from the cohort. */
  gpuQuota: z
    .strictObject({ nominal: nonNegativeInt.default(0), borrowingLimit: nonNegativeInt.default(0) })
    .prefault({}),
  /** Gateway budgets. */
  budgets: z
    .strictObject({
      tokensPerDay: positiveInt.default(1_000_000),
      requestsPerMinute: positiveInt.default(600),
    })
    .prefault({}),
  /** Whether permitted traffic of this team may be captured for training. @default false */
  allowCapture: z.boolean().default(false),
  /**
   * Let the team's pods open HTTPS connections to internet addresses (not private ranges, not
   * the instance metadata service). Off, they reach only DNS, their own namespace and the
   * substrate's object store. The namespace is labelled `sovereign.ai/internet-egress: "true"`
   * so audits find it. @default false
   */
  internetEgress: z.boolean().default(false),
  /**
   * IAM role of the team's members (aws substrate): gets an EKS access entry mapping it to the
   * team's Kubernetes group (`kubernetesGroup`), so it has a team member's rights (no Secrets) in the
   * team's namespace only. @default none
   */
  iamRoleArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, "an IAM role ARN")
    .optional(),
  /** The team's training flywheel (docs/flywheel.md). @default none */
  flywheel: flywheelSchema.optional(),
});

export const storageSchema = z.strictObject({
  /** Prefix of bucket names: `${bucketPrefix}-models` etc. */
  bucketPrefix: z.string().min(3).max(40),
  /**
   * Object lock on the inference-log bucket: 30 days of governance-mode retention (only a
   * principal with s3:BypassGovernanceRetention can shorten it). @default false
   */
  objectLock: z.boolean().default(false),
  /** Days after which noncurrent object versions expire. @default 30 */
  noncurrentVersionDays: positiveInt.default(30),
  /** In-cluster object store volume size. @default 50Gi */
  volumeSize: quantity.default("50Gi"),
});

export const databaseSchema = z.strictObject({
  /** PostgreSQL major version. @default 16 */
  version: z
    .string()
    .regex(/^1[6-9](\.\d+)?$/, "PostgreSQL 16 or later")
    .default("16"),
  /** RDS instance class (aws). @default db.t4g.medium */
  instanceClass: z.string().default("db.t4g.medium"),
  /** Allocated storage, GiB. @default 20 */
  storageGiB: positiveInt.default(20),
  /** In-cluster Postgres instances. @default 1 in dev, 3 in prod */
  instances: positiveInt.optional(),
  /** Backup retention in days. @default 1 in dev, 7 in prod */
  backupRetentionDays: positiveInt.optional(),
  /**
   * Port the RDS instance listens on (aws; FSBP RDS.23 asks for a non-default one). The
   * security group, the NetworkPolicies and every client follow it. @default 5432
   */
  port: z
    .number()
    .int()
    .min(1150, "a port RDS accepts: 1150-65535")
    .max(65535, "a port RDS accepts: 1150-65535")
    .default(5432),
  /**
   * RDS IAM authentication for the services (aws): each service logs in with a fresh IAM token
   * through its Pod Identity, its role is granted `rds_iam` and has no password, and its IAM
   * policy may `rds-db:connect` as that role only. Off: a generated password in a Secret. Prod
   * refuses off. @default true in prod, false in dev
   */
  iamAuth: z.boolean().optional(),
  /**
   * RDS enhanced monitoring interval in seconds (aws; FSBP RDS.6); 0 turns it off.
   * @default 0 in dev, 60 in prod
   */
  enhancedMonitoringSeconds: z
    .union([
      z.literal(0),
      z.literal(1),
      z.literal(5),
      z.literal(10),
      z.literal(15),
      z.literal(30),
      z.literal(60),
    ])
    .optional(),
});

export const gatewaySchema = z.strictObject({
  oidc: z.strictObject({
    issuer: z.string().url(),
    audience: z.string().min(1),
    /** @default `${issuer}/.well-known/jwks.json` resolved through discovery */
    jwksUri: z.string().url().optional(),
    /** Claim holding group membership. @default groups */
    groupsClaim: z.string().default("groups"),
  }),
  replicas: z
    .strictObject({
      /** @default 2 in prod, 1 in dev */
      min: positiveInt.optional(),
      /** @default three times min */
      max: positiveInt.optional(),
    })
    .prefault({}),
  /**
   * TLS of the gateway's listener (docs/gateway-tls.md). `private-ca`: a certificate from the
   * stack's own CA (cert-manager); `issuer`: from the customer's cert-manager `issuer`;
   * `secret`: the customer's `kubernetes.io/tls` Secret `secretName` in the gateway namespace;
   * `off`: plain HTTP, refused in prod. @default { mode: private-ca }
   */
  tls: z
    .strictObject({
      /** @default private-ca */
      mode: z.enum(["private-ca", "issuer", "secret", "off"]).default("private-ca"),
      /** The customer's cert-manager issuer (mode `issuer`). */
      issuer: z
        .strictObject({
          name: dnsSubdomain,
          /** @default ClusterIssuer */
          kind: z.enum(["ClusterIssuer", "Issuer"]).default("ClusterIssuer"),
          /** API group of an external issuer. @default cert-manager.io */
          group: z.string().min(1).default("cert-manager.io"),
        })
        .optional(),
      /** A `kubernetes.io/tls` Secret in the gateway's namespace (mode `secret`). */
      secretName: dnsSubdomain.optional(),
      /** Extra DNS names the certificate covers: the name clients use for the load balancer. @default [] */
      dnsNames: z.array(dnsName).default([]),
    })
    .prefault({}),
  /** Expose on a public load balancer (requires network.publicLoadBalancer on aws). @default false */
  public: z.boolean().default(false),
  /** Largest request body, bytes. @default 1 MiB */
  maxBodyBytes: positiveInt.default(1_048_576),
  /** Deadline for an OPA decision, ms; past it the gateway fails closed. @default 250 */
  opaTimeoutMs: positiveInt.default(250),
  /** Regexes redacted from captured prompts and completions. */
  redactPatterns: z.array(z.string()).default([]),
  image: imageRef.optional(),
});

export const policySchema = z.strictObject({
  /** Name of the guard model (role `guard`). Omit to disable the soft defense. */
  guardModel: dnsLabel.optional(),
  /** Guard call timeout, ms. @default 2000 */
  guardTimeoutMs: positiveInt.default(2000),
  /** Characters of generated text per screened window of a streamed answer (see docs/gateway.md). @default 200 */
  guardStreamWindowChars: positiveInt.default(200),
  /** Family of the guard model: how it is asked and its answer read. @default llama-guard */
  guardFamily: z.enum(GUARD_FAMILIES).default("llama-guard"),
  /** In dev only: allow requests when the guard is unavailable. A config error in prod (the guard always fails closed there). @default false */
  guardFailOpen: z.boolean().default(false),
  /** Registries images may come from (admission). */
  allowedRegistries: z.array(z.string().min(1)).min(1),
  /** Regions data may reside in (policy pack). @default [substrate.region] */
  allowedRegions: z.array(z.string()).optional(),
  /** Policy-pack findings accepted for one resource (name or URN), each with a written reason of 20+ characters; printed on every preview. @default [] */
  suppressions: z
    .array(
      z.strictObject({
        rule: dnsLabel,
        resource: z.string().min(1),
        reason: z
          .string()
          .trim()
          .min(20, "a written reason of at least 20 characters: why the finding is accepted"),
      }),
    )
    .default([]),
});

export const trainingSchema = z.strictObject({
  /** Kueue, the training queues and the runner's identities. @default true */
  enabled: z.boolean().default(true),
  /** Kueue cohort all team queues share. @default sovereign */
  cohort: dnsLabel.default("sovereign"),
});

export const observabilitySchema = z.strictObject({
  /** Prometheus retention. @default 2d dev, 15d prod */
  retention: z
    .string()
    .regex(/^\d+[hdwy]$/, "a duration like 15d")
    .optional(),
  /** Prometheus volume per replica, on the substrate's default storage class. @default 50Gi */
  storageSize: quantity.default("50Gi"),
  /** Prometheus replicas. @default 1 dev, 2 prod */
  replicas: positiveInt.optional(),
  /** Alert receiver; `none` deploys no Alertmanager. @default none */
  alertmanager: z
    .discriminatedUnion("receiver", [
      z.strictObject({ receiver: z.literal("none") }),
      z.strictObject({ receiver: z.literal("webhook") }),
      z.strictObject({
        receiver: z.literal("email"),
        to: z.string().email(),
        from: z.string().email(),
        smarthost: z.string().regex(/^[^:\s]+:\d+$/, "host:port"),
        /**
         * Log in to the smarthost (as \`from\`, password \`secrets.smtpPassword\`); \`false\` for a
         * relay that accepts the cluster without a login. @default true
         */
        auth: z.boolean().default(true),
      }),
    ])
    .prefault({ receiver: "none" }),
  grafana: z
    .strictObject({
      /** Expose Grafana outside the cluster. @default false */
      exposed: z.boolean().default(false),
      /** URL users open Grafana at (OIDC redirects go there). @default http://localhost:3000 (port-forward) */
      url: z.string().url().optional(),
      /** Single sign-on (OAuth2/OIDC); the client secret is `secrets.grafanaOidcClientSecret`. @default none (admin login only) */
      oidc: z
        .strictObject({
          issuer: z.string().url(),
          clientId: z.string().min(1),
          /** Authorization endpoint. @default `${issuer}/protocol/openid-connect/auth` */
          authUrl: z.string().url().optional(),
          /** Token endpoint. @default `${issuer}/protocol/openid-connect/token` */
          tokenUrl: z.string().url().optional(),
          /** Userinfo endpoint. @default `${issuer}/protocol/openid-connect/userinfo` */
          userinfoUrl: z.string().url().optional(),
          /** Claim holding group membership. @default groups */
          groupsClaim: z.string().min(1).default("groups"),
          /** OIDC group whose members are Grafana admins; everyone else is a Viewer. @default none */
          adminGroup: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
});

export const secretsSchema = z.strictObject({
  /** Alertmanager webhook URL (receiver `webhook`). */
  alertWebhookUrl: z.string().url().optional(),
  /** SMTP password (receiver `email`). */
  smtpPassword: z.string().min(1).optional(),
  /** Grafana OIDC client secret. */
  grafanaOidcClientSecret: z.string().min(1).optional(),
});

export const imagesSchema = z
  .strictObject({
    vllm: imageRef,
    vllmCpu: imageRef,
    opa: imageRef,
    gateway: imageRef,
  })
  .partial();

const registryHost = z.string().regex(REGISTRY_HOST, "a registry host like nvcr.io");
const mirrorPrefix = z
  .string()
  .regex(
    MIRROR_PREFIX,
    "a registry host and optional path like 123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror (no https://, no tag)",
  );

/**
 * Registry mirrors, by upstream registry host: every image the kit runs (its own and the
 * third-party charts') whose registry is listed is pulled from the mirror prefix instead, with
 * the same repository path and tag. With AWS egress `private` the substrate adds ECR pull-through
 * prefixes for the registries it caches; an entry here wins over those.
 */
export const registryMirrorsSchema = z.record(registryHost, mirrorPrefix);

/**
 * Where the third-party Helm charts come from when their repositories are not reachable
 * (air-gapped installs): exactly one of an OCI registry prefix or a local directory of
 * packaged charts. See docs/registry-mirrors.md.
 */
export const chartMirrorSchema = z
  .strictObject({
    /**
     * OCI registry prefix the charts were pushed to (`helm push <chart>-<version>.tgz <prefix>`),
     * e.g. `oci://123456789012.dkr.ecr.eu-central-1.amazonaws.com/charts`; each chart is pulled as
     * `<prefix>/<chart name>` at its pinned version.
     */
    oci: z
      .string()
      .regex(
        /^oci:\/\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9._-]+)*$/,
        "an OCI registry prefix like oci://123456789012.dkr.ecr.eu-central-1.amazonaws.com/charts (lowercase, no tag, no trailing /)",
      )
      .optional(),
    /**
     * Absolute path of a directory with the packaged charts (`<chart name>-<version>.tgz`, as
     * `helm pull --version <version>` writes them) on the machine that runs `pulumi up`.
     */
    directory: z
      .string()
      .regex(
        /^\/([^/\0]+\/)*[^/\0]+$/,
        "an absolute directory path like /opt/sovereign/charts (no trailing /)",
      )
      .optional(),
  })
  .refine((m) => (m.oci === undefined) !== (m.directory === undefined), {
    message: "exactly one of `oci` (an OCI registry prefix) or `directory` (packaged charts)",
  })
  .transform((m): ChartMirror => (m.oci !== undefined ? { oci: m.oci } : { directory: m.directory! }));

export const stackConfigSchema = z.strictObject({
  substrate: substrateSchema,
  profile: z.enum(["dev", "prod"]),
  tags: tagsSchema,
  network: networkSchema.prefault({}),
  eks: eksSchema.prefault({}),
  gpuPools: z.array(gpuPoolSchema).default([]),
  models: z.array(modelSchema).min(1, "at least one model"),
  teams: z.array(teamSchema).min(1, "at least one team"),
  storage: storageSchema,
  database: databaseSchema.prefault({}),
  gateway: gatewaySchema,
  policy: policySchema,
  training: trainingSchema.prefault({}),
  observability: observabilitySchema.prefault({}),
  images: imagesSchema.prefault({}),
  /**
   * Registry mirror prefix per upstream registry host, e.g.
   * `{ "nvcr.io": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror/nvcr" }`. @default {}
   */
  registryMirrors: registryMirrorsSchema.prefault({}),
  /**
   * Chart mirror for air-gapped installs: `{ oci: "oci://<registry>/<path>" }` or
   * `{ directory: "/abs/path" }` (packaged charts). @default each chart's upstream repository
   */
  chartMirror: chartMirrorSchema.optional(),
  secrets: secretsSchema.prefault({}),
  /**
   * Account-wide settings (aws only): the account's S3 public access block (FSBP S3.1) and EBS
   * encryption by default (FSBP EC2.7). They change the whole AWS account, the customer's own
   * buckets and volumes included, so they are off unless turned on here; they stay when the
   * stack is destroyed.
   */
  accountBaseline: z
    .strictObject({
      /** Manage the account baseline from this stack. @default false */
      enabled: z.boolean().default(false),
    })
    .prefault({}),
});

/** The raw shape users write (before defaults). */
export type StackConfigInput = z.input<typeof stackConfigSchema>;
/** The validated config, with schema defaults applied. */
export type StackConfig = z.output<typeof stackConfigSchema>;
export type TeamConfig = StackConfig["teams"][number];
export type FlywheelConfig = NonNullable<TeamConfig["flywheel"]>;
export type ModelConfig = StackConfig["models"][number];
export type GpuPoolConfig = StackConfig["gpuPools"][number];
export type SubstrateConfig = StackConfig["substrate"];

/** Top-level keys of the schema (each is one `sovereign:<key>` config entry). */
export const TOP_LEVEL_KEYS = Object.keys(stackConfigSchema.shape) as (keyof StackConfig)[];
