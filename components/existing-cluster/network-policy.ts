/**
 * Ingress rules of the data namespace: nothing reaches it but the S3 API (HTTPS only; its plain
 * HTTP port stays inside the namespace) and Postgres (TLS only, `PG_HBA`) from other namespaces, the CloudNativePG operator for its instances, and the namespace itself.
 * SeaweedFS's master, volume and filer ports and the instance managers' status port stay
 * internal.
 */
import type * as k8s from "@pulumi/kubernetes";
import { k8sLabels } from "../lib/labels";
import { S3_HTTPS_PORT } from "./object-store";
import { POSTGRES_PORT } from "./postgres";

/** The S3 gateway's plain HTTP port (all-in-one and distributed): the namespace's own pods only. */
export const S3_PORT = 8333;

type NetworkPolicy = k8s.types.input.networking.v1.NetworkPolicy & {
  metadata: { name: string; namespace: string };
};

/** Default-deny ingress plus the allowed paths, as networking.k8s.io/v1 NetworkPolicies. */
export function dataNetworkPolicies(namespace: string, operatorNamespace: string): NetworkPolicy[] {
  const meta = (name: string) => ({ name, namespace, labels: k8sLabels("data-network-policy", name) });
  const byName = (ns: string) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
  });
  return [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("default-deny-ingress"),
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
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
      metadata: meta("allow-cnpg-operator"),
      spec: {
        podSelector: { matchExpressions: [{ key: "cnpg.io/cluster", operator: "Exists" }] },
        policyTypes: ["Ingress"],
        ingress: [{ from: [byName(operatorNamespace)] }],
      },
    },
  ];
}
