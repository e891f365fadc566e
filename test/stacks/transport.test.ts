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
        .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!;
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
