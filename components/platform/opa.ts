/**
 * OPA, the policy decision point of the gateway. The authorization Rego (`policies/authz`,
 * `policies/data`) and the data document generated from the config are served as one bundle from
 * a ConfigMap; decision logs go to stdout with the raw prompt and messages masked by a
 * `system.log.mask` policy; only the gateway (and the monitoring scrape) can reach it.
 */
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { spreadAcrossZonesAndNodes } from "../lib/scheduling";
import type { OpaData } from "../lib/contracts";
import { opaUrl } from "../lib/endpoints";
import { mirrorImage } from "../lib/images";
import { FLYWHEEL_STAGE_LABEL, k8sLabels } from "../lib/labels";
import { SCRAPE_TARGETS } from "../lib/metrics";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { IMAGES } from "../lib/versions";
import type { Substrate } from "../substrate";
import { asArgs, type K8sObject } from "./tenancy-plan";
import { dnsEgressRule } from "../lib/network-policy";

export const OPA_PORT = 8181;
export const OPA_SERVICE = "opa";
const BUNDLE_DIR = "/bundle";
const CONFIG_DIR = "/config";

/**
 * The mask policy: erases the raw prompt and chat messages from every decision log entry. The
 * decision itself still sees them (the gateway and the guard need them); only the log forgets.
 */
export const MASK_POLICY = `package system.log

# Decision logs never keep the raw prompt or chat messages.
mask contains "/input/request/prompt"

mask contains "/input/request/messages"
`;

/** OPA's configuration: console decision logs, masked by {@link MASK_POLICY}. */
export function opaConfig(): string {
  return [
    "decision_logs:",
    "  console: true",
    "  mask_decision: /system/log/mask",
    "default_decision: /sovereign/authz/decision",
    "",
  ].join("\n");
}

/** Bundle files in the ConfigMap: key (flat) → path inside the bundle and content. */
export interface BundleFile {
  readonly key: string;
  readonly path: string;
  readonly content: string;
}

/**
 * The bundle: every policy file that is not a test, the mask policy, and the data document at
 * `sovereign/data.json` (so it loads as `data.sovereign`).
 */
export function bundleFiles(policies: Readonly<Record<string, string>>, data: OpaData): BundleFile[] {
  const files: BundleFile[] = Object.entries(policies)
    .filter(([p]) => p.endsWith(".rego") && !p.endsWith("_test.rego"))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([p, content]) => ({ key: p.replace(/[^-._a-zA-Z0-9]/g, "."), path: p, content }));
  files.push({ key: "system.log.mask.rego", path: "system/log/mask.rego", content: MASK_POLICY });
  files.push({
    key: "sovereign.data.json",
    path: "sovereign/data.json",
    content: JSON.stringify(data, null, 2),
  });
  const keys = new Set<string>();
  for (const f of files) {
    if (keys.has(f.key)) throw new Error(`opa: two bundle files map to the ConfigMap key "${f.key}"`);
    keys.add(f.key);
  }
  return files;
}

/** A digest of the bundle, so a change of policy or data rolls the pods. */
export function bundleDigest(files: readonly BundleFile[]): string {
  const h = createHash("sha256");
  for (const f of files) h.update(f.path).update("\0").update(f.content).update("\0");
  return h.digest("hex");
}

/** The network policies of the policy namespace. */
export function opaNetworkPolicies(o: {
  namespace: string;
  podLabels: Record<string, string>;
  /**
   * Namespaces of teams whose flywheel runs: its dataset builder asks OPA's data_access decision.
   * Only pods labelled {@link FLYWHEEL_STAGE_LABEL} there may connect. @default none
   */
  flywheelNamespaces?: readonly string[];
}): K8sObject[] {
  const meta = (name: string) => ({ name, namespace: o.namespace, labels: k8sLabels("opa", name) });
  const nsSel = (ns: string) => ({ matchLabels: { "kubernetes.io/metadata.name": ns } });
  const port = [{ protocol: "TCP", port: OPA_PORT }];
  const egress: Record<string, unknown>[] = [dnsEgressRule()];
  return [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("default-deny"),
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("opa-ingress"),
      spec: {
        podSelector: { matchLabels: o.podLabels },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: nsSel(PLATFORM_NAMESPACES.gateway),
                podSelector: { matchLabels: { ...SCRAPE_TARGETS.gateway.selector } },
              },
            ],
            ports: port,
          },
          { from: [{ namespaceSelector: nsSel(PLATFORM_NAMESPACES.monitoring) }], ports: port },
          ...(o.flywheelNamespaces?.length
            ? [
                {
                  from: o.flywheelNamespaces.map((ns) => ({
                    namespaceSelector: nsSel(ns),
                    podSelector: {
                      matchExpressions: [{ key: FLYWHEEL_STAGE_LABEL, operator: "Exists" }],
                    },
                  })),
                  ports: port,
                },
              ]
            : []),
        ],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("opa-egress"),
      spec: { podSelector: { matchLabels: o.podLabels }, policyTypes: ["Egress"], egress },
    },
  ];
}

export interface OpaDeploymentArgs {
  readonly name: string;
  readonly namespace: string;
  readonly image: pulumi.Input<string>;
  readonly replicas: number;
  readonly files: readonly BundleFile[];
  readonly configMapName: string;
}

/** The OPA Deployment as plain data. */
export function opaDeployment(a: OpaDeploymentArgs): K8sObject {
  const selector = { ...SCRAPE_TARGETS.opa.selector, "app.kubernetes.io/instance": a.name };
  const labels = k8sLabels("opa", a.name);
  const probe = (path: string) => ({ httpGet: { path, port: SCRAPE_TARGETS.opa.port }, periodSeconds: 10 });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: OPA_SERVICE, namespace: a.namespace, labels },
    spec: {
      replicas: a.replicas,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { "sovereign.ai/bundle-sha256": bundleDigest(a.files) } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            seccompProfile: { type: "RuntimeDefault" },
          },
          topologySpreadConstraints:
            a.replicas > 1 ? spreadAcrossZonesAndNodes(selector, "DoNotSchedule") : undefined,
          containers: [
            {
              name: "opa",
              image: a.image,
              args: [
                "run",
                "--server",
                `--addr=0.0.0.0:${OPA_PORT}`,
                `--config-file=${CONFIG_DIR}/config.yaml`,
                "--log-format=json",
                "--disable-telemetry",
                "--bundle",
                BUNDLE_DIR,
              ],
              // Fewer garbage collections per decision: measured 703 -> 470 µs of OPA CPU per
              // decision at 8 concurrent callers, for a few MiB more heap (see docs/gateway.md).
              env: [{ name: "GOGC", value: "400" }],
              ports: [{ name: SCRAPE_TARGETS.opa.port, containerPort: OPA_PORT, protocol: "TCP" }],
              livenessProbe: probe("/health"),
              readinessProbe: probe("/health?bundles"),
              resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              // One subPath mount per file: real files in their folders (a ConfigMap volume would
              // give symlinks into a hidden folder, which OPA's bundle loader does not follow).
              volumeMounts: [
                ...a.files.map((f) => ({
                  name: "bundle",
                  mountPath: `${BUNDLE_DIR}/${f.path}`,
                  subPath: f.key,
                  readOnly: true,
                })),
                {
                  name: "bundle",
                  mountPath: `${CONFIG_DIR}/config.yaml`,
                  subPath: "config.yaml",
                  readOnly: true,
                },
              ],
            },
          ],
          volumes: [{ name: "bundle", configMap: { name: a.configMapName } }],
        },
      },
    },
  };
}

export interface OpaArgs {
  readonly substrate: Pick<Substrate, "provider" | "ready" | "registryMirrors">;
  /** Policy files by path (e.g. `authz/decision.rego`); `*_test.rego` files are left out. */
  readonly policies: Readonly<Record<string, string>>;
  /** Team namespaces whose flywheel pods may ask OPA (docs/flywheel.md). @default none */
  readonly flywheelNamespaces?: readonly string[];
  /** The data document (`data.sovereign`), from the config. */
  readonly data: OpaData;
  /** Replicas: 2 or more in prod. @default 1 */
  readonly replicas?: number;
  /** Create a PodDisruptionBudget keeping one replica up. @default replicas > 1 */
  readonly podDisruptionBudget?: boolean;
  /** Image override (air-gapped mirror). @default IMAGES.opa */
  readonly image?: string;
}

export class Opa extends pulumi.ComponentResource {
  /** The REST API URL the gateway calls. */
  readonly url: string;

  constructor(name: string, args: OpaArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:Opa", name, {}, opts);
    const child = { parent: this, provider: args.substrate.provider };
    const namespace = PLATFORM_NAMESPACES.policy;
    const replicas = args.replicas ?? 1;
    const files = bundleFiles(args.policies, args.data);
    const labels = k8sLabels("opa", name);
    const selector = { ...SCRAPE_TARGETS.opa.selector, "app.kubernetes.io/instance": name };
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      {
        metadata: {
          name: namespace,
          labels: {
            ...k8sLabels("opa", namespace),
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
          },
        },
      },
      { ...child, dependsOn: [...args.substrate.ready] },
    );
    const inNs = { ...child, dependsOn: [ns] };
    const cm = new k8s.core.v1.ConfigMap(
      `${name}-bundle`,
      {
        metadata: { name: "opa-bundle", namespace, labels },
        data: { "config.yaml": opaConfig(), ...Object.fromEntries(files.map((f) => [f.key, f.content])) },
      },
      inNs,
    );
    for (const np of opaNetworkPolicies({
      namespace,
      podLabels: selector,
      flywheelNamespaces: args.flywheelNamespaces,
    })) {
      new k8s.networking.v1.NetworkPolicy(
        `${name}-np-${np.metadata.name}`,
        asArgs<k8s.networking.v1.NetworkPolicyArgs>(np),
        inNs,
      );
    }
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      asArgs<k8s.apps.v1.DeploymentArgs>(
        opaDeployment({
          name,
          namespace,
          image: args.substrate.registryMirrors.apply((m) => mirrorImage(args.image ?? IMAGES.opa, m)),
          replicas,
          files,
          configMapName: "opa-bundle",
        }),
      ),
      { ...inNs, dependsOn: [ns, cm] },
    );
    new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: OPA_SERVICE, namespace, labels },
        spec: {
          selector,
          ports: [
            {
              name: SCRAPE_TARGETS.opa.port,
              port: OPA_PORT,
              targetPort: SCRAPE_TARGETS.opa.port,
              protocol: "TCP",
            },
          ],
        },
      },
      inNs,
    );
    if (args.podDisruptionBudget ?? replicas > 1) {
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: { name: OPA_SERVICE, namespace, labels },
          spec: { minAvailable: 1, selector: { matchLabels: selector } },
        },
        inNs,
      );
    }
    this.url = opaUrl();
    this.registerOutputs({ url: this.url });
  }
}
