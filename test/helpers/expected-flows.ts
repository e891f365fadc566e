/**
 * The network-flow table of a stack: per namespace that has default-deny in both directions,
 * exactly these ingress and egress peers, written out from the config (not computed by the
 * components' own functions). test/stacks/flows.test.ts compares every shipped stack with it,
 * test/stacks/generated.property.test.ts every generated one.
 */
import { subnetLayout } from "../../components/aws/layout";
import type { StackConfig } from "../../stacks/config/schema";

const DNS = "ns(kubernetes.io/metadata.name=kube-system)/pods(k8s-app=kube-dns) on UDP/53,TCP/53";
const OPA = "pods(app.kubernetes.io/instance=opa,app.kubernetes.io/name=opa)";
/** The S3 prefix list the mocks return for the region (documentation ranges). */
const S3_PREFIX_LIST = ["198.51.100.0/24", "203.0.113.0/24"];

/** The flows of one team namespace: its own pods, DNS, the object store; scraped by monitoring. */
function teamFlows(ns: string, objectStore: readonly string[]): string[] {
  return [
    `${ns} egress pods(*) to ${DNS}`,
    `${ns} egress pods(*) to ns(same)/pods(*) on any port`,
    ...objectStore.map((to) => `${ns} egress pods(*) to ${to}`),
    `${ns} ingress pods(*) from ns(kubernetes.io/metadata.name=sovereign-monitoring) on any port`,
    `${ns} ingress pods(*) from ns(same)/pods(*) on any port`,
  ];
}

/**
 * A team with the flywheel on: its flywheel pods (only) and OPA's port, both ways; out to the
 * guard model's pods on their port (the eval's safety task; the guard's side is in
 * `sovereign-serving`, not enumerated here yet, and checked in flywheel.test.ts). Every flywheel
 * pod (the chain's incumbent init container, the controller) reaches the substrate's Postgres;
 * the controller's pods (only) reach the API server (EndpointSlices) and the base model's pods
 * on the API port (runtime LoRA), which admit them.
 */
function flywheelFlows(
  ns: string,
  guardModel: string,
  baseModel: string,
  postgres: readonly string[],
  apiServer: readonly string[],
): string[] {
  const pods = "pods(sovereign.ai/flywheel-stage Exists )";
  const controller = "pods(sovereign.ai/flywheel-stage=controller)";
  const guard = `pods(app.kubernetes.io/instance=${guardModel},app.kubernetes.io/name=model-server)`;
  const base = `pods(app.kubernetes.io/instance=${baseModel},app.kubernetes.io/name=model-server)`;
  return [
    `${ns} egress ${pods} to ns(kubernetes.io/metadata.name=sovereign-policy) on TCP/8181`,
    `${ns} egress ${pods} to ns(kubernetes.io/metadata.name=sovereign-serving)/${guard} on TCP/8000`,
    `sovereign-policy ingress ${OPA} from ns(kubernetes.io/metadata.name=${ns})/${pods} on TCP/8181`,
    // The guard model screens the eval's safety-set answers: its namespace admits the team's flywheel pods.
    `sovereign-serving ingress ${guard} from ns(kubernetes.io/metadata.name=${ns})/${pods} on TCP/8000`,
    ...postgres.map((to) => `${ns} egress ${pods} to ${to}`),
    ...apiServer.map((to) => `${ns} egress ${controller} to ${to}`),
    `${ns} egress ${controller} to ns(kubernetes.io/metadata.name=sovereign-serving)/${base} on TCP/8000`,
    `sovereign-serving ingress ${base} from ns(kubernetes.io/metadata.name=${ns})/${controller} on TCP/8000`,
  ];
}

/**
 * A chart's namespace: every pod resolves names and reaches the API server; the API server
 * reaches the webhook pods on their container port. `apiServer` is the substrate's peers.
 */
function chartFlows(
  ns: string,
  apiServer: readonly string[],
  apiPorts: string,
  webhooks: { pods: string; port: number }[],
): string[] {
  return [
    `${ns} egress pods(*) to ${DNS}`,
    ...apiServer.map((p) => `${ns} egress pods(*) to ${p} on ${apiPorts}`),
    ...webhooks.flatMap((w) =>
      apiServer.map((p) => `${ns} ingress pods(${w.pods}) from ${p} on TCP/${w.port}`),
    ),
  ];
}
const GATEKEEPER_WEBHOOK = {
  pods: "control-plane=controller-manager,gatekeeper.sh/operation=webhook",
  port: 8443,
};
const CERT_MANAGER_WEBHOOK = {
  pods: "app.kubernetes.io/component=webhook,app.kubernetes.io/instance=cert-manager",
  port: 10250,
};
/** Kueue's controller manager: admission webhooks (9443) and the visibility API (8082) on one pod. */
const KUEUE_MANAGER = "app.kubernetes.io/name=kueue,control-plane=controller-manager";
const KUEUE_WEBHOOK = { pods: KUEUE_MANAGER, port: 9443 };
const KUEUE_VISIBILITY = { pods: KUEUE_MANAGER, port: 8082 };
export const MONITORING = "ns(kubernetes.io/metadata.name=sovereign-monitoring)";
export const PROMETHEUS = "pods(app.kubernetes.io/name=prometheus)";

/** Kueue's namespace: the chart's flows, and Prometheus scraping the manager's secure metrics. */
function kueueFlows(api: readonly string[], apiPorts: string): string[] {
  // The webhook and visibility ports land in one rule (one pod serves both).
  return [
    ...chartFlows("kueue-system", api, apiPorts, []),
    ...api.map(
      (p) =>
        `kueue-system ingress pods(${KUEUE_MANAGER}) from ${p} on TCP/${KUEUE_WEBHOOK.port},TCP/${KUEUE_VISIBILITY.port}`,
    ),
    `kueue-system ingress pods(${KUEUE_MANAGER}) from ${MONITORING} on TCP/8443`,
  ];
}

/**
 * KEDA's namespace: the API server calls the admission webhooks and the metrics API server (an
 * aggregated API); the metrics API server asks the operator (gRPC 9666); the operator queries
 * Prometheus (the kit's ScaledObjects' only scaler) and is scraped on 8080.
 */
function kedaFlows(api: readonly string[], apiPorts: string): string[] {
  return [
    ...chartFlows("keda", api, apiPorts, [
      { pods: "app=keda-admission-webhooks", port: 9443 },
      { pods: "app=keda-operator-metrics-apiserver", port: 6443 },
    ]),
    `keda egress pods(app=keda-operator) to ${MONITORING}/${PROMETHEUS} on TCP/9090`,
    "keda egress pods(app=keda-operator-metrics-apiserver) to ns(same)/pods(app=keda-operator) on TCP/9666",
    "keda ingress pods(app=keda-operator) from ns(same)/pods(app=keda-operator-metrics-apiserver) on TCP/9666",
    `keda ingress pods(app=keda-operator) from ${MONITORING} on TCP/8080`,
  ];
}

/** The GPU namespace: the device plugin watches its node (API server); Prometheus scrapes DCGM. */
function gpuFlows(api: readonly string[], apiPorts: string): string[] {
  return [
    ...chartFlows("sovereign-gpu", api, apiPorts, []),
    `sovereign-gpu ingress pods(app.kubernetes.io/name=dcgm-exporter) from ${MONITORING} on TCP/9400`,
  ];
}

/**
 * The monitoring namespace: the API server calls the operator's webhook; Prometheus scrapes the
 * stack's own pods, every scrape target's namespace on its port, CoreDNS and the kubelets (and
 * node-exporter with the full footprint) on the nodes; Grafana queries Prometheus, KEDA's
 * operator too; Alertmanager (when a receiver is set) gets alerts, gossips, is queried by
 * Grafana (its Alertmanager datasource) and reaches the receiver's port at any address.
 */
function monitoringFlows(
  api: readonly string[],
  apiPorts: string,
  nodes: readonly string[],
  o: { nodeExporter: boolean; receiverPort?: number },
): string[] {
  const m = "sovereign-monitoring";
  const am = "pods(app.kubernetes.io/name=alertmanager)";
  const grafana = "pods(app.kubernetes.io/name=grafana)";
  const operator = "pods(app=kube-prometheus-stack-operator)";
  const ksm = "pods(app.kubernetes.io/name=kube-state-metrics)";
  const scrape = (ns: string, port: number) =>
    `${m} egress ${PROMETHEUS} to ns(kubernetes.io/metadata.name=${ns}) on TCP/${port}`;
  return [
    ...chartFlows(m, api, apiPorts, [{ pods: "app=kube-prometheus-stack-operator", port: 10250 }]),
    scrape("keda", 8080),
    scrape("kueue-system", 8443),
    scrape("sovereign-data", 9187),
    scrape("sovereign-gateway", 9090),
    scrape("sovereign-gpu", 9400),
    scrape("sovereign-policy", 8181),
    scrape("sovereign-serving", 8000),
    `${m} egress ${PROMETHEUS} to ns(kubernetes.io/metadata.name=kube-system)/pods(k8s-app=kube-dns) on TCP/9153`,
    ...nodes.map((n) => `${m} egress ${PROMETHEUS} to ${n} on TCP/10250${o.nodeExporter ? ",TCP/9100" : ""}`),
    `${m} egress ${PROMETHEUS} to ns(same)/${grafana} on TCP/3000`,
    `${m} egress ${PROMETHEUS} to ns(same)/${ksm} on TCP/8080`,
    `${m} egress ${PROMETHEUS} to ns(same)/${PROMETHEUS} on TCP/9090,TCP/8080`,
    `${m} egress ${PROMETHEUS} to ns(same)/${operator} on TCP/10250`,
    `${m} egress ${grafana} to ns(same)/${PROMETHEUS} on TCP/9090`,
    `${m} ingress ${grafana} from ns(same)/${PROMETHEUS} on TCP/3000`,
    `${m} ingress ${ksm} from ns(same)/${PROMETHEUS} on TCP/8080`,
    `${m} ingress ${PROMETHEUS} from ns(kubernetes.io/metadata.name=keda)/pods(app=keda-operator) on TCP/9090`,
    `${m} ingress ${PROMETHEUS} from ns(same)/${grafana} on TCP/9090`,
    `${m} ingress ${PROMETHEUS} from ns(same)/${PROMETHEUS} on TCP/9090,TCP/8080`,
    `${m} ingress ${operator} from ns(same)/${PROMETHEUS} on TCP/10250`,
    ...(o.receiverPort === undefined
      ? []
      : [
          `${m} egress ${am} to ip:0.0.0.0/0 on TCP/${o.receiverPort}`,
          `${m} egress ${am} to ns(same)/${am} on TCP/9094,UDP/9094`,
          `${m} egress ${PROMETHEUS} to ns(same)/${am} on TCP/9093,TCP/8080`,
          `${m} ingress ${am} from ns(same)/${am} on TCP/9094,UDP/9094`,
          `${m} ingress ${am} from ns(same)/${PROMETHEUS} on TCP/9093,TCP/8080`,
          // Grafana's Alertmanager datasource
          `${m} egress ${grafana} to ns(same)/${am} on TCP/9093`,
          `${m} ingress ${am} from ns(same)/${grafana} on TCP/9093`,
        ]),
  ];
}

/** The CloudNativePG operator's namespace: its webhook, and the operator to its instances. */
function cnpgOperatorFlows(api: readonly string[], apiPorts: string): string[] {
  return [
    ...chartFlows("cnpg-system", api, apiPorts, [
      { pods: "app.kubernetes.io/name=cloudnative-pg", port: 9443 },
    ]),
    "cnpg-system egress pods(app.kubernetes.io/name=cloudnative-pg) to ns(kubernetes.io/metadata.name=sovereign-data)/pods(cnpg.io/cluster Exists ) on TCP/8000,TCP/5432",
  ];
}

/**
 * The gateway's namespace: clients (the load balancer) on the API port, monitoring on the metrics
 * port; out to DNS, OPA, the model servers, the substrate's Postgres, object store and API server
 * (routing's discovery), and HTTPS anywhere (the identity provider has no address the kit knows).
 */
function gatewayFlows(
  postgres: readonly string[],
  objectStore: readonly string[],
  apiServer: readonly string[],
): string[] {
  const gw =
    "sovereign-gateway egress pods(app.kubernetes.io/instance=gateway,app.kubernetes.io/name=gateway)";
  const gwIn =
    "sovereign-gateway ingress pods(app.kubernetes.io/instance=gateway,app.kubernetes.io/name=gateway)";
  return [
    `${gw} to anywhere on TCP/443`,
    `${gw} to ns(kubernetes.io/metadata.name=kube-system) on UDP/53,TCP/53`,
    `${gw} to ns(kubernetes.io/metadata.name=sovereign-policy) on TCP/8181`,
    `${gw} to ns(kubernetes.io/metadata.name=sovereign-serving) on TCP/8000`,
    ...postgres.map((to) => `${gw} to ${to}`),
    ...objectStore.map((to) => `${gw} to ${to}`),
    // Routing discovers the model servers' replicas through the API server.
    ...apiServer.map((to) => `${gw} to ${to}`),
    `${gwIn} from anywhere on TCP/8080`,
    `${gwIn} from ns(kubernetes.io/metadata.name=sovereign-monitoring) on TCP/9090`,
  ];
}

/**
 * The serving namespace: model servers parse untrusted prompts, so every pod reaches DNS and the
 * object store only; the gateway (inference and guard calls) reaches the model servers' port,
 * monitoring scrapes it. OPA does not (it holds no model server's key).
 */
function servingFlows(objectStore: readonly string[]): string[] {
  const ms = "sovereign-serving ingress pods(app.kubernetes.io/name=model-server)";
  return [
    `sovereign-serving egress pods(*) to ${DNS}`,
    ...objectStore.map((to) => `sovereign-serving egress pods(*) to ${to}`),
    `${ms} from ns(kubernetes.io/metadata.name=sovereign-gateway)/pods(app.kubernetes.io/name=gateway) on TCP/8000`,
    `${ms} from ns(kubernetes.io/metadata.name=sovereign-monitoring) on TCP/8000`,
  ];
}

/**
 * The in-cluster data namespace: S3 over HTTPS and Postgres from any namespace, the operator to
 * its instances' status port and Postgres, monitoring to their exporter; out to DNS, itself, and (CloudNativePG's pods only)
 * the API server.
 */
function dataFlows(apiServer: readonly string[]): string[] {
  const cnpg = "pods(cnpg.io/cluster Exists )";
  return [
    `sovereign-data egress pods(*) to ${DNS}`,
    `sovereign-data egress pods(*) to ns(same)/pods(*) on any port`,
    ...apiServer.map((p) => `sovereign-data egress ${cnpg} to ${p}`),
    `sovereign-data ingress pods(*) from ns(*) on TCP/8443,TCP/5432`,
    `sovereign-data ingress pods(*) from ns(same)/pods(*) on any port`,
    `sovereign-data ingress ${cnpg} from ns(kubernetes.io/metadata.name=cnpg-system) on TCP/8000,TCP/5432`,
    `sovereign-data ingress pods(cnpg.io/podRole=instance) from ns(kubernetes.io/metadata.name=sovereign-monitoring) on TCP/9187`,
  ];
}

const POLICY_FLOWS = [
  `sovereign-policy egress ${OPA} to ${DNS}`,
  `sovereign-policy ingress ${OPA} from ns(kubernetes.io/metadata.name=sovereign-gateway)/pods(app.kubernetes.io/name=gateway) on TCP/8181`,
  `sovereign-policy ingress ${OPA} from ns(kubernetes.io/metadata.name=sovereign-monitoring) on TCP/8181`,
];

/** Every flow of a stack's default-denied namespaces, as `allowedFlows` writes them, sorted. */
export function expectedFlows(config: StackConfig): string[] {
  if (config.substrate.kind === "aws") {
    const layout = subnetLayout(
      config.network.cidr,
      config.network.azCount ?? (config.profile === "prod" ? 3 : 2),
    );
    const db = layout.database;
    // The EKS control plane's interfaces sit in the private subnets; 172.20.0.1 is the `kubernetes` Service.
    const api = [...layout.private, "172.20.0.1/32"].map((c) => `ip:${c}`);
    const objectStore = [
      "ip:169.254.170.23/32 on TCP/80",
      ...S3_PREFIX_LIST.map((c) => `ip:${c} on TCP/443`),
    ];
    const am = config.observability.alertmanager;
    return [
      ...POLICY_FLOWS,
      // Kueue is installed only with training on.
      ...(config.training.enabled ? kueueFlows(api, "TCP/443") : []),
      ...kedaFlows(api, "TCP/443"),
      ...gpuFlows(api, "TCP/443"),
      // The nodes run in the private subnets; aws-prod's email receiver relays on the smarthost's port.
      ...monitoringFlows(
        api,
        "TCP/443",
        layout.private.map((c) => `ip:${c}`),
        {
          nodeExporter: config.profile === "prod",
          ...(am.receiver === "email" ? { receiverPort: Number(am.smarthost.split(":")[1]) } : {}),
        },
      ),
      ...chartFlows("gatekeeper-system", api, "TCP/443", [GATEKEEPER_WEBHOOK]),
      // Both shipped AWS stacks use the private CA: cert-manager reaches nothing outside.
      ...chartFlows("cert-manager", api, "TCP/443", [CERT_MANAGER_WEBHOOK]),
      ...gatewayFlows(
        db.map((c) => `ip:${c} on TCP/5432`),
        objectStore,
        api.map((c) => `${c} on TCP/443`),
      ),
      ...servingFlows(objectStore),
      `sovereign-substrate egress pods(*) to ${DNS}`,
      ...db.map((c) => `sovereign-substrate egress pods(*) to ip:${c} on TCP/5432`),
      ...config.teams.flatMap((t) => teamFlows(`team-${t.name}`, objectStore)),
      ...config.teams
        .filter((t) => t.flywheel?.enabled)
        .flatMap((t) =>
          flywheelFlows(
            `team-${t.name}`,
            config.policy.guardModel!,
            t.flywheel!.baseModel,
            db.map((c) => `ip:${c} on TCP/5432`),
            api.map((c) => `${c} on TCP/443`),
          ),
        ),
    ].sort();
  }
  return [
    ...POLICY_FLOWS,
    ...cnpgOperatorFlows(["ip:0.0.0.0/0"], "TCP/443,TCP/6443"),
    // Kueue is installed only with training on (the shipped local stack has it off).
    ...(config.training.enabled ? kueueFlows(["ip:0.0.0.0/0"], "TCP/443,TCP/6443") : []),
    // No portable address of the nodes either: any address, on the kubelet's port only.
    ...monitoringFlows(["ip:0.0.0.0/0"], "TCP/443,TCP/6443", ["ip:0.0.0.0/0"], { nodeExporter: false }),
    // No portable address of the API server: any address, on its ports only (substrate.apiServerCidrs narrows it).
    ...chartFlows("gatekeeper-system", ["ip:0.0.0.0/0"], "TCP/443,TCP/6443", [GATEKEEPER_WEBHOOK]),
    // The substrate installs cert-manager for its data CA; the shipped stack signs with the kit's CAs only.
    ...chartFlows("cert-manager", ["ip:0.0.0.0/0"], "TCP/443,TCP/6443", [CERT_MANAGER_WEBHOOK]),
    ...gatewayFlows(
      ["ns(kubernetes.io/metadata.name=sovereign-data) on TCP/5432"],
      ["ns(kubernetes.io/metadata.name=sovereign-data) on TCP/8443"],
      ["ip:0.0.0.0/0 on TCP/443,TCP/6443"],
    ),
    ...servingFlows(["ns(kubernetes.io/metadata.name=sovereign-data) on TCP/8443"]),
    ...dataFlows(["ip:0.0.0.0/0 on TCP/443,TCP/6443"]),
    ...config.teams.flatMap((t) =>
      teamFlows(`team-${t.name}`, ["ns(kubernetes.io/metadata.name=sovereign-data) on TCP/8443"]),
    ),
    ...config.teams
      .filter((t) => t.flywheel?.enabled)
      .flatMap((t) =>
        flywheelFlows(
          `team-${t.name}`,
          config.policy.guardModel!,
          t.flywheel!.baseModel,
          ["ns(kubernetes.io/metadata.name=sovereign-data) on TCP/5432"],
          ["ip:0.0.0.0/0 on TCP/443,TCP/6443"],
        ),
      ),
  ].sort();
}
