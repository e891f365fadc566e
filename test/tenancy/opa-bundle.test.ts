import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { AuthzInput } from "../../components/lib/contracts";
import { MASK_POLICY, bundleFiles, opaConfig, opaDeployment } from "../../components/platform/opa";
import { opaDataFromConfig } from "../../components/platform/tenancy-plan";
import { toolPath } from "../helpers/tools";

const STUB_AUTHZ = `package sovereign.authz

default decision := {"allow": false, "reasons": ["unknown_team"], "obligations": {"capture": false, "redact": []}}

decision := {"allow": true, "reasons": [], "obligations": {"capture": false, "redact": data.sovereign.redactPatterns}} if {
	data.sovereign.teams[input.subject.team]
	input.request.model in data.sovereign.teams[input.subject.team].allowedModels
}
`;

const data = opaDataFromConfig({
  teams: [
    {
      name: "research",
      oidcGroup: "ai-research",
      costCenter: "cc-1",
      clearance: "internal",
      allowedModels: ["chat"],
      gpuQuota: { nominal: 0, borrowingLimit: 0 },
      budgets: { tokensPerDay: 10, requestsPerMinute: 10 },
      allowCapture: false,
    },
  ],
  models: [{ name: "chat", role: "chat", dataClassification: "public", loraAdapters: [] }],
  guard: { timeoutMs: 100, failClosed: true },
  redactPatterns: ["secret-[0-9]+"],
});

const files = bundleFiles(
  { "authz/decision.rego": STUB_AUTHZ, "authz/decision_test.rego": "package broken(" },
  data,
);
const configMap: Record<string, string> = {
  "config.yaml": opaConfig(),
  ...Object.fromEntries(files.map((f) => [f.key, f.content])),
};
const deployment = opaDeployment({
  name: "opa",
  namespace: "sovereign-policy",
  image: "opa:test",
  replicas: 2,
  files,
  configMapName: "opa-bundle",
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe("OPA bundle, config and decision-log masking (real pinned OPA)", () => {
  let root: string;
  let proc: ChildProcess;
  let stdout = "";
  let port: number;

  beforeAll(async () => {
    // Materialize the pod's filesystem exactly as the rendered Deployment mounts the ConfigMap.
    root = fs.mkdtempSync(path.join(os.tmpdir(), "opa-pod-"));
    const container = deployment.spec.template.spec.containers[0];
    for (const m of container.volumeMounts as { mountPath: string; subPath: string }[]) {
      const target = path.join(root, m.mountPath);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, configMap[m.subPath]);
    }
    port = await freePort();
    const args = (container.args as string[]).map((a) =>
      a.startsWith("--addr=")
        ? `--addr=127.0.0.1:${port}`
        : a.startsWith("--config-file=")
          ? `--config-file=${path.join(root, a.slice("--config-file=".length))}`
          : a === "/bundle"
            ? path.join(root, "bundle")
            : a,
    );
    proc = spawn(toolPath("opa"), args, { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.on("data", (d) => (stdout += String(d)));
    proc.stderr!.on("data", (d) => (stdout += String(d)));
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/health?bundles`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`opa did not become healthy:\n${stdout}`);
  });

  afterAll(() => {
    proc?.kill();
  });

  it("GIVEN the bundle WHEN listed THEN test files are left out and the mask and data are in", () => {
    expect(files.map((f) => f.path)).toEqual([
      "authz/decision.rego",
      "system/log/mask.rego",
      "sovereign/data.json",
    ]);
    expect(files.find((f) => f.path === "system/log/mask.rego")?.content).toBe(MASK_POLICY);
  });

  it("GIVEN the mask policy WHEN checked with `opa check --strict` THEN it is valid and formatted", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mask-"));
    fs.writeFileSync(path.join(dir, "mask.rego"), MASK_POLICY);
    const check = spawnSync(toolPath("opa"), ["check", "--strict", dir], { encoding: "utf8" });
    expect(check.status, check.stderr).toBe(0);
    const fmt = spawnSync(toolPath("opa"), ["fmt", "-l", dir], { encoding: "utf8" });
    expect(fmt.stdout.trim()).toBe("");
  });

  it("GIVEN the rendered config WHEN parsed THEN console decision logs with the mask are on", () => {
    expect(parseYaml(opaConfig())).toMatchObject({
      decision_logs: { console: true, mask_decision: "/system/log/mask" },
    });
  });

  it("GIVEN the pod as rendered WHEN the data document is read THEN it is the config's data at data.sovereign", async () => {
    const r = await fetch(`http://127.0.0.1:${port}/v1/data/sovereign/teams`);
    expect(((await r.json()) as { result: unknown }).result).toEqual(JSON.parse(JSON.stringify(data.teams)));
  });

  it("GIVEN a request with a prompt WHEN decided THEN the decision log erases the prompt and messages but keeps the rest", async () => {
    const input: AuthzInput = {
      subject: { sub: "u1", groups: ["ai-research"], team: "research" },
      request: {
        model: "chat",
        endpoint: "/v1/chat/completions",
        prompt: "my password is hunter2",
        messages: [{ role: "user", content: "my password is hunter2" }],
        estimatedTokens: 12,
      },
      context: {
        time: "2026-01-01T00:00:00Z",
        clientAddress: "10.0.0.1",
        usage: { tokensToday: 0, requestsThisMinute: 0 },
      },
    };
    const r = await fetch(`http://127.0.0.1:${port}/v1/data/sovereign/authz/decision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input }),
    });
    const body = (await r.json()) as { result: { allow: boolean; obligations: { redact: string[] } } };
    expect(body.result.allow).toBe(true);
    expect(body.result.obligations.redact).toEqual(["secret-[0-9]+"]);
    let entry: Record<string, any> | undefined;
    for (let i = 0; i < 100 && !entry; i++) {
      entry = stdout
        .split("\n")
        .filter((l) => l.includes('"decision_id"'))
        .map((l) => JSON.parse(l) as Record<string, any>)
        .find((e) => e.path === "sovereign/authz/decision");
      if (!entry) await new Promise((res) => setTimeout(res, 100));
    }
    expect(entry, stdout).toBeDefined();
    expect(entry!.erased).toEqual(
      expect.arrayContaining(["/input/request/prompt", "/input/request/messages"]),
    );
    expect(entry!.input.request.prompt).toBeUndefined();
    expect(entry!.input.request.messages).toBeUndefined();
    expect(entry!.input.request.model).toBe("chat");
    expect(entry!.input.subject.team).toBe("research");
    expect(JSON.stringify(entry)).not.toContain("hunter2");
    expect(entry!.result.allow).toBe(true);
  });
});
