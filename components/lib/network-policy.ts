/**
 * NetworkPolicy pieces every default-deny namespace of the kit needs.
 */
import type * as k8s from "@pulumi/kubernetes";

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

/**
 * Where the Kubernetes API server is, as NetworkPolicy peers: the addresses pods reach it at
 * (egress, on `ports`) and the addresses its webhook and aggregated-API calls come from
 * (ingress). Each substrate provides them (`Substrate.apiServer`).
 */
export interface ApiServerPeers {
  readonly peers: readonly Record<string, unknown>[];
  /** Ports pods reach the API server on, after the `kubernetes` Service's translation. */
  readonly ports: readonly number[];
}

/** A set of pods in a namespace, and the ports of theirs a flow reaches. */
export interface PodPorts {
  readonly pods: Readonly<Record<string, string>>;
  /** Container ports, by number or by name. */
  readonly ports: readonly (number | string)[];
  /** UDP container ports (a gossip mesh). @default [] */
  readonly udpPorts?: readonly number[];
  /** Inside the namespace: only these pods are the clients. @default every pod of the namespace */
  readonly clients?: Readonly<Record<string, string>>;
}

/** The flows of one namespace a chart installs, beyond default-deny, DNS and the API server. */
export interface ChartNamespaceFlows {
  readonly namespace: string;
  /** Pods the API server calls (admission webhooks, aggregated APIs), on their container ports. */
  readonly fromApiServer?: readonly PodPorts[];
  /** Pods Prometheus scrapes from the monitoring namespace, on their metrics ports. */
  readonly fromMonitoring?: readonly PodPorts[];
  /** Pods that talk to each other inside the namespace, on these ports. */
  readonly withinNamespace?: readonly PodPorts[];
  /** Further egress of some pods (a customer's certificate issuer, a query to Prometheus). */
  readonly egress?: readonly {
    readonly pods: Readonly<Record<string, string>>;
    readonly to: readonly Record<string, unknown>[];
    readonly ports: readonly number[];
  }[];
  /** Further ingress to some pods (another namespace's client, a load balancer). */
  readonly ingress?: readonly {
    readonly pods: Readonly<Record<string, string>>;
    readonly from: readonly Record<string, unknown>[];
    readonly ports: readonly number[];
  }[];
}

type Policy = {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: k8s.types.input.networking.v1.NetworkPolicySpec;
};

const tcp = (ports: readonly (number | string)[]) => ports.map((port) => ({ protocol: "TCP", port }));
const tcpUdp = (f: PodPorts) => [
  ...tcp(f.ports),
  ...(f.udpPorts ?? []).map((port) => ({ protocol: "UDP", port })),
];
const selector = (pods: Readonly<Record<string, string>>) =>
  Object.keys(pods).length === 0 ? {} : { matchLabels: { ...pods } };

/**
 * The NetworkPolicies of a namespace a chart installs: default-deny both ways, DNS and the API
 * server for every pod (controllers watch it; Helm hooks call it), then exactly the listed flows.
 */
export function chartNamespacePolicies(
  flows: ChartNamespaceFlows,
  apiServer: ApiServerPeers,
  monitoringNamespace: string,
): Policy[] {
  const ns = flows.namespace;
  const policy = (name: string, spec: Policy["spec"]): Policy => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name,
      namespace: ns,
      labels: { "app.kubernetes.io/part-of": "sovereign", "app.kubernetes.io/name": "network-policy" },
    },
    spec,
  });
  const out: Policy[] = [
    policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    policy("allow-dns", { podSelector: {}, policyTypes: ["Egress"], egress: [dnsEgressRule()] }),
    policy("allow-api-server", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [...apiServer.peers], ports: tcp(apiServer.ports) }],
    }),
  ];
  (flows.fromApiServer ?? []).forEach((f, i) =>
    out.push(
      policy(`allow-api-server-calls-${i}`, {
        podSelector: selector(f.pods),
        policyTypes: ["Ingress"],
        ingress: [{ from: [...apiServer.peers], ports: tcp(f.ports) }],
      }),
    ),
  );
  (flows.fromMonitoring ?? []).forEach((f, i) =>
    out.push(
      policy(`allow-metrics-${i}`, {
        podSelector: selector(f.pods),
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": monitoringNamespace } } },
            ],
            ports: tcp(f.ports),
          },
        ],
      }),
    ),
  );
  (flows.withinNamespace ?? []).forEach((f, i) =>
    out.push(
      policy(`allow-in-namespace-${i}`, {
        podSelector: selector(f.pods),
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: selector(f.clients ?? {}) }], ports: tcpUdp(f) }],
      }),
      policy(`allow-to-in-namespace-${i}`, {
        podSelector: selector(f.clients ?? {}),
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: selector(f.pods) }], ports: tcpUdp(f) }],
      }),
    ),
  );
  (flows.egress ?? []).forEach((f, i) =>
    out.push(
      policy(`allow-egress-${i}`, {
        podSelector: selector(f.pods),
        policyTypes: ["Egress"],
        egress: [{ to: [...f.to], ports: tcp(f.ports) }],
      }),
    ),
  );
  (flows.ingress ?? []).forEach((f, i) =>
    out.push(
      policy(`allow-ingress-${i}`, {
        podSelector: selector(f.pods),
        policyTypes: ["Ingress"],
        ingress: [{ ...(f.from.length > 0 ? { from: [...f.from] } : {}), ports: tcp(f.ports) }],
      }),
    ),
  );
  return out;
}
