/**
 * The client rules the Postgres cluster gets (`PG_HBA`), loaded into a real PostgreSQL with TLS:
 * a plain-text connection is refused even with the right password; a TLS connection with the
 * password gets in; a wrong password over TLS does not.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_HBA } from "../../components/existing-cluster/postgres";
import { toolPath } from "../helpers/tools";

const PASSWORD = "s3cret-for-the-test-only";

/** PostgreSQL refuses to run as root: run its binaries as the `postgres` user when we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe("the Postgres client rules on a real server", () => {
  const user = runAs();
  let dir: string;
  let data: string;
  let port: number;

  const run = (bin: string, args: string[], env: Record<string, string> = {}) =>
    spawnSync(bin, args, {
      encoding: "utf8",
      env: { PATH: process.env.PATH, ...env },
      ...(user ?? {}),
      timeout: 60_000,
    });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-hba-"));
    data = path.join(dir, "data");
    const pwfile = path.join(dir, "pw");
    fs.writeFileSync(pwfile, PASSWORD);
    if (user) {
      fs.chownSync(dir, user.uid, user.gid);
      fs.chownSync(pwfile, user.uid, user.gid);
    }
    const init = run(toolPath("initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=scram-sha-256",
      `--pwfile=${pwfile}`,
    ]);
    expect(init.status, init.stderr).toBe(0);
    const ssl = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        path.join(data, "server.key"),
        "-out",
        path.join(data, "server.crt"),
      ],
      { encoding: "utf8" },
    );
    expect(ssl.status, ssl.stderr).toBe(0);
    fs.chmodSync(path.join(data, "server.key"), 0o600);
    if (user) {
      for (const f of ["server.key", "server.crt"]) fs.chownSync(path.join(data, f), user.uid, user.gid);
    }
    fs.writeFileSync(path.join(data, "pg_hba.conf"), `${PG_HBA.join("\n")}\n`);
    port = await freePort();
    fs.appendFileSync(
      path.join(data, "postgresql.conf"),
      [
        "ssl = on",
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        "password_encryption = 'scram-sha-256'",
      ].join("\n"),
    );
    const start = run(toolPath("pg_ctl"), [
      "-D",
      data,
      "-l",
      path.join(dir, "log"),
      "-w",
      "-t",
      "60",
      "start",
    ]);
    expect(
      start.status,
      `${start.stderr}\n${fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8") : ""}`,
    ).toBe(0);
  });

  afterAll(() => {
    if (data) run(toolPath("pg_ctl"), ["-D", data, "-m", "immediate", "stop"]);
  });

  const psql = (sslmode: string, password: string) =>
    run(
      toolPath("psql"),
      [
        `host=127.0.0.1 port=${port} user=postgres dbname=postgres sslmode=${sslmode}`,
        "-tAc",
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
      ],
      { PGPASSWORD: password },
    );

  it("GIVEN the right password WHEN connecting without TLS THEN the server refuses the connection", () => {
    const r = psql("disable", PASSWORD);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/pg_hba\.conf rejects connection.*no encryption/);
  });

  it("GIVEN the right password WHEN connecting with TLS (sslmode=require) THEN the session is encrypted", () => {
    const r = psql("require", PASSWORD);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("t");
  });

  it("GIVEN a wrong password WHEN connecting with TLS THEN SCRAM authentication fails", () => {
    const r = psql("require", "not-the-password");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/password authentication failed/);
  });
});
