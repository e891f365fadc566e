/**
 * The flywheel controller's calls to its base model's replicas over HTTPS, at the seam: the
 * controller CronJob as plan.ts renders it (FLYWHEEL_MODEL_SERVICE, FLYWHEEL_MODEL_CA_FILE where
 * the team's model CA bundle is mounted), the CLI's reading of that environment (`loraClient`),
 * and `loadedAdapters` against a real TLS server reached by address, as a replica is.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { loraClient } from "../../gateway/src/flywheel/controller-cli";
import { loadedAdapters, LoraError } from "../../gateway/src/flywheel/lora";
import { renderFlywheelControllerCronJob } from "../../components/flywheel/plan";
import { demoFlywheelTeam } from "../helpers/flywheel-stack";
import { MODEL_CA_BUNDLE_SECRET, modelServerDnsNames } from "../../components/lib/model-tls";
import { TestCa } from "../helpers/pki";

const modelCa = new TestCa("controller test model CA");
const otherCa = new TestCa("controller test other CA");
const F = demoFlywheelTeam();
const seen: string[] = [];
const servers: https.Server[] = [];

async function serve(ca: TestCa, names: readonly string[]): Promise<string> {
  const pem = ca.issue(
    `s${servers.length}`,
    names.map((n) => `DNS:${n}`),
  );
  const s = https.createServer(
    { cert: fs.readFileSync(pem.cert), key: fs.readFileSync(pem.key) },
    (req, res) => {
      seen.push(`${servers.indexOf(s)} ${req.url}`);
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ data: [{ id: "tiny-chat" }, { id: "demo-chat--v1", parent: "tiny-chat" }] }));
    },
  );
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/**
 * The controller container's plain env as plan.ts renders it, its CA file mapped from the pod's
 * mount to `caFile` (checked to be the team's model CA bundle's ca.crt).
 */
function controllerEnv(caFile: string): Record<string, string> {
  const cron = renderFlywheelControllerCronJob(
    {
      ...F,
      canary: {
        share: 0.1,
        windowMinutes: 30,
        minRequests: 50,
        maxErrorRate: 0.02,
        maxLatencyRatio: 1.5,
        maxGuardFlagRate: 0.01,
      },
    },
    {
      serviceAccountName: "sa",
      env: [],
      modelCa: true,
      controller: {
        image: "gw:1",
        postgres: {
          host: "pg",
          port: 5432,
          database: "d",
          sslMode: "verify-full",
          secretName: "s",
          rootCert: { configMapName: "c", key: "ca.crt" },
        },
      },
    },
  ) as any;
  const pod = cron.spec.jobTemplate.spec.template.spec;
  const c = pod.containers.find((x: any) => x.name === "controller");
  const env: Record<string, string> = Object.fromEntries(
    c.env.filter((e: any) => typeof e.value === "string").map((e: any) => [e.name, e.value]),
  );
  const file = env.FLYWHEEL_MODEL_CA_FILE;
  expect(file, "FLYWHEEL_MODEL_CA_FILE").toBeDefined();
  const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
  expect(m, `a mount above ${file}`).toBeDefined();
  const v = pod.volumes.find((x: any) => x.name === m.name);
  expect(v.secret).toEqual({
    secretName: MODEL_CA_BUNDLE_SECRET,
    items: [{ key: "ca.crt", path: file.slice(m.mountPath.length + 1) }],
  });
  return { ...env, FLYWHEEL_MODEL_CA_FILE: caFile };
}

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  modelCa.destroy();
  otherCa.destroy();
});

describe("the controller's replica calls over HTTPS", () => {
  const tiny = modelServerDnsNames("tiny-chat");

  it("GIVEN the rendered env WHEN a replica (by address) serves tiny-chat's certificate from the model CA THEN its adapters are read", async () => {
    const env = controllerEnv(modelCa.cert);
    expect(new URL(env.FLYWHEEL_MODEL_SERVICE).protocol).toBe("https:");
    const replica = await serve(modelCa, tiny);
    expect(await loadedAdapters(replica, loraClient(env).lora)).toEqual(["demo-chat--v1"]);
  });

  it("GIVEN the same env WHEN the replica's certificate comes from another CA THEN nothing is sent and the error names FLYWHEEL_MODEL_CA_FILE", async () => {
    const replica = await serve(otherCa, tiny);
    const before = seen.length;
    const e = await loadedAdapters(replica, loraClient(controllerEnv(modelCa.cert)).lora).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(LoraError);
    expect(String(e)).toContain("only the CA in FLYWHEEL_MODEL_CA_FILE is trusted");
    expect(seen.slice(before)).toEqual([]);
  });

  it("GIVEN the same env WHEN the replica's certificate names another model server THEN nothing is sent", async () => {
    const replica = await serve(modelCa, modelServerDnsNames("other-model"));
    const before = seen.length;
    const e = await loadedAdapters(replica, loraClient(controllerEnv(modelCa.cert)).lora).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(LoraError);
    expect(String(e)).toContain("does not name the host");
    expect(seen.slice(before)).toEqual([]);
  });

  it("GIVEN a CA file that is no certificate THEN the controller stops with an error naming it", () => {
    expect(() => loraClient(controllerEnv("/nowhere/ca.crt"), () => "not a pem")).toThrow(
      'FLYWHEEL_MODEL_CA_FILE: expected PEM certificates in "/nowhere/ca.crt", found none',
    );
  });
});
