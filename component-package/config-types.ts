/**
 * Generated from stacks/config/schema.ts by `npx tsx scripts/gen-package-types.ts`; do not edit.
 * The argument types of the component package's facades (component-package/platform.ts): every key of the
 * stack config, in the types Pulumi's component analyzer accepts. Defaults and rules are the
 * stack config's (docs/config-reference.md); the facades validate with the kit's own validator.
 */

export interface ClusterSubstrateLoadBalancerAnnotations {
  internal?: { [key: string]: string };
  public?: { [key: string]: string };
}

export interface ClusterSubstrate {
  context: string;
  kubeconfig?: string;
  storageClass?: string;
  apiServerCidrs?: string[];
  loadBalancerAnnotations?: ClusterSubstrateLoadBalancerAnnotations;
}

export interface AwsSubstrate {
  region: string;
}

export enum Profile {
  Dev = "dev",
  Prod = "prod",
}

export enum DataClassification {
  Public = "public",
  Internal = "internal",
  Confidential = "confidential",
  Restricted = "restricted",
}

export interface Tags {
  owner: string;
  costCenter: string;
  dataClassification: DataClassification;
}

export enum NetworkEgress {
  Nat = "nat",
  Private = "private",
}

export interface Network {
  cidr?: string;
  azCount?: number;
  egress?: NetworkEgress;
  publicLoadBalancer?: boolean;
  registryCredentialArns?: { [key: string]: string };
}

export interface EksSystemNodes {
  instanceType?: string;
  min?: number;
  max?: number;
}

export interface Eks {
  version?: string;
  endpointPublicAccess?: boolean;
  publicAccessCidrs?: string[];
  adminRoleArns?: string[];
  systemNodes?: EksSystemNodes;
}

export enum GpuPoolPurpose {
  Serving = "serving",
  Training = "training",
}

export enum GpuPoolCapacityType {
  OnDemand = "on-demand",
  Spot = "spot",
}

export interface GpuPool {
  name: string;
  purpose: GpuPoolPurpose;
  instanceFamilies?: string[];
  capacityType?: GpuPoolCapacityType;
  gpusPerNode?: number;
  gpuType?: string;
  nodeSelector?: { [key: string]: string };
  maxGpus: number;
  volumeGiB?: number;
}

export enum ModelRole {
  Chat = "chat",
  Embedding = "embedding",
  Guard = "guard",
}

export enum ModelQuantization {
  None = "none",
  Fp8 = "fp8",
  Awq = "awq",
  Gptq = "gptq",
  CompressedTensors = "compressed-tensors",
}

export interface ModelReplicas {
  min?: number;
  max?: number;
}

export interface ModelLoraAdapter {
  name: string;
  source: string;
}

export interface Model {
  name: string;
  role: ModelRole;
  source: string;
  pool?: string;
  gpusPerReplica?: number;
  tensorParallelSize?: number;
  quantization?: ModelQuantization;
  maxModelLen?: number;
  gpuMemoryUtilization?: number;
  enablePrefixCaching?: boolean;
  sizeGiB?: number;
  replicas?: ModelReplicas;
  dataClassification?: DataClassification;
  loraAdapters?: ModelLoraAdapter[];
  maxLoras?: number;
  image?: string;
}

export interface TeamGpuQuota {
  nominal?: number;
  borrowingLimit?: number;
}

export interface TeamBudgets {
  tokensPerDay?: number;
  requestsPerMinute?: number;
}

export enum TeamFlywheelQuantize {
  None = "none",
  Fp8 = "fp8",
  Awq = "awq",
}

export interface TeamFlywheelGate {
  maxPerplexityRegression?: number;
  minExactMatchGain?: number;
  minWinRate?: number;
  maxGuardFlagRateIncrease?: number;
}

export interface TeamFlywheelCanary {
  share?: number;
  windowMinutes?: number;
  minRequests?: number;
  maxErrorRate?: number;
  maxLatencyRatio?: number;
  maxGuardFlagRate?: number;
}

export interface TeamFlywheelRetentionDays {
  captures?: number;
  datasets?: number;
}

export interface TeamFlywheel {
  enabled?: boolean;
  baseModel: string;
  adapter: string;
  schedule?: string;
  minNewRecords?: number;
  quantize?: TeamFlywheelQuantize;
  gpus?: number;
  gate?: TeamFlywheelGate;
  canary?: TeamFlywheelCanary;
  retentionDays?: TeamFlywheelRetentionDays;
}

export interface Team {
  name: string;
  oidcGroup: string;
  kubernetesGroup?: string;
  costCenter: string;
  clearance: DataClassification;
  allowedModels?: string[];
  gpuQuota?: TeamGpuQuota;
  budgets?: TeamBudgets;
  allowCapture?: boolean;
  internetEgress?: boolean;
  iamRoleArn?: string;
  flywheel?: TeamFlywheel;
}

export interface Storage {
  bucketPrefix: string;
  objectLock?: boolean;
  noncurrentVersionDays?: number;
  volumeSize?: string;
}

export interface Database {
  version?: string;
  instanceClass?: string;
  storageGiB?: number;
  instances?: number;
  backupRetentionDays?: number;
  port?: number;
  iamAuth?: boolean;
  enhancedMonitoringSeconds?: number;
}

export interface GatewayOidc {
  issuer: string;
  audience: string;
  jwksUri?: string;
  groupsClaim?: string;
}

export interface GatewayReplicas {
  min?: number;
  max?: number;
}

export enum GatewayTlsMode {
  PrivateCa = "private-ca",
  Issuer = "issuer",
  Secret = "secret",
  Off = "off",
}

export enum GatewayTlsIssuerKind {
  ClusterIssuer = "ClusterIssuer",
  Issuer = "Issuer",
}

export interface GatewayTlsIssuer {
  name: string;
  kind?: GatewayTlsIssuerKind;
  group?: string;
}

export interface GatewayTls {
  mode?: GatewayTlsMode;
  issuer?: GatewayTlsIssuer;
  secretName?: string;
  dnsNames?: string[];
}

export interface Gateway {
  oidc: GatewayOidc;
  replicas?: GatewayReplicas;
  tls?: GatewayTls;
  public?: boolean;
  maxBodyBytes?: number;
  opaTimeoutMs?: number;
  redactPatterns?: string[];
  image?: string;
}

export enum PolicyGuardFamily {
  LlamaGuard = "llama-guard",
  GraniteGuardian = "granite-guardian",
  Shieldgemma = "shieldgemma",
}

export interface PolicySuppression {
  rule: string;
  resource: string;
  reason: string;
}

export interface Policy {
  guardModel?: string;
  guardTimeoutMs?: number;
  guardStreamWindowChars?: number;
  guardFamily?: PolicyGuardFamily;
  guardFailOpen?: boolean;
  allowedRegistries: string[];
  allowedRegions?: string[];
  suppressions?: PolicySuppression[];
}

export interface Training {
  enabled?: boolean;
  cohort?: string;
}

export enum ObservabilityAlertmanagerReceiver {
  None = "none",
  Webhook = "webhook",
  Email = "email",
}

export interface ObservabilityAlertmanager {
  receiver: ObservabilityAlertmanagerReceiver;
  to?: string;
  from?: string;
  smarthost?: string;
  auth?: boolean;
}

export interface ObservabilityGrafanaOidc {
  issuer: string;
  clientId: string;
  authUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  groupsClaim?: string;
  adminGroup?: string;
}

export interface ObservabilityGrafana {
  exposed?: boolean;
  url?: string;
  oidc?: ObservabilityGrafanaOidc;
}

export interface Observability {
  retention?: string;
  storageSize?: string;
  replicas?: number;
  alertmanager?: ObservabilityAlertmanager;
  grafana?: ObservabilityGrafana;
}

export interface Images {
  vllm?: string;
  vllmCpu?: string;
  opa?: string;
  gateway?: string;
}

export interface ChartMirror {
  oci?: string;
  directory?: string;
}

export interface AccountBaseline {
  enabled?: boolean;
}

export interface PlatformSettings {
  profile: Profile;
  tags: Tags;
  network?: Network;
  eks?: Eks;
  gpuPools?: GpuPool[];
  models: Model[];
  teams: Team[];
  storage: Storage;
  database?: Database;
  gateway: Gateway;
  policy: Policy;
  training?: Training;
  observability?: Observability;
  images?: Images;
  registryMirrors?: { [key: string]: string };
  chartMirror?: ChartMirror;
  accountBaseline?: AccountBaseline;
}
