/**
 * The flywheel registry against a real PostgreSQL: migrations apply once, versions are
 * immutable, a model's classification is its dataset's, the canary's transitions leave
 * deployments and audit rows, and the OPA model entries carry the highest serving classification.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initialState, run, type CanaryLimits } from "../../components/lib/flywheel-canary";
import {
  FLYWHEEL_MIGRATIONS,
  migrateFlywheel,
  opaModelEntries,
  recordEvalReport,
  recordTransition,
  registerDataset,
  registerModelVersion,
  serving,
  type DatasetManifest,
} from "../../gateway/src/flywheel/registry";
import { startPostgres, type PostgresInstance } from "../helpers/postgres";

let pg: PostgresInstance;
let pool: Pool;

beforeAll(async () => {
  pg = await startPostgres();
  pool = new Pool({ connectionString: pg.url, max: 4 });
}, 120_000);

afterAll(async () => {
  await pool?.end();
  pg?.destroy();
});

const H = (c: string) => c.repeat(64);
const ds = (version: string, classification: DatasetManifest["classification"]): DatasetManifest => ({
  version,
  team: "research",
  adapter: "support",
  uri: `s3://acme-datasets/teams/research/flywheel/support/${version}/`,
  content_sha256: H("a"),
  classification,
  counts: { kept: 40 },
});
const LIMITS: CanaryLimits = {
  share: 0.2,
  windowMinutes: 10,
  minRequests: 5,
  maxErrorRate: 0.1,
  maxLatencyRatio: 2,
  maxGuardFlagRate: 0.1,
};

describe("flywheel registry (PostgreSQL)", () => {
  it("GIVEN two replicas migrating at once WHEN done THEN each migration applied exactly once", async () => {
    const [a, b] = await Promise.all([migrateFlywheel(pool), migrateFlywheel(pool)]);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(FLYWHEEL_MIGRATIONS.map((m) => m.version));
    expect(await migrateFlywheel(pool)).toEqual([]);
    expect(pg.psql("SELECT count(*) FROM flywheel.schema_migrations").trim()).toBe(
      String(FLYWHEEL_MIGRATIONS.length),
    );
  });

  it("GIVEN a registered dataset and model WHEN someone updates or deletes them THEN the database refuses", async () => {
    await registerDataset(pool, ds("v1", "internal"));
    const cls = await registerModelVersion(pool, {
      id: "support-v1",
      kind: "adapter",
      baseModel: "llama-chat",
      uri: "s3://acme-models/teams/research/support-v1/",
      contentSha256: H("b"),
      datasetVersion: "v1",
    });
    expect(cls).toBe("internal");
    await expect(pool.query("UPDATE flywheel.model_versions SET uri = 'x'")).rejects.toThrow(
      /model_versions rows are immutable \(UPDATE refused\)/,
    );
    await expect(pool.query("DELETE FROM flywheel.dataset_versions")).rejects.toThrow(
      /immutable \(DELETE refused\)/,
    );
    await expect(registerDataset(pool, ds("v1", "internal"))).rejects.toThrow(/duplicate key/);
    await expect(
      registerModelVersion(pool, {
        id: "x",
        kind: "adapter",
        baseModel: "b",
        uri: "s3://m/x/",
        contentSha256: H("c"),
        datasetVersion: "nope",
      }),
    ).rejects.toThrow(/expected a registered dataset "nope"/);
  });

  it("GIVEN a candidate through gate and canary WHEN promoted THEN deployments, audit and OPA entries follow", async () => {
    await registerDataset(pool, ds("v2", "confidential"));
    await registerModelVersion(pool, {
      id: "support-v2",
      kind: "adapter",
      baseModel: "llama-chat",
      uri: "s3://acme-models/teams/research/support-v2/",
      contentSha256: H("d"),
      datasetVersion: "v2",
    });
    await recordEvalReport(pool, "support-v2", "support-v1", { passed: true });
    // v1 was promoted earlier
    const v1 = run(initialState("support-v1"), [{ kind: "start", at: 0 }], LIMITS);
    await recordTransition(pool, "research", "support", v1.state, v1.audit);
    const p1 = run(
      v1.state,
      [{ kind: "observe", at: 600_000, requests: 5, errors: 0, guardFlags: 0 }],
      LIMITS,
    );
    await recordTransition(pool, "research", "support", p1.state, p1.audit);
    // v2 canary: while it runs, the adapter is as classified as its most sensitive serving version
    const c2 = run(initialState("support-v2"), [{ kind: "start", at: 700_000 }], LIMITS);
    await recordTransition(pool, "research", "support", c2.state, c2.audit);
    let rows = await serving(pool);
    expect(rows.map((r) => [r.version, r.phase, r.share])).toEqual([
      ["support-v2", "canary", 0.2],
      ["support-v1", "promoted", 1],
    ]);
    expect(opaModelEntries(rows)).toEqual({
      support: { role: "chat", dataClassification: "confidential", baseModel: "llama-chat" },
    });
    const p2 = run(
      c2.state,
      [{ kind: "observe", at: 1_400_000, requests: 9, errors: 0, guardFlags: 0 }],
      LIMITS,
    );
    expect(p2.state.phase).toBe("promoted");
    await recordTransition(pool, "research", "support", p2.state, p2.audit);
    rows = await serving(pool);
    expect(rows.map((r) => [r.version, r.phase])).toEqual([["support-v2", "promoted"]]);
    const audit = pg.psql(
      "SELECT version || ':' || from_phase || '>' || to_phase FROM flywheel.audit_events ORDER BY id",
    );
    expect(audit.trim().split("\n")).toEqual([
      "support-v1:candidate>canary",
      "support-v1:canary>promoted",
      "support-v2:candidate>canary",
      "support-v2:canary>promoted",
    ]);
    expect(
      pg.psql("SELECT phase FROM flywheel.deployments WHERE model_version = 'support-v1' ORDER BY id").trim(),
    ).toBe("canary\nretired");
  });

  it("GIVEN a second promoted row for one adapter WHEN inserted directly THEN the unique index refuses it", async () => {
    await expect(
      pool.query(
        "INSERT INTO flywheel.deployments (team, adapter, model_version, phase, share, state) VALUES ('research','support','support-v1','promoted',1,'{}')",
      ),
    ).rejects.toThrow(/deployments_one_promoted/);
  });
});
