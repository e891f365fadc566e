/**
 * The flywheel controller's input checks (gateway/src/flywheel/controller.ts, controller-cli.ts):
 * a run record or canary limits that are wrong are refused naming the field, with exit 2 and
 * no stack trace, before anything touches the registry or a model server. The controller's
 * behaviour against PostgreSQL, the gateway and a vLLM-compatible server is proven end to end
 * in loop.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parseLimits, parseRunRecord } from "../../gateway/src/flywheel/controller";
import { main } from "../../gateway/src/flywheel/controller-cli";

const RUN = {
  team: "demo",
  adapter: "support",
  baseModel: "tiny-chat",
  outcome: "candidate",
  dataset: {
    version: "d1",
    uri: "s3://d/d1/",
    content_sha256: "a".repeat(64),
    classification: "internal",
    counts: { kept: 3 },
  },
  candidate: { version: "d1", uri: "s3://m/d1/adapter/", content_sha256: "b".repeat(64) },
  incumbent: { version: null, uri: null },
  gate: { passed: true, checks: [] },
};
const LIMITS = {
  share: 0.1,
  windowMinutes: 60,
  minRequests: 100,
  maxErrorRate: 0.02,
  maxLatencyRatio: 1.5,
  maxGuardFlagRate: 0.01,
};

function withField(path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(RUN) as Record<string, any>;
  const keys = path.split(".");
  let o = copy;
  for (const k of keys.slice(0, -1)) o = o[k];
  if (value === undefined) delete o[keys.at(-1)!];
  else o[keys.at(-1)!] = value;
  return copy;
}

describe("the controller's run record", () => {
  it("GIVEN the loop's record WHEN parsed THEN the fields the registry needs come through", () => {
    expect(parseRunRecord(RUN)).toMatchObject({
      team: "demo",
      candidate: { version: "d1", content_sha256: "b".repeat(64) },
      incumbent: { version: null },
      gate: { passed: true },
    });
  });

  it.each([
    ["team", undefined, /expected team to be a string/],
    ["candidate.content_sha256", "abc", /expected candidate.content_sha256 to be a string matching/],
    ["dataset.classification", "secret", /expected dataset.classification to be public, internal/],
    ["dataset.counts.kept", -1, /expected dataset.counts.kept to be a whole number/],
    ["gate.passed", "yes", /expected gate.passed to be true or false/],
    ["outcome", "failed", /expected outcome "candidate" or "rejected"/],
    ["incumbent.version", "../x", /expected incumbent.version to be a version id or null/],
  ])("GIVEN %s = %j WHEN parsed THEN it is refused naming the field", (field, value, message) => {
    expect(() => parseRunRecord(withField(field, value))).toThrow(message);
  });
});

describe("the controller's canary limits", () => {
  it("GIVEN the config's defaults WHEN parsed THEN they pass unchanged", () => {
    expect(parseLimits(LIMITS)).toEqual(LIMITS);
  });

  it.each([
    [{ ...LIMITS, share: 0.9 }, /expected share to be in \(0, 0.5\]/],
    [{ ...LIMITS, minRequests: 1.5 }, /expected minRequests to be a whole number/],
    [{ ...LIMITS, maxLatencyRatio: 0.5 }, /expected maxLatencyRatio to be >= 1/],
    [{ ...LIMITS, windowMinute: 1 }, /unknown field\(s\) windowMinute/],
    [[], /expected the canary limits to be an object/],
  ])("GIVEN %j WHEN parsed THEN it is refused naming the field", (raw, message) => {
    expect(() => parseLimits(raw)).toThrow(message);
  });
});

describe("the controller's command line", () => {
  async function cli(argv: string[], stdin: string, env: NodeJS.ProcessEnv = {}) {
    const out: string[] = [];
    const errs: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (s: string) => (errs.push(s), true);
    try {
      const code = await main(
        argv,
        env,
        () => Promise.resolve(stdin),
        (s) => out.push(s),
      );
      return { code, out, err: errs.join("") };
    } finally {
      process.stderr.write = write;
    }
  }

  it("GIVEN bad input WHEN run THEN exit 2 with one line naming it, and no database is reached", async () => {
    expect(await cli(["promote"], "{}")).toMatchObject({
      code: 2,
      err: expect.stringMatching(
        /expected a command \(incumbent, register, canary or from-store\), found "promote"\n$/,
      ),
    });
    expect(await cli(["register"], "not json")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/expected the run record on stdin to be JSON/),
    });
    expect(await cli(["register"], JSON.stringify(withField("adapter", "a b")))).toMatchObject({
      code: 2,
      err: expect.stringMatching(/expected adapter to be a string matching/),
    });
    expect(await cli(["incumbent"], "")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/expected an adapter name after incumbent, found null/),
    });
    expect(await cli(["from-store", "../x"], "")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/expected an adapter name after from-store, found "..\/x"/),
    });
    expect(await cli(["incumbent", "a"], "", { PGSSLMODE: "prefer" })).toMatchObject({
      code: 2,
      err: expect.stringMatching(/expected PGSSLMODE to be disable, require or verify-full, found "prefer"/),
    });
    // no login named: the team's role is never guessed
    expect(await cli(["incumbent", "a"], "", { PGHOST: "127.0.0.1", PGPORT: "1" })).toMatchObject({
      code: 2,
      err: expect.stringMatching(/expected PGUSER in the environment, found nothing/),
    });
    const r = await cli(["register"], JSON.stringify(RUN), {
      PGHOST: "127.0.0.1",
      PGPORT: "1",
      PGUSER: "fw-demo",
    });
    expect(r.code).toBe(3);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
