/**
 * The monitoring namespace's optional flows, which no shipped stack turns on all at once: a
 * webhook receiver, Grafana SSO and an exposed Grafana each open exactly one rule, on the port
 * the configuration names, and nothing without them.
 */
import { describe, expect, it } from "vitest";
import { observabilityPlan, urlPort, type ObservabilityArgs } from "../../components/platform/observability";

const BASE: ObservabilityArgs = {
  apiServer: { peers: [{ ipBlock: { cidr: "192.0.2.10/32" } }], ports: [6443] },
  nodes: [{ ipBlock: { cidr: "192.0.2.0/24" } }],
  footprint: "minimal",
  retainData: false,
  retention: "2d",
  replicas: 1,
  storageClass: "standard",
  storageSize: "5Gi",
};

/** Rules that reach or admit any address, as `<pods> <direction> <ports>`. */
function anyAddress(args: ObservabilityArgs): string[] {
  const out: string[] = [];
  for (const p of observabilityPlan(args).networkPolicies) {
    const pods = JSON.stringify(p.spec.podSelector);
    const ports = (rule: any) => rule.ports.map((x: any) => `${x.protocol}/${x.port}`).join(",");
    for (const rule of (p.spec.egress ?? []) as any[])
      if (rule.to.some((t: any) => t.ipBlock?.cidr === "0.0.0.0/0"))
        out.push(`${pods} egress ${ports(rule)}`);
    for (const rule of (p.spec.ingress ?? []) as any[])
      if (!rule.from || rule.from.some((f: any) => f.ipBlock?.cidr === "0.0.0.0/0"))
        out.push(`${pods} ingress ${ports(rule)}`);
  }
  return out.sort();
}

const ALERTMANAGER = '{"matchLabels":{"app.kubernetes.io/name":"alertmanager"}}';
const GRAFANA = '{"matchLabels":{"app.kubernetes.io/name":"grafana"}}';

describe("the monitoring namespace's optional flows", () => {
  it("GIVEN no receiver, no SSO and an internal Grafana THEN nothing reaches or is reached from any address", () => {
    expect(anyAddress(BASE)).toEqual([]);
  });

  it("GIVEN a webhook receiver on a custom port THEN Alertmanager alone reaches that port at any address", () => {
    expect(
      anyAddress({
        ...BASE,
        alerting: { receiver: "webhook", url: "https://hooks.example:8443/x", port: 8443 },
      }),
    ).toEqual([`${ALERTMANAGER} egress TCP/8443`]);
  });

  it("GIVEN an email receiver THEN Alertmanager reaches the smarthost's port", () => {
    expect(
      anyAddress({
        ...BASE,
        alerting: {
          receiver: "email",
          to: "a@example.com",
          from: "b@example.com",
          smarthost: "smtp.example:2525",
        },
      }),
    ).toEqual([`${ALERTMANAGER} egress TCP/2525`]);
  });

  it("GIVEN Grafana SSO and exposure THEN Grafana reaches the identity provider's ports and takes users on 3000", () => {
    expect(
      anyAddress({
        ...BASE,
        grafana: {
          exposed: true,
          oidc: {
            issuer: "https://login.example/realms/ai",
            tokenUrl: "https://login.example:9443/token",
            clientId: "grafana",
            clientSecret: "s",
          },
        },
      }),
    ).toEqual([`${GRAFANA} egress TCP/443,TCP/9443`, `${GRAFANA} ingress TCP/3000`]);
  });

  it("GIVEN URLs THEN their port is the explicit one or the scheme's", () => {
    expect([
      urlPort("https://a.example/x"),
      urlPort("http://a.example"),
      urlPort("https://a.example:8443"),
    ]).toEqual([443, 80, 8443]);
  });
});
