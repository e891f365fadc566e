/**
 * The model server's API key as the chart renders it for the kit's values, at the seam with what
 * vLLM does with it: the server container reads VLLM_API_KEY from the server's Secret (never an
 * argument or a ConfigMap), vLLM loads `--middleware=<module>.<class>` by importing the module
 * from PYTHONPATH (the pinned vLLM's serve/middleware/register.py: `importlib.import_module`,
 * then `app.add_middleware(cls)`, which builds `cls(app)`), and the module is the one the chart's
 * ConfigMap mounts there. The rendered files are put at their mount paths under a temporary root
 * and that middleware is driven as an ASGI app by the trainer venv's Python (no server, no clock):
 * every path but /health and /metrics needs `Authorization: Bearer <key>`, among them the
 * SageMaker-style adapter routes vLLM's own check leaves open.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelServerValues } from "../../components/platform/model-server";
import { modelSchema } from "../../stacks/config/schema";
import { helmTemplate } from "./helpers";

const ROOT = path.resolve(__dirname, "../..");
const NS = "sovereign-serving";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "api-guard-"));
const KEY = "k3y-of-the-server";
let PY = "";

function render(pool: string | undefined, flywheel = false) {
  const model = {
    ...modelSchema.parse({ name: "chat", role: "chat", source: "chat/", ...(pool ? { pool } : {}) }),
    flywheelAdapters: flywheel ? [{ team: "research", adapter: "assist" }] : [],
  };
  const values = modelServerValues({
    model,
    rollout: { strictSpread: true, cooldownSeconds: 600 },
    ...(pool
      ? {
          placement: {
            gpuType: "nvidia-l40s",
            gpusPerNode: 4,
            nodeSelector: {},
            tolerations: [],
            capacityType: "on-demand" as const,
          },
        }
      : {}),
    bucket: "models",
    objectStoreEndpoint: "",
    forcePathStyle: false,
    env: [],
    serviceAccountName: "model-chat",
  });
  const r = helmTemplate(values, NS);
  expect(r.status, r.output).toBe(0);
  const dep = r.objects.find((o) => o.kind === "Deployment") as any;
  const pod = dep.spec.template.spec;
  const c = (name: string) => pod.containers.find((x: any) => x.name === name);
  return { objects: r.objects, pod, server: c("server"), sidecar: c("lora-sync") };
}

/** The ASGI harness: imports the middleware as vLLM does and sends it each request; prints the outcomes. */
const HARNESS = String.raw`
import asyncio, importlib, json, sys
case = json.loads(sys.stdin.read())
sys.path[:0] = case["pythonpath"]
module, _, name = case["middleware"].rpartition(".")
cls = getattr(importlib.import_module(module), name)
reached = []

async def app(scope, receive, send):
    reached.append(scope["path"])
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

try:
    guard = cls(app)
except Exception as e:
    print(json.dumps({"init_error": f"{type(e).__name__}: {e}"}))
    sys.exit(0)

async def one(r):
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(m):
        sent.append(m)
    scope = {"type": r.get("type", "http"), "method": r.get("method", "GET"), "path": r["path"],
             "root_path": r.get("root_path", ""),
             "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r.get("headers", {}).items()]}
    before = len(reached)
    await guard(scope, receive, send)
    start = next((m for m in sent if m["type"] in ("http.response.start", "websocket.close")), {})
    return {"status": start.get("status", start.get("code")), "reached": len(reached) > before}

print(json.dumps({"results": [asyncio.run(one(r)) for r in case["requests"]]}))
`;

/** Mount paths → ConfigMap files, and the server's env, as the kubelet would give them. */
function podFiles(
  objects: any[],
  pod: any,
  container: any,
): { pythonpath: string[]; env: Record<string, string> } {
  const root = fs.mkdtempSync(path.join(tmp, "pod-"));
  for (const m of container.volumeMounts) {
    const vol = pod.volumes.find((v: any) => v.name === m.name);
    if (!vol?.configMap) continue;
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === vol.configMap.name);
    fs.mkdirSync(path.join(root, m.mountPath), { recursive: true });
    for (const [file, text] of Object.entries(cm.data as Record<string, string>))
      fs.writeFileSync(path.join(root, m.mountPath, file), text);
  }
  const secrets: Record<string, Record<string, string>> = { "model-chat-api-key": { "api-key": KEY } };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) env[e.name] = secrets[ref.name]?.[ref.key] ?? `<no Secret ${ref.name}/${ref.key}>`;
    else if (e.value !== undefined) env[e.name] = e.value;
  }
  const pythonpath = (env.PYTHONPATH ?? "").split(":").map((p) => path.join(root, p));
  return { pythonpath, env };
}

interface Outcome {
  status: number;
  reached: boolean;
}

function drive(
  rendered: ReturnType<typeof render>,
  requests: Record<string, unknown>[],
  envOverride: Record<string, string | undefined> = {},
): { results?: Outcome[]; init_error?: string } {
  const middleware = (rendered.server.args as string[]).find((a) => a.startsWith("--middleware="))!;
  const { pythonpath, env } = podFiles(rendered.objects, rendered.pod, rendered.server);
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? "" };
  for (const [k, v] of Object.entries({ ...env, ...envOverride })) if (v !== undefined) childEnv[k] = v;
  delete childEnv.PYTHONPATH; // the harness puts the rendered PYTHONPATH (under the pod root) on sys.path
  const r = spawnSync(PY, ["-c", HARNESS], {
    input: JSON.stringify({ pythonpath, middleware: middleware.split("=")[1], requests }),
    env: childEnv,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`harness failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(() => {
  const venv = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (venv.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${venv.stderr}`);
  PY = path.join(venv.stdout.trim().split("\n").pop()!, "bin/python");
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("the model server's API key (charts/model-server, files/api_guard.py)", () => {
  it("GIVEN a vLLM model WHEN rendered THEN the server and its lora-sync sidecar read VLLM_API_KEY from the server's Secret, and the key is in no argument and no ConfigMap", () => {
    const r = render("gpu", true);
    const ref = { secretKeyRef: { name: "model-chat-api-key", key: "api-key" } };
    for (const c of [r.server, r.sidecar])
      expect(c.env.filter((e: any) => e.name === "VLLM_API_KEY")).toEqual([
        { name: "VLLM_API_KEY", valueFrom: ref },
      ]);
    // vLLM takes --api-key over VLLM_API_KEY: an argument would show the key in the pod spec and `ps`
    expect((r.server.args as string[]).filter((a) => a.startsWith("--api-key"))).toEqual([]);
    expect(r.server.args).toContain("--middleware=api_guard.RequireApiKey");
    const cms = r.objects.filter((o) => o.kind === "ConfigMap").map((o) => JSON.stringify(o));
    expect(cms.length).toBeGreaterThan(0);
    expect(cms.filter((t) => t.includes("VLLM_API_KEY=") || t.includes("model-chat-api-key"))).toEqual([]);
  });

  it("GIVEN the simulator (a CPU model) WHEN rendered THEN no key, no middleware and no api-guard ConfigMap (the simulator checks no key)", () => {
    const r = render(undefined);
    expect(r.server.env.map((e: any) => e.name)).not.toContain("VLLM_API_KEY");
    expect((r.server.args as string[]).filter((a) => a.startsWith("--middleware"))).toEqual([]);
    expect(
      r.objects.filter((o) => o.kind === "ConfigMap" && String(o.metadata?.name).endsWith("-api-guard")),
    ).toEqual([]);
  });

  it("GIVEN the rendered server WHEN requests arrive THEN only /health and /metrics pass without the key; the adapter routes, /invocations and every /v1 path need `Bearer <key>`", () => {
    const r = render("gpu", true);
    const bearer = { Authorization: `Bearer ${KEY}` };
    const cases: [string, Record<string, unknown>, boolean][] = [
      ["probe", { path: "/health" }, true],
      ["scrape", { path: "/metrics" }, true],
      ["scrape below", { path: "/metrics/" }, true],
      ["not /health", { path: "/healthz" }, false],
      ["SageMaker load", { method: "POST", path: "/adapters" }, false],
      ["SageMaker unload", { method: "DELETE", path: "/adapters/assist--v1" }, false],
      ["SageMaker inference", { method: "POST", path: "/invocations" }, false],
      ["tokenize", { method: "POST", path: "/tokenize" }, false],
      ["runtime load", { method: "POST", path: "/v1/load_lora_adapter" }, false],
      [
        "runtime load, wrong key",
        { method: "POST", path: "/v1/load_lora_adapter", headers: { Authorization: "Bearer nope" } },
        false,
      ],
      [
        "runtime load, Basic",
        { method: "POST", path: "/v1/load_lora_adapter", headers: { Authorization: `Basic ${KEY}` } },
        false,
      ],
      ["runtime load, key", { method: "POST", path: "/v1/load_lora_adapter", headers: bearer }, true],
      ["SageMaker load, key", { method: "POST", path: "/adapters", headers: bearer }, true],
      [
        "scheme in any case",
        { method: "POST", path: "/v1/chat/completions", headers: { authorization: `bearer ${KEY}` } },
        true,
      ],
      ["CORS preflight", { method: "OPTIONS", path: "/adapters" }, true],
      ["under a root path", { path: "/api/health", root_path: "/api" }, true],
      ["under a root path, no key", { method: "POST", path: "/api/adapters", root_path: "/api" }, false],
    ];
    const out = drive(
      r,
      cases.map((c) => c[1]),
    );
    expect(out.init_error).toBeUndefined();
    const got = cases.map(([what], i) => [what, out.results![i]]);
    expect(got).toEqual(
      cases.map(([what, , pass]) => [
        what,
        pass ? { status: 200, reached: true } : { status: 401, reached: false },
      ]),
    );
    // a websocket without the key is closed before the app sees it
    const ws = drive(r, [{ type: "websocket", path: "/v1/realtime" }]);
    expect(ws.results).toEqual([{ status: 1008, reached: false }]);
  });

  it("GIVEN a server whose Secret is empty WHEN the middleware loads THEN vLLM fails to start with an error naming VLLM_API_KEY (never an open server)", () => {
    const out = drive(render("gpu"), [{ path: "/health" }], { VLLM_API_KEY: "" });
    expect(out.init_error).toBe(
      "RuntimeError: VLLM_API_KEY: expected the model server's API key, found none",
    );
  });
});
