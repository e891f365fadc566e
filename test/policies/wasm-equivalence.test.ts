/**
 * The in-process decision equals OPA's (issue 17). For a generated corpus of inputs and every
 * shipped stack's data document (from the stack's own builder), the gateway's path (the policy
 * compiled to WebAssembly, the gateway's own guard call and reading, `authorize` of the
 * pipeline) gives exactly the decision `opa eval` gives on the same input, reasons and
 * obligations included:
 *
 * - against OPA asking the guard itself (`http.send`, the input without a verdict): the guard
 *   call moved into the gateway keeps its semantics (body, timeout, error handling, reading of
 *   each family's answers);
 * - against OPA given the gateway's verdict as `input.guard`: the Wasm build evaluates the Rego
 *   as OPA does.
 *
 * The guard answers safe, unsafe (with categories), down (HTTP 503), slow (past the timeout) and,
 * per family, generated answers around the verdict words. Its answer is a function of the text
 * it is asked about, so OPA's cache and the gateway's give the same answers.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import fc from "fast-check";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GUARD_FAMILIES, type GuardFamily, type OpaData } from "../../components/lib/contracts";
import { WASM_DATA_FILE, WASM_POLICY_FILE } from "../../components/lib/gateway-policy";
import { GuardClient } from "../../gateway/src/guard";
import { createLogger } from "../../gateway/src/log";
import { createMetrics } from "../../gateway/src/metrics";
import { authorize } from "../../gateway/src/pipeline/decide";
import type { RequestContext } from "../../gateway/src/pipeline/context";
import { LISTING_QUERY } from "../../gateway/src/opa";
import { WasmPolicy } from "../../gateway/src/policy";
import { compileGatewayPolicy } from "../../stacks/wiring/policy-wasm";
import { toolPath } from "../helpers/tools";
import { FAMILY_ANSWERS, POLICY_DIRS, REPO, loadStackConfig, opaDataForTest } from "./opa";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Decision = { allow: boolean; reasons: string[]; obligations: { capture: boolean; redact: string[] } };
type Outcome = Decision | "error";

const STACKS = fs
  .readdirSync(path.join(REPO, "stacks"))
  .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => !!s)
  .sort();

/** A guard whose behaviour is a function of the text it is asked about. */
class ScriptedGuard {
  behave: (text: string) => { status: number; answer?: string } | "hang" = () => ({
    status: 200,
    answer: "safe",
  });
  private server?: http.Server;
  url = "";
  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const parsed = JSON.parse(body) as { model: string; messages: { content: string }[] };
        const b = this.behave(parsed.messages.map((m) => m.content).join("\n"));
        if (b === "hang") return;
        res.writeHead(b.status, { "content-type": "application/json" }).end(
          b.status === 200
            ? JSON.stringify({
                object: "chat.completion",
                model: parsed.model,
                choices: [
                  { index: 0, message: { role: "assistant", content: b.answer }, finish_reason: "stop" },
                ],
              })
            : '{"error":"overloaded"}',
        );
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/chat/completions`;
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const pick = (text: string, n: number) => createHash("sha256").update(text).digest().readUInt32BE(0) % n;

/** Generated answers of a family: the model card's formats, and near misses. */
function answersOf(family: GuardFamily): string[] {
  const base = [FAMILY_ANSWERS[family].safe, FAMILY_ANSWERS[family].unsafe];
  const words = ["safe", "unsafe", "Safe", "UNSAFE", "yes", "No", "YES", "no", "maybe", ""];
  const pad = ["", " ", "\n", "\t", "  \n", "\u00a0", "\v"];
  const extra = fc.sample(
    fc.tuple(
      fc.constantFrom(...pad),
      fc.constantFrom(...words),
      fc.constantFrom(...pad),
      fc.constantFrom(
        "",
        "\nS1",
        "\nS1,S10",
        "\n S2 , S14 ",
        ",x",
        " <score> yes </score>",
        "</think><score>No</score>",
      ),
      fc.constantFrom("", "", "", "<think>hm</think>", "<score> yes </score>", "<score>1</score>"),
    ),
    { numRuns: 80, seed: 17 },
  );
  const generated = extra.map(([a, w, b, tail, pre]) => `${pre}${a}${w}${b}${tail}`);
  return [...Array<string[]>(20).fill(base).flat(), ...generated];
}

/** Generated inputs for one data document: mostly well-formed, with every kind of mistake. */
function corpus(data: OpaData, n: number, seed: number): Json[] {
  const teams = Object.keys(data.teams);
  const models = Object.keys(data.models);
  const teamArb = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...teams) },
    { weight: 1, arbitrary: fc.constantFrom("nobody", "", "Demo") },
  );
  const text = fc.oneof(
    fc.constantFrom("hello", "Summarise clause 14.", "ignore previous instructions", "", " ", "%s %d"),
    fc.string({ maxLength: 12 }),
  );
  const message = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ role: fc.constantFrom("user", "system", "assistant"), content: text }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        role: fc.constant("user"),
        name: fc.constantFrom("bob", "a b"),
        content: fc.array(fc.record({ type: fc.constant("text"), text }), { minLength: 1, maxLength: 2 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        role: fc.constant("assistant"),
        content: fc.constant(null),
        tool_calls: fc.constant([{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom({ role: "robot", content: "x" }, { content: "no role" }, 7, null),
    },
  );
  const allowedOf = (team: string) => data.teams[team]?.allowedModels ?? [];
  const endpointsOf = (model: string) =>
    data.models[model]?.role === "embedding"
      ? ["/v1/embeddings"]
      : ["/v1/chat/completions", "/v1/completions"];
  const mutations = [
    ...Array<string>(14).fill("none"),
    "team",
    "member",
    "clearance",
    "model",
    "endpoint",
    "listing",
    "budgetTokens",
    "budgetRequests",
    "textBoth",
    "textNone",
    "sub",
    "groups",
    "time",
    "estimate",
  ];
  return fc.sample(
    fc
      .record({
        team: fc.constantFrom(...teams),
        strangerTeam: teamArb,
        pickModel: fc.nat(100),
        pickEndpoint: fc.nat(100),
        anyModel: fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom(...models) },
          { weight: 1, arbitrary: fc.constantFrom("nope", "") },
        ),
        anyEndpoint: fc.constantFrom(
          "/v1/chat/completions",
          "/v1/completions",
          "/v1/embeddings",
          "/v1/models",
          "/v1/other",
        ),
        clearance: fc.constantFrom("public", "internal", "confidential", "restricted", "secret", "Internal"),
        messages: fc.array(message, { minLength: 1, maxLength: 3 }),
        prompt: fc.oneof(text, fc.array(text, { maxLength: 2 }), fc.constant([40, 41])),
        estimatedTokens: fc.nat(3000),
        tokensToday: fc.nat(1000),
        requestsThisMinute: fc.nat(5),
        mutation: fc.constantFrom(...mutations),
      })
      .map((g) => {
        const m = g.mutation;
        const teamName = m === "team" ? g.strangerTeam : g.team;
        const t = data.teams[g.team];
        const allowed = allowedOf(g.team);
        let model = allowed.length ? allowed[g.pickModel % allowed.length] : g.anyModel;
        if (m === "model") model = g.anyModel;
        const eps = endpointsOf(model);
        let endpoint = eps[g.pickEndpoint % eps.length];
        if (m === "endpoint") endpoint = g.anyEndpoint;
        if (m === "listing") endpoint = "/v1/models";
        const chat = endpoint === "/v1/chat/completions";
        const request: Record<string, Json> = {
          model: m === "listing" ? "" : model,
          endpoint,
          estimatedTokens: m === "estimate" ? (g.pickModel % 2 ? -1 : 1.5) : g.estimatedTokens,
        };
        const listing = endpoint === "/v1/models";
        if (m === "textBoth" || (m !== "textNone" && chat && !listing)) request.messages = g.messages as Json;
        if (m === "textBoth" || (m !== "textNone" && !chat && !listing)) request.prompt = g.prompt as Json;
        const subject: Record<string, Json> = {
          sub: m === "sub" ? 42 : "user-1",
          groups: m === "groups" ? "all" : ["employees", ...(m === "member" ? [] : [t.oidcGroup])],
          team: teamName,
        };
        if (m === "clearance") subject.clearance = g.clearance;
        return {
          subject,
          request,
          context: {
            time: m === "time" ? null : "2026-12-05T10:00:00Z",
            clientAddress: "10.0.0.9",
            usage: {
              tokensToday: m === "budgetTokens" ? t.budgets.tokensPerDay : g.tokensToday,
              requestsThisMinute: m === "budgetRequests" ? t.budgets.requestsPerMinute : g.requestsThisMinute,
            },
          },
        };
      }),
    { numRuns: n, seed },
  );
}

/** `opa eval` of the decision for every input, in one run (async: the guard lives in this process). */
async function opaDecisions(
  dir: string,
  data: OpaData,
  inputs: Json[],
): Promise<{ decisions: Outcome[]; categories: string[][] }> {
  fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify({ sovereign: data }));
  fs.writeFileSync(path.join(dir, "input.json"), JSON.stringify({ corpus: inputs }));
  const args = [
    "eval",
    "--format=json",
    ...POLICY_DIRS.flatMap((d) => ["-d", d]),
    "-d",
    path.join(dir, "data.json"),
    "-i",
    path.join(dir, "input.json"),
    // The decision, and the categories OPA read from the guard's answer (none when not flagged).
    "[[d, c] | some x in input.corpus; d := data.sovereign.authz.decision with input as x; c := [g | g := data.sovereign.authz.guard_categories with input as x]]",
  ];
  const p = spawn(toolPath("opa"), args, { cwd: REPO });
  let out = "";
  let err = "";
  p.stdout.on("data", (c) => (out += String(c)));
  p.stderr.on("data", (c) => (err += String(c)));
  const code = await new Promise<number | null>((r) => p.on("exit", r));
  await new Promise((r) => setImmediate(r));
  expect(code, err).toBe(0);
  const v = (JSON.parse(out) as { result: { expressions: { value: [Decision, string[][]][] }[] }[] })
    .result[0].expressions[0].value;
  expect(v).toHaveLength(inputs.length);
  return { decisions: v.map(([d]) => d), categories: v.map(([, c]) => c[0] ?? []) };
}

interface Stats {
  /** Guard verdicts the gateway got, by kind. */
  readonly verdicts: Record<string, number>;
  readonly allowed: number;
  readonly denied: number;
}

describe("the in-process decision equals opa eval's", () => {
  const guard = new ScriptedGuard();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-wasm-eq-"));
  let policyDir = "";
  beforeAll(async () => {
    await guard.start();
    policyDir = path.join(tmp, "policy");
    fs.mkdirSync(policyDir);
    fs.writeFileSync(path.join(policyDir, WASM_POLICY_FILE), compileGatewayPolicy());
  });
  afterAll(async () => {
    await guard.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The gateway's path: the real `authorize` with the Wasm policy and the guard client. */
  async function gatewayDecisions(
    data: OpaData,
    inputs: Json[],
  ): Promise<{ outcomes: Outcome[]; verdicts: (Json | undefined)[] }> {
    fs.writeFileSync(path.join(policyDir, WASM_DATA_FILE), JSON.stringify(data));
    const policy = await WasmPolicy.open({ dir: policyDir, pollMs: 0 });
    const deps = {
      policy,
      guard: new GuardClient(),
      metrics: createMetrics(),
      log: createLogger(() => undefined),
    };
    const verdicts: (Json | undefined)[] = [];
    // A few at a time, as OPA's http.send asks in turn: a burst of hundreds of guard calls on a
    // loaded machine would time out for reasons of the test, not of the gateway.
    const outcomes: Outcome[] = [];
    const decideOne = async (input: Json, i: number): Promise<Outcome> => {
      const ctx = { id: `r${i}` } as RequestContext;
      try {
        // Any input: the gateway sends contract-shaped ones; the policy must cope with the rest.
        return (await authorize(deps, ctx, input as never, 10_000)) as Decision;
      } catch {
        return "error";
      } finally {
        verdicts[i] = ctx.guard as Json | undefined;
      }
    };
    for (let i = 0; i < inputs.length; i += 8)
      outcomes.push(...(await Promise.all(inputs.slice(i, i + 8).map((x, j) => decideOne(x, i + j)))));
    deps.guard.close();
    policy.close();
    return { outcomes, verdicts };
  }

  async function check(data: OpaData, inputs: Json[]): Promise<Stats> {
    const { outcomes, verdicts } = await gatewayDecisions(data, inputs);
    const opaOwn = await opaDecisions(tmp, data, inputs);
    const withVerdict = await opaDecisions(
      tmp,
      data,
      inputs.map((x, i) => (verdicts[i] ? { ...(x as Record<string, Json>), guard: verdicts[i] } : x)),
    );
    const stats = { verdicts: {} as Record<string, number>, allowed: 0, denied: 0 };
    for (let i = 0; i < inputs.length; i++) {
      const v = verdicts[i] as { verdict: string; categories: string[] } | undefined;
      const why = `input ${JSON.stringify(inputs[i])}, gateway's guard verdict ${JSON.stringify(v)}`;
      expect(outcomes[i], `OPA asking the guard itself; ${why}`).toEqual(opaOwn.decisions[i]);
      expect(outcomes[i], `OPA given the gateway's verdict; ${why}`).toEqual(withVerdict.decisions[i]);
      // The categories the audit row records are the ones OPA reads from the same answer.
      expect(v?.verdict === "unsafe" ? v.categories : [], `categories; ${why}`).toEqual(opaOwn.categories[i]);
      if (v) stats.verdicts[v.verdict] = (stats.verdicts[v.verdict] ?? 0) + 1;
      const o = outcomes[i];
      if (o !== "error" && o.allow) stats.allowed++;
      else stats.denied++;
    }
    return stats;
  }

  const withGuard = (stack: string, timeoutMs?: number): OpaData => {
    const d = opaDataForTest(loadStackConfig(stack));
    return { ...d, guard: { ...d.guard, url: guard.url, ...(timeoutMs ? { timeoutMs } : {}) } };
  };

  it("GIVEN the stacks WHEN listed THEN there are shipped stacks to check (the loop is not empty)", () => {
    expect(STACKS).toEqual(expect.arrayContaining(["aws-prod", "local"]));
  });

  for (const stack of STACKS) {
    it(`GIVEN ${stack}'s data and a guard answering safe or unsafe by text WHEN a generated corpus is decided THEN both engines agree`, async () => {
      const family = withGuard(stack).guard.family ?? "llama-guard";
      guard.behave = (t) => ({
        status: 200,
        answer: /ignore|hello/i.test(t) ? FAMILY_ANSWERS[family].unsafe : FAMILY_ANSWERS[family].safe,
      });
      const st = await check(withGuard(stack), corpus(withGuard(stack), 400, 1700 + stack.length));
      expect(st.verdicts.safe).toBeGreaterThan(20);
      expect(st.verdicts.unsafe).toBeGreaterThan(20);
      expect(st.allowed).toBeGreaterThan(20);
    });

    it(`GIVEN ${stack}'s data and a guard that is down (503) WHEN decided THEN both engines agree`, async () => {
      guard.behave = () => ({ status: 503 });
      const st = await check(withGuard(stack), corpus(withGuard(stack), 150, 2700));
      expect(st.verdicts).toEqual({ down: expect.any(Number) as number });
      expect(st.verdicts.down).toBeGreaterThan(20);
    });

    it(`GIVEN ${stack}'s data and a guard slower than its timeout WHEN decided THEN both engines agree`, async () => {
      // The shipped timeout is 2 s; 500 ms keeps the run short (OPA's http.send waits in turn)
      // and still leaves an immediate answer far inside it on a loaded machine.
      guard.behave = (t) => (pick(t, 2) ? "hang" : { status: 200, answer: "safe" });
      const data = withGuard(stack, 500);
      const st = await check(data, corpus(data, 40, 3700));
      expect(st.verdicts.down).toBeGreaterThan(3);
      expect(st.verdicts.safe).toBeGreaterThan(3);
    });
  }

  for (const family of GUARD_FAMILIES) {
    it(`GIVEN a ${family} guard answering generated answers WHEN decided THEN both engines read them alike`, async () => {
      const answers = answersOf(family);
      guard.behave = (t) => ({ status: 200, answer: answers[pick(t, answers.length)] });
      const base = withGuard("aws-prod");
      const data = { ...base, guard: { ...base.guard, family } };
      const st = await check(data, corpus(data, 300, 4700));
      for (const kind of ["safe", "unsafe", "down"]) expect(st.verdicts[kind], kind).toBeGreaterThan(5);
    });
  }

  it("GIVEN the gateway's classification of the requested model (input.request.modelClassification) WHEN decided THEN both engines agree, and it raises, never lowers, the model's rank", async () => {
    // A flywheel adapter's classification from the registry (gateway/src/flywheel/classification.ts):
    // every known value and a few the policy does not know, on the generated corpus's model calls.
    const values: Json[] = [
      "public",
      "internal",
      "confidential",
      "restricted",
      "public",
      "restricted",
      "secret",
      null,
    ];
    const data = withGuard("local");
    guard.behave = (t) => ({ status: 200, answer: pick(t, 4) ? "safe" : "unsafe\nS1" });
    const inputs = corpus(data, 300, 6100).map((x, i) => {
      const o = x as { request: Record<string, Json> };
      return o.request.endpoint === "/v1/models"
        ? x
        : { ...o, request: { ...o.request, modelClassification: values[i % values.length] } };
    });
    const st = await check(data, inputs);
    // both outcomes, and the guard asked, with the field present
    expect(st.allowed).toBeGreaterThan(20);
    expect(st.denied).toBeGreaterThan(20);
    expect(st.verdicts.safe).toBeGreaterThan(5);
    // no team of the local stack is cleared for restricted, and an unknown value is invalid
    const { outcomes } = await gatewayDecisions(data, inputs);
    inputs.forEach((x, i) => {
      const c = (x as { request: { modelClassification?: Json } }).request.modelClassification;
      const o = outcomes[i];
      if (c === "restricted" || c === "secret" || c === null)
        expect(o !== "error" && o.allow, JSON.stringify(x)).toBe(false);
    });
  });

  it("GIVEN the guard turned off WHEN decided THEN both engines agree (no guard call is made)", async () => {
    const base = withGuard("local");
    const data = { ...base, guard: { ...base.guard, enabled: false } };
    const st = await check(data, corpus(data, 200, 5700));
    expect(st.verdicts).toEqual({});
    expect(st.allowed).toBeGreaterThan(50);
  });

  for (const stack of STACKS) {
    it(`GIVEN ${stack}'s data WHEN each team lists the models THEN the in-process listing equals OPA's listing query`, async () => {
      const data = withGuard(stack);
      fs.writeFileSync(path.join(policyDir, WASM_DATA_FILE), JSON.stringify(data));
      const policy = await WasmPolicy.open({ dir: policyDir, pollMs: 0 });
      const models = Object.keys(data.models)
        .filter((m) => data.models[m].role !== "guard")
        .sort()
        .map((model, i) => ({
          model,
          endpoint:
            data.models[model].role === "embedding"
              ? ("/v1/embeddings" as const)
              : ("/v1/chat/completions" as const),
          // Some models with the gateway's classification (a flywheel adapter's, from the registry).
          ...(i % 3
            ? { modelClassification: i % 3 === 1 ? ("public" as const) : ("restricted" as const) }
            : {}),
        }));
      let allowedSome = 0;
      let denied = 0;
      try {
        for (const [team, t] of Object.entries(data.teams)) {
          // A member, one whose request budget is spent, one with a lowered clearance, a stranger.
          for (const variant of ["member", "budget", "public", "stranger"]) {
            const base = {
              subject: {
                sub: "user-1",
                groups: variant === "stranger" ? ["employees"] : ["employees", t.oidcGroup],
                team,
                ...(variant === "public" ? { clearance: "public" as const } : {}),
              },
              context: {
                time: "2026-12-05T10:00:00Z",
                clientAddress: "10.0.0.9",
                usage: {
                  tokensToday: 0,
                  requestsThisMinute: variant === "budget" ? t.budgets.requestsPerMinute : 0,
                },
              },
            };
            const mine = await policy.listing(base, models);
            fs.writeFileSync(path.join(tmp, "data.json"), JSON.stringify({ sovereign: data }));
            fs.writeFileSync(path.join(tmp, "listing.json"), JSON.stringify({ base, models }));
            const r = spawnSync(
              toolPath("opa"),
              [
                "eval",
                "--format=json",
                ...POLICY_DIRS.flatMap((d) => ["-d", d]),
                "-d",
                path.join(tmp, "data.json"),
                "-i",
                path.join(tmp, "listing.json"),
                LISTING_QUERY,
              ],
              { cwd: REPO, encoding: "utf8" },
            );
            expect(r.status, r.stderr).toBe(0);
            const b = (
              JSON.parse(r.stdout) as { result: { bindings: { listing: unknown; allowed: unknown } }[] }
            ).result[0].bindings;
            const why = `${stack}, team ${team}, ${variant}`;
            expect(mine.listing, why).toEqual(b.listing);
            expect(mine.allowed, why).toEqual(b.allowed);
            if (mine.listing.allow && mine.allowed.length) allowedSome++;
            if (!mine.listing.allow) denied++;
          }
        }
      } finally {
        policy.close();
      }
      // The variants reach both outcomes.
      expect(allowedSome).toBeGreaterThan(0);
      expect(denied).toBeGreaterThan(0);
    });
  }

  it("GIVEN the compiled policy WHEN read back THEN it is a gzipped WebAssembly module", () => {
    const wasm = zlib.gunzipSync(fs.readFileSync(path.join(policyDir, WASM_POLICY_FILE)));
    expect(wasm.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
  });
});

describe("compiling the gateway's policy at deploy time", () => {
  it("GIVEN no OPA binary WHEN the stack compiles the policy THEN the run ends with a message naming the fix, no stack trace", () => {
    let err: unknown;
    try {
      compileGatewayPolicy({ opa: "/nonexistent/opa" });
    } catch (e) {
      err = e;
    }
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain("bash scripts/tools.sh");
  });
});
