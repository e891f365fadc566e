/**
 * Prometheus → Kueue's metrics endpoint across the seam of the chart (components/lib/kueue-tls.ts).
 *
 * The chart is rendered (`helm template`, offline) from Kueue's Go module at v0.19.0, the nearest
 * served release to the pinned 0.19.4 (scripts/tools.sh; chart-flows.test.ts checks the minor),
 * with the values each shipped stack records for its release. The ServiceMonitor, the monitoring
 * namespace's CA bundle and the CA's issuers are what the stack records. Followed through:
 * the controller serves /metrics with the certificate mounted at its fixed path only when the
 * chart turned its internal certificate management off (cmd/kueue/main.go of the module); that
 * mount is the Secret of one of the chart's Certificates; Prometheus checks a name that
 * Certificate carries (the name of the Service it selects), with the `ca.crt` of a Secret in its
 * own namespace written by a CA issuer, the same one that signs the metrics certificate.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { MODEL_CA_ISSUER } from "../../components/lib/model-tls";
import { helmTemplate } from "../helpers/helm";
import type { K8sObject } from "../helpers/k8s-schema";
import { runShippedStack, type StackRun } from "../helpers/stack";
import { chartPath } from "../helpers/tools";
import { parse } from "yaml";

/** Where the pinned controller reads its metrics certificate (cmd/kueue/main.go, `metricsCertPath`). */
const METRICS_CERT_DIR = "/etc/kueue/metrics/certs";
const KUEUE_RENDERED = "0.19.0";

// the stacks that turn training (and so Kueue) on; local turns it off
for (const stack of ["aws-dev", "aws-prod"] as const) {
  describe(`Kueue metrics TLS of ${stack}`, () => {
    let run: StackRun;
    let chart: any[];
    let ep: any;
    let monitor: any;
    const recorded = (type: string) => run.recorder.ofType(type).map((r) => r.inputs);

    beforeAll(async () => {
      run = await runShippedStack(stack);
      expect(run.error).toBeUndefined();
      const rel = recorded("kubernetes:helm.sh/v3:Release").find((r) => r.name === "kueue")!;
      expect(rel, "the Kueue release").toBeDefined();
      chart = helmTemplate(rel.name, chartPath("kueue", KUEUE_RENDERED), rel.namespace, rel.values) as any[];
      monitor = recorded("kubernetes:monitoring.coreos.com/v1:ServiceMonitor").find(
        (m) => m.metadata.name === "sovereign-kueue",
      );
      expect(monitor, "Kueue's ServiceMonitor").toBeDefined();
      ep = monitor.spec.endpoints[0];
    });

    /** The chart's Certificate whose Secret the controller serves /metrics with. */
    function metricsCertificate(): any {
      const config = parse(
        chart.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-manager-config")).data[
          "controller_manager_config.yaml"
        ],
      );
      // otherwise the controller serves a self-signed certificate of its own, whatever is mounted
      expect(config.internalCertManagement?.enable).toBe(false);
      const pod = chart.find(
        (o) => o.kind === "Deployment" && o.metadata.name.endsWith("-controller-manager"),
      ).spec.template.spec;
      const mount = pod.containers
        .flatMap((c: any) => c.volumeMounts ?? [])
        .find((m: any) => m.mountPath === METRICS_CERT_DIR);
      expect(mount, `a volume at ${METRICS_CERT_DIR}`).toBeDefined();
      const secretName = pod.volumes.find((v: any) => v.name === mount.name).secret?.secretName;
      const cert = chart.find((o) => o.kind === "Certificate" && o.spec.secretName === secretName);
      expect(cert, `the chart's Certificate of Secret ${secretName}`).toBeDefined();
      return cert;
    }

    it("THEN Prometheus checks the name of the metrics Service it selects, a name the metrics certificate carries, and still sends its token", () => {
      expect(ep.scheme).toBe("https");
      expect(ep.tlsConfig.insecureSkipVerify).toBeUndefined();
      expect(ep.bearerTokenFile).toBe("/var/run/secrets/kubernetes.io/serviceaccount/token");
      const sel = monitor.spec.selector;
      const services = chart.filter(
        (o: K8sObject & any) =>
          o.kind === "Service" &&
          monitor.spec.namespaceSelector.matchNames.includes(o.metadata.namespace) &&
          Object.entries(sel.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v) &&
          (sel.matchExpressions ?? []).every(
            (e: any) => e.operator === "NotIn" && !e.values.includes(o.metadata.labels?.[e.key]),
          ),
      );
      expect(services.map((s: any) => s.metadata.name)).toHaveLength(1);
      const svc = services[0];
      expect(svc.spec.ports.map((p: any) => p.name)).toContain(ep.port);
      expect(ep.tlsConfig.serverName).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
      expect(metricsCertificate().spec.dnsNames).toContain(ep.tlsConfig.serverName);
    });

    it("THEN its CA is ca.crt of a Secret in Prometheus's namespace written by the CA issuer that signs the metrics certificate", () => {
      const certs = recorded("kubernetes:cert-manager.io/v1:Certificate");
      expect(ep.tlsConfig.ca.secret.key).toBe("ca.crt");
      const bundle = certs.find(
        (c) =>
          c.metadata.namespace === monitor.metadata.namespace &&
          c.spec.secretName === ep.tlsConfig.ca.secret.name,
      );
      expect(bundle, "the monitoring namespace's Kueue CA bundle").toBeDefined();
      const issuerRef = metricsCertificate().spec.issuerRef;
      expect(bundle!.spec.issuerRef).toEqual(issuerRef);
      // a CA issuer writes its CA into ca.crt of every Secret it signs (a self-signed one would
      // write each certificate itself, and the bundle would verify nothing else)
      expect(issuerRef.kind).toBe("ClusterIssuer");
      const issuer = recorded("kubernetes:cert-manager.io/v1:ClusterIssuer").filter(
        (i) => i.metadata.name === issuerRef.name,
      );
      expect(issuer).toHaveLength(1);
      expect(Object.keys(issuer[0].spec)).toEqual(["ca"]);
      const ca = certs.filter((c) => c.spec.secretName === issuer[0].spec.ca.secretName);
      expect(ca.map((c) => [c.metadata.namespace, c.spec.isCA])).toEqual([
        [PLATFORM_NAMESPACES.certManager, true],
      ]);
      // a CA of its own: whoever trusts the model CA (the gateway, the flywheel) trusts model servers only
      expect(issuerRef.name).not.toBe(MODEL_CA_ISSUER.name);
    });

    it("THEN every certificate the chart asks for comes from that issuer, and the chart makes no issuer or certificate Secret of its own", () => {
      const issuerRef = metricsCertificate().spec.issuerRef;
      const certs = chart.filter((o) => o.kind === "Certificate");
      expect(certs.length).toBeGreaterThanOrEqual(3); // webhooks, visibility API, metrics
      for (const c of certs) expect(c.spec.issuerRef, c.metadata.name).toEqual(issuerRef);
      expect(chart.filter((o) => /Issuer$/.test(o.kind))).toEqual([]);
      // each CA the API server trusts for the chart's webhooks and APIServices is injected from one of them
      const names = new Set(certs.map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
      const callees = chart.filter((o) =>
        /^(Validating|Mutating)WebhookConfiguration$|^APIService$/.test(o.kind),
      );
      expect(callees.length).toBeGreaterThan(0);
      for (const o of callees) {
        expect(names, o.metadata.name).toContain(o.metadata.annotations?.["cert-manager.io/inject-ca-from"]);
        expect(o.spec?.insecureSkipTLSVerify, o.metadata.name).toBeUndefined();
      }
    });
  });
}
