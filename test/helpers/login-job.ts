/**
 * The AWS login Job's script (components/aws/postgres-login.ts), run as the Job runs it
 * (`/bin/sh -c`, psql, the Job's environment, the master user `sovereign_admin`) against a test
 * PostgreSQL.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { loginScript } from "../../components/aws/postgres-login";
import type { PostgresInstance } from "./postgres";
import { toolPath } from "./tools";

export interface LoginJob {
  readonly iamAuth: boolean;
  readonly service: string;
  /** The service's password (password mode only). */
  readonly password?: string;
  /** Whether the service gets a database of its own (the flywheel's login has none). */
  readonly ownDatabase: boolean;
}

/** Runs the script once; returns its exit status and stderr. */
export function runLoginJob(pg: PostgresInstance, job: LoginJob): { status: number | null; stderr: string } {
  const r = spawnSync("/bin/sh", ["-c", loginScript(job.iamAuth, job.ownDatabase)], {
    encoding: "utf8",
    env: {
      PATH: `${path.dirname(toolPath("psql"))}:${process.env.PATH}`,
      PGHOST: "127.0.0.1",
      PGPORT: String(pg.port),
      PGUSER: "sovereign_admin",
      PGDATABASE: "postgres",
      SERVICE: job.service,
      ...(job.password ? { SERVICE_PASSWORD: job.password } : {}),
    },
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}
