/**
 * The model servers serve HTTPS (components/lib/model-tls.ts), at the seam between the kit's
 * values and the chart helm renders: for every model of every shipped stack, vLLM and the CPU
 * simulator alike, the server is started with the certificate and key of the Secret that the
 * ModelServer's Certificate writes, mounted in the server container only; the probes use HTTPS;
 * and a release without a certificate is refused by name.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { modelServerCertificate, modelServerHost } from "../../components/lib/model-tls";
import type { K8sObject } from "../helpers/k8s-schema";
import { helmTemplate, runServing, shippedConfig, type ServingRun } from "./helpers";

const STACKS = ["local", "aws-dev", "aws-prod"] as const;
const runs: Record<string, ServingRun> = {};

beforeAll(async () => {
  for (const s of STACKS) runs[s] = await runServing(shippedConfig(s), `tls-${s}`);
}, 120_000);

const deployment = (objs: K8sObject[]) => objs.find((o) => o.kind === "Deployment") as any;

describe.each(STACKS)("model servers of %s", (stack) => {
  it("THEN each server (vLLM or the simulator) serves its Certificate's Secret over HTTPS, mounted in the server only", () => {
    for (const [model, values] of Object.entries(runs[stack].values)) {
      const cert = modelServerCertificate(model);
      expect(values.tls).toEqual({ secretName: cert.spec.secretName, serverName: modelServerHost(model) });
      expect(cert.spec.dnsNames).toContain(values.tls.serverName);
      const r = helmTemplate(values);
      expect(r.status, r.output).toBe(0);
      const pod = deployment(r.objects).spec.template.spec;
      const server = pod.containers.find((c: any) => c.name === "server");
      const vol = pod.volumes.find(
        (v: any) => v.secret?.secretName === cert.spec.secretName && v.name === "model-tls",
      );
      expect(vol, `${model}: the certificate's volume`).toBeDefined();
      expect(vol.secret.items.map((i: any) => i.key)).toEqual(["tls.crt", "tls.key"]);
      const dir = server.volumeMounts.find((m: any) => m.name === vol.name).mountPath;
      expect(server.args).toEqual(
        expect.arrayContaining([`--ssl-certfile=${dir}/tls.crt`, `--ssl-keyfile=${dir}/tls.key`]),
      );
      if (values.engine === "vllm") expect(server.args).toContain("--enable-ssl-refresh");
      // the key is in the server container only (lora-sync gets ca.crt alone)
      for (const c of pod.containers.filter((x: any) => x.name !== "server"))
        expect(
          c.volumeMounts.map((m: any) => m.name),
          `${model}/${c.name}`,
        ).not.toContain(vol.name);
      for (const p of ["startupProbe", "readinessProbe", "livenessProbe"])
        expect(server[p].httpGet.scheme, `${model} ${p}`).toBe("HTTPS");
    }
  });
});

describe("the chart on its own", () => {
  it("GIVEN no tls.secretName WHEN rendered THEN it is refused, naming the value (no plaintext server)", () => {
    const values = { ...Object.values(runs.local.values)[0], tls: { secretName: "", serverName: "x" } };
    const r = helmTemplate(values);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain("tls.secretName: expected the Secret with the server's certificate");
  });
});
