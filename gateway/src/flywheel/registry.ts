/**
 * The flywheel's registry and lineage in Postgres, in its own schema `flywheel` with its own
 * migrations (same pattern as gateway/src/db.ts: versioned, applied once under an advisory lock):
 *
 * - dataset_versions: one immutable dataset (URI, content hash, counts, exclusions, manifest);
 * - model_versions: one immutable adapter or quantized variant (URI + content hash), the dataset
 *   it was trained on, and its classification: the dataset's (the highest classification of its
 *   training data), never lower;
 * - eval_reports: the gate's report, stored with the candidate;
 * - deployments: which version serves where (team, adapter name) in which phase, since when;
 * - audit_events: every canary transition.
 *
 * Rows of the first three tables cannot be updated or deleted (a trigger refuses it), so a URI
 * and its hash, once recorded, stay what was evaluated.
 */
import type { Pool, PoolClient } from "pg";
import { flywheelRoleOf, type CatalogTeam } from "../../../components/lib/contracts";
import type { AuditEvent, CanaryState } from "../../../components/lib/flywheel-canary";
import { MIGRATION_LOCK_WAIT_MS } from "../config";
import { advisoryLockWithin, migrationsRecorded } from "../db";

export const FLYWHEEL_MIGRATION_LOCK_KEY = 7_361_229_014;

const CLASSES = ["public", "internal", "confidential", "restricted"] as const;
export type Classification = (typeof CLASSES)[number];

export const FLYWHEEL_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "registry and lineage",
    sql: `
      CREATE TABLE flywheel.dataset_versions (
        id              text PRIMARY KEY,
        team            text NOT NULL,
        adapter         text NOT NULL,
        uri             text NOT NULL UNIQUE,
        content_sha256  text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
        classification  text NOT NULL CHECK (classification IN ('public','internal','confidential','restricted')),
        records         integer NOT NULL CHECK (records >= 0),
        manifest        jsonb NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE flywheel.model_versions (
        id              text PRIMARY KEY,
        team            text NOT NULL,
        adapter         text NOT NULL,
        kind            text NOT NULL CHECK (kind IN ('adapter','quantized')),
        base_model      text NOT NULL,
        uri             text NOT NULL UNIQUE,
        content_sha256  text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
        dataset_version text NOT NULL REFERENCES flywheel.dataset_versions(id),
        classification  text NOT NULL CHECK (classification IN ('public','internal','confidential','restricted')),
        created_at      timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE flywheel.eval_reports (
        id                bigserial PRIMARY KEY,
        model_version     text NOT NULL REFERENCES flywheel.model_versions(id),
        incumbent_version text REFERENCES flywheel.model_versions(id),
        passed            boolean NOT NULL,
        report            jsonb NOT NULL,
        created_at        timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE flywheel.deployments (
        id            bigserial PRIMARY KEY,
        team          text NOT NULL,
        adapter       text NOT NULL,
        model_version text NOT NULL REFERENCES flywheel.model_versions(id),
        phase         text NOT NULL CHECK (phase IN ('candidate','canary','promoted','rolled_back','retired')),
        share         double precision NOT NULL DEFAULT 0 CHECK (share >= 0 AND share <= 1),
        state         jsonb NOT NULL,
        since         timestamptz NOT NULL DEFAULT now(),
        until         timestamptz
      );
      -- at most one current promoted and one current canary version per served adapter
      CREATE UNIQUE INDEX deployments_one_promoted ON flywheel.deployments (adapter) WHERE phase = 'promoted' AND until IS NULL;
      CREATE UNIQUE INDEX deployments_one_canary ON flywheel.deployments (adapter) WHERE phase = 'canary' AND until IS NULL;
      CREATE TABLE flywheel.audit_events (
        id          bigserial PRIMARY KEY,
        ts          timestamptz NOT NULL DEFAULT now(),
        team        text NOT NULL,
        adapter     text NOT NULL,
        version     text NOT NULL,
        from_phase  text NOT NULL,
        to_phase    text NOT NULL,
        reason      text NOT NULL,
        detail      jsonb NOT NULL DEFAULT '{}'
      );
      CREATE FUNCTION flywheel.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'flywheel.% rows are immutable (% refused)', TG_TABLE_NAME, TG_OP;
      END $$;
      CREATE TRIGGER dataset_versions_immutable BEFORE UPDATE OR DELETE ON flywheel.dataset_versions
        FOR EACH ROW EXECUTE FUNCTION flywheel.refuse_change();
      CREATE TRIGGER model_versions_immutable BEFORE UPDATE OR DELETE ON flywheel.model_versions
        FOR EACH ROW EXECUTE FUNCTION flywheel.refuse_change();
      CREATE TRIGGER eval_reports_immutable BEFORE UPDATE OR DELETE ON flywheel.eval_reports
        FOR EACH ROW EXECUTE FUNCTION flywheel.refuse_change();`,
  },
  {
    version: 2,
    name: "one writer role per team, row-level security",
    // Each team's controller logs in as its own role (`fw-<team>`, flywheelRoleOf). The
    // gateway (the tables' owner, which bypasses row-level security: no FORCE) records which
    // team and which adapter each role writes (`writers`, from its catalog); the policies let a
    // role read and write only its team's rows, register and deploy only its team's adapter
    // (adapter names are global: the one-promoted/one-canary indexes are on the adapter alone),
    // and link only its own datasets and versions (`gateway_audit`: see flywheelWriterGrants).
    // A role without a `writers` row sees and writes nothing:
    // the former shared `flywheel` role among them; its grants are revoked here too.
    sql: `
      CREATE TABLE flywheel.writers (
        role    name PRIMARY KEY,
        team    text NOT NULL UNIQUE,
        adapter text NOT NULL UNIQUE
      );
      ALTER TABLE flywheel.writers ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_row ON flywheel.writers FOR SELECT USING (role = current_user);

      ALTER TABLE flywheel.dataset_versions ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_team ON flywheel.dataset_versions
        USING (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user AND w.team = dataset_versions.team))
        WITH CHECK (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user
                            AND w.team = dataset_versions.team AND w.adapter = dataset_versions.adapter));

      ALTER TABLE flywheel.model_versions ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_team ON flywheel.model_versions
        USING (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user AND w.team = model_versions.team))
        WITH CHECK (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user
                            AND w.team = model_versions.team AND w.adapter = model_versions.adapter)
                    AND EXISTS (SELECT FROM flywheel.dataset_versions d WHERE d.id = model_versions.dataset_version
                                AND d.team = model_versions.team AND d.adapter = model_versions.adapter));

      -- eval_reports has no team column: a report is its model version's (which RLS filters).
      ALTER TABLE flywheel.eval_reports ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_team ON flywheel.eval_reports
        USING (EXISTS (SELECT FROM flywheel.model_versions m WHERE m.id = eval_reports.model_version))
        WITH CHECK (EXISTS (SELECT FROM flywheel.model_versions m WHERE m.id = eval_reports.model_version)
                    AND (eval_reports.incumbent_version IS NULL
                         OR EXISTS (SELECT FROM flywheel.model_versions m WHERE m.id = eval_reports.incumbent_version)));

      ALTER TABLE flywheel.deployments ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_team ON flywheel.deployments
        USING (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user AND w.team = deployments.team))
        WITH CHECK (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user
                            AND w.team = deployments.team AND w.adapter = deployments.adapter)
                    AND EXISTS (SELECT FROM flywheel.model_versions m WHERE m.id = deployments.model_version
                                AND m.adapter = deployments.adapter));

      ALTER TABLE flywheel.audit_events ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_team ON flywheel.audit_events
        USING (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user AND w.team = audit_events.team))
        WITH CHECK (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user
                            AND w.team = audit_events.team AND w.adapter = audit_events.adapter));

      DO $$
      BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'flywheel') THEN
          REVOKE ALL ON ALL TABLES IN SCHEMA flywheel FROM flywheel;
          REVOKE ALL ON ALL SEQUENCES IN SCHEMA flywheel FROM flywheel;
          REVOKE ALL ON SCHEMA flywheel FROM flywheel;
          IF to_regclass('gateway_audit') IS NOT NULL THEN
            REVOKE ALL ON gateway_audit FROM flywheel;
          END IF;
          EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM flywheel', current_database());
        END IF;
      END $$;`,
  },
  {
    version: 3,
    name: "a model version is never classified below its dataset",
    // registerModelVersion copies the dataset's classification, but a team's writer may INSERT
    // a model version itself (migration 2 lets it, for its own dataset): the database raises a
    // lower classification to the dataset's. The dataset row is read as the inserting role
    // (row-level security: a writer sees its own datasets, the only ones its rows may name).
    sql: `
      CREATE FUNCTION flywheel.classification_rank(c text) RETURNS integer
        LANGUAGE sql IMMUTABLE
        AS $$ SELECT array_position(ARRAY['public','internal','confidential','restricted'], c) $$;
      CREATE FUNCTION flywheel.not_below_dataset() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        inherited text;
      BEGIN
        SELECT d.classification INTO inherited FROM flywheel.dataset_versions d WHERE d.id = NEW.dataset_version;
        IF inherited IS NOT NULL
           AND flywheel.classification_rank(inherited) > flywheel.classification_rank(NEW.classification) THEN
          NEW.classification := inherited;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER model_versions_not_below_dataset BEFORE INSERT ON flywheel.model_versions
        FOR EACH ROW EXECUTE FUNCTION flywheel.not_below_dataset();`,
  },
];

/**
 * Applies pending flywheel migrations under an advisory lock, waiting at most `lockWaitMs` for it
 * (a MigrationLockTimeout past that: a team's writer may hold the key); returns the versions applied.
 */
export async function migrateFlywheel(pool: Pool, lockWaitMs = MIGRATION_LOCK_WAIT_MS): Promise<number[]> {
  const client: PoolClient = await pool.connect();
  const applied: number[] = [];
  try {
    const all = FLYWHEEL_MIGRATIONS.map((m) => m.version);
    if (await migrationsRecorded(client, "flywheel.schema_migrations", all)) return applied;
    await advisoryLockWithin(
      client,
      FLYWHEEL_MIGRATION_LOCK_KEY,
      lockWaitMs,
      "the flywheel registry's migrations",
    );
    try {
      await client.query("CREATE SCHEMA IF NOT EXISTS flywheel");
      await client.query(
        "CREATE TABLE IF NOT EXISTS flywheel.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      const done = new Set(
        (await client.query<{ version: number }>("SELECT version FROM flywheel.schema_migrations")).rows.map(
          (r) => r.version,
        ),
      );
      for (const m of FLYWHEEL_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query("INSERT INTO flywheel.schema_migrations (version, name) VALUES ($1, $2)", [
            m.version,
            m.name,
          ]);
          await client.query("COMMIT");
        } catch (e) {
          await client.query("ROLLBACK");
          throw new Error(`flywheel migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
        }
        applied.push(m.version);
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [FLYWHEEL_MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
  return applied;
}

/** One team's registry writer: its login role, its team and the adapter it may write. */
export interface FlywheelWriter {
  readonly role: string;
  readonly team: string;
  readonly adapter: string;
}

/** The writers of the teams with the flywheel on (catalog teams with a `flywheelAdapter`). */
export function flywheelWriters(teams: Readonly<Record<string, CatalogTeam>>): FlywheelWriter[] {
  return Object.entries(teams).flatMap(([team, t]) =>
    t.flywheelAdapter ? [{ role: flywheelRoleOf(team), team, adapter: t.flywheelAdapter }] : [],
  );
}

/**
 * What a team's writer may do in the registry, and nothing more: read, append versions,
 * reports, deployments and audit events, and move a deployment row along (phase, share, state,
 * until). No DELETE, no TRUNCATE, no DDL, no change of a deployment's version, adapter or team.
 * Of the gateway's own tables only the `gateway_audit` columns the canary observes per version
 * (`versionCounts` in controller.ts): never who asked (`subject`, `team`, request ids) or the
 * guard's text. Which ROWS it reads and writes, its team's and its adapter's only, the policies
 * of migration 2 decide (from its `writers` row). Idempotent; applied after every migration run
 * so tables added later are covered.
 */
export function flywheelWriterGrants(role: string): string[] {
  const r = quoteIdent(role);
  return [
    `GRANT USAGE ON SCHEMA flywheel TO ${r}`,
    `GRANT SELECT ON flywheel.schema_migrations, flywheel.writers TO ${r}`,
    `GRANT SELECT, INSERT ON flywheel.dataset_versions, flywheel.model_versions, flywheel.eval_reports, flywheel.audit_events, flywheel.deployments TO ${r}`,
    `GRANT UPDATE (phase, share, state, until) ON flywheel.deployments TO ${r}`,
    `GRANT USAGE ON ALL SEQUENCES IN SCHEMA flywheel TO ${r}`,
    // Of `gateway_audit` only its adapter's rows (its stable name, whichever version served):
    // the canary's observation. The policy comes in the same transaction as the first grant on
    // that table (the gateway's own migrations create it; the owner bypasses the policy).
    `DO $$ BEGIN
       IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'gateway_audit'::regclass) THEN
         ALTER TABLE gateway_audit ENABLE ROW LEVEL SECURITY;
       END IF;
       IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = 'gateway_audit'::regclass AND polname = 'flywheel_own_adapter') THEN
         CREATE POLICY flywheel_own_adapter ON gateway_audit FOR SELECT
           USING (EXISTS (SELECT FROM flywheel.writers w WHERE w.role = current_user AND w.adapter = gateway_audit.model));
       END IF;
     END $$`,
    `GRANT SELECT (ts, model, flywheel_version, status, reasons, latency_ms) ON gateway_audit TO ${r}`,
  ];
}

function quoteIdent(s: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,62}$/.test(s))
    throw new Error(`expected a Postgres role name of lowercase letters, digits, '_' and '-', found "${s}"`);
  return `"${s}"`;
}

/**
 * Grants a team's writer role its registry rights (and CONNECT on this database, which the
 * login job revokes from PUBLIC) and records its team and adapter (`flywheel.writers`, what the
 * row-level security policies read) when the role exists; returns whether it did. The caller
 * owns the schema (it ran the migrations) and the database. An adapter the configuration moved
 * to another team is that team's from then on: the former team's `writers` row goes (its role
 * then reads and writes nothing).
 */
export async function grantFlywheelWriter(pool: Pool, w: FlywheelWriter): Promise<boolean> {
  const stmts = flywheelWriterGrants(w.role);
  const client = await pool.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [w.role]);
    if (exists.rowCount === 0) return false;
    // Never wait: every login may take an advisory lock (a writer could hold this key forever,
    // and a waiting grant would hold the gateway's start and one pool connection per sync).
    // Held: not granted this time, the next registry sync tries again.
    const locked = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [
      FLYWHEEL_MIGRATION_LOCK_KEY,
    ]);
    if (!locked.rows[0].ok)
      throw new Error(
        `flywheel writer grants to "${w.role}": the registry's lock is held by another session`,
      );
    try {
      await client.query("BEGIN");
      try {
        const db = (await client.query<{ d: string }>("SELECT current_database() AS d")).rows[0].d;
        await client.query(`GRANT CONNECT ON DATABASE "${db.replace(/"/g, '""')}" TO ${quoteIdent(w.role)}`);
        for (const s of stmts) await client.query(s);
        await client.query("DELETE FROM flywheel.writers WHERE adapter = $1 AND role <> $2", [
          w.adapter,
          w.role,
        ]);
        await closeFormerTeamsDeployments(client, w);
        await client.query(
          `INSERT INTO flywheel.writers (role, team, adapter) VALUES ($1, $2, $3)
           ON CONFLICT (role) DO UPDATE SET team = EXCLUDED.team, adapter = EXCLUDED.adapter`,
          [w.role, w.team, w.adapter],
        );
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK");
        throw new Error(`flywheel writer grants to "${w.role}" failed: ${(e as Error).message}`);
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [FLYWHEEL_MIGRATION_LOCK_KEY]);
    }
    return true;
  } finally {
    client.release();
  }
}

/**
 * An adapter the configuration moved to `w.team` (a team renamed, or the name given to another
 * team): the open deployment rows another team wrote for it (its promoted version, a candidate or
 * canary) are closed, promoted as `retired`, the others `rolled_back`, with an `adapter_moved`
 * audit event each. They would otherwise go on serving a model trained on the former team's
 * captures under the new team's adapter, and the new team's writer, which row-level security does
 * not let see or close them, could never promote its first version (one open promoted row per
 * adapter). Runs with the writer's grant, in its transaction, as the tables' owner.
 */
async function closeFormerTeamsDeployments(client: PoolClient, w: FlywheelWriter): Promise<void> {
  await client.query(
    `WITH former AS (
       SELECT id, phase FROM flywheel.deployments
       WHERE adapter = $1 AND team <> $2 AND until IS NULL
       FOR UPDATE
     ), closed AS (
       UPDATE flywheel.deployments d
       SET until = now(), phase = CASE WHEN f.phase = 'promoted' THEN 'retired' ELSE 'rolled_back' END
       FROM former f WHERE d.id = f.id
       RETURNING d.team, d.adapter, d.model_version, f.phase AS from_phase, d.phase AS to_phase
     )
     INSERT INTO flywheel.audit_events (team, adapter, version, from_phase, to_phase, reason, detail)
     SELECT team, adapter, model_version, from_phase, to_phase, 'adapter_moved', jsonb_build_object('team', $2::text)
     FROM closed`,
    [w.adapter, w.team],
  );
}

/**
 * Keeps `flywheel.writers` to the catalog's writers: removes the row of every role the catalog no
 * longer names (a team whose flywheel was turned off, whose `fw-<team>` login the substrate does
 * not drop) and puts back a granted writer's row that another gateway replica with an older
 * catalog removed during a rollout. Without its row a role reads and writes no registry row (every
 * policy of migration 2 asks for it). Returns the roles removed. Runs at every registry sync.
 */
export async function reconcileFlywheelWriters(
  pool: Pool,
  granted: readonly FlywheelWriter[],
  catalogRoles: readonly string[],
): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    try {
      const removed = await client.query<{ role: string }>(
        "DELETE FROM flywheel.writers WHERE NOT (role::text = ANY($1::text[])) RETURNING role",
        [[...catalogRoles]],
      );
      for (const w of granted)
        await client.query(
          `INSERT INTO flywheel.writers (role, team, adapter) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING`,
          [w.role, w.team, w.adapter],
        );
      await client.query("COMMIT");
      return removed.rows.map((r) => r.role);
    } catch (e) {
      await client.query("ROLLBACK");
      throw e;
    }
  } finally {
    client.release();
  }
}

/** The dataset builder's manifest (trainer/sovereign_train/flywheel_dataset.py), as registered. */
export interface DatasetManifest {
  readonly version: string;
  readonly team: string;
  readonly adapter: string;
  readonly uri: string;
  readonly content_sha256: string;
  readonly classification: Classification | null;
  readonly counts: { readonly kept: number };
}

export async function registerDataset(pool: Pool | PoolClient, m: DatasetManifest): Promise<void> {
  if (m.classification === null)
    throw new Error(`dataset ${m.version}: expected a classification, found none (no records kept)`);
  await pool.query(
    `INSERT INTO flywheel.dataset_versions (id, team, adapter, uri, content_sha256, classification, records, manifest)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      m.version,
      m.team,
      m.adapter,
      m.uri,
      m.content_sha256,
      m.classification,
      m.counts.kept,
      JSON.stringify(m),
    ],
  );
}

export interface ModelVersionInput {
  readonly id: string;
  readonly kind: "adapter" | "quantized";
  readonly baseModel: string;
  readonly uri: string;
  readonly contentSha256: string;
  readonly datasetVersion: string;
}

/**
 * Records an adapter (or quantized variant) trained on a registered dataset. Team, adapter name
 * and classification come from the dataset row: the classification of a model is the highest
 * classification of the data it was trained on, and no caller can lower it (migration 3 holds
 * that for a writer's own INSERT too).
 */
export async function registerModelVersion(
  pool: Pool | PoolClient,
  v: ModelVersionInput,
): Promise<Classification> {
  const r = await pool.query<{ classification: Classification }>(
    `INSERT INTO flywheel.model_versions (id, team, adapter, kind, base_model, uri, content_sha256, dataset_version, classification)
     SELECT $1, d.team, d.adapter, $2, $3, $4, $5, d.id, d.classification
     FROM flywheel.dataset_versions d WHERE d.id = $6
     RETURNING classification`,
    [v.id, v.kind, v.baseModel, v.uri, v.contentSha256, v.datasetVersion],
  );
  if (r.rowCount !== 1)
    throw new Error(`model version ${v.id}: expected a registered dataset "${v.datasetVersion}", found none`);
  return r.rows[0].classification;
}

export async function recordEvalReport(
  pool: Pool | PoolClient,
  modelVersion: string,
  incumbent: string | null,
  report: { readonly passed: boolean },
): Promise<void> {
  await pool.query(
    "INSERT INTO flywheel.eval_reports (model_version, incumbent_version, passed, report) VALUES ($1, $2, $3, $4)",
    [modelVersion, incumbent, report.passed, JSON.stringify(report)],
  );
}

/**
 * Stores a canary step: closes the version's current deployment row, opens one for its new
 * phase (a promotion also retires the previously promoted version) and appends the audit events,
 * in one transaction.
 */
export async function recordTransition(
  pool: Pool,
  team: string,
  adapter: string,
  state: CanaryState,
  audit: readonly AuditEvent[],
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    if (state.phase === "promoted")
      await client.query(
        "UPDATE flywheel.deployments SET until = now(), phase = 'retired' WHERE adapter = $1 AND phase = 'promoted' AND until IS NULL",
        [adapter],
      );
    await client.query(
      "UPDATE flywheel.deployments SET until = now() WHERE adapter = $1 AND model_version = $2 AND until IS NULL",
      [adapter, state.version],
    );
    const share = state.phase === "canary" ? state.share : state.phase === "promoted" ? 1 : 0;
    await client.query(
      `INSERT INTO flywheel.deployments (team, adapter, model_version, phase, share, state, until)
       VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'rolled_back' THEN now() END)`,
      [team, adapter, state.version, state.phase, share, JSON.stringify(state)],
    );
    for (const a of audit)
      await client.query(
        `INSERT INTO flywheel.audit_events (ts, team, adapter, version, from_phase, to_phase, reason, detail)
         VALUES (to_timestamp($1 / 1000.0), $2, $3, $4, $5, $6, $7, $8)`,
        [a.at, team, adapter, a.version, a.from, a.to, a.reason, JSON.stringify(a.totals ?? {})],
      );
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK");
    throw e;
  } finally {
    client.release();
  }
}

export interface ServingRow {
  readonly team: string;
  readonly adapter: string;
  readonly version: string;
  readonly phase: "candidate" | "canary" | "promoted";
  readonly share: number;
  readonly since: string;
  readonly uri: string;
  readonly classification: Classification;
  readonly baseModel: string;
}

/** What serves now: current (open) candidate, canary and promoted rows, per adapter. */
export async function serving(pool: Pool | PoolClient): Promise<ServingRow[]> {
  const r = await pool.query<ServingRow & { since: Date }>(
    `SELECT d.team, d.adapter, d.model_version AS version, d.phase, d.share, d.since, m.uri,
            m.classification, m.base_model AS "baseModel"
     FROM flywheel.deployments d JOIN flywheel.model_versions m ON m.id = d.model_version
     WHERE d.until IS NULL AND d.phase IN ('candidate','canary','promoted')
     ORDER BY d.team, d.adapter, d.phase`,
  );
  return r.rows.map((x) => ({ ...x, since: new Date(x.since).toISOString() }));
}

/**
 * The adapters' classifications, shaped as entries of OPA's data document
 * (`data.sovereign.models`): each served adapter name carries the HIGHEST classification among
 * its versions that can answer requests (the promoted one and a canary), so the gateway's policy
 * never lets a team reach data it is not cleared for through a canary. The running gateway passes
 * them in the policy input (`input.request.modelClassification`, flywheel/classification.ts); the
 * data document itself keeps the stack config's entries.
 */
export function opaModelEntries(
  rows: readonly ServingRow[],
): Record<string, { role: "chat"; dataClassification: Classification; baseModel: string }> {
  // A Map: an adapter name may be "constructor" or "toString" (never read from Object.prototype).
  const out = new Map<string, { role: "chat"; dataClassification: Classification; baseModel: string }>();
  for (const r of rows) {
    if (r.phase === "candidate") continue;
    const prev = out.get(r.adapter);
    const cls =
      prev && CLASSES.indexOf(prev.dataClassification) > CLASSES.indexOf(r.classification)
        ? prev.dataClassification
        : r.classification;
    out.set(r.adapter, { role: "chat", dataClassification: cls, baseModel: r.baseModel });
  }
  return Object.fromEntries(out);
}
