/**
 * The gateway's Postgres connection with `PGSSLMODE=verify-full`, against a real PostgreSQL
 * serving TLS with a certificate from a CA made for the test: the environment a deployment sets
 * (`PGSSLMODE`, `PGSSLROOTCERT`) goes through the gateway's config into its pool. The session is
 * encrypted when the certificate chains to the CA and names the host; a certificate for another
 * host, or from another CA, is refused (where `require` would have connected). The in-cluster
 * case serves a certificate with exactly the names the kit's Certificate asks cert-manager for,
 * and the gateway checks the host name the kit hands it.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresServerCertificate, primaryHost } from "../../components/existing-cluster/postgres";
import { DATA_CA_ISSUER } from "../../components/existing-cluster/tls";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";
import { TestCa } from "../../test/helpers/pki";
import { loadConfig } from "../src/config";
import { createPool, postgresTls } from "../src/db";
import { createLogger } from "../src/log";
import { MINIMAL_GATEWAY_ENV } from "./helpers/env";

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
    ...MINIMAL_GATEWAY_ENV,
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

describe("GIVEN the in-cluster Postgres serving the certificate the kit asks cert-manager for, and the gateway with the kit's host and CA", () => {
  const cluster = "postgres";
  const ns = PLATFORM_NAMESPACES.data;
  // The names of the kit's server Certificate (what cert-manager puts in the certificate) and the
  // host the kit hands the gateway (PGHOST).
  const names = (postgresServerCertificate(cluster, ns, DATA_CA_ISSUER).spec.dnsNames as string[]).map(
    (n) => `DNS:${n}`,
  );
  const host = primaryHost(cluster, ns);
  let kit: PostgresInstance;
  let otherNamespace: PostgresInstance;
  let otherCaKit: PostgresInstance;
  beforeAll(async () => {
    [kit, otherNamespace, otherCaKit] = await Promise.all([
      startPostgres({ tls: ca.issue("in-cluster", names) }),
      startPostgres({
        tls: ca.issue(
          "in-cluster-elsewhere",
          (postgresServerCertificate(cluster, "elsewhere", DATA_CA_ISSUER).spec.dnsNames as string[]).map(
            (n) => `DNS:${n}`,
          ),
        ),
      }),
      startPostgres({ tls: otherCa.issue("in-cluster", names) }),
    ]);
  });
  afterAll(() => {
    for (const pg of [kit, otherNamespace, otherCaKit]) pg?.destroy();
  });

  /**
   * Connects with the gateway's config and TLS options for PGHOST = the kit's host. That name
   * does not resolve here, so the socket goes to 127.0.0.1; `postgresTls` checks the configured
   * host whatever address the socket used, as in the cluster.
   */
  async function connectInCluster(pg: PostgresInstance, rootCert: string): Promise<string> {
    const cfg = loadConfig({
      GATEWAY_OPA_URL: "http://127.0.0.1:8181",
      GATEWAY_OIDC_ISSUER: "https://idp.example",
      GATEWAY_OIDC_AUDIENCE: "sovereign",
      GATEWAY_CATALOG: JSON.stringify({ teams: {}, models: {}, routes: {}, redactPatterns: [] }),
      PGHOST: host,
      PGPORT: String(pg.port),
      PGUSER: "postgres",
      PGDATABASE: "postgres",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: rootCert,
    }).postgres;
    const pool = new Pool({
      host: "127.0.0.1",
      port: cfg.port,
      user: cfg.user,
      database: cfg.database,
      ssl: postgresTls(cfg),
      connectionTimeoutMillis: 5000,
    });
    try {
      const r = await pool.query<{ ssl: boolean }>(
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
      );
      return `ssl=${r.rows[0].ssl}`;
    } catch (e) {
      return `refused: ${(e as Error).message}`;
    } finally {
      await pool.end();
    }
  }

  it("WHEN the certificate carries the kit's names and chains to the CA the gateway mounts THEN the session is encrypted", async () => {
    expect(host).toBe("postgres-rw.sovereign-data.svc.cluster.local");
    expect(await connectInCluster(kit, ca.cert)).toBe("ssl=true");
  });

  it("WHEN the server's certificate names the same cluster in another namespace THEN the gateway refuses it", async () => {
    expect(await connectInCluster(otherNamespace, ca.cert)).toMatch(
      /^refused: .*Host: postgres-rw\.sovereign-data\.svc\.cluster\.local\. is not in the cert's altnames/,
    );
  });

  it("WHEN the certificate has the kit's names but comes from another CA THEN the gateway refuses it", async () => {
    expect(await connectInCluster(otherCaKit, ca.cert)).toMatch(
      /^refused: .*(self.signed|unable to verify)/i,
    );
  });
});
