/**
 * The Python callers of the model servers verify their HTTPS (components/lib/model-tls.ts), run
 * by the trainer venv's Python against a real TLS server (node:https, certificates from a real CA
 * made with openssl):
 *
 *   - the eval's safety task (trainer/sovereign_train/evaluate.py `guard_from_env`) with the
 *     environment the chain's pod gets from plan.ts: GUARD_CA_FILE where the pod mounts the team
 *     namespace's model CA bundle (the mount is mapped to a folder here);
 *   - the lora-sync sidecar's client (charts/model-server/files/lora_sync.py `Vllm`), which calls
 *     its server on 127.0.0.1 and checks the certificate against the Service's name.
 *
 * A certificate from another CA, or one that does not name the host, gets nothing sent.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelEnvData, renderFlywheelCronJob } from "../../components/flywheel/plan";
import { demoFlywheelTeam } from "../helpers/flywheel-stack";
import { MODEL_CA_BUNDLE_SECRET, modelServerDnsNames, modelServerHost } from "../../components/lib/model-tls";
import { TestCa, type Pem } from "../helpers/pki";

const ROOT = path.resolve(__dirname, "../..");
const SCRIPT = path.join(ROOT, "charts/model-server/files/lora_sync.py");
const modelCa = new TestCa("python test model CA");
const otherCa = new TestCa("python test other CA");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-tls-python-"));
let PY = "";

/** An HTTPS server answering chat completions ("safe") and /v1/models; records what got through TLS. */
class Server {
  readonly seen: string[] = [];
  port = 0;
  private s?: https.Server;
  constructor(private readonly pem: Pem) {}
  async start(): Promise<void> {
    this.s = https.createServer(
      { cert: fs.readFileSync(this.pem.cert), key: fs.readFileSync(this.pem.key) },
      (req, res) => {
        req.resume();
        req.on("end", () => {
          this.seen.push(req.url ?? "");
          const body =
            req.url === "/v1/models"
              ? {
                  data: [
                    { id: "tiny-chat", parent: null },
                    { id: "a--v1", parent: "tiny-chat" },
                  ],
                }
              : { choices: [{ message: { role: "assistant", content: "safe" } }] };
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
        });
      },
    );
    await new Promise<void>((r) => this.s!.listen(0, "127.0.0.1", r));
    this.port = (this.s.address() as AddressInfo).port;
  }
  stop(): Promise<void> {
    this.s?.closeAllConnections();
    return new Promise((r) => (this.s ? this.s.close(() => r()) : r()));
  }
}

// the guard's URL names localhost (its Service's name does not resolve here)
const guardOk = new Server(modelCa.issue("guard", ["DNS:localhost"]));
const guardOtherCa = new Server(otherCa.issue("guard-other", ["DNS:localhost"]));
// the lora-sync's server: the names the kit's Certificate gives tiny-chat's server
const vllm = new Server(
  modelCa.issue(
    "tiny-chat",
    modelServerDnsNames("tiny-chat").map((n) => `DNS:${n}`),
  ),
);

const F = demoFlywheelTeam();

/**
 * The chain pod's environment (flywheel-env, then the container's env) with the model CA, and
 * its CA file mapped from the pod's mount to `caDir` (checked to be the bundle Secret's ca.crt).
 */
function podEnv(guardUrl: string, caDir: string): Record<string, string> {
  const pod = (renderFlywheelCronJob(F, { serviceAccountName: "sa", env: [], modelCa: true }) as any).spec
    .jobTemplate.spec.template.spec;
  const c = pod.containers[0];
  const env: Record<string, string> = {
    ...flywheelEnvData(F, {
      buckets: { inferenceLogs: "logs", datasets: "ds", models: "models" },
      opaUrl: "http://opa:8181",
      guard: { url: guardUrl, model: "guard-model" },
      endpoint: "http://s3",
      region: "r",
      forcePathStyle: true,
    }),
  };
  for (const e of c.env ?? []) if (typeof e.value === "string") env[e.name] = e.value;
  const file = env.GUARD_CA_FILE;
  expect(file, "GUARD_CA_FILE").toBeDefined();
  const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
  expect(m, `a mount above ${file}`).toBeDefined();
  const v = pod.volumes.find((x: any) => x.name === m.name);
  expect(v.secret).toEqual({
    secretName: MODEL_CA_BUNDLE_SECRET,
    items: [{ key: "ca.crt", path: file.slice(m.mountPath.length + 1) }],
  });
  return { ...env, GUARD_CA_FILE: path.join(caDir, file.slice(m.mountPath.length + 1)) };
}

function py(code: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
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

const ASK = [
  "import os",
  "from sovereign_train.evaluate import guard_from_env",
  "print('flagged', guard_from_env(os.environ).flags('a prompt', 'an answer'))",
].join("\n");

/** Lists the adapters of the server at VLLM_URL as lora_sync's client does, with the sidecar's env. */
const LIST = [
  "import importlib.util, os, sys",
  `spec = importlib.util.spec_from_file_location("lora_sync", ${JSON.stringify(SCRIPT)})`,
  "ls = importlib.util.module_from_spec(spec); spec.loader.exec_module(ls)",
  "v = ls.Vllm(os.environ['VLLM_URL'], api_key='k', ca_file=os.environ['VLLM_CA_FILE'], server_name=os.environ['VLLM_TLS_SERVER_NAME'])",
  "print('adapters', sorted(v.adapters()))",
].join("\n");

beforeAll(async () => {
  const venv = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (venv.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${venv.stderr}`);
  PY = path.join(venv.stdout.trim().split("\n").pop()!, "bin/python");
  fs.copyFileSync(modelCa.cert, path.join(tmp, "ca.crt"));
  await Promise.all([guardOk.start(), guardOtherCa.start(), vllm.start()]);
}, 600_000);

afterAll(async () => {
  await Promise.all([guardOk.stop(), guardOtherCa.stop(), vllm.stop()]);
  modelCa.destroy();
  otherCa.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("the eval's guard over HTTPS", () => {
  it("GIVEN the chain pod's environment WHEN the guard's certificate comes from the model CA THEN the safety task gets its verdict", async () => {
    const r = await py(ASK, podEnv(`https://localhost:${guardOk.port}/v1/chat/completions`, tmp));
    expect(r.out).toContain("flagged False");
    expect(r.code, r.out).toBe(0);
    expect(guardOk.seen).toEqual(["/v1/chat/completions"]);
  });

  it("GIVEN the same environment WHEN the guard's certificate comes from another CA THEN nothing is sent and the error says why", async () => {
    const r = await py(ASK, podEnv(`https://localhost:${guardOtherCa.port}/v1/chat/completions`, tmp));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("failed TLS verification (GUARD_CA_FILE is the only CA trusted)");
    expect(r.out).toContain("CERTIFICATE_VERIFY_FAILED");
    expect(guardOtherCa.seen).toEqual([]);
  });

  it("GIVEN a GUARD_CA_FILE that is no certificate WHEN the task starts THEN a clear error names it", async () => {
    const bad = path.join(tmp, "bad.crt");
    fs.writeFileSync(bad, "not a certificate");
    const env = {
      ...podEnv(`https://localhost:${guardOk.port}/v1/chat/completions`, tmp),
      GUARD_CA_FILE: bad,
    };
    const r = await py(ASK, env);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`GUARD_CA_FILE: cannot read "${bad}" as PEM certificates`);
  });
});

describe("the lora-sync sidecar's client over HTTPS on loopback", () => {
  const env = (serverName: string, caFile: string) => ({
    VLLM_URL: `https://127.0.0.1:${vllm.port}`,
    VLLM_CA_FILE: caFile,
    VLLM_TLS_SERVER_NAME: serverName,
  });

  it("GIVEN the Service's name and the server's CA WHEN it lists the adapters on 127.0.0.1 THEN it gets them", async () => {
    const before = vllm.seen.length;
    const r = await py(LIST, env(modelServerHost("tiny-chat"), modelCa.cert));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("adapters ['a--v1']");
    expect(vllm.seen.slice(before)).toEqual(["/v1/models"]);
  });

  it("GIVEN another Service's name WHEN it connects THEN the host name check fails and nothing is sent", async () => {
    const before = vllm.seen.length;
    const r = await py(LIST, env(modelServerHost("other-model"), modelCa.cert));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/CERTIFICATE_VERIFY_FAILED|Hostname mismatch|doesn't match/);
    expect(vllm.seen.slice(before)).toEqual([]);
  });

  it("GIVEN another CA WHEN it connects THEN verification fails and nothing is sent", async () => {
    const before = vllm.seen.length;
    const r = await py(LIST, env(modelServerHost("tiny-chat"), otherCa.cert));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("CERTIFICATE_VERIFY_FAILED");
    expect(vllm.seen.slice(before)).toEqual([]);
  });
});
