/**
 * Helpers for the policy tests: run the pinned OPA, build the OPA data document for a shipped
 * stack (until the tenancy area's generator is merged), and a fake OpenAI-compatible guard.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { CLASSIFICATIONS, clearedFor } from "../../components/lib/classification";
import type { OpaData } from "../../components/lib/contracts";
import { modelServerUrl } from "../../components/lib/endpoints";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { toolPath } from "../helpers/tools";
import { resolveSettings } from "../../stacks/config/settings";

export const REPO = path.resolve(__dirname, "../..");
/** The policy folders this area owns (admission lives elsewhere). */
export const POLICY_DIRS = ["policies/authz", "policies/data"];
export const REGO_TEST_DIRS = ["test/policies"];

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the pinned OPA binary in the repository root. */
export function opa(args: readonly string[], stdin?: string): Run {
  const r = spawnSync(toolPath("opa"), args, { cwd: REPO, encoding: "utf8", input: stdin });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function loadStackConfig(stack: string): StackConfig {
  const raw = rawFromStackFile(stackFile(stack));
  return parseConfig(raw.raw, { secretKeys: raw.secretKeys });
}

/**
 * `data.sovereign` for a validated config, following the contract in components/lib/contracts.ts.
 * The tenancy area ships the real generator; this one is the test's own reading of the contract.
 */
export function opaDataForTest(config: StackConfig): OpaData {
  const teams: Record<string, OpaData["teams"][string]> = {};
  for (const t of config.teams) {
    teams[t.name] = {
      oidcGroup: t.oidcGroup,
      clearance: t.clearance,
      allowedModels: t.allowedModels,
      budgets: t.budgets,
      allowCapture: t.allowCapture,
      trainableClassifications: CLASSIFICATIONS.filter((c) => clearedFor(t.clearance, c)),
    };
  }
  const models: Record<string, OpaData["models"][string]> = {};
  for (const m of config.models) {
    models[m.name] = { role: m.role, dataClassification: m.dataClassification };
    for (const a of m.loraAdapters)
      models[a.name] = { role: m.role, dataClassification: m.dataClassification, baseModel: m.name };
  }
  const guardModel = config.policy.guardModel;
  return {
    teams,
    models,
    guard: {
      enabled: guardModel !== undefined,
      url: guardModel ? `${modelServerUrl(guardModel)}/v1/chat/completions` : "",
      model: guardModel ?? "",
      timeoutMs: config.policy.guardTimeoutMs,
      // Resolved once from the profile and policy.guardFailOpen (always closed in prod).
      failClosed: resolveSettings(config).guard.failClosed,
    },
    redactPatterns: config.gateway.redactPatterns,
  };
}

/** A fake guard model: answers like Llama Guard, flags prompt-injection text, records requests. */
export class FakeGuard {
  readonly requests: { model: string; messages: { role: string; content: string }[] }[] = [];
  private server?: http.Server;
  /** `ok`: answers; `hang`: never answers (exercises OPA's timeout); `error`: HTTP 503. */
  mode: "ok" | "hang" | "error" = "ok";

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const parsed = JSON.parse(body) as FakeGuard["requests"][number];
        this.requests.push(parsed);
        if (this.mode === "hang") return;
        if (this.mode === "error") {
          res.writeHead(503, { "content-type": "application/json" }).end('{"error":"overloaded"}');
          return;
        }
        const text = parsed.messages.map((m) => m.content).join("\n");
        const verdict = /ignore (all )?previous instructions/i.test(text) ? "unsafe\nS14" : "safe";
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            id: `chatcmpl-${this.requests.length}`,
            object: "chat.completion",
            model: parsed.model,
            choices: [{ index: 0, message: { role: "assistant", content: verdict }, finish_reason: "stop" }],
          }),
        );
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/chat/completions`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A local port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `opa run --server` with the authz and data-access policies and a data document. */
export class OpaServer {
  private proc?: ChildProcess;
  private dir?: string;
  url = "";

  async start(data: OpaData): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-opa-"));
    const dataFile = path.join(this.dir, "data.json");
    fs.writeFileSync(dataFile, JSON.stringify({ sovereign: data }));
    const port = await closedPort();
    this.url = `http://127.0.0.1:${port}`;
    this.proc = spawn(
      toolPath("opa"),
      ["run", "--server", "--skip-version-check", "--addr", `127.0.0.1:${port}`, ...POLICY_DIRS, dataFile],
      { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    this.proc.stderr!.on("data", (c) => (stderr += String(c)));
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(`${this.url}/health`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (this.proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`OPA did not become healthy: ${stderr}`);
  }

  /** What the gateway does: POST /v1/data/sovereign/authz/decision {"input": ...}. */
  async query<T>(pathInData: string, input: unknown): Promise<T> {
    const r = await fetch(`${this.url}/v1/data/${pathInData}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input }),
    });
    if (!r.ok) throw new Error(`OPA answered ${r.status}: ${await r.text()}`);
    return ((await r.json()) as { result: T }).result;
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once("exit", r));
      this.proc.kill("SIGTERM");
      await exited;
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
