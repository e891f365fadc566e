/**
 * The gateway's Postgres connection with `PGSSLMODE=verify-full`, against a real PostgreSQL
 * serving TLS with a certificate from a CA made for the test: the environment a deployment sets
 * (`PGSSLMODE`, `PGSSLROOTCERT`) goes through the gateway's config into its pool. The session is
 * encrypted when the certificate chains to the CA and names the host; a certificate for another
 * host, or from another CA, is refused (where `require` would have connected).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";
import { TestCa } from "../../test/helpers/pki";
import { loadConfig } from "../src/config";
import { createPool } from "../src/db";
import { createLogger } from "../src/log";

const ca = new TestCa("sovereign postgres test CA");
const otherCa = new TestCa("some other CA");
let right: PostgresInstance;
let wrongHost: PostgresInstance;
let wrongCa: PostgresInstance;
let nameOnly: PostgresInstance;

beforeAll(async () => {
  [right, wrongHost, wrongCa, nameOnly] = await Promise.all([
    startPostgres({ tls: ca.issue("db", ["DNS:localhost", "IP:127.0.0.1"]) }),
    startPostgres({ tls: ca.issue("elsewhere", ["DNS:db.elsewhere.example"]) }),
    startPostgres({ tls: otherCa.issue("db", ["DNS:localhost", "IP:127.0.0.1"]) }),
    startPostgres({ tls: ca.issue("name-only", ["DNS:localhost"]) }),
  ]);
});
afterAll(() => {
  for (const pg of [right, wrongHost, wrongCa, nameOnly]) pg?.destroy();
  ca.destroy();
  otherCa.destroy();
});

/** Connects the way the gateway does, from a deployment's environment; returns `ssl` of the session. */
async function connect(pg: PostgresInstance, env: Record<string, string>): Promise<string> {
  const cfg = loadConfig({
    GATEWAY_OPA_URL: "http://127.0.0.1:8181",
    GATEWAY_OIDC_ISSUER: "https://idp.example",
    GATEWAY_OIDC_AUDIENCE: "sovereign",
    GATEWAY_CATALOG: JSON.stringify({ teams: {}, models: {}, routes: {}, redactPatterns: [] }),
    PGHOST: "127.0.0.1",
    PGPORT: String(pg.port),
    PGUSER: "postgres",
    PGDATABASE: "postgres",
    ...env,
  });
  const pool = createPool(
    cfg.postgres,
    createLogger(() => undefined),
  );
  try {
    const r = await pool.query<{ ssl: boolean }>("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
    return `ssl=${r.rows[0].ssl}`;
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  } finally {
    await pool.end();
  }
}

describe("GIVEN PostgreSQL serving TLS and the gateway with verify-full and the CA file", () => {
  const verifyFull = () => ({ PGSSLMODE: "verify-full", PGSSLROOTCERT: ca.cert });

  it("WHEN the certificate chains to the CA and names the host THEN the session is encrypted", async () => {
    expect(await connect(right, verifyFull())).toBe("ssl=true");
  });

  it("WHEN the certificate names another host THEN the gateway refuses it", async () => {
    expect(await connect(wrongHost, verifyFull())).toMatch(
      /^refused: .*(does not match certificate's altnames|not in the cert's altnames)/,
    );
  });

  it("WHEN the host is an IP address the certificate does not name THEN it is refused (the configured host is checked, not a default name)", async () => {
    expect(await connect(nameOnly, verifyFull())).toMatch(
      /^refused: .*IP: 127\.0\.0\.1 is not in the cert's list/,
    );
  });

  it("WHEN the certificate comes from another CA THEN the gateway refuses it", async () => {
    expect(await connect(wrongCa, verifyFull())).toMatch(/^refused: .*(self.signed|unable to verify)/i);
  });

  it("WHEN sslmode is require THEN the wrong-host server is reached: require does not verify (why prod uses verify-full)", async () => {
    expect(await connect(wrongHost, { PGSSLMODE: "require" })).toBe("ssl=true");
  });

  it("WHEN PGSSLROOTCERT is set without verify-full THEN the config names the mistake", async () => {
    await expect(connect(right, { PGSSLMODE: "require", PGSSLROOTCERT: ca.cert })).rejects.toThrow(
      /PGSSLROOTCERT: only used with PGSSLMODE=verify-full, found PGSSLMODE "require"/,
    );
  });
});
