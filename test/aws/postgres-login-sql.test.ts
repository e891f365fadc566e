/**
 * The login Job's script, run as the Job runs it (`/bin/sh -c`, psql, the Job's environment)
 * against a real PostgreSQL. RDS's `rds_iam` role is created here as RDS creates it; what RDS
 * then does with it (refusing passwords, accepting tokens) is not reproducible here.
 */
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { runLoginJob } from "../helpers/login-job";
import { startPostgres, type PostgresInstance } from "../helpers/postgres";

let pg: PostgresInstance;
beforeAll(async () => {
  pg = await startPostgres();
  // As on RDS: the IAM role exists, and the master user is not a superuser.
  pg.psql("CREATE ROLE rds_iam; CREATE ROLE sovereign_admin LOGIN CREATEROLE CREATEDB");
});
afterAll(() => pg?.destroy());

/** Runs the Job's command with the Job's variables; returns the exit status and stderr. */
function runJob(iamAuth: boolean, service: string, password?: string, ownDatabase = true) {
  return runLoginJob(pg, { iamAuth, service, password, ownDatabase });
}

const role = (name: string) =>
  pg
    .psql(
      `SELECT rolcanlogin, rolpassword IS NULL, pg_has_role('${name}', 'rds_iam', 'MEMBER'), ` +
        `(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${name}') ` +
        `FROM pg_authid WHERE rolname = '${name}'`,
    )
    .trim();

describe("GIVEN the IAM login script", () => {
  it("WHEN it runs twice THEN the role logs in, has no password, is a member of rds_iam and owns its database", () => {
    for (let i = 0; i < 2; i++) expect(runJob(true, "gateway")).toMatchObject({ status: 0 });
    expect(role("gateway")).toBe("t|t|t|gateway");
  });

  it("WHEN a role that had a password (a stack moving to IAM) is logged in with IAM THEN its password is gone", () => {
    expect(runJob(false, "moving", "old-static-password")).toMatchObject({ status: 0 });
    expect(role("moving")).toBe("t|f|f|moving");
    expect(runJob(true, "moving")).toMatchObject({ status: 0 });
    expect(role("moving")).toBe("t|t|t|moving");
  });

  it("WHEN rds_iam does not exist (not RDS, or IAM auth off on the instance) THEN the Job fails (the update waits on it) instead of reporting success", () => {
    pg.psql("DROP ROLE rds_iam");
    try {
      const r = runJob(true, "elsewhere");
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/role "rds_iam" does not exist/);
    } finally {
      pg.psql("CREATE ROLE rds_iam");
    }
  });
});

describe("GIVEN a team's flywheel login (fw-<team>: a role in the gateway's database, no database of its own)", () => {
  const writer = flywheelRoleOf("legal-ops"); // a '-' in the name: quoted by the script
  const databases = () => pg.psql("SELECT datname FROM pg_database ORDER BY datname").trim().split("\n");
  it("WHEN it runs twice in either mode THEN the role logs in (IAM: no password, rds_iam) and no database is created", () => {
    const before = databases();
    for (let i = 0; i < 2; i++) expect(runJob(false, writer, "pw", false)).toMatchObject({ status: 0 });
    expect(role(writer)).toBe("t|f|f|");
    for (let i = 0; i < 2; i++) expect(runJob(true, writer, undefined, false)).toMatchObject({ status: 0 });
    expect(role(writer)).toBe("t|t|t|");
    expect(databases()).toEqual(before);
  });

  it("WHEN the team's pods open connections THEN the flywheel's own five fit, a flood is refused for that role only, and the gateway still connects", async () => {
    expect(runJob(false, writer, "pw", false)).toMatchObject({ status: 0 });
    const open: Client[] = [];
    const connect = async (user: string) => {
      const c = new Client({ host: "127.0.0.1", port: pg.port, user, password: "pw", database: "postgres" });
      await c.connect();
      open.push(c);
    };
    try {
      // the controller's pool (2), the chain pod's init container (1), a manual run's pool (2)
      for (let i = 0; i < 5; i++) await connect(writer);
      let refused: string | undefined;
      for (let i = 0; i < 50 && refused === undefined; i++)
        await connect(writer).catch((e: Error) => (refused = e.message));
      expect(refused).toMatch(/too many connections for role/);
      await connect("postgres");
    } finally {
      await Promise.all(open.map((c) => c.end()));
    }
  });
});
