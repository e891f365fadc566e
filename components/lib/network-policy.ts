/**
 * NetworkPolicy pieces every default-deny namespace of the kit needs.
 */

/** The egress rule that lets pods resolve names: UDP and TCP 53 to CoreDNS in kube-system. */
export function dnsEgressRule(): {
  to: Record<string, unknown>[];
  ports: { protocol: string; port: number }[];
} {
  return {
    to: [
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
        podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
      },
    ],
    ports: [
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ],
  };
}
