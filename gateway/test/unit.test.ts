/** Pure parts of the gateway: SigV4, config, budgets, redaction, decisions and the spill queue. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Authenticator, type ApiKeyRecord } from "../src/auth";
import { compilePatterns, partitionKey, redact } from "../src/capture";
import { ConfigError, loadConfig, routeFor } from "../src/config";
import { createLogger } from "../src/log";
import { OpaUnavailable, parseDecision } from "../src/opa";
import { QuotaTracker, quotaReason, retryAfter } from "../src/quota";
import { signV4, uriEncode } from "../src/s3";
import { SpillQueue } from "../src/spill-queue";

const AWS_EXAMPLE = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

describe("GIVEN the SigV4 signer", () => {
  it("WHEN it signs AWS's documented PUT Object example THEN the signature is the documented one", () => {
    const h = signV4({
      method: "PUT",
      url: new URL(`https://examplebucket.s3.amazonaws.com/${uriEncode("test$file.text", true)}`),
      headers: { Date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
      payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
      region: "us-east-1",
      service: "s3",
      credentials: AWS_EXAMPLE,
      amzDate: "20130524T000000Z",
    });
    expect(h.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
  });

  it("WHEN it signs AWS's documented GET Object example THEN the signature is the documented one", () => {
    const h = signV4({
      method: "GET",
      url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
      headers: { range: "bytes=0-9" },
      payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      region: "us-east-1",
      service: "s3",
      credentials: AWS_EXAMPLE,
      amzDate: "20130524T000000Z",
    });
    expect(h.authorization).toContain(
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  it("WHEN keys hold reserved characters THEN they are encoded the S3 way", () => {
    expect(uriEncode("captures/date=2026-01-01/team=a b/x+y.jsonl", true)).toBe(
      "captures/date%3D2026-01-01/team%3Da%20b/x%2By.jsonl",
    );
  });
});

describe("GIVEN the configuration", () => {
  const env = {
    GATEWAY_OPA_URL: "http://opa:8181",
    GATEWAY_OIDC_ISSUER: "https://idp.example",
    GATEWAY_OIDC_AUDIENCE: "gw",
    GATEWAY_CATALOG: JSON.stringify({
      teams: { a: { oidcGroup: "g", budgets: { tokensPerDay: 10, requestsPerMinute: 1 } } },
      models: { m: { role: "chat" }, l: { role: "chat", baseModel: "m" } },
      routes: { m: "http://model-m:8000/" },
      redactPatterns: ["x+"],
    }),
  };

  it("WHEN it is complete THEN defaults apply and adapters route to their base model's server", () => {
    const c = loadConfig(env);
    expect(c.maxBodyBytes).toBe(1_048_576);
    expect(c.opaTimeoutMs).toBe(250);
    expect(routeFor(c.catalog, "l")).toBe("http://model-m:8000");
    expect(routeFor(c.catalog, "nope")).toBeUndefined();
  });

  it("WHEN a model's dataClassification is not a classification name THEN the problem names the model and value", () => {
    const catalog = (cls: unknown) =>
      JSON.stringify({
        teams: {},
        models: { m: { role: "chat", dataClassification: cls } },
        routes: { m: "http://model-m:8000" },
      });
    expect(loadConfig({ ...env, GATEWAY_CATALOG: catalog("internal") }).catalog.models.m).toEqual({
      role: "chat",
      dataClassification: "internal",
    });
    expect(() => loadConfig({ ...env, GATEWAY_CATALOG: catalog("secret") })).toThrow(
      'catalog.models.m.dataClassification: expected one of public, internal, confidential, restricted, found "secret"',
    );
  });

  it("WHEN a team's flywheelAdapter is bad, or its name cannot make a registry role THEN the problem names the team and value", () => {
    const catalog = (team: string, flywheelAdapter: unknown) =>
      JSON.stringify({
        teams: {
          [team]: { oidcGroup: "g", budgets: { tokensPerDay: 10, requestsPerMinute: 1 }, flywheelAdapter },
        },
        models: {},
        routes: {},
      });
    expect(
      loadConfig({ ...env, GATEWAY_CATALOG: catalog("legal", "legal-assistant") }).catalog.teams.legal,
    ).toMatchObject({
      flywheelAdapter: "legal-assistant",
    });
    expect(() => loadConfig({ ...env, GATEWAY_CATALOG: catalog("legal", 7) })).toThrow(
      "catalog.teams.legal.flywheelAdapter: expected an adapter name, found 7",
    );
    expect(() => loadConfig({ ...env, GATEWAY_CATALOG: catalog("Legal_Team", "x") })).toThrow(
      'catalog.teams.Legal_Team: expected a team with a flywheelAdapter to be named by a DNS-1123 label of at most 40 characters (its registry login is fw-<team>), found "Legal_Team"',
    );
  });

  it("WHEN several values are bad THEN every problem is reported at once, quoting the value", () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({
        ...env,
        GATEWAY_OPA_URL: "opa:8181",
        GATEWAY_MAX_BODY_BYTES: "-3",
        PGSSLMODE: "maybe",
        GATEWAY_CATALOG: JSON.stringify({
          models: { m: { role: "chat" } },
          routes: {},
          redactPatterns: ["(", "(\\w+)@\\1", "x(?=y)"],
        }),
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toEqual([
      'catalog.models.m: expected a route for "m" in catalog.routes, found none',
      expect.stringMatching(
        /^catalog\.redactPatterns: expected a regular expression the linear-time \(RE2\) engine accepts, found "\(": /,
      ),
      expect.stringMatching(/^catalog\.redactPatterns: .* found "\(\\\\w\+\)@\\\\1": .*escape/),
      expect.stringMatching(/^catalog\.redactPatterns: .* found "x\(\?=y\)": .*Perl syntax/),
      'PGSSLMODE: expected disable, require or verify-full, found "maybe"',
      'GATEWAY_MAX_BODY_BYTES: expected an integer >= 1, found "-3"',
      'GATEWAY_OPA_URL: expected an http(s) URL, found "opa:8181"',
    ]);
  });
});

describe("GIVEN per-team budgets", () => {
  const budgets = { tokensPerDay: 100, requestsPerMinute: 2 };
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 30);

  it("WHEN the request rate is spent THEN 429 with the seconds left in the minute", () => {
    const q = new QuotaTracker();
    q.admit("a", budgets, t0);
    q.admit("a", budgets, t0);
    expect(() => q.admit("a", budgets, t0)).toThrow(
      expect.objectContaining({ status: 429, headers: { "retry-after": "30" } }),
    );
    expect(q.admit("a", budgets, t0 + 30_000)).toEqual({ tokensToday: 0, requestsThisMinute: 0 });
  });

  it("WHEN the day's tokens are spent THEN 429 until UTC midnight", () => {
    const q = new QuotaTracker();
    q.addTokens("a", 100, t0);
    expect(() => q.admit("a", budgets, t0)).toThrow(
      expect.objectContaining({ status: 429, code: "budget_tokens_exceeded" }),
    );
    expect(retryAfter("day", t0)).toBe(12 * 3600 - 30);
  });

  it("WHEN totals are synced from Postgres THEN what was counted meanwhile is kept", () => {
    const q = new QuotaTracker();
    q.addTokens("a", 10, t0);
    const mark = q.beginSync();
    q.addTokens("a", 5, t0);
    q.endSync(mark, new Map([["a", { tokens: 50, requests: 1 }]]), t0);
    expect(q.snapshot("a", t0).tokensToday).toBe(55);
    // Totals that miss this replica's queued rows never lower its own count.
    q.admit("a", budgets, t0);
    q.endSync(q.beginSync(), new Map(), t0);
    expect(q.snapshot("a", t0)).toEqual({ tokensToday: 55, requestsThisMinute: 2 });
  });

  it("WHEN a denial's reasons are all budgets THEN it is a 429, otherwise a 403", () => {
    expect(quotaReason(["budget_requests_exceeded"])).toBe("minute");
    expect(quotaReason(["budget_requests_exceeded", "budget_tokens_exceeded"])).toBe("day");
    expect(quotaReason(["budget_tokens_exceeded", "model_not_allowed"])).toBeUndefined();
    expect(quotaReason([])).toBeUndefined();
  });
});

describe("GIVEN capture", () => {
  it("WHEN records are redacted THEN every string is cleaned deeply", () => {
    const p = compilePatterns(["[a-z]+@[a-z]+\\.com", "\\b\\d{3}-\\d{2}-\\d{4}\\b"]);
    expect(redact({ a: ["mail x@y.com", { b: "ssn 123-45-6789 twice 123-45-6789" }], n: 3 }, p)).toEqual({
      a: ["mail [REDACTED]", { b: "ssn [REDACTED] twice [REDACTED]" }],
      n: 3,
    });
  });

  it("WHEN a key is built THEN it is partitioned by team first (one prefix per team), then date and model", () => {
    expect(
      partitionKey("captures/", { ts: "2026-03-04T05:06:07.000Z", team: "legal", model: "legal-lora" }, "b1"),
    ).toBe("captures/team=legal/date=2026-03-04/model=legal-lora/b1.jsonl");
  });
});

describe("GIVEN OPA answers", () => {
  it("WHEN the result is missing or malformed THEN it is treated as unavailable (fail closed)", () => {
    expect(() => parseDecision("{}")).toThrow(OpaUnavailable);
    expect(() => parseDecision('{"result":{"allow":true}}')).toThrow(OpaUnavailable);
    expect(() => parseDecision("nope")).toThrow(OpaUnavailable);
    expect(
      parseDecision('{"result":{"allow":false,"reasons":["x"],"obligations":{"capture":false,"redact":[]}}}'),
    ).toEqual({
      allow: false,
      reasons: ["x"],
      obligations: { capture: false, redact: [] },
    });
  });
});

describe("GIVEN the spill queue", () => {
  const mk = (dir: string, deliver: (b: { id: string; records: readonly number[] }) => Promise<void>) =>
    new SpillQueue<number>({
      name: "t",
      dir,
      instanceId: "i",
      maxInMemory: 1000,
      batchSize: 10,
      flushIntervalMs: 10_000,
      retryIntervalMs: 10_000,
      deliver,
      log: createLogger(() => undefined),
    });

  it("WHEN the sink fails THEN batches go to disk and a later process delivers them once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spill-"));
    const q1 = mk(dir, async () => {
      throw new Error("down");
    });
    await q1.start();
    for (let i = 0; i < 25; i++) q1.push(i);
    await q1.close();
    expect(q1.onDisk).toBe(25);
    const got: number[] = [];
    const ids = new Set<string>();
    const q2 = mk(dir, async (b) => {
      ids.add(b.id);
      got.push(...b.records);
    });
    await q2.start();
    expect(q2.onDisk).toBe(25);
    await q2.retry();
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(q2.onDisk).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
    await q2.close();
  });
});

describe("GIVEN API keys remembered by a gateway replica", () => {
  const catalog = {
    teams: { demo: { oidcGroup: "demo", budgets: { tokensPerDay: 1000, requestsPerMinute: 10 } } },
    models: {},
    routes: {},
    redactPatterns: [],
  };
  const oidc = { issuer: "https://idp.invalid", audience: "x", groupsClaim: "groups", clockToleranceSec: 5 };
  const KEY = "sk-sov-abc.def";
  const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
  afterEach(() => vi.useRealTimers());

  /** An Authenticator over a key table the test edits, at a clock the test sets. */
  function world(rec: ApiKeyRecord | undefined, apiKeyCacheMs?: number) {
    const table = { rec };
    let lookups = 0;
    const auth = new Authenticator({
      oidc,
      catalog,
      apiKeyCacheMs,
      apiKeys: () => {
        lookups++;
        return Promise.resolve(table.rec);
      },
    });
    vi.useFakeTimers({ toFake: ["Date"] });
    const at = (ms: number) => (
      vi.setSystemTime(T0 + ms),
      auth.authenticate(`Bearer ${KEY}`).then(
        (p) => p.team,
        (e: { status?: number }) => e.status,
      )
    );
    return { table, at, lookups: () => lookups };
  }

  it("WHEN a cached key reaches its expiry THEN it is refused at once, not when the cache entry ages out", async () => {
    const w = world({ id: "k1", team: "demo", expiresAt: T0 + 1000 });
    expect(await w.at(0)).toBe("demo");
    expect(await w.at(999)).toBe("demo");
    expect(await w.at(1000)).toBe(401);
    expect(await w.at(20_000)).toBe(401);
  });

  it("WHEN a key is revoked THEN a replica stops accepting it within apiKeyCacheMs", async () => {
    const w = world({ id: "k1", team: "demo" }, 2000);
    expect(await w.at(0)).toBe("demo");
    w.table.rec = undefined; // revoked in the database
    expect(await w.at(1999)).toBe("demo"); // still remembered: the documented delay
    expect(await w.at(2000)).toBe(401);
    expect(w.lookups()).toBe(2);
  });

  it("WHEN no cache time is set THEN a revoked key is remembered for the default 30 s, no longer", async () => {
    const w = world({ id: "k1", team: "demo" });
    expect(await w.at(0)).toBe("demo");
    w.table.rec = undefined;
    expect(await w.at(29_999)).toBe("demo");
    expect(await w.at(30_000)).toBe(401);
  });
});

describe("GIVEN a non-streaming answer to screen", () => {
  it("WHEN it holds content, a refusal, completion text and tool calls THEN the guard's text has every one", async () => {
    const { answerText } = await import("../src/pipeline/proxy");
    const text = answerText([
      {
        message: {
          content: "the content",
          refusal: "the refusal",
          tool_calls: [{ function: { name: "lookup", arguments: '{"q":"x"}' } }],
        },
      },
      { text: "the completion" },
    ]);
    for (const part of ["the content", "the refusal", 'lookup({"q":"x"})', "the completion"])
      expect(text).toContain(part);
  });
});
