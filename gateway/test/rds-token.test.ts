/**
 * RDS IAM authentication tokens and the pool that logs in with them.
 *
 * The signing is checked against two fixed-credential vectors made by other implementations:
 * the presigned URL of the S3 documentation's "query string authentication" example, and an
 * RDS token made by botocore 1.43 (`generate_db_auth_token`) with a frozen clock. The pool is
 * checked against a real PostgreSQL whose role logs in with SCRAM and whose password is the
 * token for a fixed clock: the gateway's config (`GATEWAY_PG_AUTH=rds-iam`, `verify-full`)
 * must send a token it signs itself, a fresh one per new connection. What is not checked here:
 * that RDS accepts the token (no RDS is reachable from the tests).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";
import { TestCa } from "../../test/helpers/pki";
import { ConfigError, loadConfig } from "../src/config";
import { createPool, poolPassword } from "../src/db";
import { createLogger } from "../src/log";
import { presignQuery, rdsAuthToken } from "../src/rds-token";
import { MINIMAL_GATEWAY_ENV } from "./helpers/env";

const params = (token: string) => {
  const [hostPort, query] = token.split("/?");
  return { hostPort, query: Object.fromEntries(new URLSearchParams(query)) };
};

describe("GIVEN fixed credentials and a fixed clock", () => {
  it("WHEN the S3 documentation's presigned GET is signed THEN the signature is the published one", () => {
    const q = presignQuery({
      host: "examplebucket.s3.amazonaws.com",
      path: "/test.txt",
      params: {},
      region: "us-east-1",
      service: "s3",
      credentials: {
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      },
      amzDate: "20130524T000000Z",
      expiresSeconds: 86400,
      payloadHash: "UNSIGNED-PAYLOAD",
    });
    expect(new URLSearchParams(q).get("X-Amz-Signature")).toBe(
      "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
  });

  it("WHEN an RDS token is made with a session token THEN it is botocore's token for the same inputs", () => {
    const token = rdsAuthToken({
      host: "sov-prod-pg.abcdefghijkl.eu-central-1.rds.amazonaws.com",
      port: 5432,
      user: "gateway",
      region: "eu-central-1",
      credentials: {
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        sessionToken: "session/token+=",
      },
      now: new Date("2026-01-02T03:04:05Z"),
    });
    // botocore orders the parameters differently; RDS reads them by name.
    expect(params(token)).toEqual(
      params(
        "sov-prod-pg.abcdefghijkl.eu-central-1.rds.amazonaws.com:5432/?Action=connect&DBUser=gateway&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260102%2Feu-central-1%2Frds-db%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=session%2Ftoken%2B%3D&X-Amz-Signature=699cb2717b0835edf0c15ebbed7abb37bff1366ba3691c878870160ddc46fcf1",
      ),
    );
  });

  it("WHEN the port is not 5432 and there is no session token THEN it is botocore's token too (the port is signed)", () => {
    const token = rdsAuthToken({
      host: "db.example.us-east-1.rds.amazonaws.com",
      port: 6432,
      user: "svc_user",
      region: "us-east-1",
      credentials: {
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      },
      now: new Date("2026-01-02T03:04:05Z"),
    });
    expect(token).toBe(
      "db.example.us-east-1.rds.amazonaws.com:6432/?Action=connect&DBUser=svc_user&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260102%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=9f69a150e48830dbcf76947755a5f8da4cdff61ff7f21fa67e94585fe9c0b92f",
    );
  });
});

const BASE_ENV = MINIMAL_GATEWAY_ENV;

describe("GIVEN the gateway configured for rds-iam", () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...BASE_ENV, GATEWAY_PG_AUTH: "rds-iam", AWS_REGION: "eu-central-1", ...env });
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  };

  it("WHEN the session is not verify-full, or a static password is set, or no region THEN the config names each", () => {
    expect(problems({ PGSSLMODE: "require" })).toEqual([
      'PGSSLMODE: expected verify-full with GATEWAY_PG_AUTH=rds-iam (the token is a credential), found "require"',
    ]);
    expect(problems({ PGSSLMODE: "verify-full", PGPASSWORD: "s3cret" })).toEqual([
      "PGPASSWORD: expected none with GATEWAY_PG_AUTH=rds-iam (no static password), found one",
    ]);
    expect(problems({ PGSSLMODE: "verify-full", AWS_REGION: "" })).toEqual([
      "AWS_REGION: expected the region of the RDS instance with GATEWAY_PG_AUTH=rds-iam, found nothing",
    ]);
    expect(problems({ PGSSLMODE: "verify-full", GATEWAY_PG_AUTH: "iam" })).toEqual([
      'GATEWAY_PG_AUTH: expected password or rds-iam, found "iam"',
    ]);
    expect(problems({ PGSSLMODE: "verify-full" })).toEqual([]);
  });
});

describe("GIVEN a real PostgreSQL whose role logs in with the token for a fixed clock", () => {
  const ca = new TestCa("sovereign rds-iam test CA");
  const ROLE = "gateway_iam";
  const creds = {
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  };
  const T = new Date("2026-01-02T03:04:05Z");
  let pg: PostgresInstance;

  beforeAll(async () => {
    pg = await startPostgres({
      tls: ca.issue("db", ["DNS:localhost", "IP:127.0.0.1"]),
      passwordRoles: [ROLE],
    });
    const token = rdsAuthToken({
      host: "127.0.0.1",
      port: pg.port,
      user: ROLE,
      region: "eu-central-1",
      credentials: { accessKeyId: creds.AWS_ACCESS_KEY_ID, secretAccessKey: creds.AWS_SECRET_ACCESS_KEY },
      now: T,
    });
    pg.psql(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${token}'`);
  });
  afterAll(() => {
    pg?.destroy();
    ca.destroy();
  });

  const config = () =>
    loadConfig({
      ...BASE_ENV,
      PGHOST: "127.0.0.1",
      PGPORT: String(pg.port),
      PGUSER: ROLE,
      PGDATABASE: "postgres",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: ca.cert,
      GATEWAY_PG_AUTH: "rds-iam",
      AWS_REGION: "eu-central-1",
    }).postgres;

  it("WHEN the pool opens three connections THEN it signs three tokens, one per connection, and each logs in", async () => {
    let signed = 0;
    const cfg = config();
    const pool = createPool(
      cfg,
      createLogger(() => undefined),
      poolPassword(cfg, creds, () => (signed++, T)),
    );
    try {
      const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
      const users = await Promise.all(clients.map((c) => c.query<{ u: string }>("select current_user as u")));
      for (const c of clients) c.release();
      expect(users.map((r) => r.rows[0].u)).toEqual([ROLE, ROLE, ROLE]);
      expect(signed).toBe(3);
      // A reused connection needs no new token.
      await pool.query("select 1");
      expect(signed).toBe(3);
    } finally {
      await pool.end();
    }
  });

  it("WHEN the token is signed at another time (another token) THEN the server refuses it: the token is the password sent", async () => {
    const cfg = config();
    const pool = createPool(
      cfg,
      createLogger(() => undefined),
      poolPassword(cfg, creds, () => new Date(T.getTime() + 1000)),
    );
    try {
      await expect(pool.query("select 1")).rejects.toThrow(
        /password authentication failed for user "gateway_iam"/,
      );
    } finally {
      await pool.end();
    }
  });
});
