/**
 * Audit rows go to PostgreSQL in batches: one multi-row INSERT per batch (with the usage
 * counters in the same statement), idempotent when a batch is delivered again. Real PostgreSQL.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";
import { insertAudit, migrate, type AuditRow } from "../src/db";

let pg: PostgresInstance;
let pool: Pool;
let statements = 0;

beforeAll(async () => {
  pg = await startPostgres();
  pool = new Pool({ host: pg.host, port: pg.port, user: pg.user, database: pg.database, max: 2 });
  await migrate(pool);
  const query = pool.query.bind(pool) as (...a: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...a: unknown[]) => Promise<unknown> }).query = (...a: unknown[]) => {
    statements++;
    return query(...a);
  };
});
afterAll(async () => {
  await pool.end();
  pg.destroy();
});

const row = (i: number): AuditRow => ({
  requestId: `req-${i}`,
  ts: "2026-12-05T10:00:00.000Z",
  subject: "alice",
  authKind: "oidc",
  team: "demo",
  model: "tiny-chat",
  endpoint: "/v1/chat/completions",
  tokensIn: 3,
  tokensOut: 4,
  latencyMs: 1.5,
  decision: i % 10 === 0 ? "deny" : "allow",
  reasons: i % 10 === 0 ? ["guard_flagged"] : [],
  ...(i % 10 === 0
    ? { guard: "unsafe", guardCategories: ["S1", "S14"] }
    : { guard: "safe", guardCategories: [] }),
  status: i % 10 === 0 ? 403 : 200,
  streamed: false,
  captured: false,
  instance: "test",
});

describe("GIVEN a batch of 500 audit rows", () => {
  const batch = { id: "b1", records: Array.from({ length: 500 }, (_, i) => row(i)) };

  it("WHEN it is delivered THEN one statement writes every row, the guard's verdict and categories, and the usage", async () => {
    statements = 0;
    await insertAudit(pool, batch);
    expect(statements).toBe(1);
    const n = await pool.query<{ n: string }>("SELECT count(*) AS n FROM gateway_audit");
    expect(Number(n.rows[0].n)).toBe(500);
    const flagged = await pool.query(
      "SELECT guard, guard_categories FROM gateway_audit WHERE request_id = 'req-10'",
    );
    expect(flagged.rows[0]).toEqual({ guard: "unsafe", guard_categories: ["S1", "S14"] });
    const safe = await pool.query(
      "SELECT guard, guard_categories FROM gateway_audit WHERE request_id = 'req-11'",
    );
    expect(safe.rows[0]).toEqual({ guard: "safe", guard_categories: [] });
    const u = await pool.query<{ tokens: string; requests: string }>(
      "SELECT tokens, requests FROM gateway_usage WHERE team = 'demo'",
    );
    expect(u.rows[0]).toEqual({ tokens: String(500 * 7), requests: "450" });
  });

  it("WHEN the same batch is delivered again (a retry) THEN nothing is written twice", async () => {
    await insertAudit(pool, batch);
    const n = await pool.query<{ n: string }>("SELECT count(*) AS n FROM gateway_audit");
    expect(Number(n.rows[0].n)).toBe(500);
    const u = await pool.query<{ tokens: string }>("SELECT tokens FROM gateway_usage WHERE team = 'demo'");
    expect(u.rows[0].tokens).toBe(String(500 * 7));
  });
});
