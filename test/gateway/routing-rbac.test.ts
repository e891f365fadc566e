/**
 * The gateway's Kubernetes API access, at the seam: the requests its routing discovery really
 * makes (recorded by an API double from the gateway's own client, for every route of the
 * shipped stack's catalog) against the Roles, RoleBindings, token volume and NetworkPolicy the
 * gateway component records under the Pulumi mocks. Every request is allowed, for the
 * ServiceAccount the pod runs as, and nothing more is granted than what is requested.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import {
  discoveryNamespaces,
  GATEWAY_API_TOKEN_DIR,
  GATEWAY_DISCOVERY_RULES,
} from "../../components/platform/gateway";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { wireGateway } from "../../stacks/wiring/gateway";
import { loadConfig } from "../../gateway/src/config";
import { inClusterApi, serviceOf } from "../../gateway/src/routing/discovery";
import { Router } from "../../gateway/src/routing/router";
import { FakeKubeApi, sliceOf } from "../../gateway/test/helpers/kube-api";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { installMocks, settle } from "../helpers/mocks";

const recorder = installMocks();

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Access {
  namespace: string;
  group: string;
  resource: string;
  verb: string;
}

/** The authorizer's view of a request (what RBAC matches): namespace, group, resource, verb. */
function attributesOf(method: string, p: string): Access {
  const u = new URL(p, "http://x");
  const m = /^\/apis\/([^/]+)\/[^/]+\/namespaces\/([^/]+)\/([^/]+)$/.exec(u.pathname);
  if (!m || method !== "GET") throw new Error(`not a namespaced collection read: ${method} ${p}`);
  const watch = ["1", "true"].includes(u.searchParams.get("watch") ?? "");
  return { group: m[1], namespace: m[2], resource: m[3], verb: watch ? "watch" : "list" };
}

describe("GIVEN the aws-prod stack's gateway and its routing discovery", () => {
  const kube = new FakeKubeApi();
  let accesses: Access[] = [];
  let roles: { namespace: string; name: string; rules: Rule[] }[] = [];
  let bindings: {
    namespace: string;
    roleRef: { kind: string; name: string };
    subjects: { kind: string; name: string; namespace: string }[];
  }[] = [];
  let pod: {
    serviceAccountName: string;
    volumes: {
      name: string;
      projected?: { sources: Record<string, { path?: string; items?: unknown }>[] };
    }[];
    containers: { volumeMounts: { name: string; mountPath: string }[] }[];
  };
  const substrate = fakeSubstrate();
  let egress: { to?: { ipBlock?: { cidr: string } }[]; ports: { port: number }[] }[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-rbac-"));

  beforeAll(async () => {
    const raw = rawFromStackFile(stackFile("aws-prod"));
    wireGateway(parseConfig(raw.raw, { secretKeys: raw.secretKeys }), { stack: "aws-prod" }, substrate);
    await settle();
    const of = (type: string) => recorder.resources.filter((r) => r.type === type);
    roles = of("kubernetes:rbac.authorization.k8s.io/v1:Role").map((r) => ({
      namespace: r.inputs.metadata.namespace,
      name: r.inputs.metadata.name,
      rules: r.inputs.rules,
    }));
    bindings = of("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").map((r) => ({
      namespace: r.inputs.metadata.namespace,
      roleRef: r.inputs.roleRef,
      subjects: r.inputs.subjects,
    }));
    const deployment = of("kubernetes:apps/v1:Deployment").find((r) => r.name.startsWith("gateway"))!;
    pod = deployment.inputs.spec.template.spec;
    egress = of("kubernetes:networking.k8s.io/v1:NetworkPolicy").find(
      (r) => r.inputs.metadata.name === "gateway",
    )!.inputs.spec.egress;

    // The gateway as the pod runs it: its catalog from the ConfigMap, discovery with a token.
    const cm = of("kubernetes:core/v1:ConfigMap").find((r) => r.inputs.metadata.name === "gateway-catalog")!;
    const catalog = loadConfig({
      GATEWAY_OPA_URL: "http://opa:8181",
      GATEWAY_OIDC_ISSUER: "https://idp",
      GATEWAY_OIDC_AUDIENCE: "sovereign",
      GATEWAY_CATALOG: cm.inputs.data["catalog.json"],
    }).catalog;
    await kube.start();
    const routes = [...new Set(Object.values(catalog.routes))];
    for (const r of routes) {
      const svc = serviceOf(r);
      if (svc)
        kube.put(
          svc.namespace,
          sliceOf(svc.service, `${svc.service}-1`, [{ address: "10.0.0.9", ready: true }], 8000),
        );
    }
    fs.writeFileSync(path.join(tmp, "token"), "projected-token\n");
    const router = new Router({
      settings: {
        strategy: "prefix-affinity",
        loadFactor: 1.25,
        outlier: { consecutiveFailures: 3, baseEjectMs: 1000, maxEjectMs: 1000 },
        adapterPollMs: 0,
        kubeApi: { url: kube.url, tokenFile: path.join(tmp, "token") },
      },
      routes,
      env: {},
    });
    router.start();
    const discovered = routes.filter((r) => serviceOf(r));
    expect(discovered.length).toBeGreaterThan(0);
    for (
      let i = 0;
      i < 200 && kube.seen.filter((s) => s.path.includes("watch=1")).length < discovered.length;
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    router.stop();
    await kube.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    accesses = kube.seen.map((s) => attributesOf(s.method, s.path));
    expect(kube.seen.every((s) => s.authorization === "Bearer projected-token")).toBe(true);
  });

  const allows = (a: Access): boolean =>
    roles.some(
      (role) =>
        role.namespace === a.namespace &&
        role.rules.some(
          (r) =>
            r.apiGroups.includes(a.group) && r.resources.includes(a.resource) && r.verbs.includes(a.verb),
        ) &&
        bindings.some(
          (b) =>
            b.namespace === a.namespace &&
            b.roleRef.kind === "Role" &&
            b.roleRef.name === role.name &&
            b.subjects.some(
              (s) =>
                s.kind === "ServiceAccount" &&
                s.name === pod.serviceAccountName &&
                s.namespace === PLATFORM_NAMESPACES.gateway,
            ),
        ),
    );

  it("WHEN discovery lists and watches the model servers' EndpointSlices THEN each of its requests is allowed to the pod's ServiceAccount", () => {
    expect(accesses.map((a) => a.verb).sort()).toEqual(expect.arrayContaining(["list", "watch"]));
    for (const a of accesses) expect({ ...a, allowed: allows(a) }).toEqual({ ...a, allowed: true });
  });

  it("WHEN the Roles are read THEN they grant exactly what discovery uses: list and watch of endpointslices in the model namespace, nothing cluster-wide", () => {
    const granted = new Set(
      roles.flatMap((role) =>
        role.rules.flatMap((r) =>
          r.apiGroups.flatMap((g) =>
            r.resources.flatMap((res) => r.verbs.map((v) => `${role.namespace} ${g} ${res} ${v}`)),
          ),
        ),
      ),
    );
    const used = new Set(accesses.map((a) => `${a.namespace} ${a.group} ${a.resource} ${a.verb}`));
    expect([...granted].sort()).toEqual([...used].sort());
    expect(roles.map((r) => r.namespace)).toEqual([PLATFORM_NAMESPACES.serving]);
    expect(GATEWAY_DISCOVERY_RULES).toEqual([
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    ]);
    expect(recorder.resources.some((r) => /ClusterRole/.test(r.type))).toBe(false);
  });

  it("WHEN the pod is read THEN the token and CA are mounted where the gateway's in-cluster client reads them, and the API's ports are reachable", () => {
    const api = inClusterApi({ KUBERNETES_SERVICE_HOST: "10.100.0.1", KUBERNETES_SERVICE_PORT: "443" })!;
    expect(path.dirname(api.tokenFile!)).toBe(GATEWAY_API_TOKEN_DIR);
    const mount = pod.containers[0].volumeMounts.find((m) => m.mountPath === GATEWAY_API_TOKEN_DIR)!;
    expect(mount).toBeDefined();
    const vol = pod.volumes.find((v) => v.name === mount.name)!;
    const files = vol.projected!.sources.flatMap((s) =>
      s.serviceAccountToken
        ? [s.serviceAccountToken.path]
        : ((s.configMap?.items ?? []) as { path: string }[]).map((i) => i.path),
    );
    expect(files.sort()).toEqual([path.basename(api.tokenFile!), path.basename(api.caFile!)].sort());
    // The API server is where the substrate says it is, and only there.
    const toApi = egress.filter((e) => e.ports.some((p) => substrate.apiServer.ports.includes(p.port)));
    expect(toApi).toEqual([
      {
        to: substrate.apiServer.peers,
        ports: substrate.apiServer.ports.map((port) => ({ protocol: "TCP", port })),
      },
    ]);
  });
});

describe("GIVEN catalog routes of every kind", () => {
  it("WHEN the discovery namespaces are derived THEN in-cluster Services count, HTTP or HTTPS (a replica reached by address is verified against its Service's name), nothing else", () => {
    expect(
      discoveryNamespaces({
        teams: {},
        models: {},
        redactPatterns: [],
        routes: {
          a: "http://model-a.sovereign-serving.svc.cluster.local:8000",
          b: "https://model-b.secure-serving.svc.cluster.local:8443",
          c: "https://llm.example.com",
          d: "http://model-d.more-serving.svc:8000",
        },
      }),
    ).toEqual(["more-serving", "secure-serving", "sovereign-serving"]);
  });
});
