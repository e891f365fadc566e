/**
 * Transport across the seams of whole shipped stacks (the program under mocks, the real AWS
 * substrate, the real gateway component): the gateway verifies Postgres with the CA bundle the
 * substrate hands over, mounted where `PGSSLROOTCERT` points; it serves HTTPS with the Secret its
 * Certificate names, mounted where `GATEWAY_TLS_*` point.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rdsCaBundle } from "../../components/aws/database";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { runShippedStack, type StackRun } from "../helpers/stack";
import { MODEL_CA, MODEL_CA_BUNDLE_SECRET, MODEL_CA_ISSUER } from "../../components/lib/model-tls";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";

for (const stack of ["aws-dev", "aws-prod"] as const) {
  describe(`transport of ${stack}`, () => {
    let run: StackRun;
    let pod: any;
    let env: Record<string, string>;
    beforeAll(async () => {
      run = await runShippedStack(stack);
      const d = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!;
      pod = d.inputs.spec.template.spec;
      env = Object.fromEntries(
        pod.containers[0].env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]),
      );
    });

    /** The key of the volume mounted where `file` lies, and the volume. */
    function mounted(file: string): { volume: any; key: string } {
      const c = pod.containers[0];
      const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
      expect(m, `a volume mounted above ${file}`).toBeDefined();
      return {
        volume: pod.volumes.find((v: any) => v.name === m.name),
        key: file.slice(m.mountPath.length + 1),
      };
    }

    it("THEN the gateway connects with verify-full against the region's RDS CA bundle, from a ConfigMap in its namespace", () => {
      expect(env.PGSSLMODE).toBe("verify-full");
      const { volume, key } = mounted(env.PGSSLROOTCERT);
      const cm = run.recorder
        .ofType("kubernetes:core/v1:ConfigMap")
        .find(
          (r) =>
            r.inputs.metadata.name === volume.configMap.name &&
            r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway,
        );
      expect(cm, `ConfigMap ${volume.configMap?.name}`).toBeDefined();
      expect(cm!.inputs.data[key]).toBe(rdsCaBundle("eu-central-1"));
    });

    it("THEN the gateway serves HTTPS with the Secret its Certificate writes", () => {
      const cert = run.recorder
        .ofType("kubernetes:cert-manager.io/v1:Certificate")
        .find(
          (r) =>
            r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway &&
            r.inputs.metadata.name !== MODEL_CA_BUNDLE_SECRET,
        )!;
      for (const f of [env.GATEWAY_TLS_CERT_FILE, env.GATEWAY_TLS_KEY_FILE]) {
        const { volume, key } = mounted(f);
        expect(volume.secret.secretName).toBe(cert.inputs.spec.secretName);
        expect(volume.secret.items.map((i: any) => i.path)).toContain(key);
      }
    });
  });
}

describe("transport of local (the existing-cluster substrate)", () => {
  let run: StackRun;
  let pod: any;
  let env: Record<string, string>;
  let certs: any[];
  beforeAll(async () => {
    run = await runShippedStack("local");
    const d = run.recorder
      .ofType("kubernetes:apps/v1:Deployment")
      .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!;
    pod = d.inputs.spec.template.spec;
    env = Object.fromEntries(
      pod.containers[0].env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]),
    );
    certs = run.recorder.ofType("kubernetes:cert-manager.io/v1:Certificate").map((r) => r.inputs);
  });

  /** The Certificate that writes Secret `name` in `namespace`. */
  const writing = (name: string, namespace: string) =>
    certs.find((c) => c.spec.secretName === name && c.metadata.namespace === namespace);

  it("THEN the gateway verifies Postgres (verify-full, PGHOST named by the server's certificate) with ca.crt of a Secret its namespace's Certificate writes, from the CA that signs the certificate CloudNativePG serves", () => {
    expect(env.PGSSLMODE).toBe("verify-full");
    const c = pod.containers[0];
    const m = c.volumeMounts.find((x: any) => env.PGSSLROOTCERT.startsWith(`${x.mountPath}/`));
    const volume = pod.volumes.find((v: any) => v.name === m.name);
    const key = env.PGSSLROOTCERT.slice(m.mountPath.length + 1);
    expect(key).toBe("ca.crt");
    expect(volume.secret.items).toEqual([{ key: "ca.crt", path: "ca.crt" }]);
    const client = writing(volume.secret.secretName, PLATFORM_NAMESPACES.gateway);
    expect(client, `a Certificate writing ${volume.secret.secretName}`).toBeDefined();

    const cluster = run.recorder.ofType("kubernetes:postgresql.cnpg.io/v1:Cluster")[0].inputs;
    const ns = cluster.metadata.namespace;
    expect(cluster.spec.certificates.serverCASecret).toBe(cluster.spec.certificates.serverTLSSecret);
    const server = writing(cluster.spec.certificates.serverTLSSecret, ns);
    expect(
      server,
      `a Certificate writing ${cluster.spec.certificates.serverTLSSecret} in ${ns}`,
    ).toBeDefined();
    expect(server.spec.dnsNames).toContain(env.PGHOST);
    expect(server.spec.usages).toContain("server auth");
    // Renewals reach the instances: CloudNativePG reloads Secrets with this label.
    expect(Object.keys(server.spec.secretTemplate.labels)).toContain("cnpg.io/reload");
    // One CA issuer signs both; its CA lives ten years (CloudNativePG's own lives 90 days).
    expect(client.spec.issuerRef).toEqual(server.spec.issuerRef);
    const issuer = run.recorder
      .ofType("kubernetes:cert-manager.io/v1:ClusterIssuer")
      .find((r) => r.inputs.metadata.name === server.spec.issuerRef.name)!.inputs;
    const ca = writing(issuer.spec.ca.secretName, PLATFORM_NAMESPACES.certManager);
    expect(ca.spec.isCA).toBe(true);
    expect(ca.spec.duration).toBe("87600h");
    expect(ca.spec.privateKey.rotationPolicy).toBe("Never");
  });
});

describe("object-store transport of local (the existing-cluster substrate)", () => {
  let run: StackRun;
  let certs: any[];
  beforeAll(async () => {
    run = await runShippedStack("local");
    certs = run.recorder.ofType("kubernetes:cert-manager.io/v1:Certificate").map((r) => r.inputs);
  });

  /** The serving Certificate of the S3 API, and the endpoint's host it must name. */
  function s3Serving(endpoint: string): any {
    const host = new URL(endpoint).hostname;
    const serving = certs.filter(
      (c) => c.spec.usages.includes("server auth") && c.spec.dnsNames.includes(host),
    );
    expect(serving.length, `one serving Certificate naming ${host}`).toBe(1);
    return serving[0];
  }

  /** Asserts that `secretName` in `namespace` is written by a Certificate from `issuer`. */
  function fromIssuer(secretName: string, namespace: string, issuer: any): void {
    const c = certs.find((x) => x.spec.secretName === secretName && x.metadata.namespace === namespace);
    expect(c, `a Certificate writing ${secretName} in ${namespace}`).toBeDefined();
    expect(c.spec.issuerRef).toEqual(issuer);
  }

  it("THEN the gateway's S3 client (Node) trusts the CA that signs the store's certificate, at the https endpoint it is given", () => {
    const d = run.recorder
      .ofType("kubernetes:apps/v1:Deployment")
      .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!.inputs;
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    const env = Object.fromEntries(c.env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]));
    expect(env.AWS_ENDPOINT_URL_S3).toMatch(/^https:\/\//);
    const serving = s3Serving(env.AWS_ENDPOINT_URL_S3);
    const m = c.volumeMounts.find((x: any) => env.NODE_EXTRA_CA_CERTS.startsWith(`${x.mountPath}/`));
    expect(m, "a volume where NODE_EXTRA_CA_CERTS points").toBeDefined();
    const volume = pod.volumes.find((v: any) => v.name === m.name);
    expect(volume.secret.items).toEqual([
      { key: "ca.crt", path: env.NODE_EXTRA_CA_CERTS.slice(m.mountPath.length + 1) },
    ]);
    fromIssuer(volume.secret.secretName, PLATFORM_NAMESPACES.gateway, serving.spec.issuerRef);
  });

  it("THEN every model server's fetch (boto3) trusts that CA: the chart mounts the Secret its Certificate writes where AWS_CA_BUNDLE points", () => {
    const releases = run.recorder
      .ofType("kubernetes:helm.sh/v3:Release")
      .map((r) => r.inputs)
      .filter((r) => r.namespace === PLATFORM_NAMESPACES.serving && r.values?.weights);
    expect(releases.length).toBeGreaterThan(0);
    for (const r of releases) {
      const v = r.values;
      const serving = s3Serving(v.weights.endpoint);
      const env = Object.fromEntries(v.env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]));
      // The chart mounts objectStoreCa.key as ca.crt in /etc/sovereign/object-store-ca.
      expect(env.AWS_CA_BUNDLE, r.name).toBe("/etc/sovereign/object-store-ca/ca.crt");
      expect(v.objectStoreCa.key).toBe("ca.crt");
      fromIssuer(v.objectStoreCa.secretName, PLATFORM_NAMESPACES.serving, serving.spec.issuerRef);
    }
  });
});

/**
 * TLS to the model servers across a whole stack (components/lib/model-tls.ts): each model server
 * serves the Secret of a Certificate from the model CA that names the host its callers connect
 * to; every caller (the gateway, Prometheus, a flywheel team's controller and eval) reads the
 * model CA from the `ca.crt` of a Certificate of that same issuer in its own namespace, mounted
 * where its variable points. The CA's key stays in cert-manager's namespace.
 */
for (const stack of ["aws-dev", "aws-prod", "local"] as const) {
  describe(`model server TLS of ${stack}`, () => {
    let run: StackRun;
    const certs = () => run.recorder.ofType("kubernetes:cert-manager.io/v1:Certificate").map((r) => r.inputs);
    const issuerOf = (c: any) => c.spec.issuerRef;
    beforeAll(async () => {
      run = await runShippedStack(stack);
    });

    it("THEN the model CA is a ClusterIssuer whose CA Secret lives in cert-manager's namespace only", () => {
      const issuers = run.recorder
        .ofType("kubernetes:cert-manager.io/v1:ClusterIssuer")
        .filter((r) => r.inputs.metadata.name === MODEL_CA.issuer);
      expect(issuers).toHaveLength(1);
      expect(issuers[0].inputs.spec).toEqual({ ca: { secretName: MODEL_CA.secret } });
      const ca = certs().filter((c) => c.spec.secretName === MODEL_CA.secret);
      expect(ca.map((c) => [c.metadata.namespace, c.spec.isCA])).toEqual([
        [PLATFORM_NAMESPACES.certManager, true],
      ]);
    });

    it("THEN every route the gateway calls is HTTPS to a server whose Certificate, from the model CA, names its host", () => {
      const catalog = JSON.parse(
        run.recorder
          .ofType("kubernetes:core/v1:ConfigMap")
          .find((r) => r.inputs.metadata.name === "gateway-catalog")!.inputs.data["catalog.json"],
      );
      const releases = run.recorder
        .ofType("kubernetes:helm.sh/v3:Release")
        .filter((r) => r.inputs.values?.tls?.secretName);
      expect(releases.length).toBeGreaterThan(0);
      for (const route of Object.values<string>(catalog.routes)) {
        const u = new URL(route);
        expect(u.protocol, route).toBe("https:");
        const rel = releases.find((r) => r.inputs.values.tls.serverName === u.hostname);
        expect(rel, `the release serving ${route}`).toBeDefined();
        const cert = certs().find(
          (c) =>
            c.metadata.namespace === PLATFORM_NAMESPACES.serving &&
            c.spec.secretName === rel!.inputs.values.tls.secretName,
        );
        expect(cert, `the Certificate of ${route}`).toBeDefined();
        expect(issuerOf(cert)).toEqual(MODEL_CA_ISSUER);
        expect(cert!.spec.dnsNames).toContain(u.hostname);
        expect(cert!.spec.usages).toContain("server auth");
        // Prometheus scrapes pod addresses with one server name: every certificate carries it
        expect(cert!.spec.dnsNames).toContain(SCRAPE_TARGETS["model-server"].tls!.serverName);
      }
    });

    it("THEN the gateway reads the model CA from its namespace's bundle of the same issuer, mounted where GATEWAY_MODEL_CA_FILE points", () => {
      const d = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!;
      const pod = d.inputs.spec.template.spec;
      const c = pod.containers[0];
      const file = c.env.find((e: any) => e.name === "GATEWAY_MODEL_CA_FILE")?.value as string;
      expect(file).toBeDefined();
      const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
      const v = pod.volumes.find((x: any) => x.name === m.name);
      expect(v.secret.items).toEqual([{ key: "ca.crt", path: file.slice(m.mountPath.length + 1) }]);
      const bundle = certs().find(
        (x) =>
          x.metadata.namespace === PLATFORM_NAMESPACES.gateway && x.spec.secretName === v.secret.secretName,
      );
      expect(bundle, "the gateway's model CA bundle").toBeDefined();
      expect(issuerOf(bundle)).toEqual(MODEL_CA_ISSUER);
    });

    it("THEN each flywheel pod that calls a model server reads the model CA from its team namespace's bundle of the same issuer", () => {
      const crons = run.recorder.ofType("kubernetes:batch/v1:CronJob").map((r) => r.inputs);
      let checked = 0;
      for (const cron of crons) {
        const pod = cron.spec.jobTemplate.spec.template.spec;
        for (const c of pod.containers) {
          for (const name of ["FLYWHEEL_MODEL_CA_FILE", "GUARD_CA_FILE"]) {
            const file = (c.env ?? []).find((e: any) => e.name === name)?.value as string | undefined;
            if (!file) continue;
            const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
            const v = pod.volumes.find((x: any) => x.name === m.name);
            expect(v.secret.items).toEqual([{ key: "ca.crt", path: file.slice(m.mountPath.length + 1) }]);
            const bundle = certs().find(
              (x) =>
                x.metadata.namespace === cron.metadata.namespace && x.spec.secretName === v.secret.secretName,
            );
            expect(bundle, `${cron.metadata.namespace}/${cron.metadata.name} ${name}`).toBeDefined();
            expect(issuerOf(bundle)).toEqual(MODEL_CA_ISSUER);
            checked++;
          }
        }
      }
      // every shipped stack's config has a flywheel team whose controller reads its base model
      const flywheel = crons.some((c) => c.metadata.name?.includes("controller"));
      if (flywheel) expect(checked).toBeGreaterThan(0);
    });

    it("THEN Prometheus verifies the model servers with its namespace's bundle of the same issuer", () => {
      const sm = run.recorder
        .ofType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
        .find((r) => r.inputs.metadata.name === "sovereign-model-server")!;
      const ep = sm.inputs.spec.endpoints[0];
      expect(ep.scheme).toBe("https");
      const bundle = certs().find(
        (x) =>
          x.metadata.namespace === sm.inputs.metadata.namespace &&
          x.spec.secretName === ep.tlsConfig.ca.secret.name,
      );
      expect(bundle, "the monitoring namespace's model CA bundle").toBeDefined();
      expect(ep.tlsConfig.ca.secret.key).toBe("ca.crt");
      expect(issuerOf(bundle)).toEqual(MODEL_CA_ISSUER);
      expect(ep.tlsConfig.insecureSkipVerify).toBeUndefined();
    });
  });
}

/**
 * Every scrape of a whole stack that speaks TLS verifies the server: no ServiceMonitor or
 * PodMonitor endpoint skips verification, and each https one checks a server name with the
 * `ca.crt` of a Secret that a Certificate writes in the monitor's own namespace (Prometheus
 * reads Secrets of its namespace only). Which CA and which name: the model servers' above,
 * Kueue's in kueue-tls.test.ts.
 */
for (const stack of ["aws-dev", "aws-prod", "local"] as const) {
  describe(`scrape TLS of ${stack}`, () => {
    let run: StackRun;
    beforeAll(async () => {
      run = await runShippedStack(stack);
    });

    it("THEN no monitor endpoint skips verifying, and every https one verifies a server name with a CA bundle of its namespace", () => {
      const monitors = [
        ...run.recorder
          .ofType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
          .map((r) => ({ m: r.inputs, eps: r.inputs.spec.endpoints })),
        ...run.recorder
          .ofType("kubernetes:monitoring.coreos.com/v1:PodMonitor")
          .map((r) => ({ m: r.inputs, eps: r.inputs.spec.podMetricsEndpoints })),
      ];
      expect(monitors.length).toBe(Object.keys(SCRAPE_TARGETS).length);
      const certs = run.recorder.ofType("kubernetes:cert-manager.io/v1:Certificate").map((r) => r.inputs);
      let https = 0;
      for (const { m, eps } of monitors)
        for (const ep of eps) {
          const what = `${m.kind ?? ""} ${m.metadata.name}`;
          expect(JSON.stringify(ep), what).not.toContain("insecureSkipVerify");
          if (ep.scheme !== "https") continue;
          https++;
          expect(ep.tlsConfig?.serverName, what).toBeTruthy();
          expect(ep.tlsConfig.ca.secret.key, what).toBe("ca.crt");
          const bundle = certs.find(
            (c) =>
              c.metadata.namespace === m.metadata.namespace &&
              c.spec.secretName === ep.tlsConfig.ca.secret.name,
          );
          expect(bundle, `${what}: the Certificate of its CA Secret`).toBeDefined();
        }
      expect(https).toBeGreaterThanOrEqual(2); // the model servers and Kueue
    });
  });
}
