/**
 * The gateway's TLS as recorded from the shipped stacks' configs (recording mocks, the substrate
 * test double): the private CA chain and the gateway Certificate that cert-manager turns into
 * the Secret the pods mount; the files the container is told to read are the ones mounted; the
 * probes, Service and load balancer speak HTTPS; and the config rule that refuses a plaintext
 * listener in prod, from the same predicate the component checks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { CHARTS } from "../../components/lib/versions";
import { MODEL_CA_BUNDLE_SECRET } from "../../components/lib/model-tls";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { GATEWAY_TLS_SECRET, gatewayDnsNames } from "../../components/platform/gateway";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig, validateConfig } from "../../stacks/config/validate";
import { wireGateway } from "../../stacks/wiring/gateway";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { installMocks, settle, type ResourceRecorder } from "../helpers/mocks";

const recorder: ResourceRecorder = installMocks();
const raw = (stack: string) => rawFromStackFile(stackFile(stack));
const config = (stack: string, gateway: Record<string, unknown> = {}) => {
  const r = raw(stack);
  const g = r.raw.gateway as Record<string, unknown>;
  return parseConfig({ ...r.raw, gateway: { ...g, ...gateway } }, { secretKeys: r.secretKeys });
};

type Obj = { type: string; name: string; inputs: any };
const byKind = (objs: Obj[], kind: string) => objs.filter((o) => o.inputs.kind === kind);

/** Records what wiring the gateway of `stack` (with `gateway` overrides) registers. */
async function record(stack: string, gateway: Record<string, unknown> = {}): Promise<Obj[]> {
  const before = recorder.resources.length;
  wireGateway(config(stack, gateway), { stack }, fakeSubstrate());
  await settle();
  return recorder.resources.slice(before);
}

function container(objs: Obj[]) {
  const d = objs.find((o) => o.type === "kubernetes:apps/v1:Deployment")!.inputs;
  return { pod: d.spec.template.spec, c: d.spec.template.spec.containers[0] };
}

describe("GIVEN aws-prod (gateway.tls left at its default, the stack's private CA)", () => {
  let objs: Obj[];
  beforeAll(async () => {
    objs = await record("aws-prod");
  });
  // the gateway's own TLS (the model CA's bundle in its namespace is checked in test/stacks/transport.test.ts)
  const custom = () =>
    objs.filter(
      (o) =>
        o.inputs?.apiVersion === "cert-manager.io/v1" && o.inputs.metadata.name !== MODEL_CA_BUNDLE_SECRET,
    );

  it("WHEN the cert-manager objects are read THEN self-signed ClusterIssuer → CA Certificate → CA ClusterIssuer → gateway Certificate, each naming the previous", () => {
    const [selfSigned, caIssuer] = byKind(custom(), "ClusterIssuer").map((o) => o.inputs);
    const [ca, gw] = byKind(custom(), "Certificate").map((o) => o.inputs);
    expect(selfSigned.spec).toEqual({ selfSigned: {} });
    expect(ca.metadata.namespace).toBe(PLATFORM_NAMESPACES.certManager);
    expect(ca.spec).toMatchObject({
      isCA: true,
      commonName: "sovereign aws-prod CA",
      issuerRef: { name: selfSigned.metadata.name, kind: "ClusterIssuer" },
      privateKey: { rotationPolicy: "Never" },
    });
    // A ClusterIssuer of kind CA reads its key pair from the cluster resource namespace (cert-manager's).
    expect(caIssuer.spec).toEqual({ ca: { secretName: ca.spec.secretName } });
    expect(gw.metadata.namespace).toBe(PLATFORM_NAMESPACES.gateway);
    expect(gw.spec.issuerRef).toEqual({
      name: caIssuer.metadata.name,
      kind: "ClusterIssuer",
      group: "cert-manager.io",
    });
    expect(gw.spec.dnsNames).toEqual(gatewayDnsNames());
    expect(gw.spec.dnsNames).toContain("gateway.sovereign-gateway.svc");
    expect(gw.spec.usages).toContain("server auth");
  });

  it("WHEN the order is read THEN each object waits for the one it names, and the first for the cert-manager release (its CRDs)", () => {
    const release = objs.find((o) => o.type === "kubernetes:helm.sh/v3:Release")!;
    expect(release.inputs.chart).toBe(CHARTS.certManager.chart);
    expect(release.inputs.version).toBe(CHARTS.certManager.version);
    expect(release.inputs.values.crds).toEqual({ enabled: true, keep: true });
    const deps = (o: Obj) => ((o as any).dependencies ?? []) as string[];
    const urnOf = (o: Obj) => (o as any).urn as string;
    const chain = [
      release,
      ...byKind(custom(), "ClusterIssuer").slice(0, 1),
      ...byKind(custom(), "Certificate").slice(0, 1),
      ...byKind(custom(), "ClusterIssuer").slice(1),
      ...byKind(custom(), "Certificate").slice(1),
    ];
    for (let i = 1; i < chain.length; i++) {
      expect(deps(chain[i]), `${chain[i].name} waits for ${chain[i - 1].name}`).toContain(
        urnOf(chain[i - 1]),
      );
    }
    const deployment = objs.find((o) => o.type === "kubernetes:apps/v1:Deployment")!;
    expect(deps(deployment)).toContain(urnOf(chain[chain.length - 1]));
  });

  it("WHEN the pod is read THEN it mounts the Certificate's Secret where the gateway is told to read it, and probes over HTTPS", () => {
    const { pod, c } = container(objs);
    const gwCert = byKind(custom(), "Certificate")[1].inputs;
    const vol = pod.volumes.find((v: any) => v.secret?.secretName === gwCert.spec.secretName);
    expect(vol?.secret.secretName).toBe(GATEWAY_TLS_SECRET);
    const mount = c.volumeMounts.find((m: any) => m.name === vol.name);
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    const files = vol.secret.items.map((i: any) => `${mount.mountPath}/${i.path}`);
    expect(files).toEqual([env.GATEWAY_TLS_CERT_FILE, env.GATEWAY_TLS_KEY_FILE]);
    expect(vol.secret.items.map((i: any) => i.key)).toEqual(["tls.crt", "tls.key"]);
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      expect(p.httpGet).toMatchObject({ scheme: "HTTPS", port: "https" });
    }
  });

  it("WHEN the Services are read THEN the in-cluster one and the load balancer (443) point at the HTTPS port", () => {
    const svcs = objs.filter((o) => o.type === "kubernetes:core/v1:Service").map((o) => o.inputs);
    const lb = svcs.find((s) => s.spec.type === "LoadBalancer")!;
    expect(lb.spec.ports).toEqual([{ name: "https", port: 443, targetPort: "https", protocol: "TCP" }]);
    const svc = svcs.find((s) => s.spec.type === "ClusterIP")!;
    expect(svc.spec.ports[0]).toMatchObject({ name: "https", targetPort: "https" });
  });
});

describe("GIVEN the customer's own certificate source", () => {
  it("WHEN an issuer is configured THEN the gateway Certificate names it, with the extra DNS name, and no private CA is made", async () => {
    const objs = await record("aws-dev", {
      tls: { mode: "issuer", issuer: { name: "corp-pki", kind: "Issuer" }, dnsNames: ["llm.corp.example"] },
    });
    const certs = objs
      .filter((o) => o.type === "kubernetes:cert-manager.io/v1:Certificate")
      .map((o) => o.inputs)
      .filter((c) => c.metadata.name !== MODEL_CA_BUNDLE_SECRET);
    expect(certs).toHaveLength(1);
    expect(certs[0].spec.issuerRef).toEqual({ name: "corp-pki", kind: "Issuer", group: "cert-manager.io" });
    expect(certs[0].spec.dnsNames).toContain("llm.corp.example");
    expect(objs.filter((o) => o.type === "kubernetes:cert-manager.io/v1:ClusterIssuer")).toEqual([]);
  });

  it("WHEN a Secret is configured THEN the gateway's wiring installs no cert-manager and the pod mounts that Secret", async () => {
    const objs = await record("aws-dev", { tls: { mode: "secret", secretName: "corp-gateway-tls" } });
    expect(objs.filter((o) => o.type === "kubernetes:helm.sh/v3:Release")).toEqual([]);
    // only the model CA's bundle (the platform's cert-manager, wireCertManager, signs it)
    expect(
      objs.filter((o) => o.type.startsWith("kubernetes:cert-manager.io/")).map((o) => o.inputs.metadata.name),
    ).toEqual([MODEL_CA_BUNDLE_SECRET]);
    const { pod } = container(objs);
    expect(pod.volumes.find((v: any) => v.name === "tls").secret.secretName).toBe("corp-gateway-tls");
  });

  it("WHEN TLS is off in a dev stack THEN the listener is plain HTTP on 80 (local's choice), with no TLS files", async () => {
    const objs = await record("local");
    const { c } = container(objs);
    expect(c.env.map((e: any) => e.name)).not.toContain("GATEWAY_TLS_CERT_FILE");
    expect(c.readinessProbe.httpGet).toMatchObject({ scheme: "HTTP", port: "http" });
    const lb = objs.find(
      (o) => o.type === "kubernetes:core/v1:Service" && o.inputs.spec.type === "LoadBalancer",
    )!;
    expect(lb.inputs.spec.ports[0].port).toBe(80);
  });
});

describe("GIVEN the config rule on gateway.tls", () => {
  const issues = (stack: string, tls: Record<string, unknown>) => {
    const r = raw(stack);
    const res = validateConfig(
      { ...r.raw, gateway: { ...(r.raw.gateway as object), tls } },
      { secretKeys: r.secretKeys },
    );
    return res.ok ? [] : res.issues.filter((i) => i.path.startsWith("sovereign:gateway.tls"));
  };

  it("WHEN prod asks for a plaintext listener THEN the config is refused, naming the path; dev may", () => {
    expect(issues("aws-prod", { mode: "off" })).toEqual([
      {
        path: "sovereign:gateway.tls.mode",
        message:
          'expected private-ca, issuer or secret in prod (bearer tokens and prompts must not cross the network in cleartext), found "off"',
      },
    ]);
    expect(issues("aws-dev", { mode: "off" })).toEqual([]);
    expect(issues("aws-prod", { mode: "private-ca" })).toEqual([]);
  });

  it("WHEN a mode lacks its field, or carries another mode's field THEN the field is named", () => {
    expect(issues("aws-prod", { mode: "issuer" }).map((i) => i.path)).toEqual([
      "sovereign:gateway.tls.issuer",
    ]);
    expect(issues("aws-prod", { mode: "secret" }).map((i) => i.path)).toEqual([
      "sovereign:gateway.tls.secretName",
    ]);
    expect(issues("aws-prod", { mode: "private-ca", secretName: "x" }).map((i) => i.path)).toEqual([
      "sovereign:gateway.tls.secretName",
    ]);
    expect(issues("aws-prod", { mode: "secret", secretName: "Not_A_Name" })[0].path).toBe(
      "sovereign:gateway.tls.secretName",
    );
  });

  it("WHEN the component is given a plaintext listener with requireTls THEN it refuses too (the same predicate)", () => {
    const c = config("aws-dev", { tls: { mode: "off" } });
    expect(() => wireGateway({ ...c, profile: "prod" }, { stack: "x" }, fakeSubstrate())).toThrow(
      /gateway: tls.mode: expected private-ca, issuer or secret in prod/,
    );
  });
});
