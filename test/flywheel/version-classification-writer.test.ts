/**
 * A model version's classification is never below its dataset's, whoever writes the row
 * (docs/flywheel.md, "Classification is inherited, never lowered"). `registerModelVersion` copies
 * it from the dataset row, but a team's registry writer (`fw-<team>`, row-level security) may
 * INSERT into `flywheel.model_versions` itself: the database must hold the rule, or a version
 * trained on confidential data registers as public and the gateway (which reads the registry as
 * the tables' owner) serves it to anyone cleared for public. Real PostgreSQL, the gateway's
 * migrations and its grant to the writer, the writer's own login.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../gateway/src/db";
import { viewFromServing } from "../../gateway/src/flywheel/classification";
import {
  grantFlywheelWriter,
  migrateFlywheel,
  registerDataset,
  serving,
} from "../../gateway/src/flywheel/registry";
import { startPostgres, type PostgresInstance } from "../helpers/postgres";

const WRITER = { role: "fw-research", team: "research", adapter: "support" };
let pg: PostgresInstance;
let gateway: Pool;
let writer: Pool;

beforeAll(async () => {
  pg = await startPostgres();
  // as the substrates' login jobs leave it: the gateway owns its database, the writer may log in
  for (const s of [
    "CREATE ROLE gateway LOGIN",
    "CREATE DATABASE gateway OWNER gateway",
    "REVOKE ALL ON DATABASE gateway FROM PUBLIC",
    `CREATE ROLE "${WRITER.role}" LOGIN CONNECTION LIMIT 8`,
  ])
    pg.psql(s);
  const login = (user: string) =>
    new Pool({ host: "127.0.0.1", port: pg.port, user, database: "gateway", max: 2 });
  gateway = login("gateway");
  await migrate(gateway);
  await migrateFlywheel(gateway);
  expect(await grantFlywheelWriter(gateway, WRITER)).toBe(true);
  writer = login(WRITER.role);
}, 120_000);

afterAll(async () => {
  await writer?.end();
  await gateway?.end();
  pg?.destroy();
});

describe("GIVEN a team's writer with a dataset classified confidential", () => {
  it("WHEN it inserts a version of that dataset classified public, and promotes it THEN the registry and the gateway's view hold it as confidential", async () => {
    await registerDataset(writer, {
      version: "d1",
      team: WRITER.team,
      adapter: WRITER.adapter,
      uri: "s3://datasets/teams/research/flywheel/d1/",
      content_sha256: "d".repeat(64),
      classification: "confidential",
      counts: { kept: 10 },
    });
    await writer.query(
      `INSERT INTO flywheel.model_versions (id, team, adapter, kind, base_model, uri, content_sha256, dataset_version, classification)
       VALUES ('v1', $1, $2, 'adapter', 'tiny-chat', 's3://models/flywheel/research/support/v1/adapter/', $3, 'd1', 'public')`,
      [WRITER.team, WRITER.adapter, "a".repeat(64)],
    );
    await writer.query(
      `INSERT INTO flywheel.deployments (team, adapter, model_version, phase, share, state)
       VALUES ($1, $2, 'v1', 'promoted', 1, '{}')`,
      [WRITER.team, WRITER.adapter],
    );
    const stored = await gateway.query("SELECT classification FROM flywheel.model_versions WHERE id = 'v1'");
    expect(stored.rows).toEqual([{ classification: "confidential" }]);
    expect(viewFromServing(await serving(gateway)).classifications).toEqual({ support: "confidential" });
  });

  it("WHEN it inserts a version classified higher than its dataset THEN the higher one stays (never lowered, may be raised)", async () => {
    await writer.query(
      `INSERT INTO flywheel.model_versions (id, team, adapter, kind, base_model, uri, content_sha256, dataset_version, classification)
       VALUES ('v2', $1, $2, 'quantized', 'tiny-chat', 's3://models/flywheel/research/support/v2/adapter/', $3, 'd1', 'restricted')`,
      [WRITER.team, WRITER.adapter, "b".repeat(64)],
    );
    const stored = await gateway.query("SELECT classification FROM flywheel.model_versions WHERE id = 'v2'");
    expect(stored.rows).toEqual([{ classification: "restricted" }]);
  });
});
