/**
 * One declaration of teams, enforced the same way everywhere. {@link planTenancy} derives, per
 * team, every object that carries the team's rights: its namespace (Pod Security `restricted`),
 * default-deny network policies with explicit allows, the RBAC binding of its OIDC group, its
 * Kueue LocalQueue and ClusterQueue name, its object-storage scopes and its entry in the OPA data
 * document. Pure: plain data in, plain Kubernetes objects out; components only create them.
 */
import { CLASSIFICATIONS, clearedFor, type Classification } from "../lib/classification";
import type { GuardFamily, OpaData } from "../lib/contracts";
import { modelServerUrl } from "../lib/endpoints";
import { k8sLabels, teamLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES, teamNamespace } from "../lib/naming";
import { baseModelPrefixes, workloadScopes, type Scope } from "../lib/scopes";
import { KUBERNETES_VERSION } from "../lib/versions";
import { dnsEgressRule } from "../lib/network-policy";

/** A team as the config declares it (the fields tenancy needs). */
export interface TeamInput {
  readonly name: string;
  readonly oidcGroup: string;
  /** The group the cluster's authenticator gives members. @default oidcGroup */
  readonly kubernetesGroup?: string;
  readonly costCenter: string;
  readonly clearance: Classification;
  readonly allowedModels: readonly string[];
  readonly gpuQuota: { readonly nominal: number; readonly borrowingLimit: number };
  readonly budgets: { readonly tokensPerDay: number; readonly requestsPerMinute: number };
  readonly allowCapture: boolean;
  /** HTTPS to internet addresses (an explicit, audited per-team setting). @default false */
  readonly internetEgress?: boolean;
  /** The team's flywheel: its adapter is a served model (docs/flywheel.md). @default none */
  readonly flywheel?: { readonly enabled: boolean; readonly adapter: string; readonly baseModel: string };
}

/** A model as the config declares it (the fields the OPA data needs). */
export interface ModelInput {
  readonly name: string;
  readonly role: "chat" | "embedding" | "guard";
  readonly dataClassification: Classification;
  readonly loraAdapters: readonly { readonly name: string }[];
}

/** A network peer reached over one TCP port. */
export interface EgressTarget {
  /** A cluster-local `svc.ns.svc[.cluster.local]` name or an external host. */
  readonly host: string;
  readonly port: number;
}

export interface TenancyPlanArgs {
  readonly teams: readonly TeamInput[];
  /** Training queues exist only when training is enabled. */
  readonly trainingEnabled: boolean;
  /** Kueue cohort all team ClusterQueues share. */
  readonly cohort: string;
  /** Where the object store is (from the substrate's endpoint). @default no egress rule for it */
  readonly objectStore?: EgressTarget;
  /** Where Postgres is (from the substrate's connection). @default no egress rule for it */
  readonly postgres?: EgressTarget;
  /**
   * The served models' weights (key prefix in the models bucket and classification): a team's
   * trainer may read those within its clearance. @default [] (no base models readable)
   */
  readonly models?: readonly { readonly source: string; readonly dataClassification: Classification }[];
}

/**
 * Base-model prefixes a team's trainer may read: the weights of every configured model whose
 * data classification is within the team's clearance (never a prefix under `teams/`).
 */
export function trainerReadModels(
  t: Pick<TeamInput, "clearance">,
  models: readonly { readonly source: string; readonly dataClassification: Classification }[],
): string[] {
  return baseModelPrefixes(
    models.filter((m) => clearedFor(t.clearance, m.dataClassification)).map((m) => m.source),
  );
}

/** A Kubernetes object as plain data. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: Record<string, any>; [k: string]: any };

/** A plain object as the typed args of a Kubernetes resource (the plan already has that shape). */
export function asArgs<T>(o: K8sObject): T {
  return o as unknown as T;
}

export interface TeamPlan {
  readonly team: string;
  readonly namespace: K8sObject;
  readonly networkPolicies: readonly K8sObject[];
  readonly role: K8sObject;
  readonly roleBinding: K8sObject;
  /** The team's ClusterQueue name (the Kueue component creates it). */
  readonly clusterQueue: string;
  /** LocalQueue in the team namespace; absent when training is disabled. */
  readonly localQueue?: K8sObject;
  /** Object-storage scopes of the team's training workloads. */
  readonly storageScopes: readonly Scope[];
  /** Base-model prefixes the trainer may read (`trainerReadModels`), passed to the substrate. */
  readonly readModels: readonly string[];
  /** ServiceAccount the team's training jobs run as. */
  readonly serviceAccountName: string;
  readonly opa: OpaData["teams"][string];
}

/** Name of the LocalQueue in every team namespace (the `kueue.x-k8s.io/queue-name` value). */
export const TEAM_LOCAL_QUEUE = "training";
/** ServiceAccount of training jobs in every team namespace. */
export const TRAINER_SERVICE_ACCOUNT = "trainer";
/** Namespace Role granted to a team's OIDC group. */
export const TEAM_ROLE = "team-member";
/** The label Kueue reads to find a Job's LocalQueue. */
export const QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
/** Label marking a namespace as a team namespace (Kueue and Gatekeeper select on it). */
export const TEAM_NAMESPACE_LABEL = "sovereign.ai/team";

/** The ClusterQueue of a team. */
export function teamClusterQueue(team: string): string {
  return `team-${team}`;
}

/** Classifications a team may train on: everything up to its clearance. */
export function trainableClassifications(clearance: Classification): Classification[] {
  return CLASSIFICATIONS.filter((c) => clearedFor(clearance, c));
}

/** The team's entry of the OPA data document. */
export function opaTeamEntry(t: TeamInput): OpaData["teams"][string] {
  return {
    oidcGroup: t.oidcGroup,
    clearance: t.clearance,
    allowedModels: [...t.allowedModels],
    budgets: { tokensPerDay: t.budgets.tokensPerDay, requestsPerMinute: t.budgets.requestsPerMinute },
    allowCapture: t.allowCapture,
    trainableClassifications: trainableClassifications(t.clearance),
  };
}

export interface OpaDataArgs {
  readonly teams: readonly TeamInput[];
  readonly models: readonly ModelInput[];
  readonly guard: {
    /** Name of the guard model. @default none (the guard is disabled) */
    readonly model?: string;
    /** How the guard is asked and its answer read. @default llama-guard */
    readonly family?: GuardFamily;
    readonly timeoutMs: number;
    /** Deny requests when the guard is down (always true in prod: `stacks/config/settings.ts`). */
    readonly failClosed: boolean;
  };
  readonly redactPatterns: readonly string[];
}

/** The `data.sovereign` document OPA decides with, from the config alone. */
export function opaDataFromConfig(a: OpaDataArgs): OpaData {
  const models: Record<string, OpaData["models"][string]> = {};
  for (const m of a.models) {
    models[m.name] = { role: m.role, dataClassification: m.dataClassification };
    for (const l of m.loraAdapters) {
      models[l.name] = { role: m.role, dataClassification: m.dataClassification, baseModel: m.name };
    }
  }
  for (const t of a.teams) {
    const f = t.flywheel;
    const base = f?.enabled ? models[f.baseModel] : undefined;
    if (!f || !base || models[f.adapter]) continue;
    models[f.adapter] = { role: "chat", dataClassification: base.dataClassification, baseModel: f.baseModel };
  }
  const teams: Record<string, OpaData["teams"][string]> = {};
  for (const t of a.teams) teams[t.name] = opaTeamEntry(t);
  const guardModel = a.guard.model;
  return {
    teams,
    models,
    guard: {
      enabled: guardModel !== undefined,
      url: guardModel !== undefined ? `${modelServerUrl(guardModel)}/v1/chat/completions` : "",
      model: guardModel ?? "",
      family: a.guard.family ?? "llama-guard",
      timeoutMs: a.guard.timeoutMs,
      failClosed: a.guard.failClosed,
    },
    redactPatterns: [...a.redactPatterns],
  };
}

/**
 * Splits a host into a cluster-local (namespace) peer or an external one. `svc.ns.svc` and
 * `svc.ns.svc.cluster.local` are in-cluster; anything else is reached by IP.
 */
export function clusterNamespaceOf(host: string): string | undefined {
  const m = /^[a-z0-9-]+\.([a-z0-9-]+)\.svc(\.cluster\.local)?\.?$/.exec(host);
  return m?.[1];
}

/** Host and port of a URL (the default port of its scheme when none is given). */
export function targetOfUrl(url: string): EgressTarget {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  return { host: u.hostname, port };
}

/** The link-local instance metadata range, never reachable from team pods. */
const METADATA_CIDR = "169.254.169.254/32";

/** Label on a team namespace whose pods may reach the internet (`teams[].internetEgress`). */
export const INTERNET_EGRESS_LABEL = "sovereign.ai/internet-egress";

/**
 * Addresses that are not the internet: private (RFC 1918), shared (CGNAT), link-local
 * (metadata services, the Pod Identity agent) and loopback. A team's internet egress excludes them.
 */
export const NON_INTERNET_RANGES = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "127.0.0.0/8",
] as const;

/** One egress rule to a peer: a namespace when it is in-cluster, else any IP on that port only. */
export function egressRuleFor(target: EgressTarget): Record<string, unknown> {
  const ns = clusterNamespaceOf(target.host);
  const ports = [{ protocol: "TCP", port: target.port }];
  if (ns !== undefined) {
    return { to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } }], ports };
  }
  return { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [METADATA_CIDR] } }], ports };
}

function netpol(
  name: string,
  namespace: string,
  labels: Record<string, string>,
  spec: Record<string, unknown>,
): K8sObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace, labels },
    spec,
  };
}

/**
 * The Kubernetes group of a team's members, as the cluster's authenticator names it: the team's
 * `kubernetesGroup`, else its OIDC group. The team's RoleBinding, admission's team groups and
 * the EKS access entry of the team's IAM role all use this one name.
 */
export function teamGroupName(t: { readonly oidcGroup: string; readonly kubernetesGroup?: string }): string {
  return t.kubernetesGroup ?? t.oidcGroup;
}

/** Verbs a team member has in the team's own namespace. Secrets are deliberately absent. */
export const TEAM_ROLE_RULES = [
  {
    apiGroups: ["batch"],
    resources: ["jobs"],
    verbs: ["get", "list", "watch", "create", "delete"],
  },
  {
    apiGroups: [""],
    resources: ["pods", "pods/log", "events", "configmaps"],
    verbs: ["get", "list", "watch"],
  },
  {
    apiGroups: ["kueue.x-k8s.io"],
    resources: ["workloads", "localqueues"],
    verbs: ["get", "list", "watch"],
  },
] as const;

/** Everything one team gets. */
export function planTeam(t: TeamInput, a: TenancyPlanArgs): TeamPlan {
  const ns = teamNamespace(t.name);
  const readModels = trainerReadModels(t, a.models ?? []);
  const labels = { ...k8sLabels("tenancy", t.name), ...teamLabels(t.name, t.costCenter) };
  const egress: Record<string, unknown>[] = [];
  if (a.objectStore) egress.push(egressRuleFor(a.objectStore));
  if (a.postgres) egress.push(egressRuleFor(a.postgres));
  const networkPolicies = [
    netpol("default-deny", ns, labels, { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    netpol("allow-dns", ns, labels, {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [dnsEgressRule()],
    }),
    // Pods of one job talk to each other (distributed training); nothing crosses teams.
    netpol("allow-same-namespace", ns, labels, {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [{ to: [{ podSelector: {} }] }],
    }),
    netpol("allow-monitoring-scrape", ns, labels, {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchLabels: { "kubernetes.io/metadata.name": PLATFORM_NAMESPACES.monitoring },
              },
            },
          ],
        },
      ],
    }),
    ...(t.internetEgress
      ? [
          netpol("allow-internet-egress", ns, labels, {
            podSelector: {},
            policyTypes: ["Egress"],
            egress: [
              {
                to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...NON_INTERNET_RANGES] } }],
                ports: [{ protocol: "TCP", port: 443 }],
              },
            ],
          }),
        ]
      : []),
    ...(egress.length > 0
      ? [netpol("allow-data-services", ns, labels, { podSelector: {}, policyTypes: ["Egress"], egress })]
      : []),
  ];
  const clusterQueue = teamClusterQueue(t.name);
  return {
    team: t.name,
    namespace: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: ns,
        labels: {
          ...labels,
          [TEAM_NAMESPACE_LABEL]: t.name,
          ...(t.internetEgress ? { [INTERNET_EGRESS_LABEL]: "true" } : {}),
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": `v${KUBERNETES_VERSION}`,
          "pod-security.kubernetes.io/warn": "restricted",
          "pod-security.kubernetes.io/audit": "restricted",
        },
      },
    },
    networkPolicies,
    role: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: TEAM_ROLE, namespace: ns, labels },
      rules: TEAM_ROLE_RULES.map((r) => ({
        apiGroups: [...r.apiGroups],
        resources: [...r.resources],
        verbs: [...r.verbs],
      })),
    },
    roleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: TEAM_ROLE, namespace: ns, labels },
      subjects: [
        {
          kind: "Group",
          apiGroup: "rbac.authorization.k8s.io",
          name: teamGroupName(t),
        },
      ],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: TEAM_ROLE },
    },
    clusterQueue,
    localQueue: a.trainingEnabled
      ? {
          apiVersion: "kueue.x-k8s.io/v1beta2",
          kind: "LocalQueue",
          metadata: { name: TEAM_LOCAL_QUEUE, namespace: ns, labels },
          spec: { clusterQueue },
        }
      : undefined,
    storageScopes: workloadScopes("training", t.name, readModels),
    readModels,
    serviceAccountName: TRAINER_SERVICE_ACCOUNT,
    opa: opaTeamEntry(t),
  };
}

/** The plan of every team, in config order. */
export function planTenancy(a: TenancyPlanArgs): TeamPlan[] {
  return a.teams.map((t) => planTeam(t, a));
}
