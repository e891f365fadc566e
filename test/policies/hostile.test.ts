/**
 * The hostile-tenant suite (issue 15): a generated corpus of malformed, mistyped, negative,
 * case- and whitespace-shifted and confusable inputs, decided by the REAL OPA (`opa eval`, one
 * run for the whole corpus) with the prod stack's data document from the stack's own builder.
 * Every case must deny with a named reason (never allow, never only the `denied_by_default`
 * safety net); cases whose cause is known must carry that reason. The guard is mocked to answer
 * "safe", so no denial here can come from the guard: the rigid rules have to catch everything.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AUTHZ_REASONS, DATA_ACCESS_REASONS, type OpaData } from "../../components/lib/contracts";
import { CLASSIFICATIONS } from "../../components/lib/classification";
import { POLICY_DIRS, loadStackConfig, opa, opaDataForTest } from "./opa";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Case {
  readonly name: string;
  readonly input: Json;
  /** A reason the decision must carry (when the cause is known). */
  readonly expect?: string;
}

const config = loadStackConfig("aws-prod");
const data: OpaData = opaDataForTest(config);
const teamName = config.teams[0].name;
const team = data.teams[teamName];
const chatModel = team.allowedModels.find((m) => data.models[m]?.role === "chat")!;
const embeddingModel = team.allowedModels.find((m) => data.models[m]?.role === "embedding");

const context = {
  time: "2026-12-05T10:00:00Z",
  clientAddress: "10.0.0.9",
  usage: { tokensToday: 0, requestsThisMinute: 0 },
};
const subject = { sub: "user-1", groups: ["employees", team.oidcGroup], team: teamName };
const chat = {
  subject,
  request: {
    model: chatModel,
    endpoint: "/v1/chat/completions",
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "Summarise clause 14." },
    ],
    estimatedTokens: 300,
  },
  context,
};
const completion = {
  subject,
  request: { model: chatModel, endpoint: "/v1/completions", prompt: "Once upon a time", estimatedTokens: 40 },
  context,
};
const embedding = embeddingModel
  ? {
      subject,
      request: {
        model: embeddingModel,
        endpoint: "/v1/embeddings",
        prompt: ["clause 14"],
        estimatedTokens: 4,
      },
      context,
    }
  : undefined;
const listing = {
  subject,
  request: { model: "", endpoint: "/v1/models", estimatedTokens: 0 },
  context,
};
const BASES: Record<string, Json> = { chat, completion, listing, ...(embedding ? { embedding } : {}) };

// ---------------------------------------------------------------------------------------
// Value families
// ---------------------------------------------------------------------------------------

const NON_STRINGS: Json[] = [null, 0, -1, 1.5, true, false, [], {}, ["x"], { a: "b" }];
const NON_NUMBERS: Json[] = [null, "10", "", true, [], {}, [1], { n: 1 }];
const BAD_COUNTS: Json[] = [-1, -0.5, 0.5, 1.5, -1e12, -9007199254740991, 1e-9];
const NON_ARRAYS: Json[] = [null, "x", 0, true, {}, { "0": "x" }];
const NON_OBJECTS: Json[] = [null, "x", 0, -1, true, [], [{}]];

/** Confusable letters (Cyrillic and Greek look-alikes of Latin ones). */
const CONFUSABLE: Record<string, string> = {
  a: "а",
  e: "е",
  o: "о",
  c: "с",
  p: "р",
  x: "х",
  i: "і",
  y: "у",
  s: "ѕ",
};

/** Spellings a careless or hostile client might send for a name: none may match it. */
function variants(s: string): string[] {
  const out = new Set<string>([
    s.toUpperCase(),
    s.charAt(0).toUpperCase() + s.slice(1),
    ` ${s}`,
    `${s} `,
    `${s}\n`,
    `\t${s}`,
    `${s}\u0000`,
    `${s.slice(0, 1)}\u200b${s.slice(1)}`,
    `${s}\u00a0`,
    [...s].map((ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0)).join(""), // fullwidth
    `${s}/`,
    `${s}/../${s}`,
    s.normalize("NFD") === s ? `${s}\u0301` : s.normalize("NFD"),
    "",
    " ",
  ]);
  for (const [latin, look] of Object.entries(CONFUSABLE)) {
    const i = s.indexOf(latin);
    if (i >= 0) out.add(s.slice(0, i) + look + s.slice(i + 1));
  }
  out.delete(s);
  return [...out];
}

// ---------------------------------------------------------------------------------------
// Mutation helpers
// ---------------------------------------------------------------------------------------

type Path = (string | number)[];

function setAt(obj: Json, p: Path, value: Json | undefined): Json {
  const copy = structuredClone(obj);
  if (p.length === 0) return value === undefined ? {} : value;
  let cur = copy as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, Json>;
  const last = p[p.length - 1];
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = value;
  return copy;
}

function getAt(obj: Json, p: Path): Json | undefined {
  let cur: Json | undefined = obj;
  for (const k of p) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, Json>)[k];
  }
  return cur;
}

/** The table: each path of each base input with the values that must not pass there. */
function tableCorpus(): Case[] {
  const cases: Case[] = [];
  const add = (base: string, p: Path, values: (Json | undefined)[], expectReason?: string) => {
    for (const v of values)
      cases.push({
        name: `${base} ${p.join(".") || "<input>"} = ${v === undefined ? "<deleted>" : JSON.stringify(v)}`,
        input: setAt(BASES[base], p, v),
        expect: expectReason,
      });
  };
  for (const base of Object.keys(BASES)) {
    add(base, [], NON_OBJECTS, "input_invalid");
    add(base, ["subject"], [...NON_OBJECTS, {}], "input_invalid");
    add(base, ["request"], [...NON_OBJECTS, {}], "input_invalid");
    add(base, ["context"], [...NON_OBJECTS, {}], "input_invalid");
    add(base, ["context", "usage"], [...NON_OBJECTS, {}], "input_invalid");
    add(base, ["subject", "sub"], [...NON_STRINGS, "", " ", "\t\n", undefined], "input_invalid");
    add(
      base,
      ["subject", "groups"],
      [...NON_ARRAYS, [null, team.oidcGroup], [team.oidcGroup, 7], undefined],
      "input_invalid",
    );
    add(
      base,
      ["subject", "groups"],
      [[], ...variants(team.oidcGroup).map((g) => [g])],
      "team_membership_missing",
    );
    add(base, ["subject", "team"], [...NON_STRINGS, undefined], "input_invalid");
    add(base, ["subject", "team"], variants(teamName), "team_unknown");
    add(
      base,
      ["subject", "clearance"],
      [...NON_STRINGS, ...CLASSIFICATIONS.flatMap(variants)],
      "clearance_invalid",
    );
    add(base, ["request", "model"], [...NON_STRINGS, undefined], "input_invalid");
    add(base, ["request", "endpoint"], [...NON_STRINGS, undefined], "input_invalid");
    add(base, ["request", "estimatedTokens"], [...NON_NUMBERS, ...BAD_COUNTS, undefined], "input_invalid");
    add(base, ["request", "estimatedTokens"], [1e30], "budget_tokens_exceeded");
    for (const counter of ["tokensToday", "requestsThisMinute"]) {
      add(base, ["context", "usage", counter], [...NON_NUMBERS, ...BAD_COUNTS, undefined], "input_invalid");
    }
    add(
      base,
      ["context", "usage", "tokensToday"],
      [team.budgets.tokensPerDay + 1, 1e30],
      "budget_tokens_exceeded",
    );
    add(
      base,
      ["context", "usage", "requestsThisMinute"],
      [team.budgets.requestsPerMinute, 1e30],
      "budget_requests_exceeded",
    );
    add(base, ["context", "time"], [...NON_STRINGS, undefined], "input_invalid");
    add(base, ["context", "clientAddress"], [...NON_STRINGS, undefined], "input_invalid");
  }
  for (const base of ["chat", "completion", ...(embedding ? ["embedding"] : [])]) {
    const model = getAt(BASES[base], ["request", "model"]) as string;
    const endpoint = getAt(BASES[base], ["request", "endpoint"]) as string;
    // A variant can coincide with nothing served, or with something the team may not use.
    for (const v of variants(model)) {
      cases.push({
        name: `${base} model = ${JSON.stringify(v)}`,
        input: setAt(BASES[base], ["request", "model"], v),
      });
    }
    add(
      base,
      ["request", "endpoint"],
      [...variants(endpoint), "/v1/chat/completions?x=1", "/v1//chat/completions"],
      "endpoint_not_allowed",
    );
  }
  // Text fields: what the model reads must be readable.
  const tokenIds: Json[] = [
    [40, 4079],
    [
      [40, 4079],
      [1, 2],
    ],
    [[40]],
    ["ok", 40],
    ["ok", ["x"]],
    [null],
  ];
  for (const base of ["completion", ...(embedding ? ["embedding"] : [])]) {
    add(base, ["request", "prompt"], [...tokenIds, null, 0, true, {}, { text: "hi" }], "input_invalid");
    add(base, ["request", "messages"], [chat.request.messages, [], null, "hi"], "input_invalid");
  }
  add("chat", ["request", "prompt"], ["hi", ["hi"], null, [40]], "input_invalid");
  add(
    "chat",
    ["request", "messages"],
    [...NON_ARRAYS, "Summarise clause 14.", [null], [[]], ["user: hi"]],
    "input_invalid",
  );
  for (const i of [0, 1]) {
    const m: Path = ["request", "messages", i];
    add("chat", m, [...NON_OBJECTS, {}], "input_invalid");
    add(
      "chat",
      [...m, "role"],
      [...NON_STRINGS, undefined, "narrator", ...variants(i === 0 ? "system" : "user")],
      "input_invalid",
    );
    add(
      "chat",
      [...m, "content"],
      [
        null,
        undefined,
        0,
        true,
        {},
        [],
        [40, 4079],
        ["bare string"],
        [{ type: "image_url", image_url: { url: "https://example.invalid/a.png" } }],
        [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }],
        [{ type: "file", file: { file_id: "f1" } }],
        [{ type: "text" }],
        [{ type: "text", text: null }],
        [{ type: "TEXT", text: "hi" }],
        [{ type: "text", text: "hi", extra: "unscreened" }],
        [{ text: "hi" }],
      ],
      "input_invalid",
    );
    for (const key of ["reasoning_content", "audio", "Content", "ROLE", "metadata"])
      add("chat", [...m, key], ["unscreened text"], "input_invalid");
    add("chat", [...m, "name"], [0, null, [], {}], "input_invalid");
    add(
      "chat",
      [...m, "tool_calls"],
      [[{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]],
      "input_invalid",
    );
  }
  const assistant = (extra: Record<string, Json>): Json =>
    setAt(chat, ["request", "messages", 2], { role: "assistant", content: null, ...extra });
  for (const [name, extra] of Object.entries<Record<string, Json>>({
    "no tool calls": {},
    "empty tool calls": { tool_calls: [] },
    "tool calls as text": { tool_calls: "f({})" },
    "arguments as object": {
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: { q: 1 } } }],
    },
    "no arguments": { tool_calls: [{ id: "c1", type: "function", function: { name: "f" } }] },
    "null name": { tool_calls: [{ id: "c1", type: "function", function: { name: null, arguments: "{}" } }] },
    "other type": { tool_calls: [{ id: "c1", type: "retrieval", function: { name: "f", arguments: "{}" } }] },
    "extra key": {
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" }, code: "x" }],
    },
    "function_call bad": { function_call: { name: "f", arguments: ["x"] } },
    "refusal not text": { refusal: 1 },
  }))
    cases.push({ name: `chat assistant ${name}`, input: assistant(extra), expect: "input_invalid" });
  cases.push({
    name: "chat tool result as object",
    input: setAt(chat, ["request", "messages", 2], {
      role: "tool",
      tool_call_id: "c1",
      content: { ok: true },
    }),
    expect: "input_invalid",
  });
  return cases;
}

/** Random type-changing mutations anywhere in the inputs (fixed seed: the same corpus each run). */
function randomCorpus(count: number): Case[] {
  const paths: { base: string; path: Path }[] = [];
  const walk = (base: string, v: Json, p: Path) => {
    paths.push({ base, path: p });
    if (v !== null && typeof v === "object")
      for (const [k, c] of Object.entries(v)) walk(base, c, [...p, Array.isArray(v) ? Number(k) : k]);
  };
  for (const [base, v] of Object.entries(BASES)) walk(base, v, []);
  const kind = (v: Json | undefined) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
  const names = new Set<string>([
    ...Object.keys(data.teams),
    ...Object.keys(data.models),
    ...Object.values(data.teams).map((t) => t.oidcGroup),
    ...CLASSIFICATIONS,
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
  ]);
  const textPath = (p: Path) =>
    p.includes("content") || p[p.length - 1] === "prompt" || typeof p[p.length - 1] === "number";
  const arb = fc
    .record({
      at: fc.constantFrom(...paths),
      value: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
        fc.string({ unit: "binary", maxLength: 12 }),
        fc.integer({ max: -1 }),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
      ),
    })
    .filter(({ at, value }) => {
      const old = getAt(BASES[at.base], at.path);
      // The listing endpoint addresses no model: any model string is as good as another.
      if (at.base === "listing" && at.path.join(".") === "request.model" && typeof value === "string")
        return false;
      if (kind(value) === kind(old)) {
        // Same kind: only strings that are no known name where names matter, and numbers that
        // are no valid count.
        if (typeof value === "string")
          return (
            !textPath(at.path) &&
            !names.has(value) &&
            at.path.length > 0 &&
            !["sub", "time", "clientAddress"].includes(String(at.path[at.path.length - 1]))
          );
        if (typeof value === "number") return value < 0 || !Number.isInteger(value);
        return false;
      }
      // A string, or a list of strings, is a readable prompt.
      if (at.path[at.path.length - 1] === "prompt" && typeof value === "string") return false;
      if (
        at.path[at.path.length - 1] === "prompt" &&
        Array.isArray(value) &&
        value.length > 0 &&
        value.every((x) => typeof x === "string")
      )
        return false;
      // The empty path and sections are objects; any other kind must fail.
      return true;
    });
  return fc.sample(arb, { seed: 15, numRuns: count }).map(({ at, value }, i) => ({
    name: `random #${i}: ${at.base} ${at.path.join(".") || "<input>"} = ${JSON.stringify(value).slice(0, 60)}`,
    input: setAt(BASES[at.base], at.path, value),
  }));
}

// ---------------------------------------------------------------------------------------
// Deciding a corpus with the real OPA, in one run
// ---------------------------------------------------------------------------------------

const HARNESS = `package hostile

import data.sovereign.authz
import data.sovereign.data_access

guard_safe(_) := {"status_code": 200, "body": {"choices": [{"index": 0, "message": {"role": "assistant", "content": "safe"}}]}}

# Allow and reasons only: the corpus is large and the answer travels through a pipe.
# The decision, and whether the fast path agrees with the full evaluation on it.
authz_results := {i: [d.allow, d.reasons, d == f] |
	some i, x in data.corpus.authz
	d := authz.decision with input as x with http.send as guard_safe
	f := authz.full_decision with input as x with http.send as guard_safe
}

data_access_results := {i: [d.allow, d.reasons] |
	some i, x in data.corpus.data_access
	d := data_access.decision with input as x
}
`;

function decideAll(authz: Json[], dataAccess: Json[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-hostile-"));
  try {
    fs.writeFileSync(path.join(dir, "harness.rego"), HARNESS);
    fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify({ sovereign: data }));
    fs.writeFileSync(
      path.join(dir, "corpus.json"),
      JSON.stringify({ corpus: { authz, data_access: dataAccess } }),
    );
    const r = opa([
      "eval",
      "--format=json",
      ...POLICY_DIRS.flatMap((d) => ["-d", d]),
      "-d",
      path.join(dir, "harness.rego"),
      "-d",
      path.join(dir, "data.json"),
      "-d",
      path.join(dir, "corpus.json"),
      "data.hostile",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const v = (
      JSON.parse(r.stdout) as {
        result: {
          expressions: {
            value: {
              authz_results: Record<string, [boolean, string[], boolean]>;
              data_access_results: Record<string, [boolean, string[]]>;
            };
          }[];
        }[];
      }
    ).result[0].expressions[0].value;
    const decision = (x: [boolean, string[], boolean?] | undefined) =>
      x ? { allow: x[0], reasons: x[1], fastPathAgrees: x[2] ?? true } : undefined;
    return {
      authz: authz.map((_, i) => decision(v.authz_results[String(i)])),
      dataAccess: dataAccess.map((_, i) => decision(v.data_access_results[String(i)])),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Problems of one decision: allowed, undecided, unnamed or unexpected reasons. */
function problems(
  c: Case,
  d: { allow: boolean; reasons: readonly string[]; fastPathAgrees: boolean } | undefined,
  known: readonly string[],
): string[] {
  if (!d) return [`${c.name}: no decision`];
  const out: string[] = [];
  if (d.allow !== false) out.push(`${c.name}: allowed`);
  if (!d.fastPathAgrees) out.push(`${c.name}: the fast path and the full evaluation disagree`);
  if (d.reasons.length === 0 || (d.reasons.length === 1 && d.reasons[0] === "denied_by_default"))
    out.push(`${c.name}: no named reason (${JSON.stringify(d.reasons)})`);
  for (const r of d.reasons) if (!known.includes(r)) out.push(`${c.name}: unknown reason ${r}`);
  if (c.expect && !d.reasons.includes(c.expect))
    out.push(`${c.name}: expected ${c.expect}, got ${JSON.stringify(d.reasons)}`);
  return out;
}

// ---------------------------------------------------------------------------------------
// Data access corpus
// ---------------------------------------------------------------------------------------

const submission = {
  subject: { sub: "user-1", groups: [team.oidcGroup] },
  team: teamName,
  action: "train",
  dataset: { name: "contracts", classification: team.clearance },
};

function dataAccessCorpus(): Case[] {
  const cases: Case[] = [];
  const add = (p: Path, values: (Json | undefined)[], expectReason?: string) => {
    for (const v of values)
      cases.push({
        name: `data_access ${p.join(".") || "<input>"} = ${v === undefined ? "<deleted>" : JSON.stringify(v)}`,
        input: setAt(submission, p, v),
        expect: expectReason,
      });
  };
  add([], [...NON_OBJECTS, {}], "input_invalid");
  add(["subject"], [...NON_OBJECTS, {}], "input_invalid");
  add(["subject", "sub"], [...NON_STRINGS, "", " ", undefined], "input_invalid");
  add(["subject", "groups"], [...NON_ARRAYS, [null], [team.oidcGroup, 1], undefined], "input_invalid");
  add(["subject", "groups"], [[], ...variants(team.oidcGroup).map((g) => [g])], "team_membership_missing");
  add(["team"], [...NON_STRINGS, undefined], "input_invalid");
  add(["team"], variants(teamName), "team_unknown");
  add(["action"], [...NON_STRINGS, undefined], "input_invalid");
  add(["action"], [...variants("train"), ...variants("evaluate"), "export", "delete"], "action_not_allowed");
  add(["dataset"], [...NON_OBJECTS, {}], "input_invalid");
  add(["dataset", "name"], [...NON_STRINGS, "", " ", "\t", undefined], "input_invalid");
  add(["dataset", "classification"], [...NON_STRINGS, undefined], "input_invalid");
  add(
    ["dataset", "classification"],
    CLASSIFICATIONS.flatMap(variants).filter((v) => v !== ""),
    "classification_invalid",
  );
  return cases;
}

describe("hostile-tenant suite (real OPA, prod stack data)", () => {
  const authzCases = [...tableCorpus(), ...randomCorpus(1500)];
  const daCases = dataAccessCorpus();
  const baselines: Json[] = [...Object.values(BASES), submission];

  it("GIVEN the unmutated inputs WHEN decided THEN they are allowed (the harness can tell allow from deny)", () => {
    const r = decideAll(baselines.slice(0, -1), [submission]);
    for (const d of r.authz) expect(d).toMatchObject({ allow: true, reasons: [] });
    expect(r.dataAccess[0]).toMatchObject({ allow: true, reasons: [] });
  });

  it(`GIVEN ${"a generated corpus"} of malformed, mistyped, negative, case-, whitespace- and confusable-shifted inputs WHEN decided THEN each one is denied with a named reason`, () => {
    expect(authzCases.length).toBeGreaterThan(2000);
    expect(daCases.length).toBeGreaterThan(80);
    const r = decideAll(
      authzCases.map((c) => c.input),
      daCases.map((c) => c.input),
    );
    const found = [
      ...authzCases.flatMap((c, i) => problems(c, r.authz[i], AUTHZ_REASONS)),
      ...daCases.flatMap((c, i) => problems(c, r.dataAccess[i], DATA_ACCESS_REASONS)),
    ];
    expect({ problems: found.length, first: found.slice(0, 40) }).toEqual({ problems: 0, first: [] });
    // The corpus reaches the named reasons it was built for, not just input_invalid.
    const seen = new Set(r.authz.flatMap((d) => d?.reasons ?? []));
    for (const reason of [
      "input_invalid",
      "team_unknown",
      "team_membership_missing",
      "clearance_invalid",
      "endpoint_not_allowed",
      "model_unknown",
      "budget_tokens_exceeded",
      "budget_requests_exceeded",
    ])
      expect(seen, reason).toContain(reason);
  });
});
