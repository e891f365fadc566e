/**
 * The data namespace's NetworkPolicies: default-deny in both directions. Nothing reaches it but
 * the S3 API (HTTPS only; SeaweedFS opens no plain S3 listener) and Postgres (TLS only,
 * `PG_HBA`) from other namespaces, the CloudNativePG operator for its instances (status port and
 * Postgres), the monitoring namespace for the instances' exporter, and the namespace itself. SeaweedFS's master, volume and filer ports and the
 * instance managers' status port stay internal. Out of it: DNS, the namespace itself (SeaweedFS,
 * replication, backups to the in-cluster store, the bucket Job) and, for CloudNativePG's pods
 * only (instance managers and their Jobs watch their `Cluster`), the API server.
 */
import type * as k8s from "@pulumi/kubernetes";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import {
  chartNamespacePolicies,
  dnsEgressRule,
  type ApiServerPeers,
  type ChartNamespaceFlows,
} from "../lib/network-policy";
import { S3_HTTPS_PORT } from "./object-store";
import { POSTGRES_PORT } from "./postgres";

type NetworkPolicy = k8s.types.input.networking.v1.NetworkPolicy & {
  metadata: { name: string; namespace: string };
};

/** The instance manager's status port, which the operator calls (CloudNativePG's documented flow). */
export const CNPG_STATUS_PORT = 8000;

/** The instances' exporter port (container port `metrics`), which the monitoring stack scrapes. */
export const CNPG_METRICS_PORT = 9187;

/** CloudNativePG's pods: instances and their initdb/join Jobs carry the cluster's name. */
const CNPG_PODS = { matchExpressions: [{ key: "cnpg.io/cluster", operator: "Exists" }] };

/** Default-deny both ways plus the allowed paths, as networking.k8s.io/v1 NetworkPolicies. */
export function dataNetworkPolicies(
  namespace: string,
  operatorNamespace: string,
  apiServer: ApiServerPeers,
): NetworkPolicy[] {
  const meta = (name: string) => ({ name, namespace, labels: k8sLabels("data-network-policy", name) });
  const byName = (ns: string) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
  });
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
      metadata: meta("allow-dns"),
      spec: { podSelector: {}, policyTypes: ["Egress"], egress: [dnsEgressRule()] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-to-same-namespace"),
      spec: { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ podSelector: {} }] }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-cnpg-api-server"),
      spec: {
        podSelector: CNPG_PODS,
        policyTypes: ["Egress"],
        egress: [
          { to: [...apiServer.peers], ports: apiServer.ports.map((port) => ({ protocol: "TCP", port })) },
        ],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-same-namespace"),
      spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: {} }] }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-s3-and-postgres-clients"),
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [{ namespaceSelector: {} }],
            ports: [
              { protocol: "TCP", port: S3_HTTPS_PORT },
              { protocol: "TCP", port: POSTGRES_PORT },
            ],
          },
        ],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-cnpg-metrics"),
      spec: {
        podSelector: { matchLabels: { "cnpg.io/podRole": "instance" } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [byName(PLATFORM_NAMESPACES.monitoring)],
            ports: [{ protocol: "TCP", port: CNPG_METRICS_PORT }],
          },
        ],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-cnpg-operator"),
      spec: {
        podSelector: CNPG_PODS,
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [byName(operatorNamespace)],
            ports: [
              { protocol: "TCP", port: CNPG_STATUS_PORT },
              { protocol: "TCP", port: POSTGRES_PORT },
            ],
          },
        ],
      },
    },
  ];
}

/** The CloudNativePG operator's pods, by the labels the pinned chart sets (chart-flows.test.ts records them). */
export const CNPG_OPERATOR_PODS = { "app.kubernetes.io/name": "cloudnative-pg" } as const;

/** The operator's admission webhook (container port `webhook-server`; the chart's `--webhook-port`). */
export const CNPG_WEBHOOK_PORT = 9443;

/**
 * The flows of the operator's namespace besides DNS and the API server: the API server calls its
 * admission webhooks, and the operator calls its instances in the data namespace (status port
 * and Postgres). Its metrics endpoint is not scraped (the chart's PodMonitor is off), so nothing
 * else reaches it.
 */
export function operatorFlows(operatorNamespace: string, dataNamespace: string): ChartNamespaceFlows {
  return {
    namespace: operatorNamespace,
    fromApiServer: [{ pods: CNPG_OPERATOR_PODS, ports: [CNPG_WEBHOOK_PORT] }],
    egress: [
      {
        pods: CNPG_OPERATOR_PODS,
        to: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": dataNamespace } },
            podSelector: CNPG_PODS,
          },
        ],
        ports: [CNPG_STATUS_PORT, POSTGRES_PORT],
      },
    ],
  };
}

/** Default-deny both ways in the operator's namespace plus exactly `operatorFlows`. */
export function operatorNetworkPolicies(
  operatorNamespace: string,
  dataNamespace: string,
  apiServer: ApiServerPeers,
): NetworkPolicy[] {
  return chartNamespacePolicies(
    operatorFlows(operatorNamespace, dataNamespace),
    apiServer,
    PLATFORM_NAMESPACES.monitoring,
  );
}
