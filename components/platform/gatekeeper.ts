/**
 * Admission control with OPA Gatekeeper: the pinned release, one ConstraintTemplate per Rego
 * file of `policies/admission/` (OPA v1 syntax, tested with `opa test`) and its Constraint:
 * allowed registries without `latest`, no host access, GPUs only through team queues, the
 * `team`/`cost-center` labels on team workloads, and the flywheel's identity (its ServiceAccount,
 * Secrets and stage label) kept from workloads a team identity creates.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GPU_RESOURCE } from "../lib/gpu-catalog";
import { FLYWHEEL_STAGE_LABEL, k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { ChartNamespaceFlows } from "../lib/network-policy";
import { chartNamespacePolicyResources } from "./namespace-policies";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import { admissionRegistryHosts, type RegistryMirrors } from "../lib/images";
import { TENANCY_CHARTS, chartSource } from "../lib/versions";
import type { Substrate } from "../substrate";
import { QUEUE_LABEL, type K8sObject } from "./tenancy-plan";

/** The Rego source of each admission template (the stack reads `policies/admission/<file>`). */
export interface AdmissionRego {
  /** `allowedimages.rego` */
  readonly allowedImages: string;
  /** `hostaccess.rego` */
  readonly noHostAccess: string;
  /** `gpuqueue.rego` */
  readonly gpuThroughQueue: string;
  /** `requiredlabels.rego` */
  readonly requiredTeamLabels: string;
  /** `flywheelidentity.rego` */
  readonly flywheelIdentity: string;
}

/** Rego file of each template, relative to `policies/admission/`. */
export const ADMISSION_FILES: Readonly<Record<keyof AdmissionRego, string>> = {
  allowedImages: "allowedimages.rego",
  noHostAccess: "hostaccess.rego",
  gpuThroughQueue: "gpuqueue.rego",
  requiredTeamLabels: "requiredlabels.rego",
  flywheelIdentity: "flywheelidentity.rego",
};

/**
 * What K8sFlywheelIdentity protects in one team namespace (`flywheelProtectedNames`,
 * components/flywheel/plan.ts, from the pods the kit renders for the flywheel).
 */
export interface ProtectedIdentity {
  readonly namespace: string;
  readonly serviceAccounts: readonly string[];
  readonly secrets: readonly string[];
}

export interface GatekeeperPlanArgs {
  readonly rego: AdmissionRego;
  readonly allowedRegistries: readonly string[];
  readonly teamNamespaces: readonly string[];
  /**
   * The RBAC group of every team (its members may create Jobs in its namespace). A request from
   * one of them, or from a ServiceAccount of a team namespace, is a team identity's. @default []
   */
  readonly teamGroups?: readonly string[];
  /** The flywheel's identity per team namespace (the Flywheel component's `protectedNames`). @default [] */
  readonly flywheelProtected?: pulumi.Input<readonly pulumi.Input<ProtectedIdentity>[]>;
  /** `deny` blocks; `warn` only warns. @default deny */
  readonly enforcementAction?: "deny" | "warn" | "dryrun";
}

/** Namespaces of the cluster itself, never matched by any constraint. */
export const SYSTEM_NAMESPACES = [
  "kube-system",
  "kube-public",
  "kube-node-lease",
  PLATFORM_NAMESPACES.gatekeeper,
];
/**
 * Namespaces whose node agents need host access (the GPU device plugin and DCGM exporter, the
 * node exporter). Every other constraint still applies to them.
 */
export const HOST_ACCESS_NAMESPACES = [PLATFORM_NAMESPACES.gpu, PLATFORM_NAMESPACES.monitoring];
/** Namespaces that may request GPUs without a queue (model servers). */
export const GPU_EXEMPT_NAMESPACES = [PLATFORM_NAMESPACES.serving];

/** Kinds whose pods the constraints inspect. */
export const WORKLOAD_KINDS = [
  { apiGroups: [""], kinds: ["Pod"] },
  { apiGroups: ["apps"], kinds: ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"] },
  { apiGroups: ["batch"], kinds: ["Job", "CronJob"] },
];

/**
 * Kinds K8sFlywheelIdentity inspects: every kind whose pods could run as the flywheel or read its
 * Secrets, ReplicationController included (the other constraints leave it to RBAC).
 */
export const FLYWHEEL_IDENTITY_KINDS = [
  ...WORKLOAD_KINDS,
  { apiGroups: [""], kinds: ["ReplicationController"] },
];

const strings = { type: "array", items: { type: "string" } };

function template(kind: string, rego: string, properties: Record<string, unknown>): K8sObject {
  return {
    apiVersion: "templates.gatekeeper.sh/v1",
    kind: "ConstraintTemplate",
    metadata: { name: kind.toLowerCase(), labels: k8sLabels("gatekeeper", kind.toLowerCase()) },
    spec: {
      crd: {
        spec: {
          names: { kind },
          validation: { openAPIV3Schema: { type: "object", properties } },
        },
      },
      targets: [
        {
          target: "admission.k8s.gatekeeper.sh",
          code: [{ engine: "Rego", source: { version: "v1", rego } }],
        },
      ],
    },
  };
}

function constraint(
  kind: string,
  name: string,
  match: Record<string, unknown>,
  parameters: Record<string, unknown> | undefined,
  action: string,
): K8sObject {
  return {
    apiVersion: "constraints.gatekeeper.sh/v1beta1",
    kind,
    metadata: { name, labels: k8sLabels("gatekeeper", name) },
    spec: {
      enforcementAction: action,
      match: { kinds: WORKLOAD_KINDS, ...match },
      ...(parameters ? { parameters } : {}),
    },
  };
}

/** Name of the K8sFlywheelIdentity constraint. */
export const FLYWHEEL_IDENTITY_CONSTRAINT = "flywheel-identity";

/** Every ConstraintTemplate and Constraint, from the config and the Rego sources. */
export function planGatekeeper(a: GatekeeperPlanArgs): { templates: K8sObject[]; constraints: K8sObject[] } {
  const action = a.enforcementAction ?? "deny";
  const templates = [
    template("K8sAllowedImages", a.rego.allowedImages, { registries: strings }),
    template("K8sNoHostAccess", a.rego.noHostAccess, {}),
    template("K8sGpuThroughQueue", a.rego.gpuThroughQueue, {
      teamNamespaces: strings,
      exemptNamespaces: strings,
      queueLabel: { type: "string" },
      gpuResource: { type: "string" },
    }),
    template("K8sRequiredTeamLabels", a.rego.requiredTeamLabels, {
      labels: strings,
      teamNamespacePrefix: { type: "string" },
    }),
    template("K8sFlywheelIdentity", a.rego.flywheelIdentity, {
      protected: {
        type: "array",
        items: {
          type: "object",
          properties: { namespace: { type: "string" }, serviceAccounts: strings, secrets: strings },
        },
      },
      stageLabel: { type: "string" },
      teamNamespaces: strings,
      teamGroups: strings,
    }),
  ];
  const constraints = [
    constraint(
      "K8sAllowedImages",
      "allowed-images",
      { excludedNamespaces: SYSTEM_NAMESPACES },
      { registries: admissionRegistryHosts(a.allowedRegistries) },
      action,
    ),
    constraint(
      "K8sNoHostAccess",
      "no-host-access",
      { excludedNamespaces: [...SYSTEM_NAMESPACES, ...HOST_ACCESS_NAMESPACES] },
      undefined,
      action,
    ),
    constraint(
      "K8sGpuThroughQueue",
      "gpu-through-queue",
      { excludedNamespaces: SYSTEM_NAMESPACES },
      {
        teamNamespaces: [...a.teamNamespaces],
        exemptNamespaces: GPU_EXEMPT_NAMESPACES,
        queueLabel: QUEUE_LABEL,
        gpuResource: GPU_RESOURCE,
      },
      action,
    ),
    ...(a.teamNamespaces.length > 0
      ? [
          constraint(
            "K8sRequiredTeamLabels",
            "required-team-labels",
            { namespaces: [...a.teamNamespaces] },
            { labels: ["team", "cost-center"], teamNamespacePrefix: "team-" },
            action,
          ),
          // The flywheel's identity is the kit's: a team identity's workload may not use it.
          constraint(
            "K8sFlywheelIdentity",
            FLYWHEEL_IDENTITY_CONSTRAINT,
            { namespaces: [...a.teamNamespaces], kinds: FLYWHEEL_IDENTITY_KINDS },
            {
              protected: a.flywheelProtected ?? [],
              stageLabel: FLYWHEEL_STAGE_LABEL,
              teamNamespaces: [...a.teamNamespaces],
              teamGroups: [...(a.teamGroups ?? [])],
            },
            action,
          ),
        ]
      : []),
  ];
  return { templates, constraints };
}

/** Helm values of the Gatekeeper release. */
export function gatekeeperValues(o: {
  replicas: number;
  failClosed: boolean;
  mirrors?: RegistryMirrors;
}): Record<string, unknown> {
  return withChartImages(
    {
      replicas: o.replicas,
      auditInterval: 60,
      // Fail closed in prod: a request is not admitted unchecked when the webhook is down.
      validatingWebhookFailurePolicy: o.failClosed ? "Fail" : "Ignore",
      logDenies: true,
      emitAdmissionEvents: true,
    },
    CHART_IMAGES.gatekeeper,
    o.mirrors,
  );
}

/**
 * The flows of Gatekeeper's namespace besides DNS and the API server: the API server calls the
 * controller-manager's admission webhook on its container port (`webhook-server`, 8443 in the
 * pinned chart; a chart test checks it). Nothing scrapes Gatekeeper; nothing else reaches it.
 */
export function gatekeeperFlows(): ChartNamespaceFlows {
  return {
    namespace: PLATFORM_NAMESPACES.gatekeeper,
    fromApiServer: [
      {
        pods: { "control-plane": "controller-manager", "gatekeeper.sh/operation": "webhook" },
        ports: [8443],
      },
    ],
  };
}

export interface GatekeeperArgs extends GatekeeperPlanArgs {
  readonly substrate: Pick<Substrate, "provider" | "ready" | "registryMirrors" | "chartMirror" | "apiServer">;
  /** Webhook replicas. @default 1 */
  readonly replicas?: number;
  /** Reject requests when the webhook is unavailable. @default false */
  readonly failClosed?: boolean;
}

export class Gatekeeper extends pulumi.ComponentResource {
  constructor(name: string, args: GatekeeperArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:Gatekeeper", name, {}, opts);
    const child = { parent: this, provider: args.substrate.provider };
    const plan = planGatekeeper(args);
    const release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "gatekeeper",
        ...chartSource(TENANCY_CHARTS.gatekeeper, args.substrate.chartMirror),
        namespace: PLATFORM_NAMESPACES.gatekeeper,
        createNamespace: true,
        values: args.substrate.registryMirrors.apply((mirrors) =>
          gatekeeperValues({ replicas: args.replicas ?? 1, failClosed: args.failClosed ?? false, mirrors }),
        ),
      },
      { ...child, dependsOn: [...args.substrate.ready] },
    );
    // Default-deny both ways plus exactly the flows above, once the chart made the namespace.
    chartNamespacePolicyResources(name, gatekeeperFlows(), args.substrate.apiServer, {
      ...child,
      dependsOn: [release],
    });
    const templates = plan.templates.map(
      (t) =>
        new k8s.apiextensions.CustomResource(`${name}-template-${t.metadata.name}`, t, {
          ...child,
          dependsOn: [release],
        }),
    );
    // A Constraint's CRD exists only once Gatekeeper has processed its template.
    const byKind = new Map(
      plan.templates.map((t, i) => [t.spec.crd.spec.names.kind as string, templates[i]]),
    );
    for (const c of plan.constraints) {
      new k8s.apiextensions.CustomResource(`${name}-constraint-${c.metadata.name}`, c, {
        ...child,
        dependsOn: [byKind.get(c.kind)!],
      });
    }
    this.registerOutputs({});
  }
}
