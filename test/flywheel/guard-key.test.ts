/**
 * The eval's guard call carries the guard server's API key, at the seam: the chain's pod as
 * plan.ts renders it reads the key from the guard's key Secret into some variable, and the
 * trainer's safety task (trainer/sovereign_train/evaluate.py `guard_from_env`, run by the trainer
 * venv's Python) asks a guard that checks the key as vLLM does, with the environment that pod
 * would have.
 */
import { spawn, spawnSync } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelEnvData, renderFlywheelCronJob } from "../../components/flywheel/plan";
import { demoFlywheelTeam } from "../helpers/flywheel-stack";
import { modelApiKeySecretName, modelKeyRef } from "../../components/lib/model-keys";
import { keyMatches } from "./fake-vllm";

const ROOT = path.resolve(__dirname, "../..");
const KEY = "guard-key-of-the-test";
const seen: (string | undefined)[] = [];
let server: http.Server;
let guardUrl = "";
let PY = "";

const F = demoFlywheelTeam();

/** The chain pod's environment: the flywheel-env ConfigMap, then the container's env (Secrets resolved). */
function podEnv(withKey: boolean): Record<string, string> {
  const pod = (
    renderFlywheelCronJob(F, {
      serviceAccountName: "sa",
      env: [],
      ...(withKey ? { apiKeys: { guard: modelKeyRef("guard-model") } } : {}),
    }) as any
  ).spec.jobTemplate.spec.template.spec;
  const cm = flywheelEnvData(F, {
    buckets: { inferenceLogs: "logs", datasets: "ds", models: "models" },
    opaUrl: "http://opa:8181",
    guard: { url: guardUrl, model: "guard-model" },
    endpoint: "http://s3",
    region: "r",
    forcePathStyle: true,
  });
  expect(JSON.stringify(cm)).not.toContain(KEY);
  const secrets: Record<string, Record<string, string>> = {
    [modelApiKeySecretName("guard-model")]: { "api-key": KEY },
  };
  const env: Record<string, string> = { ...cm };
  for (const e of pod.containers[0].env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) env[e.name] = secrets[ref.name][ref.key];
    else if (typeof e.value === "string") env[e.name] = e.value;
  }
  return env;
}

/** Asks the guard once as the safety task does; resolves with its exit code and output. */
function ask(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const code =
    "import os\nfrom sovereign_train.evaluate import guard_from_env\nprint(guard_from_env(os.environ).flags('a prompt', 'an answer'))";
  return new Promise((resolve) => {
    const c = spawn(PY, ["-c", code], {
      cwd: path.join(ROOT, "trainer"),
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let out = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (out += d.toString()));
    c.on("close", (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  const venv = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (venv.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${venv.stderr}`);
  PY = path.join(venv.stdout.trim().split("\n").pop()!, "bin/python");
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push(req.headers.authorization);
      if (!keyMatches(req.headers.authorization, KEY))
        return res.writeHead(401, { "content-type": "application/json" }).end('{"error":"Unauthorized"}');
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "safe" } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  guardUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("the eval's guard call (flywheel chain pod)", () => {
  it("GIVEN the chain pod rendered with the guard's key WHEN the safety task asks the guard THEN it sends that key and gets a verdict", async () => {
    const r = await ask(podEnv(true));
    expect(r.out.trim()).toBe("False"); // "safe": not flagged
    expect(r.code).toBe(0);
    expect(seen.at(-1)).toBe(`Bearer ${KEY}`);
  });

  it("GIVEN a pod without the key WHEN the safety task asks the guard THEN the guard refuses and the task fails naming the guard (no verdict is made up)", async () => {
    const r = await ask(podEnv(false));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`the guard at ${guardUrl} answered 401`);
  });
});
