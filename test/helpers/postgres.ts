/**
 * A real, throwaway PostgreSQL for tests: `initdb` into a temporary directory and `pg_ctl start`
 * on a free loopback port. PostgreSQL refuses to run as root, so when the tests run as root the
 * data directory is chowned to the `postgres` OS user and every server command runs as that user
 * (through `setpriv`). Authentication is `trust` on loopback only; the server listens on
 * 127.0.0.1 and a private socket directory.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { toolPath } from "./tools";

export interface PostgresInstance {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly user: "postgres";
  readonly database: "postgres";
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  /** Stops the server (fast shutdown: open connections are cut). */
  stop(): void;
  /** Starts it again on the same port with the same data. */
  start(): void;
  /** Stops it and removes the data directory. */
  destroy(): void;
  /** Runs SQL through psql and returns the unaligned, tuples-only output. */
  psql(sql: string): string;
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function asPostgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export interface PostgresOptions {
  /** Serve TLS with this certificate and key (PEM files; copied into the server's directory). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /**
   * Roles that must log in with their password (SCRAM) over TCP; every other role keeps `trust`.
   * @default []
   */
  readonly passwordRoles?: readonly string[];
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresInstance> {
  const user = asPostgresUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-pg-"));
  const dataDir = path.join(root, "data");
  const sockDir = path.join(root, "sock");
  fs.mkdirSync(sockDir);
  if (user) {
    fs.chownSync(root, user.uid, user.gid);
    fs.chownSync(sockDir, user.uid, user.gid);
  }
  const run = (bin: string, args: string[], allowFail = false) => {
    const cmd = user ? "setpriv" : bin;
    const argv = user
      ? ["--reuid", String(user.uid), "--regid", String(user.gid), "--init-groups", "--", bin, ...args]
      : args;
    const r = spawnSync(cmd, argv, { encoding: "utf8", cwd: root, timeout: 60_000 });
    if (r.status !== 0 && !allowFail) {
      throw new Error(
        `${path.basename(bin)} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.stdout}`,
      );
    }
    return r.stdout;
  };
  run(toolPath("initdb"), [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    "--no-sync",
    "--no-instructions",
  ]);
  if (options.passwordRoles?.length) {
    const hba = path.join(dataDir, "pg_hba.conf");
    const lines = options.passwordRoles.map((r) => `host all ${r} 127.0.0.1/32 scram-sha-256\n`).join("");
    fs.writeFileSync(hba, lines + fs.readFileSync(hba, "utf8"));
  }
  const port = await freePort();
  let opts = `-p ${port} -k ${sockDir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
  if (options.tls) {
    // The server reads its key only when the postgres user owns it and nobody else may read it.
    const cert = path.join(root, "server.crt");
    const key = path.join(root, "server.key");
    fs.copyFileSync(options.tls.cert, cert);
    fs.copyFileSync(options.tls.key, key);
    fs.chmodSync(key, 0o600);
    if (user) for (const f of [cert, key]) fs.chownSync(f, user.uid, user.gid);
    opts += ` -c ssl=on -c ssl_cert_file=${cert} -c ssl_key_file=${key}`;
  }
  const start = () => {
    run(toolPath("pg_ctl"), [
      "-D",
      dataDir,
      "-o",
      opts,
      "-l",
      path.join(root, "log"),
      "-w",
      "-t",
      "60",
      "start",
    ]);
  };
  const stop = () => {
    run(toolPath("pg_ctl"), ["-D", dataDir, "-m", "fast", "-w", "-t", "60", "stop"], true);
  };
  start();
  return {
    host: "127.0.0.1",
    port,
    user: "postgres",
    database: "postgres",
    dataDir,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    destroy: () => {
      stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
    psql: (sql) =>
      run(toolPath("psql"), [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
      ]),
  };
}
