/**
 * A client checked out of the gateway's pool whose connection PostgreSQL ends (a failover, an
 * operator's `pg_terminate_backend`, the test that blocks the registry) must not end the
 * process: the pool listened to its idle clients only, so a checked-out client's `error` had no
 * listener and was an uncaught exception (seen in the full test run as "Connection terminated
 * unexpectedly" from the registry tests). Real PostgreSQL; the client runs in a process of its own
 * (helpers/terminated-client.ts), since an uncaught exception there would end the test runner's.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";

let pg: PostgresInstance;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.destroy());

describe("GIVEN a client checked out of the gateway's pool", () => {
  it("WHEN PostgreSQL ends its connection THEN the process logs it and lives on", async () => {
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const out = await promisify(execFile)(tsx, [
      path.join(__dirname, "helpers/terminated-client.ts"),
      String(pg.port),
    ]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/survived$/m);
    expect(out.stdout).toMatch(/"msg":"postgres client error".*terminat/);
  }, 60_000);
});
