/**
 * Fuzzing the running gateway (real OPA, PostgreSQL and the S3 test store) with random and
 * mutated OpenAI requests: wrong types, sizes, nesting, unicode, NUL bytes, huge numbers.
 * Bounded: a fixed number of batches of a fixed size, with a fixed seed per run printed on
 * failure. After each batch the gateway is alive, /healthz answers within a liveness bound,
 * and every 2xx has exactly one audit row and (for generating endpoints) its capture record.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKET, World } from "./helpers/world";

const world = new World();
let url = "";
let token = "";

beforeAll(async () => {
  await world.start();
  ({ url } = await world.gateway({ maxBodyBytes: 256 * 1024 }));
  token = await world.idp.token({ sub: "fuzzer" });
});
afterAll(() => world.stop());

const ENDPOINTS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"] as const;

/** Strings a careless or hostile client sends: unicode, NUL, long runs. */
const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 10 }).map((x) => `${x}\u0000${x}`),
  fc.constantFrom("", "\u0000", "tiny\u0000chat", "a@b.co", "\ud800", "💥".repeat(50), "x".repeat(65_536)),
);
const nastyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 31, 2 ** 53, 1e308, -1, 0, Number.MAX_SAFE_INTEGER + 2),
);
/** Arrays nested up to 200 levels (the gateway's limit is 64). */
const deep = fc
  .integer({ min: 1, max: 200 })
  .map((d) => JSON.parse("[".repeat(d) + "]".repeat(d)) as unknown);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  nastyNumber,
  fc.boolean(),
  fc.constant(null),
  deep,
  fc.jsonValue({ maxDepth: 4 }),
  fc.array(fc.integer({ min: -5, max: 100_000 }), { maxLength: 8 }),
);

const validBody = (endpoint: (typeof ENDPOINTS)[number]) =>
  endpoint === "/v1/chat/completions"
    ? { model: "tiny-chat", messages: [{ role: "user", content: "hello" }] }
    : endpoint === "/v1/completions"
      ? { model: "tiny-chat", prompt: "hello" }
      : { model: "tiny-embed", input: "hello" };

const FIELDS = [
  "model",
  "messages",
  "prompt",
  "input",
  "stream",
  "n",
  "max_tokens",
  "temperature",
  "stop",
  "tools",
  "x",
];

/** A valid body with one to three fields replaced by hostile values, or a wholly random one. */
const request = fc.record({
  endpoint: fc.constantFrom(...ENDPOINTS),
  // model, the field audit rows and labels are keyed by, is mutated most often.
  mutations: fc.array(fc.tuple(fc.constantFrom(...FIELDS, "model", "model", "model"), anyValue), {
    minLength: 0,
    maxLength: 3,
  }),
  random: fc.option(fc.jsonValue({ maxDepth: 6 }), { freq: 5 }),
  messageMutation: fc.option(fc.tuple(fc.constantFrom("role", "content", "tool_calls", "name"), anyValue), {
    freq: 3,
  }),
});

describe("GIVEN random and mutated OpenAI requests against a running gateway", () => {
  it("WHEN each batch has been sent THEN the gateway is alive and healthy, and every 2xx has one audit row and its capture", async () => {
    const BATCHES = 4;
    const PER_BATCH = 40;
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const samples = fc.sample(request, { numRuns: BATCHES * PER_BATCH, seed });
    for (let b = 0; b < BATCHES; b++) {
      const ok: { id: string; endpoint: string }[] = [];
      const statuses: number[] = [];
      await Promise.all(
        samples.slice(b * PER_BATCH, (b + 1) * PER_BATCH).map(async (s) => {
          let body: unknown = validBody(s.endpoint);
          if (s.random !== null) body = s.random;
          else {
            const o = body as Record<string, unknown>;
            for (const [k, v] of s.mutations) o[k] = v;
            if (
              s.messageMutation &&
              Array.isArray(o.messages) &&
              typeof o.messages[0] === "object" &&
              o.messages[0] !== null
            ) {
              (o.messages[0] as Record<string, unknown>)[s.messageMutation[0]] = s.messageMutation[1];
            }
          }
          const r = await fetch(`${url}${s.endpoint}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          const text = await r.text();
          statuses.push(r.status);
          // Never a stack trace or an internal error; errors are OpenAI-shaped.
          expect(r.status, `seed ${seed}: ${text.slice(0, 200)}`).not.toBe(500);
          if (r.status >= 400) {
            const e = (JSON.parse(text) as { error: { type: string; code: string } }).error;
            expect(e.type, `seed ${seed}`).toBeTypeOf("string");
            // A crash inside a stage surfaces as internal_error: never for client input.
            expect(e.code, `seed ${seed}: ${text.slice(0, 200)}`).not.toBe("internal_error");
          } else ok.push({ id: r.headers.get("x-request-id")!, endpoint: s.endpoint });
        }),
      );
      // Still alive after the batch (no timing here: speed lives in the benches).
      const h = await fetch(`${url}/healthz`);
      expect(h.status, `seed ${seed}`).toBe(200);
      const ids = ok.map((x) => x.id);
      const rows = await world.until(async () => {
        const r = await world.query<{ request_id: string; n: number }>(
          "SELECT request_id, count(*)::int AS n FROM gateway_audit WHERE request_id = ANY($1) GROUP BY 1",
          [ids],
        );
        return r.length === ids.length && r;
      }, `audit rows of batch ${b} (seed ${seed})`);
      expect(
        rows.every((r) => r.n === 1),
        `seed ${seed}`,
      ).toBe(true);
      const generating = ok.filter((x) => x.endpoint !== "/v1/embeddings").map((x) => x.id);
      await world.until(() => {
        const got = new Set(
          world.s3.records(BUCKET).flatMap((o) => o.lines.map((l) => l.requestId as string)),
        );
        return generating.every((i) => got.has(i));
      }, `capture records of batch ${b} (seed ${seed})`);
      expect(statuses.length).toBe(PER_BATCH);
    }
  });
});
