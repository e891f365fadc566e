/**
 * Helpers for the policy tests: run the pinned OPA, build the OPA data document of a shipped
 * stack with the stack's own builder, and a fake OpenAI-compatible guard of each family.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { GuardFamily, OpaData } from "../../components/lib/contracts";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { opaDataOf } from "../../stacks/wiring/policy";
import { toolPath } from "../helpers/tools";

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
 * `data.sovereign` for a validated config: the stack's own builder (stacks/wiring/policy.ts), so
 * the policy tests run the data the stack deploys (prod's forced fail-closed included).
 */
export function opaDataForTest(config: StackConfig): OpaData {
  return opaDataOf(config);
}

/** How each guard family answers (the model cards' formats): safe, then flagged. */
export const FAMILY_ANSWERS: Readonly<Record<GuardFamily, { safe: string; unsafe: string }>> = {
  "llama-guard": { safe: "safe", unsafe: "unsafe\nS14" },
  "granite-guardian": { safe: "No\n<confidence> High </confidence>", unsafe: "<score> yes </score>" },
  shieldgemma: { safe: "No", unsafe: "Yes, the prompt asks to ignore the instructions." },
};

/** A fake guard model: answers in its family's format, flags prompt-injection text, records requests. */
export class FakeGuard {
  readonly requests: {
    model: string;
    messages: { role: string; content: string }[];
    max_tokens?: number;
    chat_template_kwargs?: Record<string, unknown>;
  }[] = [];
  constructor(public family: GuardFamily = "llama-guard") {}
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
        const answers = FAMILY_ANSWERS[this.family];
        const verdict = /ignore (all )?previous instructions/i.test(text) ? answers.unsafe : answers.safe;
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
